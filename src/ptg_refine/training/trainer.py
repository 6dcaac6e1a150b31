"""Trainer: training of the refinement network R with F and G frozen (PTG-RM, Xu et al., CVPR 2024).

Only R runs per step: F(low) and G(low) are computed once per full training image and cached
(:class:`~ptg_refine.training.FeatureCache`); random crops of low / restored / target are cut together and
R gets the crops' positions in their full images as one (B,4) tensor, so its coordinate embedding matches
full-image inference and the whole batch runs in one call (flips: see :mod:`ptg_refine.data.crops`). Loss:
:func:`~ptg_refine.training.losses.refinement_loss` (Charbonnier + ``ssim_weight``·(1 − SSIM)). AdamW
(Loshchilov & Hutter, ICLR 2019), linear warm-up then cosine decay (Loshchilov & Hutter, ICLR 2017).
``joint=True`` fine-tunes F too, with the paper's Eq. 8 (:func:`~ptg_refine.training.losses.joint_loss`; F then
runs per step on the crop, kept in eval mode so BatchNorm statistics stay fixed). Works under ``torchrun``
(:mod:`~ptg_refine.training.distributed`: DistributedDataParallel; gloo on CPU, nccl on CUDA); the batch size is
per process. Checkpoints: :mod:`~ptg_refine.training.resume`.

Use it inside your own loop::

    trainer = Trainer(refiner, train_pairs, TrainConfig(iterations=1000))
    for _ in range(1000):
        stats = trainer.train_step(trainer.sample_batch())
"""
from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from .._device import resolve_device
from .._outputs import write_text_atomic, writing
from ..data.crops import FLIP_DIMS, apply_crop, sample_crop
from ..evaluate import evaluate_pairs
from . import resume as _resume
from . import distributed
from .augment import add_prior_noise, jitter_position, mix_crop_prior
from .cache import FeatureCache
from .config import TrainConfig
from .losses import feature_distance, identity_penalty, joint_loss, refinement_loss


def _variant_groups(pairs) -> list[list[int]]:
    """For each pair, the indices of the pairs made from the same clean photo by ``ptg-refine synth``
    (names ``<photo>_v<k>``; a pair without that suffix is its own group)."""
    import re

    stems = [re.sub(r"_v\d+$", "", p.name) for p in pairs]
    index: dict[str, list[int]] = {}
    for i, s in enumerate(stems):
        index.setdefault(s, []).append(i)
    return [index[s] for s in stems]


def prior_parameter_names(net: nn.Module) -> list[str]:
    """Parameters of the prior path (prior_proj, T_m, T_c): the ones ``prior_weight_decay`` applies to."""
    return [n for n, _ in net.named_parameters() if "prior" in n]


class _CropForward(nn.Module):
    """R (and, when joint, F) on a batch of crops, one (top, left, H, W) position row per crop, in one call;
    one module so that DistributedDataParallel sees a single forward per step."""

    def __init__(self, net: nn.Module, restorer: nn.Module | None = None):
        super().__init__()
        self.net = net
        self.restorer = restorer

    def forward(self, low, restored, prior, positions, dense=None, details: bool = False):
        if self.restorer is not None:
            restored = self.restorer(low)
        return self.net(low, restored, prior, position=positions, dense=dense, return_details=details), restored


