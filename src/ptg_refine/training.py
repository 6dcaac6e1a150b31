"""Training of the refinement network R with F and G frozen (PTG-RM, Xu et al., CVPR 2024).

Only R runs per step: F(low) and G(low) are computed once per full training image and cached
(:class:`ptg_refine.data.FeatureCache`); random crops of low / restored / target are cut together and
R gets ``position=`` of the crop so its coordinate embedding matches full-image inference (flips: see
:mod:`ptg_refine.data.crops`). Loss: Charbonnier (Charbonnier et al., ICIP 1994; as in the release) +
``ssim_weight``·(1 − SSIM) (pytorch-msssim). AdamW (Loshchilov & Hutter, ICLR 2019), linear warm-up then
cosine decay (Loshchilov & Hutter, ICLR 2017). ``joint=True`` fine-tunes F too, with the paper's Eq. 8
loss L(Î_c, T) + λ·L(Ī_c, T) (F then runs per step on the crop, kept in eval mode so BatchNorm statistics
stay fixed). Works under ``torchrun`` (DistributedDataParallel; gloo on CPU, nccl on CUDA); the batch size
is per process.

Use it inside your own loop::

    trainer = Trainer(refiner, train_pairs, TrainConfig(iterations=1000))
    for _ in range(1000):
        stats = trainer.train_step(trainer.sample_batch())
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from pytorch_msssim import ssim as _ssim
from torch import nn

from ._stride import STRIDE
from .data.cache import FeatureCache
from .data.crops import FLIP_DIMS, apply_crop, sample_crop
from .evaluate import evaluate_pairs

STATE_NAME = "training_state.pt"
RESTORER_NAME = "restorer.safetensors"


@dataclass
class TrainConfig:
    """Hyper-parameters of :class:`Trainer` (CLI flags of ``ptg-refine train`` have the same names)."""

    iterations: int = 1000
    batch_size: int = 8          # per process
    crop_size: int = 96
    lr: float = 1e-3
    min_lr: float = 1e-6
    warmup: int = 0
    weight_decay: float = 1e-4
    prior_weight_decay: float | None = None  # on prior_proj, T_m, T_c; None = weight_decay
    prior_noise: float = 0.0     # Gaussian noise on g during training, as a fraction of |g| (= 1)
    # prior-feature augmentation (training only; validation / inference always use the full-image g):
    prior_views: int = 0         # > 0: g of a crop = G of one of this many cached augmented views of its image
    prior_crop_mix: float = 0.0  # > 0: g = normalise((1 - m) g + m G(low crop)), G run on the crop each step
    # regularisers aimed at per-image memorisation through g (training only):
    prior_drop: float = 0.0      # probability that a crop's whole prior (g and dense maps) is zeroed
    prior_other_variant: bool = False  # g of another synthetic variant of the same photo (same name stem)
    position_jitter: int = 0     # shift R's coordinate positions by a random multiple of 4 in [-J, J] px
    # the prior as a training signal (CLIP-LIT-style use of a frozen encoder, here a perceptual loss):
    feature_loss: float = 0.0    # weight of the feature-space L1 between F+R and the target
    feature_loss_prior: str = "efficientnet_lite0"  # backbone of that loss (stride 8/16/32 maps)
    ssim_weight: float = 0.1
    charbonnier_eps: float = 1e-3
    flips: bool = True
    grad_clip: float | None = 1.0
    amp: str = "auto"            # auto | off | bf16 | fp16 (auto: bf16/fp16 on CUDA, off on CPU)
    joint: bool = False
    joint_lr: float = 1e-5
    joint_weight: float = 1.0    # λ of Eq. 8
    seed: int = 0
    val_every: int = 0
    ckpt_every: int = 0
    keep_checkpoints: int = 2
    log_every: int = 10

    def __post_init__(self):
        for name in ("iterations", "batch_size", "crop_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.crop_size < 16 or self.crop_size % STRIDE:
            raise ValueError(f"crop_size must be a multiple of 4 and >= 16 (R downsamples by 4), got {self.crop_size}")
        if self.amp not in ("auto", "off", "bf16", "fp16"):
            raise ValueError(f"amp must be one of auto, off, bf16, fp16; got {self.amp!r}")
        if self.lr <= 0 or self.min_lr < 0 or self.min_lr > self.lr:
            raise ValueError(f"need lr > 0 and 0 <= min_lr <= lr, got lr={self.lr}, min_lr={self.min_lr}")
        if self.prior_noise < 0:
            raise ValueError(f"prior_noise must be >= 0, got {self.prior_noise}")
        if self.prior_views < 0:
            raise ValueError(f"prior_views must be >= 0, got {self.prior_views}")
        if not 0 <= self.prior_crop_mix <= 1:
            raise ValueError(f"prior_crop_mix must be in [0, 1], got {self.prior_crop_mix}")
        if not 0 <= self.prior_drop <= 1:
            raise ValueError(f"prior_drop must be in [0, 1], got {self.prior_drop}")
        if self.position_jitter < 0 or self.position_jitter % STRIDE:
            raise ValueError(f"position_jitter must be a non-negative multiple of 4, got {self.position_jitter}")
        if self.feature_loss < 0:
            raise ValueError(f"feature_loss must be >= 0, got {self.feature_loss}")


def charbonnier(pred, target, eps: float = 1e-3):
    """mean(sqrt((pred − target)² + eps²)) (Charbonnier et al., ICIP 1994)."""
    return torch.sqrt((pred - target) ** 2 + eps * eps).mean()


def refinement_loss(pred, target, ssim_weight: float = 0.1, eps: float = 1e-3):
    """Charbonnier + ssim_weight·(1 − SSIM); SSIM (11x11 Gaussian, sigma 1.5) on pred clamped to [0,1]."""
    loss = charbonnier(pred, target, eps)
    if ssim_weight:
        loss = loss + ssim_weight * (1 - _ssim(pred.clamp(0, 1), target, data_range=1.0))
    return loss


def feature_distance(prior, pred, target) -> torch.Tensor:
    """Mean over the stride-8/16/32 stages of the L1 distance between the frozen backbone's channel-normalised
    maps of ``pred`` (clamped to [0,1]) and ``target``: a perceptual loss (Johnson et al., ECCV 2016) with the
    pre-trained prior as the feature extractor; gradients flow to ``pred`` only."""
    from .priors.dense import feature_maps

    with torch.no_grad():
        ref = feature_maps(prior, target)
    got = feature_maps(prior, pred.clamp(0, 1))
    return sum((a - b).abs().mean() for a, b in zip(got, ref)) / len(ref)


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
    """R (and, when joint, F) on a batch of crops with one ``position`` per crop; one module so that
    DistributedDataParallel sees a single forward per step."""

    def __init__(self, net: nn.Module, restorer: nn.Module | None = None):
        super().__init__()
        self.net = net
        self.restorer = restorer

    def forward(self, low, restored, prior, positions, dense=None):
        if self.restorer is not None:
            restored = self.restorer(low)
        out = torch.cat([self.net(low[i:i + 1], restored[i:i + 1], prior[i:i + 1], position=p,
                                  dense=None if dense is None else dense[i])
                         for i, p in enumerate(positions)])
        return out, restored


def _dist_info():
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed_from_env() -> bool:
    """Initialise torch.distributed when launched by torchrun (WORLD_SIZE > 1); gloo on CPU, nccl on CUDA."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or (dist.is_available() and dist.is_initialized()):
        return dist.is_available() and dist.is_initialized()
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return True


