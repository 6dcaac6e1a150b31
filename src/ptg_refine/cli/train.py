"""``ptg-refine train``: train the refinement network R (F and the prior frozen).

Its options come in four groups, the everyday ones first: data, adapting (``--init-from``), training, research.
R's options are made from the fields of :class:`ptg_refine.RefinerConfig` (one flag per field, typed, defaulted
and described by the field; a new field becomes a flag here with no edit) and the optimisation options from the
fields of :class:`ptg_refine.training.TrainConfig`.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from ._common import (VAL_SPLIT_HELP, CLIError, add_common, argtype, build_restorer, check_file, check_out, device_of,
                      load_refiner, set_threads, val_split_arg)

HELP = "train the refinement network R (F and the prior frozen)"
RUN_FILES = ("checkpoints", "final", "history.json")  # what `train` writes into --out
TRAIN_HELP = {
    "iterations": "optimisation steps in total (a resumed run continues up to this number)",
    "batch_size": "crops per step (per process under torchrun)",
    "crop_size": "side of the training crops in pixels (multiple of 4, >= 16)",
    "lr": "peak learning rate (AdamW)",
    "min_lr": "learning rate at the end of the cosine decay",
    "warmup": "steps of linear learning-rate warm-up",
    "weight_decay": "AdamW weight decay",
    "prior_weight_decay": "weight decay of the prior path (prior_proj, T_m, T_c); default: --weight-decay",
    "prior_noise": "Gaussian noise added to g during training, as a fraction of |g|",
    "prior_views": "> 0: g of a crop is G of one of this many cached augmented views of its image",
    "prior_crop_mix": "> 0: g = normalise((1 - m) g + m G(low crop)) with this m",
    "prior_drop": "probability of g = 0 for a whole crop",
    "prior_other_variant": "g of another synthetic variant of the same photo",
    "position_jitter": "shift R's coordinate positions by a random multiple of 4 pixels in [-J, J]",
    "feature_loss": "weight of a feature-space L1 loss between F+R and the target (0: off)",
    "feature_loss_prior": "backbone of the feature loss",
    "identity_weight": "do-no-harm penalty: weight of mean|I_m - 1| + mean|I_r| (keeps R near F unless the data "
                       "pay for a correction; 0: off)",
    "ssim_weight": "weight of the (1 - SSIM) term of the loss",
    "charbonnier_eps": "epsilon of the Charbonnier loss",
    "flips": "turn off the random flips of the training crops (flips are on by default)",
    "grad_clip": "clip the gradient norm to this value (0: no clipping)",
    "amp": "mixed precision: auto (bf16 / fp16 on CUDA, off on CPU), off, bf16, fp16",
    "joint": "fine-tune F jointly with R (paper Eq. 8)",
    "joint_lr": "learning rate of F with --joint",
    "joint_weight": "lambda of Eq. 8: weight of the F+R loss with --joint",
    "seed": "random seed (R's initialisation, crops, flips)",
    "val_every": "validate every N steps (0: only at the end, with --val-pairs)",
    "ckpt_every": "save a checkpoint every N steps (0: only at the end)",
    "keep_checkpoints": "number of checkpoints kept in OUT/checkpoints",
    "log_every": "record the loss in history.json every N steps",
}
# TrainConfig fields shown under "training"; every other one (and any new one) is a research option
EVERYDAY = ("iterations", "batch_size", "crop_size", "lr", "min_lr", "warmup", "weight_decay", "seed", "val_every",
            "ckpt_every", "keep_checkpoints", "log_every", "amp", "flips", "grad_clip", "identity_weight")
AMP_CHOICES = ("auto", "off", "bf16", "fp16")


def _field_kind(f):
    """argparse type of a dataclass field, from its annotation (``from __future__ import annotations`` makes it a
    string) or its default."""
    t = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if t == "bool" or isinstance(f.default, bool):
        return bool
    if t.startswith("float") or isinstance(f.default, float):
        return float
    if t.startswith("int") or isinstance(f.default, int):
        return int
    return str


def refiner_flags() -> list:
    """The RefinerConfig fields that are ``train`` flags (all but those with their own option:
    ``setting(flag=False)``)."""
    from dataclasses import fields

    from ..refiner import RefinerConfig

    return [f for f in fields(RefinerConfig) if f.metadata.get("flag", True)]


def flag_default(f):
    """``train``'s default of RefinerConfig field ``f``: the library's, except where ``setting(train_default=)``
    declares another (e.g. no prior, as the shipped refiners)."""
    return f.metadata.get("train_default", f.default)


def arch_defaults() -> dict:
    """The defaults of the R options that ``--init-from`` replaces (all but the ``adapt`` ones), and --prior-random."""
    return {**{f.name: flag_default(f) for f in refiner_flags() if not f.metadata.get("adapt")}, "prior_random": False}


def _add_field(group, f, default, helptext, parse=None, choices=None):
    flag = "--" + f.name.replace("_", "-")
    kind = _field_kind(f)
    if kind is bool and parse is None:
        if default:
            group.add_argument("--no-" + f.name.replace("_", "-"), dest=f.name, action="store_false", help=helptext)
        else:
            group.add_argument(flag, dest=f.name, action="store_true", help=helptext)
        return
    group.add_argument(flag, dest=f.name, type=argtype(parse) if parse else kind, default=default, choices=choices,
                       help=helptext)


def add_refiner_args(adapting, research) -> None:
    """One flag per RefinerConfig field (:func:`refiner_flags`), typed, defaulted (:func:`flag_default`),
    described and restricted (``choices``) by the field; ``adapt`` fields go with --init-from."""
    for f in refiner_flags():
        meta = f.metadata
        types = str(f.type)
        choices = meta.get("choices") if meta.get("parse") is None and types == "str" else None
        _add_field(adapting if meta.get("adapt") else research, f, flag_default(f),
                   meta.get("help") or f"RefinerConfig.{f.name} (see ptg_refine.RefinerConfig)", meta.get("parse"),
                   choices)


def add_arguments(p):
    from dataclasses import fields

    from ..training import TrainConfig

    data = p.add_argument_group("data")
    data.add_argument("--pairs", required=True, help="paired training folder (LOL layout: low/, high/)")
    data.add_argument("--val-pairs", default=None, help="paired validation folder")
    data.add_argument("--val-split", type=val_split_arg, default=None, metavar="N",
                      help=f"hold out validation pairs from --pairs instead of --val-pairs: {VAL_SPLIT_HELP}; "
                           "R trains on the others")
    data.add_argument("--limit", type=int, default=None, help="use only the first N training pairs (name order)")
    data.add_argument("--cache-dir", default=None, help="on-disk cache of F(low) and G(low), shared between runs")
    adapting = p.add_argument_group("adapting", "start from a trained refiner, or name F to train from scratch")
    adapting.add_argument("--init-from", default=None, metavar="NAME_OR_DIR",
                          help="start R from a trained refiner (a shipped name, ptg_refine.list_pretrained(), a "
                               "folder with config.json + model.safetensors or local-dir:PATH, or hf-hub:user/name) "
                               "and adapt it to --pairs: its F, prior and size come with it (the research options of "
                               "R are then not given; --exposure sets the adapted refiner's brightness)")
    adapting.add_argument("--restorer", default=None, help="zoo name of F (ptg_refine.list_restorers()); required "
                                                           "unless --init-from gives it")
    adapting.add_argument("--restorer-weights", default=None,
                          help="weights file for F (needed for zero_dce, zero_dce_pp)")
    training = p.add_argument_group("training")
    training.add_argument("-o", "--out", required=True, help="output folder: checkpoints/, final/ (save_pretrained), "
                                                             "history.json; must be new or empty unless --resume / "
                                                             "--overwrite")
    training.add_argument("--resume", action="store_true", help="continue the run in --out from its newest intact "
                                                                "checkpoint (same F, prior, data and settings)")
    training.add_argument("--overwrite", action="store_true", help="replace a previous run in --out (its "
                                                                   "checkpoints/, final/ and history.json are "
                                                                   "deleted)")
    research = p.add_argument_group("research", "R's prior and architecture, and the loss and prior-augmentation "
                                                "variants studied in benchmarks/ (the defaults are the shipped recipe)")
    add_refiner_args(adapting, research)
    research.add_argument("--prior-weights", default=None, metavar="FILE",
                          help="local weights file of the prior (offline use; default: the prior's own pretrained "
                               "weights)")
    research.add_argument("--prior-random", action="store_true", help="randomly initialised prior (ablation)")
    for f in fields(TrainConfig):
        group = training if f.name in EVERYDAY else research
        helptext = TRAIN_HELP.get(f.name, f"TrainConfig.{f.name} (see ptg_refine.training.TrainConfig)")
        _add_field(group, f, f.default, helptext, choices=AMP_CHOICES if f.name == "amp" else None)
    training.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_common(training)


def _finished_iterations(out: Path) -> int | None:
    """Iterations of the finished run in ``out`` (history.json and final/ written), else None."""
    history, final = out / "history.json", out / "final" / "model.safetensors"
    if not (history.is_file() and final.is_file()):
        return None
    try:
        return int(json.loads(history.read_text())["summary"]["iterations"])
    except (ValueError, KeyError, TypeError, OSError):
        return None


def _clear_run(out: Path) -> None:
    import shutil

    for name in RUN_FILES:
        p = out / name
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()


def run(args):
    out = Path(args.out)
    if args.resume and args.overwrite:
        raise CLIError("--resume and --overwrite exclude each other: continue the run in --out, or replace it")
    if args.prior_random and args.prior_weights:
        raise CLIError("--prior-random and --prior-weights exclude each other")
    if args.init_from:
        given = ["--" + k.replace("_", "-") for k, v in arch_defaults().items() if getattr(args, k) != v]
        if given:
            raise CLIError(f"{', '.join(given)}: R's architecture and prior come from --init-from "
                           f"{args.init_from}'s config.json; drop {'it' if len(given) == 1 else 'them'}")
    elif args.restorer is None:
        raise CLIError("train needs --restorer NAME (ptg_refine.list_restorers()), or --init-from a trained refiner")
    if args.val_split and (args.val_pairs or args.limit):
        raise CLIError(f"--val-split takes the validation pairs from --pairs: drop "
                       f"{'--val-pairs' if args.val_pairs else '--limit'}")
    check_out(out)
    check_file(args.prior_weights, "--prior-weights")
    check_file(args.restorer_weights, "--restorer-weights")
    existing = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if existing and not (args.resume or args.overwrite):
        raise CLIError(f"--out {out} is not empty ({', '.join(existing[:4])}{', ...' if len(existing) > 4 else ''}): "
                       "pass --resume to continue the run in it, --overwrite to replace it, or choose a new folder")
    rank0 = int(os.environ.get("RANK", "0")) == 0
    if args.resume:
        done = _finished_iterations(out)
        if done is not None and done >= args.iterations:
            if rank0:
                print(f"the run in {out} is already finished ({done} of {args.iterations} iterations; refiner in "
                      f"{out / 'final'}); nothing to do. To train further, resume with a larger --iterations")
            return 0

    import torch

    from ..data import PairedFolder
    from ..refiner import PTGRefiner
    from ..training import Trainer, config_from_args, init_distributed_from_env

    set_threads(args)
    device = device_of(args)  # under torchrun: this rank's GPU (the package's one device rule)
    init_distributed_from_env()
    config = config_from_args(args)
    torch.manual_seed(config.seed)  # R's initialisation (and a random prior's) follow the seed
    adapt = {f.name: getattr(args, f.name) for f in refiner_flags() if f.metadata.get("adapt")}
    if args.init_from:
        refiner = load_refiner(args.init_from, args.restorer, args.restorer_weights, args.prior_weights, **adapt)
        restorer_name = args.restorer or refiner.refiner_config.restorer
        refiner.train()
    else:
        restorer = build_restorer(args.restorer, args.restorer_weights)
        prior_pretrained = None if args.prior_random else (args.prior_weights or "default")
        refiner = PTGRefiner(restorer=restorer, prior_pretrained=prior_pretrained,
                             prior_seed=config.seed if args.prior_random else None,
                             **{f.name: getattr(args, f.name) for f in refiner_flags()})
        restorer_name = args.restorer
    # the F that R is trained for, by name: after --init-from --restorer another F than the init's; with
    # --restorer-weights the name too (loading then needs --restorer-weights again)
    refiner.refiner_config.restorer = restorer_name
    train_pairs = PairedFolder(args.pairs, limit=args.limit).pairs
    val = PairedFolder(args.val_pairs).pairs if args.val_pairs else None
    if args.val_split:
        from ..data import split_every

        train_pairs, val = split_every(train_pairs, args.val_split)
        if rank0:
            print(f"--val-split {args.val_split}: training on {len(train_pairs)} pairs of {args.pairs}, validating on "
                  f"{len(val)}")
    trainer = Trainer(refiner, train_pairs, config, val_pairs=val, out_dir=out,
                      cache_dir=args.cache_dir, restorer_name=restorer_name, progress=not args.no_progress,
                      device=device)
    if args.overwrite and existing and trainer.rank == 0:
        _clear_run(out)
        print(f"--overwrite: removed the previous run's {', '.join(n for n in RUN_FILES if n in existing)} from "
              f"{out}", file=sys.stderr)
    if args.resume:
        step = trainer.resume()
        if trainer.rank == 0:
            print(f"resuming at step {step}" if step else "no checkpoint found: starting from step 0")
    summary = trainer.fit()
    if trainer.rank == 0:
        msg = f"trained {summary['iterations']} iterations in {summary['train_seconds']:.0f} s"
        if val:
            v = trainer.validate()
            msg += f"; val PSNR F {v['val_psnr_F']:.2f} dB -> F+R {v['val_psnr_FR']:.2f} dB"
        print(msg + f"; refiner saved to {out / 'final'}")
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