class Trainer:
    """Train R of a :class:`~ptg_refine.PTGRefiner` on paired data (see the module docstring).

    refiner: its F must be set (or use ``joint``); train_pairs / val_pairs: lists of
    :class:`ptg_refine.data.Pair`; out_dir: checkpoints (``checkpoints/step_*``, atomic), ``final/``
    (save_pretrained) and ``history.json``; cache_dir: on-disk F/G cache shared between runs.
    """

    def __init__(self, refiner, train_pairs, config: TrainConfig | None = None, val_pairs=None, out_dir=None,
                 cache_dir=None, device="auto", restorer_name: str | None = None, progress: bool = True):
        self.config = config = config or TrainConfig()
        self.rank, self.world = distributed.rank_and_world()
        self.device = resolve_device("auto" if device is None else device)  # the package's one device rule
        self.refiner = refiner.to(self.device)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.progress = progress and self.rank == 0
        self.train_pairs, self.val_pairs = list(train_pairs), list(val_pairs or [])
        if not self.train_pairs:
            raise ValueError("no training pairs")
        small = [p.name for p in self.train_pairs if min(p.low.shape[1:]) < config.crop_size]
        if small:
            raise ValueError(f"{len(small)} training images are smaller than crop_size={config.crop_size}: "
                             f"{small[:5]}; use a smaller crop or remove them")
        restorer = refiner.restorer
        if restorer is None:
            raise ValueError("the refiner has no restorer F; build it with PTGRefiner(restorer=...)")
        if config.joint and not isinstance(restorer, nn.Module):
            raise ValueError("joint fine-tuning of F needs F to be an nn.Module")
        name = restorer_name or (refiner.config.get("restorer") or getattr(restorer, "name", type(restorer).__name__))
        prior_name = getattr(refiner.prior, "name", "prior")
        self.dense = getattr(refiner, "uses_dense", False)
        self.cache = FeatureCache(restorer, refiner.prior, str(name), prior_name, cache_dir, self.device,
                                  cache_restored=not config.joint,
                                  prior_input=getattr(refiner, "prior_input", "low"),
                                  global_prior=getattr(refiner, "prior_mode", "global") != "dense", dense=self.dense)
        self.feature_prior = None
        if config.feature_loss:
            from ..priors import create_prior
            self.feature_prior = create_prior(config.feature_loss_prior).to(self.device)
        self.variants = _variant_groups(self.train_pairs) if config.prior_other_variant else None
        self._warm_cache()
        net = refiner.net
        if config.joint:
            restorer.requires_grad_(True)  # stays in eval mode (frozen BatchNorm statistics)
        self.model = distributed.data_parallel(_CropForward(net, restorer if config.joint else None))
        self.optimizer = self._make_optimizer()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self.amp_dtype = self._amp_dtype()
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.generator = torch.Generator().manual_seed(config.seed * 1_000_003 + self.rank)
        self.step = 0
        self.history: list[dict] = []
        self.train_time = 0.0
        self._validated: dict | None = None  # validate()'s figures at their step

    # -- setup --------------------------------------------------------------------------------------
    def _warm_cache(self):
        with distributed.rank_zero_first():  # rank 0 fills the (on-disk) cache; the other ranks then read it
            self.keys = self.cache.warm(self.train_pairs, progress=self.progress, desc="caching F/G (train)")
            if self.config.prior_views:
                from tqdm import tqdm
                for pair, key in tqdm(list(zip(self.train_pairs, self.keys)), desc="caching G views (train)",
                                      disable=not self.progress, unit="img"):
                    self.cache.prior_views(pair.low, self.config.prior_views, key)
            self.val_keys = self.cache.warm(self.val_pairs, progress=self.progress, desc="caching F/G (val)") \
                if self.val_pairs else []

    def _make_optimizer(self):
        c = self.config
        prior_names = set(prior_parameter_names(self.refiner.net))
        net_params = list(self.refiner.net.named_parameters())
        groups = [{"params": [p for n, p in net_params if n not in prior_names], "weight_decay": c.weight_decay},
                  {"params": [p for n, p in net_params if n in prior_names],
                   "weight_decay": c.weight_decay if c.prior_weight_decay is None else c.prior_weight_decay}]
        if c.joint:
            groups.append({"params": [p for p in self.refiner.restorer.parameters()], "lr": c.joint_lr,
                           "weight_decay": 0.0})
        groups = [g for g in groups if g["params"]]
        return torch.optim.AdamW(groups, lr=c.lr, betas=(0.9, 0.99))

    def _lr_factor(self, step: int) -> float:
        c = self.config
        if c.warmup and step < c.warmup:
            return (step + 1) / c.warmup
        t = min(1.0, (step - c.warmup) / max(1, c.iterations - c.warmup))
        floor = c.min_lr / c.lr
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))

    def _amp_dtype(self):
        amp = self.config.amp
        if amp == "off" or (amp == "auto" and self.device.type != "cuda"):
            return None
        if amp == "fp16" and self.device.type != "cuda":
            raise ValueError("amp='fp16' needs CUDA; use amp='bf16' for CPU autocast")
        if amp == "bf16" or (amp == "auto" and torch.cuda.is_bf16_supported()):
            return torch.bfloat16
        return torch.float16

    # -- one step -----------------------------------------------------------------------------------
    def sample_batch(self) -> dict:
        """Random crops (and flips) of ``batch_size`` random training images, drawn from this trainer's
        own generator (saved in checkpoints, so a resumed run sees the same batches). Keys: low, target,
        restored ((B,3,s,s); restored None when joint), prior (B,D), positions ((B,4) int64: each crop's
        (top, left, H, W) in its full image), dense (networks with a dense prior path: a list of B (1,C,h,w)
        maps of the crops' full images, else None)."""
        c, lows, targets, restored, priors, positions, dense = self.config, [], [], [], [], [], []
        for _ in range(c.batch_size):
            i = int(torch.randint(len(self.train_pairs), (1,), generator=self.generator))
            pair, key = self.train_pairs[i], self.keys[i]
            crop = sample_crop(pair.low.shape[1], pair.low.shape[2], c.crop_size, self.generator, c.flips)
            lows.append(apply_crop(pair.low, crop).float().div(255))
            targets.append(apply_crop(pair.high, crop).float().div(255))
            if not c.joint:
                restored.append(apply_crop(self.cache.restored(pair.low, key), crop))
            src = self._prior_source(i)  # whose prior this crop gets (itself, or another variant of its photo)
            g = self._train_prior(self.train_pairs[src], self.keys[src], crop)
            drop = bool(c.prior_drop) and float(torch.rand((), generator=self.generator)) < c.prior_drop
            priors.append(torch.zeros_like(g) if drop else g)
            positions.append(jitter_position(crop.position, c.position_jitter, c.crop_size, self.generator))
            if self.dense:  # the map of the full image in the crop's flip state (R samples the crop's cells)
                full = self.cache.dense_features(self.train_pairs[src].low, self.keys[src])
                dims = FLIP_DIMS[crop.flip_index]
                full = torch.zeros_like(full) if drop else (full.flip(dims) if dims else full)
                dense.append(full[None].to(self.device))
        d = self.device
        return {"low": torch.stack(lows).to(d), "target": torch.stack(targets).to(d),
                "restored": torch.stack(restored).to(d) if restored else None,
                "prior": torch.stack(priors).to(d), "positions": torch.tensor(positions, dtype=torch.long, device=d),
                "dense": dense or None}

    def _prior_source(self, index: int) -> int:
        """``prior_other_variant``: a random *other* synthetic variant of the same photo (its prior describes the
        same content under another degradation, so it cannot serve as a key of this exact input); else ``index``.
        ``prior_drop`` (in :meth:`sample_batch`): the crop's whole prior (g and dense maps) is zeroed."""
        if self.variants is None:
            return index
        group = [k for k in self.variants[index] if k != index] or [index]
        return group[int(torch.randint(len(group), (1,), generator=self.generator))]

    @torch.no_grad()
    def _train_prior(self, pair, key, crop) -> torch.Tensor:
        """g of one training crop. Default: G of the full image in the crop's flip state (as at inference).
        ``prior_views``: G of a random one of the image's cached augmented views
        (:meth:`~ptg_refine.training.FeatureCache.prior_views`; random resized crop 50-100 % of the area, flip,
        exposure / gamma jitter), so g carries the image's content but is not a fixed per-image key that R
        can memorise per-image corrections against (the failure seen with 181 training images).
        ``prior_crop_mix``: mixed with G of the low crop itself, then re-normalised."""
        c = self.config
        if c.prior_views:
            j = int(torch.randint(c.prior_views, (1,), generator=self.generator))
            g = self.cache.prior_views(pair.low, c.prior_views, key)[j]
        else:
            g = self.cache.prior_features(pair.low, key)[crop.flip_index]
        if c.prior_crop_mix:
            low = apply_crop(pair.low, crop).float().div(255)[None].to(self.cache.device)
            g_crop = self.cache.prior(low)[0].float().cpu()
            g = mix_crop_prior(g, g_crop, c.prior_crop_mix)
        return g

    def train_step(self, batch: dict) -> dict:
        """One optimisation step on a batch from :meth:`sample_batch` (or your own dict with keys low,
        target, restored (None when joint), prior (B,D), positions ((B,4) integer tensor, a list of
        (top, left, H, W), or None for whole images) and, with a dense prior path, dense)."""
        c = self.config
        self.refiner.train()
        g = batch["prior"]
        if c.prior_noise:
            g = add_prior_noise(g, c.prior_noise)
        positions = batch.get("positions")
        if positions is not None and not isinstance(positions, torch.Tensor):
            positions = torch.tensor([list(p) for p in positions], dtype=torch.long, device=self.device)
        amp = torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp_dtype else contextlib.nullcontext()
        with amp:
            out, restored = self.model(batch["low"], batch["restored"], g, positions, batch.get("dense"),
                                       bool(c.identity_weight))
        identity = None
        if c.identity_weight:  # do-no-harm: pull I_m -> 1 and I_r -> 0 (R stays near F where F is right)
            identity = c.identity_weight * identity_penalty(out["mask"].float(), out["residual"].float())
            out = out["output"]
        out, target = out.float(), batch["target"]
        extra = c.feature_loss * feature_distance(self.feature_prior, out, target) \
            if self.feature_prior is not None else None
        if c.joint:  # Eq. 8: L(Î_c, T) + λ·L(Ī_c, T)
            loss = joint_loss(restored.float(), out, target, c.joint_weight, c.ssim_weight, c.charbonnier_eps, extra)
        else:
            loss = refinement_loss(out, target, c.ssim_weight, c.charbonnier_eps)
            loss = loss if extra is None else loss + extra
        if identity is not None:
            loss = loss + identity
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite loss {loss.item()} at step {self.step}")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if c.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_([p for g_ in self.optimizer.param_groups for p in g_["params"]], c.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.step += 1
        return {"step": self.step, "loss": float(loss.detach()), "lr": self.optimizer.param_groups[0]["lr"]}

    # -- loop ---------------------------------------------------------------------------------------
    def validate(self) -> dict:
        """Mean PSNR / SSIM of F and F+R on the validation pairs (full images), and the number of pairs where F+R
        scores below F (``val_worse``, of ``val_pairs``). Computed once per training step: a second call at the
        same step (e.g. ``ptg-refine train`` printing the figures :meth:`fit` wrote into the model card) returns
        the same figures."""
        if not self.val_pairs:
            raise ValueError("no validation pairs were given")
        if self._validated is not None and self._validated["step"] == self.step:
            return dict(self._validated)
        res = evaluate_pairs(self.val_pairs, refiner=self.refiner, cache=self.cache, progress=False,
                             device=self.device, restorer=self.refiner.restorer if self.config.joint else None)
        self._validated = {"step": self.step, "val_psnr_F": res["mean"]["psnr_F"],
                           "val_psnr_FR": res["mean"]["psnr_F+R"], "val_ssim_FR": res["mean"]["ssim_F+R"],
                           "val_worse": res["worse"], "val_pairs": res["n"]}
        return dict(self._validated)

    def training_record(self, validation: dict | None = None) -> str:
        """The model card's Training section (Markdown): the pairs R was trained on (count and folder), the
        recipe, and ``validation`` (:meth:`validate`'s figures) when given."""
        c = self.config

        def where(pairs):
            folders = sorted({p.folder for p in pairs if getattr(p, "folder", None)})
            unknown = sum(not getattr(p, "folder", None) for p in pairs)
            if not folders:
                return "given in memory (no folder recorded)"
            text = "from " + ", ".join(f"`{f}`" for f in folders)
            return text + (f" and {unknown} given in memory" if unknown else "")

        restorer = self.refiner.config.get("restorer") or getattr(self.refiner.restorer, "name", "a custom F")
        lines = [f"- Restorer F: `{restorer}` (frozen{', fine-tuned jointly' if c.joint else ''}); prior: "
                 f"`{self.refiner.config.get('prior')}`.",
                 f"- Training pairs: {len(self.train_pairs)} {where(self.train_pairs)}.",
                 f"- Recipe: {self.step} iterations, batch size {c.batch_size}, crop {c.crop_size}, lr {c.lr:g}, "
                 f"seed {c.seed}."]
        if validation is None:
            lines.append("- Validation: none (no validation pairs were given).")
        else:
            lines.append(f"- Validation pairs: {validation['val_pairs']} {where(self.val_pairs)}.")
            lines.append(f"- Validation at iteration {validation['step']}: PSNR F alone "
                         f"{validation['val_psnr_F']:.2f} dB, F + R {validation['val_psnr_FR']:.2f} dB "
                         f"({validation['val_psnr_FR'] - validation['val_psnr_F']:+.2f} dB); SSIM F + R "
                         f"{validation['val_ssim_FR']:.4f}; F + R below F on {validation['val_worse']} of "
                         f"{validation['val_pairs']} pairs.")
        return "\n".join(lines)

    def fit(self) -> dict:
        """Train until ``config.iterations`` (continuing from ``self.step`` after :meth:`resume`)."""
        from tqdm import tqdm

        c = self.config
        bar = tqdm(total=c.iterations, initial=self.step, desc="train", disable=not self.progress, unit="it")
        running = None
        while self.step < c.iterations:
            t0 = time.perf_counter()
            stats = self.train_step(self.sample_batch())
            self.train_time += time.perf_counter() - t0
            running = stats["loss"] if running is None else 0.9 * running + 0.1 * stats["loss"]
            bar.update(1)
            if self.step % c.log_every == 0 or self.step == c.iterations:
                bar.set_postfix(loss=f"{running:.4f}", lr=f"{stats['lr']:.2e}")
                self.history.append({**stats, "loss_ema": running})
            if c.val_every and self.val_pairs and self.step % c.val_every == 0 and self.rank == 0:
                v = self.validate()
                self.history.append(v)
                bar.write(f"step {self.step}: val PSNR F {v['val_psnr_F']:.2f} dB, F+R {v['val_psnr_FR']:.2f} dB")
            if c.ckpt_every and self.step % c.ckpt_every == 0 and self.out_dir is not None:
                self.save_checkpoint()
        bar.close()
        summary = {"iterations": self.step, "train_seconds": self.train_time, "world_size": self.world}
        if self.out_dir is not None:
            self.save_checkpoint()
            if self.rank == 0:
                record = self.training_record(self.validate() if self.val_pairs else None)
                with writing(self.out_dir / "final" / "model.safetensors"):  # e.g. a full disk: names the file
                    self.refiner.save_pretrained(self.out_dir / "final")
                with writing(self.out_dir / "final" / "README.md"):  # the card of this run, never an older one
                    self.refiner.generate_model_card(training=record).save(self.out_dir / "final" / "README.md")
                if c.joint:
                    with writing(self.out_dir / "final" / _resume.RESTORER_NAME):
                        _resume.save_restorer(self.refiner, self.out_dir / "final")
                write_text_atomic(self.out_dir / "history.json", json.dumps(
                    {"config": asdict(c), "summary": summary, "history": self.history}, indent=1))
        return summary

    # -- checkpoints (ptg_refine.training.resume) ------------------------------------------------
    def save_checkpoint(self) -> Path | None:
        """Write ``out_dir/checkpoints/step_<n>`` (save_pretrained files + optimiser / scheduler / RNG state
        of every rank) via a temporary folder and an atomic rename, then point ``checkpoints/latest`` at it
        (:func:`ptg_refine.training.resume.save_checkpoint`)."""
        return _resume.save_checkpoint(self)

    def resume(self, checkpoint=None) -> int:
        """Load a checkpoint (default: ``out_dir/checkpoints/latest``); returns the step to continue from.
        Returns 0 and changes nothing when there is no checkpoint yet. Checksums are verified; a damaged newest
        checkpoint is reported by file name and the previous intact one is used; stale ``.tmp_step_*`` folders
        are removed. Refuses a checkpoint of a run on another F, prior, R configuration or training data
        (:func:`ptg_refine.training.resume.resume`)."""
        return _resume.resume(self, checkpoint)