class Trainer:
    """Train R of a :class:`~ptg_refine.PTGRefiner` on paired data (see the module docstring).

    refiner: its F must be set (or use ``joint``); train_pairs / val_pairs: lists of
    :class:`ptg_refine.data.Pair`; out_dir: checkpoints (``checkpoints/step_*``, atomic), ``final/``
    (save_pretrained) and ``history.json``; cache_dir: on-disk F/G cache shared between runs.
    """

    def __init__(self, refiner, train_pairs, config: TrainConfig | None = None, val_pairs=None, out_dir=None,
                 cache_dir=None, device=None, restorer_name: str | None = None, progress: bool = True):
        self.config = config = config or TrainConfig()
        self.rank, self.world = _dist_info()
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
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
            from .priors import create_prior
            self.feature_prior = create_prior(config.feature_loss_prior).to(self.device)
        self.variants = _variant_groups(self.train_pairs) if config.prior_other_variant else None
        self._warm_cache()
        net = refiner.net
        if config.joint:
            restorer.requires_grad_(True)  # stays in eval mode (frozen BatchNorm statistics)
        self.model = _CropForward(net, restorer if config.joint else None)
        if self.world > 1:
            self.model = nn.parallel.DistributedDataParallel(self.model)
        self.optimizer = self._make_optimizer()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self.amp_dtype = self._amp_dtype()
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.generator = torch.Generator().manual_seed(config.seed * 1_000_003 + self.rank)
        self.step = 0
        self.history: list[dict] = []
        self.train_time = 0.0

    # -- setup --------------------------------------------------------------------------------------
    def _warm_cache(self):
        # rank 0 fills the (on-disk) cache first; the other ranks then read it
        if self.rank != 0 and self.world > 1:
            dist.barrier()
        self.keys = self.cache.warm(self.train_pairs, progress=self.progress, desc="caching F/G (train)")
        if self.config.prior_views:
            from tqdm import tqdm
            for pair, key in tqdm(list(zip(self.train_pairs, self.keys)), desc="caching G views (train)",
                                  disable=not self.progress, unit="img"):
                self.cache.prior_views(pair.low, self.config.prior_views, key)
        self.val_keys = self.cache.warm(self.val_pairs, progress=self.progress, desc="caching F/G (val)") \
            if self.val_pairs else []
        if self.rank == 0 and self.world > 1:
            dist.barrier()

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
        own generator (saved in checkpoints, so a resumed run sees the same batches)."""
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
            positions.append(self._jitter(crop.position))
            if self.dense:  # the map of the full image in the crop's flip state (R samples the crop's cells)
                full = self.cache.dense_features(self.train_pairs[src].low, self.keys[src])
                dims = FLIP_DIMS[crop.flip_index]
                full = torch.zeros_like(full) if drop else (full.flip(dims) if dims else full)
                dense.append(full[None].to(self.device))
        d = self.device
        return {"low": torch.stack(lows).to(d), "target": torch.stack(targets).to(d),
                "restored": torch.stack(restored).to(d) if restored else None,
                "prior": torch.stack(priors).to(d), "positions": positions, "dense": dense or None}

    def _jitter(self, position):
        """``position_jitter``: the crop's position shifted by a random multiple of 4 px (kept inside the image)."""
        j = self.config.position_jitter
        if not j:
            return position
        top, left, h, w = position
        size = self.config.crop_size
        steps = torch.randint(-(j // STRIDE), j // STRIDE + 1, (2,), generator=self.generator).tolist()
        top = min(max(0, top + STRIDE * steps[0]), (h - size) // STRIDE * STRIDE)
        left = min(max(0, left + STRIDE * steps[1]), (w - size) // STRIDE * STRIDE)
        return (top, left, h, w)

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
        (:meth:`~ptg_refine.data.FeatureCache.prior_views`; random resized crop 50-100 % of the area, flip,
        exposure / gamma jitter), so g carries the image's content but is not a fixed per-image key that R
        can memorise per-image corrections against (the failure seen with 181 training images, issue 4).
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
            g = F.normalize((1 - c.prior_crop_mix) * g + c.prior_crop_mix * g_crop, dim=0)
        return g

    def train_step(self, batch: dict) -> dict:
        """One optimisation step on a batch from :meth:`sample_batch` (or your own dict with keys low,
        target, restored (None when joint), prior (B,D), positions (list of (top,left,H,W) or None))."""
        c = self.config
        self.refiner.train()
        g = batch["prior"]
        if c.prior_noise:
            g = g + torch.randn_like(g) * (c.prior_noise / math.sqrt(g.shape[1]))
        positions = batch.get("positions") or [None] * batch["low"].shape[0]
        autocast = torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp_dtype else contextlib.nullcontext()
        with autocast:
            out, restored = self.model(batch["low"], batch["restored"], g, positions, batch.get("dense"))
        loss = refinement_loss(out.float(), batch["target"], c.ssim_weight, c.charbonnier_eps)
        if self.feature_prior is not None:
            loss = loss + c.feature_loss * feature_distance(self.feature_prior, out.float(), batch["target"])
        if c.joint:  # Eq. 8: L(Î_c, T) + λ·L(Ī_c, T)
            loss = refinement_loss(restored.float(), batch["target"], c.ssim_weight, c.charbonnier_eps) \
                + c.joint_weight * loss
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
        """Mean PSNR / SSIM of F and F+R on the validation pairs (full images)."""
        if not self.val_pairs:
            raise ValueError("no validation pairs were given")
        res = evaluate_pairs(self.val_pairs, refiner=self.refiner, cache=self.cache, progress=False,
                             device=self.device, restorer=self.refiner.restorer if self.config.joint else None)
        return {"step": self.step, "val_psnr_F": res["mean"]["psnr_F"], "val_psnr_FR": res["mean"]["psnr_F+R"],
                "val_ssim_FR": res["mean"]["ssim_F+R"]}

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
                self.refiner.save_pretrained(self.out_dir / "final")
                if c.joint:
                    self._save_restorer(self.out_dir / "final")
                (self.out_dir / "history.json").write_text(json.dumps(
                    {"config": asdict(c), "summary": summary, "history": self.history}, indent=1))
        return summary

    # -- checkpoints --------------------------------------------------------------------------------
    def _save_restorer(self, folder: Path):
        from safetensors.torch import save_file
        save_file({k: v.detach().contiguous() for k, v in self.refiner.restorer.state_dict().items()},
                  str(folder / RESTORER_NAME))

    def _rng_state(self) -> dict:
        return {"generator": self.generator.get_state(), "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}

    def save_checkpoint(self) -> Path | None:
        """Write ``out_dir/checkpoints/step_<n>`` (save_pretrained files + optimiser / scheduler / RNG state
        of every rank) via a temporary folder and an atomic rename, then point ``checkpoints/latest`` at it."""
        if self.out_dir is None:
            raise ValueError("this Trainer has no out_dir")
        rng = self._rng_state()
        if self.world > 1:
            gathered = [None] * self.world
            dist.all_gather_object(gathered, rng)
            rng = gathered
        else:
            rng = [rng]
        from .checkpoints import run_fingerprint, write_checksums

        path = None
        if self.rank == 0:
            root = self.out_dir / "checkpoints"
            root.mkdir(parents=True, exist_ok=True)
            path = root / f"step_{self.step:07d}"
            tmp = root / f".tmp_step_{self.step:07d}_{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            self.refiner.save_pretrained(tmp)
            if self.config.joint:
                self._save_restorer(tmp)
            torch.save({"step": self.step, "config": asdict(self.config), "optimizer": self.optimizer.state_dict(),
                        "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                        "rng": rng, "history": self.history, "train_time": self.train_time,
                        "world_size": self.world, "fingerprint": run_fingerprint(self)}, tmp / STATE_NAME)
            write_checksums(tmp)
            if path.exists():
                shutil.rmtree(path)
            os.replace(tmp, path)
            latest_tmp = root / f".latest_{os.getpid()}"
            latest_tmp.write_text(path.name)
            os.replace(latest_tmp, root / "latest")
            kept = sorted(p for p in root.glob("step_*") if p.is_dir())
            for old in kept[:-max(1, self.config.keep_checkpoints)]:
                shutil.rmtree(old, ignore_errors=True)
        if self.world > 1:
            dist.barrier()
        return path

    def resume(self, checkpoint=None) -> int:
        """Load a checkpoint (default: ``out_dir/checkpoints/latest``); returns the step to continue from.
        Returns 0 and changes nothing when there is no checkpoint yet. Checksums are verified; a damaged newest
        checkpoint is reported by file name and the previous intact one is used (see
        :mod:`ptg_refine.checkpoints`); stale ``.tmp_step_*`` folders are removed. Refuses a checkpoint of a run
        on another F, prior, R configuration or training data."""
        from .checkpoints import (check_run_fingerprint, clean_stale_temporaries, find_intact_checkpoint,
                                  load_training_checkpoint)

        names = {"state_name": STATE_NAME, "restorer_name": RESTORER_NAME}
        if checkpoint is None:
            if self.out_dir is None:
                raise ValueError("resume() needs a checkpoint path or a Trainer with out_dir")
            if self.rank == 0:
                clean_stale_temporaries(self.out_dir / "checkpoints")
            found = find_intact_checkpoint(self.out_dir / "checkpoints", joint=self.config.joint, **names)
            if found is None:
                return 0
            checkpoint, (state, net_state, restorer_state) = found
        else:
            checkpoint = Path(checkpoint)
            state, net_state, restorer_state = load_training_checkpoint(checkpoint, joint=self.config.joint, **names)
        saved, now = state["config"], asdict(self.config)
        free = {"iterations", "val_every", "ckpt_every", "keep_checkpoints", "log_every"}
        diff = {k: (saved.get(k), now[k]) for k in now if k not in free and saved.get(k) != now[k]}
        if diff:
            raise ValueError(f"cannot resume {checkpoint}: training settings differ from the checkpoint "
                             f"(setting: (checkpoint, now)): {diff}")
        if state["world_size"] != self.world:
            raise ValueError(f"{checkpoint} was written by {state['world_size']} processes, now {self.world}; "
                             "resume with the same number of processes")
        check_run_fingerprint(self, state, checkpoint)
        self.refiner.net.load_state_dict(net_state)
        if self.config.joint:
            self.refiner.restorer.load_state_dict(restorer_state)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        rng = state["rng"][self.rank]
        self.generator.set_state(rng["generator"])
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.step, self.history, self.train_time = state["step"], state["history"], state["train_time"]
        return self.step


def config_from_args(args) -> TrainConfig:
    """TrainConfig from an argparse namespace holding fields of the same names."""
    return TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)})
