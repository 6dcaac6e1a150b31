"""ptg-refine: synth | train | eval | enhance. Run "ptg-refine COMMAND -h" for the options of a command.

Exit status: 0 success; 1 some images of an enhance batch failed (listed at the end); 2 an error stopped the
command (one "error: ..." line naming the file; --debug also prints the traceback); 130 interrupted.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

EXAMPLES_DIR = Path(__file__).parent / "examples_data"
DEFAULT_OVERLAP = 32
EXIT_FAILURES, EXIT_ERROR, EXIT_INTERRUPTED = 1, 2, 130
RUN_FILES = ("checkpoints", "final", "history.json")  # what `train` writes into --out
RESULT_FILES = {"eval": ("metrics.json", "metrics.csv", "strips")}  # what eval writes into --out


class CLIError(Exception):
    """An expected failure: printed as one ``error: ...`` line, exit status 2."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ptg-refine")
    except PackageNotFoundError:
        return "unknown"


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows "(default: X)" after every option that has a default worth showing (not None / False)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or isinstance(action.default, list) and not action.default:
            return action.help
        if isinstance(action, argparse._StoreFalseAction):  # "--no-flips (default: True)" would read backwards
            return action.help
        return super()._get_help_string(action)


# -- shared helpers ---------------------------------------------------------------------------------
def _add_common(p, threads: bool = True):
    if threads:
        p.add_argument("--threads", type=int, default=None, help="number of CPU threads for torch "
                                                                 "(torch.set_num_threads; default: torch's choice)")
        # the commands that run models (the same ones that take --threads) choose where they run
        from ._device import DEVICE_HELP

        p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="on an error, print the full traceback too")


def _threads(args):
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)


def _device(args):
    """The torch.device of ``--device``, checked (one error line when e.g. no GPU is there)."""
    from ._device import resolve_device

    return resolve_device(getattr(args, "device", "auto"), "--device")


def _add_precision(p, default: str, note: str = ""):
    from ._inference_precision import PRECISION_HELP, PRECISIONS

    p.add_argument("--precision", choices=PRECISIONS, default=default, help=PRECISION_HELP + note)


def refiner_label(spec) -> str:
    """A short name of ``--refiner`` for comparison strips: a shipped name or hub id as given, a folder by its name
    (``run/final`` by its run's name too)."""
    p = Path(str(spec))
    if not p.is_dir():
        return str(spec)
    p = p.resolve()
    return f"{p.parent.name}/{p.name}" if p.name == "final" and p.parent.name else p.name


def _to_device(model, device):
    """``model`` (a PTGRefiner: F, G and R together; or a restorer module) moved to ``device``; None stays None."""
    return model.to(device) if hasattr(model, "to") and callable(model.to) else model


def _check_file(path, option: str) -> None:
    """Before any long work: ``path`` (given with ``option``) is an existing file."""
    if path is None:
        return
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(f"{option} {str(p)!r} is a folder, not a file")
    if not p.is_file():
        raise FileNotFoundError(f"{option} {str(p)!r} does not exist")


def _check_out(path, option: str = "--out"):
    from ._validation import check_output_dir

    return check_output_dir(path, option)


def _refuse_earlier_results(out, command: str, overwrite: bool) -> None:
    """Before any long work: ``out`` holds no results of an earlier ``command`` run, unless ``overwrite``."""
    from ._outputs import refuse_existing_results

    refuse_existing_results(out, RESULT_FILES[command], "--out", overwrite)


def _flat(text: str, limit: int = 600) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + " ... (--debug for the full message)"


# the CLI's version of _hub.OFFLINE_ALTERNATIVES (which names Python arguments)
OFFLINE_ADVICE = ("Offline: pass the prior's weights as a local file with --prior-weights FILE (downloaded on a "
                  "machine with network access), or train with --prior efficientnet_lite0 (its weights ship with a "
                  "dependency) or --prior none.")


def error_message(e: BaseException) -> str:
    """One line for an exception, naming the file when the exception carries one."""
    from ._hub import OFFLINE_ALTERNATIVES, HubUnavailableError

    if isinstance(e, HubUnavailableError):  # prior weights offline: advise the CLI's options, in full
        return _flat(str(e).replace(OFFLINE_ALTERNATIVES, OFFLINE_ADVICE), limit=1000)
    if isinstance(e, OSError) and e.filename and e.strerror:
        files = f"{e.filename}" + (f" -> {e.filename2}" if e.filename2 else "")
        return _flat(f"{files}: {e.strerror}")
    if isinstance(e, MemoryError):
        return _flat(f"out of memory{': ' + str(e) if str(e) else ''}; for large images try --tile 512 "
                     "--tile-restorer")
    return _flat(str(e) or type(e).__name__)


def build_restorer(name: str, weights: str | None = None):
    from .restorers import create_restorer

    _check_file(weights, "--restorer-weights")
    return create_restorer(name, weights=weights)


def load_refiner(refiner: str, restorer: str | None = None, restorer_weights: str | None = None,
                 prior_weights: str | None = None):
    """A trained refiner (``hf-hub:user/name``, ``local-dir:PATH`` or a folder, a shipped name: see
    :func:`ptg_refine._sources.resolve_source`) with F rebuilt from its config, or from ``restorer``.

    A local folder is checked first (config.json is a JSON object, files match their checksums); a bare
    ``user/name`` that is neither a local folder nor a fetchable hub repo is reported as both."""
    from ._sources import HUB, resolve_source
    from .integrity import check_pretrained_folder
    from .refiner import PTGRefiner

    source = resolve_source(refiner)
    if source.kind != HUB:
        check_pretrained_folder(source.location)
    if restorer is None and restorer_weights is not None:
        raise CLIError("--restorer-weights needs --restorer NAME")
    _check_file(prior_weights, "--prior-weights")
    kwargs = {}
    if prior_weights is not None:
        kwargs["prior_pretrained"] = prior_weights
    if restorer is not None:
        kwargs["restorer"] = build_restorer(restorer, restorer_weights)
    try:
        model = PTGRefiner.from_pretrained(refiner, **kwargs)
    except OSError as e:
        if source.implied:
            raise FileNotFoundError(f"refiner {refiner!r}: there is no local folder {os.path.abspath(refiner)!r}, "
                                    f"and no hub repo {refiner!r} could be fetched ({error_message(e)}); "
                                    f"say which you mean: 'local-dir:PATH' or 'hf-hub:{refiner}'") from e
        raise
    except RuntimeError as e:  # e.g. num_blocks in config.json does not match the weights
        raise RuntimeError(f"refiner {source.location}: its weights do not fit its config.json "
                           f"({_flat(e, 300)})") from e
    if model.restorer is None:
        raise CLIError(f"refiner {refiner!r} does not record its restorer F; pass --restorer NAME")
    return model  # (another --restorer than the refiner's own: from_pretrained warns)


# -- synth ------------------------------------------------------------------------------------------
def add_synth_args(p):
    from .data.synth import DEFAULT_MIN_SIZE

    p.add_argument("--clean", nargs="+", required=True, help="folders of clean photos (searched recursively)")
    p.add_argument("-o", "--out", required=True, help="output paired folder (LOL layout: OUT/low, OUT/high, "
                                                "OUT/synthetic.json); must be new or empty; appears complete or "
                                                "not at all")
    p.add_argument("--variants", type=int, default=1, help="synthetic low-light variants per clean image")
    p.add_argument("--seed", type=int, default=0, help="seed of the degradation (each image's generator is "
                                                       "seeded from seed, name and variant)")
    p.add_argument("--max-side", type=int, default=None,
                   help="downscale clean images whose long side exceeds this (Lanczos), reported in synthetic.json")
    p.add_argument("--min-size", type=int, default=DEFAULT_MIN_SIZE,
                   help="refuse clean images whose short side (after --max-side) is smaller than this many pixels "
                        "(training crops must fit in the images)")
    p.add_argument("--preset", default="default", choices=["default", "camera"],
                   help="degradation ranges: default, or camera (calibrated to real low-light pairs: darker, "
                        "stronger white-balance shifts, a black level; see ptg_refine.data.synth)")
    p.add_argument("--val-fraction", type=float, default=0.0,
                   help="hold out this fraction of the clean photos for validation: writes OUT/train and OUT/val "
                        "(every variant of a photo on the same side; the split depends on --seed and the names)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_common(p, threads=False)


def run_synth(args):
    _check_out(args.out)
    from .data.synth import PRESETS, synthesize_pairs

    s = synthesize_pairs(args.clean, args.out, variants=args.variants, seed=args.seed, max_side=args.max_side,
                         min_size=args.min_size, progress=not args.no_progress, config=PRESETS[args.preset],
                         val_fraction=args.val_fraction)
    where = (f"{Path(args.out) / 'train'} and {Path(args.out) / 'val'} ({len(s['val_images'])} photo(s) held out)"
             if args.val_fraction else str(args.out))
    resized = (f"{len(s['resized'])} image(s) downscaled to max side {args.max_side}" if args.max_side
               else "no downscaling")
    print(f"wrote {s['pairs']} SYNTHETIC pairs from {s['images']} clean images to {where} (seed {args.seed}, "
          f"{args.variants} variant(s) each, preset {args.preset}); {resized}; parameters in "
          f"{Path(args.out) / 'synthetic.json'}")


# -- train ------------------------------------------------------------------------------------------
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
AMP_CHOICES = ("auto", "off", "bf16", "fp16")


def _field_kind(f):
    """argparse type of a TrainConfig field, from its annotation (``from __future__ import annotations``
    makes it a string) or its default."""
    t = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if t == "bool" or isinstance(f.default, bool):
        return bool
    if t.startswith("float") or isinstance(f.default, float):
        return float
    if t.startswith("int") or isinstance(f.default, int):
        return int
    return str


def _exposure_arg(text: str):
    """argparse type of --exposure: 'refiner', 'restorer', 'scene' or a number in (0, 1)."""
    from .exposure import parse_exposure

    try:
        return parse_exposure(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


# R's options of ``train``: these RefinerConfig fields, one flag each, with the library's defaults except
# CLI_DEFAULTS; with --init-from they come from the init refiner's config.json (so they are then not given)
R_FLAGS = {
    "prior": "prior spec (ptg_refine.list_priors()); 'none' (g = 0): what the shipped refiners use; with hundreds of "
             "pairs of one camera 'efficientnet_lite0' gained in-domain but lost on another camera (README, 'the "
             "prior')",
    "prior_proj_dim": "project g to this size first ('auto': 128 for priors wider than 512-d; 0: off)",
    "prior_dropout": "dropout on g inside R during training",
    "prior_mode": "how G enters R: pooled vector (paper), dense feature maps by SFT, or both",
    "prior_input": "what G sees: the low image (paper) or F's output",
    "width": "channels of R's first stage",
    "num_blocks": "transformer blocks of R",
    "heads": "attention heads of R's transformer branch",
    "ffn_expansion": "hidden-size factor of the transformer branch's feed-forward layers",
    "kernel_size": "size of PTG-CSA's per-position kernels",
    "prior_hidden": "hidden size of T_m and T_c (the maps from g to R's modulations)",
    "embed_dim": "output size of T_m and T_c",
    "dense_hidden": "hidden channels of the dense prior's SFT condition (--prior-mode dense)",
    "upsample": "how R_d goes up from 1/4 resolution: bilinear + conv (no periodic texture) or PixelShuffle "
                "(the layout of refiners saved before this option)",
}
# where train's default deliberately differs from PTGRefiner's (the paper's setting):
CLI_DEFAULTS = {"prior": "none",  # the measurements recommend no prior; the library keeps the paper's CLIP
                "prior_proj_dim": 128}  # the shipped recipe: a fixed 128-d projection, whatever the prior's width
R_CHOICES = {"prior_mode": ("global", "dense", "global+dense"), "prior_input": ("low", "restored"),
             "upsample": ("bilinear", "shuffle")}


def _val_split_arg(text: str) -> int:
    """--val-split: an integer >= 2 (every N-th pair is held out)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected an integer >= 2 (every N-th pair is held out), got {text!r}")
    return value


VAL_SPLIT_HELP = ("every N-th pair of --pairs, in numeric name order starting with the first, is validation "
                  "(10: the LOL-v1 split of README: 49 of our485's 485 pairs)")


def _proj_dim_arg(text: str):
    """--prior-proj-dim: an int (0: no projection) or 'auto'."""
    if text == "auto":
        return text
    try:
        return int(text) or None
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'auto', got {text!r}") from None


def arch_defaults() -> dict:
    """train's defaults of R's options: RefinerConfig's, except :data:`CLI_DEFAULTS`; and --prior-random off."""
    from .refiner import RefinerConfig

    library = RefinerConfig()
    return {**{name: getattr(library, name) for name in R_FLAGS}, **CLI_DEFAULTS, "prior_random": False}


def add_refiner_args(p) -> None:
    """One flag per field of :data:`R_FLAGS`, typed and defaulted from RefinerConfig (see :func:`arch_defaults`)."""
    from dataclasses import fields

    from .refiner import RefinerConfig

    defaults = arch_defaults()
    for f in fields(RefinerConfig):
        if f.name not in R_FLAGS:
            continue
        kind = _proj_dim_arg if f.name == "prior_proj_dim" else _field_kind(f)
        p.add_argument("--" + f.name.replace("_", "-"), type=kind, default=defaults[f.name],
                       choices=R_CHOICES.get(f.name), help=R_FLAGS[f.name])


def add_train_args(p):
    from dataclasses import fields

    from .training import TrainConfig

    p.add_argument("--pairs", required=True, help="paired training folder (LOL layout: low/, high/)")
    p.add_argument("--val-pairs", default=None, help="paired validation folder")
    p.add_argument("--val-split", type=_val_split_arg, default=None, metavar="N",
                   help=f"hold out validation pairs from --pairs instead of --val-pairs: {VAL_SPLIT_HELP}; "
                        "R trains on the others")
    p.add_argument("-o", "--out", required=True, help="output folder: checkpoints/, final/ (save_pretrained), "
                                                "history.json; must be new or empty unless --resume / --overwrite")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its newest intact "
                                                         "checkpoint (same F, prior, data and settings)")
    p.add_argument("--overwrite", action="store_true", help="replace a previous run in --out (its checkpoints/, "
                                                            "final/ and history.json are deleted)")
    p.add_argument("--init-from", default=None, metavar="NAME_OR_DIR",
                   help="start R from a trained refiner (a shipped name, ptg_refine.list_pretrained(), a folder "
                        "with config.json + model.safetensors or local-dir:PATH, or hf-hub:user/name) and adapt it "
                        "to --pairs: its F, prior and size come with it (the R options below are then not given; "
                        "--exposure sets the adapted refiner's brightness)")
    p.add_argument("--restorer", default=None, help="zoo name of F (ptg_refine.list_restorers()); required "
                                                    "unless --init-from gives it")
    p.add_argument("--exposure", default="refiner", type=_exposure_arg,
                   help="output brightness the trained refiner keeps in its config.json (enhance's default): "
                        "'refiner' (R's own, learnt from --pairs; also after --init-from), 'restorer' (F's), 'scene' "
                        "(a mean predicted from the input, highlights spared) or a mean luminance in (0, 1)")
    p.add_argument("--restorer-weights", default=None, help="weights file for F (needed for zero_dce, zero_dce_pp)")
    p.add_argument("--prior-weights", default=None, metavar="FILE",
                   help="local weights file of the prior (offline use; default: the prior's own pretrained weights)")
    p.add_argument("--prior-random", action="store_true", help="randomly initialised prior (ablation)")
    add_refiner_args(p)
    p.add_argument("--cache-dir", default=None, help="on-disk cache of F(low) and G(low), shared between runs")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training pairs (name order)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        helptext = TRAIN_HELP.get(f.name, f"TrainConfig.{f.name} (see ptg_refine.training.TrainConfig)")
        kind = _field_kind(f)
        if kind is bool:
            if f.default:
                p.add_argument("--no-" + f.name.replace("_", "-"), dest=f.name, action="store_false", help=helptext)
            else:
                p.add_argument(flag, dest=f.name, action="store_true", help=helptext)
        elif f.name == "amp":
            p.add_argument(flag, choices=AMP_CHOICES, default=f.default, help=helptext)
        else:
            p.add_argument(flag, type=kind, default=f.default, help=helptext)
    _add_common(p)


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


def run_train(args):
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
    _check_out(out)
    _check_file(args.prior_weights, "--prior-weights")
    _check_file(args.restorer_weights, "--restorer-weights")
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

    from .data import PairedFolder
    from .refiner import PTGRefiner
    from .training import Trainer, config_from_args, init_distributed_from_env

    _threads(args)
    device = _device(args)
    init_distributed_from_env()
    config = config_from_args(args)
    torch.manual_seed(config.seed)  # R's initialisation (and a random prior's) follow the seed
    if args.init_from:
        refiner = load_refiner(args.init_from, args.restorer, args.restorer_weights, args.prior_weights)
        restorer_name = args.restorer or refiner.refiner_config.restorer
        refiner.train()
    else:
        restorer = build_restorer(args.restorer, args.restorer_weights)
        prior_pretrained = None if args.prior_random else (args.prior_weights or "default")
        refiner = PTGRefiner(restorer=restorer, prior_pretrained=prior_pretrained,
                             prior_seed=config.seed if args.prior_random else None,
                             **{name: getattr(args, name) for name in R_FLAGS})
        restorer_name = args.restorer
    # the F that R is trained for, by name: after --init-from --restorer another F than the init's; with
    # --restorer-weights the name too (loading then needs --restorer-weights again)
    refiner.refiner_config.restorer = restorer_name
    refiner.exposure = args.exposure  # recorded in config.json
    train_pairs = PairedFolder(args.pairs, limit=args.limit).pairs
    val = PairedFolder(args.val_pairs).pairs if args.val_pairs else None
    if args.val_split:
        from .data import split_every

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


# -- eval -------------------------------------------------------------------------------------------
def add_eval_args(p):
    p.add_argument("--pairs", required=True, help="paired folder (LOL layout) with ground truth")
    p.add_argument("--restorer", default=None, help="zoo name of F (default: the refiner's own)")
    p.add_argument("--restorer-weights", default=None, help="weights file for F (with --restorer)")
    p.add_argument("--refiner", default=None, help="trained refiner: a folder (or local-dir:PATH), a shipped name "
                                                   "(ptg_refine.list_pretrained()) or hf-hub:user/name; without "
                                                   "it only F is scored")
    p.add_argument("--prior-weights", default=None, metavar="FILE",
                   help="local weights file of the refiner's prior (offline use; default: its config's setting)")
    p.add_argument("-o", "--out", default=None, help="folder for metrics.json, metrics.csv, strips/ (default: print "
                                                      "only)")
    p.add_argument("--no-strips", action="store_true", help="do not write comparison strips")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier evaluation in --out (its "
                                                            "metrics.json, metrics.csv and strips)")
    p.add_argument("--limit", type=int, default=None, help="score only the first N pairs (name order)")
    p.add_argument("--val-split", type=_val_split_arg, default=None, metavar="N",
                   help=f"score only the validation part of --pairs: {VAL_SPLIT_HELP} (as train --val-split N)")
    _add_precision(p, default="fp32", note="; fp32 by default so that metrics are comparable across machines")
    _add_common(p)


def run_eval(args):
    if args.refiner is None and args.restorer is None:
        raise CLIError("eval needs --restorer NAME and/or --refiner DIR_OR_NAME")
    if args.prior_weights and args.refiner is None:
        raise CLIError("--prior-weights needs --refiner (without a refiner no prior is used)")
    if args.out is not None:
        _check_out(args.out)
        _refuse_earlier_results(args.out, "eval", getattr(args, "overwrite", False))
    _check_file(args.restorer_weights, "--restorer-weights")

    from .data import PairedFolder
    from .evaluate import evaluate_pairs

    _threads(args)
    device = _device(args)
    refiner = load_refiner(args.refiner, args.restorer, args.restorer_weights, args.prior_weights) \
        if args.refiner else None
    restorer = refiner.restorer if refiner is not None else build_restorer(args.restorer, args.restorer_weights)
    refiner, restorer = _to_device(refiner, device), _to_device(restorer, device)
    if args.val_split and args.limit:
        raise CLIError("--val-split and --limit exclude each other: score the validation part, or the first N pairs")
    pairs = PairedFolder(args.pairs, limit=args.limit).pairs
    if args.val_split:
        from .data import split_every

        pairs = split_every(pairs, args.val_split)[1]
    res = evaluate_pairs(pairs, restorer=restorer, refiner=refiner, out_dir=args.out, strips=not args.no_strips,
                         device=device, precision=args.precision,
                         labels={"F+R": f"F+R: {refiner_label(args.refiner)}"} if args.refiner else None)
    m, se = res["mean"], res["se"]
    for key in ("input", "F", "F+R"):
        if f"psnr_{key}" in m:
            print(f"{key:6s} PSNR {m[f'psnr_{key}']:.2f} ± {se[f'psnr_{key}']:.2f} dB   "
                  f"SSIM {m[f'ssim_{key}']:.4f} ± {se[f'ssim_{key}']:.4f}   "
                  f"GT-mean PSNR {m[f'gtmean_psnr_{key}']:.2f} dB   "
                  f"luminance {m[f'lum_{key}']:.3f} (target {m['lum_target']:.3f})   (n={res['n']}, mean ± s.e.)")
    if "worse" in res:
        print(f"F+R is worse than F (PSNR) on {res['worse']} of {res['n']} images")
    if args.out:
        print(f"per-image metrics: {Path(args.out) / 'metrics.json'}, {Path(args.out) / 'metrics.csv'}")


# -- enhance ----------------------------------------------------------------------------------------
def add_enhance_args(p):
    from ._pretrained import default_pretrained  # no torch: the index of shipped refiners is JSON

    p.add_argument("inputs", nargs="*", help="image files and/or folders (a folder: the images directly in it; "
                                             "with --recursive, its whole tree)")
    p.add_argument("-o", "--out", required=True, help="output folder: NAME.png per input image (created when the "
                                                      "first image is written)")
    p.add_argument("--examples", action="store_true", help="also enhance the bundled example photos")
    p.add_argument("--refiner", default=default_pretrained(), help="refiner: a folder (or local-dir:PATH), a "
                                                                   "shipped name (ptg_refine.list_pretrained()) "
                                                                   "or hf-hub:user/name")
    p.add_argument("--restorer", default=None, help="zoo name of F (default: the refiner's own)")
    p.add_argument("--restorer-weights", default=None, help="weights file for F (with --restorer)")
    p.add_argument("--prior-weights", default=None, metavar="FILE",
                   help="local weights file of the refiner's prior (offline use; default: its config's setting)")
    p.add_argument("--side-by-side", action="store_true", help="also write NAME_compare.png: input | F | F+R, "
                                                                          "labelled with their names")
    p.add_argument("--recursive", action="store_true", help="walk subfolders of input folders, keeping the tree "
                                                            "in the output folder")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files (an input file is "
                                                            "never written over)")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first image that fails (default: go on, "
                                                            "list the failures at the end and exit with status 1)")
    p.add_argument("--tile", type=int, default=None,
                   help="run R on tiles of about this many pixels (multiple of 4, >= 32, e.g. 512) to bound memory "
                        "on large images; same result as untiled up to float rounding (default: whole image)")
    p.add_argument("--overlap", type=int, default=None,
                   help=f"pixels over which neighbouring tiles are blended (multiple of 4, at most tile/4; "
                        f"default: {DEFAULT_OVERLAP}, lowered to fit the tile)")
    p.add_argument("--tile-restorer", action="store_true",
                   help="with --tile: also run F tile by tile (less memory; differs from a whole-image F if F has "
                        "global operations)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_precision(p, default="auto")
    _add_common(p)


def default_overlap(tile: int) -> int:
    """DEFAULT_OVERLAP, lowered to fit the tile: at most tile/4, a multiple of the stride."""
    from ._stride import STRIDE

    return min(DEFAULT_OVERLAP, tile // 4 // STRIDE * STRIDE)


def _tile_args(args) -> tuple[int | None, int]:
    """(tile, overlap) checked before any model or image is loaded; the default overlap fits the tile."""
    tile, overlap = args.tile, args.overlap
    if tile is None:
        if overlap is not None:
            raise CLIError("--overlap needs --tile")
        if args.tile_restorer:
            raise CLIError("--tile-restorer needs --tile PIXELS")
        return None, DEFAULT_OVERLAP
    if overlap is None:
        overlap = default_overlap(tile)
    from .tiling import check_tiling_args

    check_tiling_args(tile, overlap)
    return tile, overlap


def _check_untiled_memory(refiner, low) -> None:
    """Before enhancing ``low`` whole: refuse, saying --tile 512, when it would not fit in memory."""
    from ._memory import check_untiled_memory

    check_untiled_memory(refiner, low.shape[-2], low.shape[-1], device=low.device)


def enhance_image(refiner, low, args):
    """(1,3,H,W) -> (F output, refined output). The one place to add tiling options to. With
    ``args.tile_restorer`` F runs tile by tile inside ``enhance`` and its whole-image output is computed only
    for a comparison strip (``args.side_by_side``; else None)."""
    tile = getattr(args, "tile", None)
    precision = getattr(args, "precision", "auto")
    if tile is None:
        _check_untiled_memory(refiner, low)
        restored = refiner.restore(low)
        return restored, refiner.enhance(low, restored, precision=precision)
    overlap = getattr(args, "overlap", None)
    overlap = default_overlap(tile) if overlap is None else overlap
    if getattr(args, "tile_restorer", False):
        refined = refiner.enhance(low, tile=tile, overlap=overlap, tile_restorer=True, precision=precision)
        return (refiner.restore(low) if getattr(args, "side_by_side", False) else None), refined
    restored = refiner.restore(low)
    return restored, refiner.enhance(low, restored, tile=tile, overlap=overlap, precision=precision)


def plan_outputs(images, out: Path, side_by_side: bool, overwrite: bool) -> list[tuple[Path, Path | None]]:
    """(output file, comparison-strip file or None) per input image, refusing before anything is written:
    two inputs (or an output and a strip) mapped to the same file, an output that is an input file, and
    (without ``overwrite``) output files that already exist."""
    inputs = {f.resolve(): f for f in images.files}
    plan, produced = [], {}
    for f, name in zip(images.files, images.names):
        target = out / f"{name}.png"
        strip = out / f"{name}_compare.png" if side_by_side else None
        for path, what in ((target, f"the output of {f}"), (strip, f"the comparison strip of {f}")):
            if path is None:
                continue
            key = path.resolve()
            if key in inputs:
                raise CLIError(f"refusing to write over the input file {inputs[key]} ({what}); choose another "
                               "--out folder")
            if key in produced:
                hint = "rename one of them or drop --side-by-side" if "strip" in produced[key] + what else \
                    "rename one of them or enhance them into separate folders"
                raise CLIError(f"{produced[key]} and {what} would both be written to {path}; {hint}")
            produced[key] = what
        plan.append((target, strip))
    if not overwrite:
        existing = [str(p) for p in (p for pair in plan for p in pair) if p is not None and p.exists()]
        if existing:
            raise CLIError(f"{len(existing)} output file(s) already exist: {', '.join(existing[:5])}"
                           f"{', ...' if len(existing) > 5 else ''}; pass --overwrite to replace them, or choose "
                           "another --out folder")
    return plan


def _remove_stale_temporaries(plan) -> None:
    """Remove the hidden ``.NAME.png.tmp-PID`` files a killed earlier run left beside this run's outputs."""
    from ._outputs import remove_stale_temporaries

    removed = remove_stale_temporaries(p for pair in plan for p in pair if p is not None)
    if removed:
        print(f"removed {len(removed)} temporary file(s) left by an interrupted earlier run: "
              f"{', '.join(str(p) for p in removed[:3])}{', ...' if len(removed) > 3 else ''}", file=sys.stderr)


def _report_skipped(skipped) -> None:
    if not skipped:
        return
    shown = "; ".join(f"{p} ({why})" for p, why in skipped[:10])
    more = f"; and {len(skipped) - 10} more" if len(skipped) > 10 else ""
    print(f"skipped {len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'}: {shown}{more}", file=sys.stderr)


def _file_error(path: Path, e: BaseException) -> str:
    msg = error_message(e)
    return msg if str(path) in msg else f"{path}: {msg}"


def run_enhance(args):
    from ._validation import MIN_SIZE

    tile, overlap = _tile_args(args)
    inputs = list(args.inputs) + ([str(EXAMPLES_DIR)] if args.examples else [])
    if not inputs:
        raise CLIError("give image files / folders, or --examples")
    out = _check_out(args.out, "--out")
    _check_file(args.restorer_weights, "--restorer-weights")
    _check_file(args.prior_weights, "--prior-weights")

    from tqdm import tqdm

    from .data import ImageFolder, save_image
    from .data.io import comparison_strip, strip_labels

    images = ImageFolder(inputs, recursive=args.recursive, exclude=[out])
    _report_skipped([(p, why) for p, why in images.skipped if p.parent != EXAMPLES_DIR])
    plan = plan_outputs(images, out, args.side_by_side, args.overwrite)
    _remove_stale_temporaries(plan)
    _threads(args)
    device = _device(args)
    refiner = _to_device(load_refiner(args.refiner, args.restorer, args.restorer_weights, args.prior_weights),
                         device)
    args.tile, args.overlap = tile, overlap
    labels = strip_labels(refiner.restorer, refiner_label(args.refiner))
    labels = [labels["input"], labels["F"], labels["F+R"]]
    written, failures = 0, []
    for i in tqdm(range(len(images)), desc="enhance", unit="img", disable=args.no_progress):
        file, (target, strip) = images.files[i], plan[i]
        try:
            low, alpha = images.read(i)
            if min(low.shape[1:]) < MIN_SIZE:
                raise ValueError(f"image is {low.shape[1]}x{low.shape[2]} pixels; the refiner needs at least "
                                 f"{MIN_SIZE}x{MIN_SIZE}")
            restored, refined = enhance_image(refiner, low[None].to(device), args)
            save_image(refined[0], target, alpha=alpha, overwrite=args.overwrite)  # never replaced unasked
            if strip is not None:
                save_image(comparison_strip([low, restored[0], refined[0]], labels), strip, overwrite=args.overwrite)
            written += 1
        except Exception as e:  # noqa: BLE001  (one bad file must not abort the batch)
            if getattr(args, "debug", False):
                raise
            if args.fail_fast:
                raise CLIError(f"{_file_error(file, e)} (stopped by --fail-fast after writing {written} "
                               "image(s))") from e
            failures.append(_file_error(file, e))
    if failures:
        for msg in failures:
            print(f"error: {msg}", file=sys.stderr)
        print(f"wrote {written} of {len(images)} enhanced image(s) to {out}; {len(failures)} failed (listed above)",
              file=sys.stderr)
        return EXIT_FAILURES
    print(f"wrote {written} enhanced image(s) to {out}")
    return 0


COMMANDS = {
    "synth": (add_synth_args, run_synth, "write SYNTHETIC low-light pairs (LOL layout) from clean photos"),
    "train": (add_train_args, run_train, "train the refinement network R (F and the prior frozen)"),
    "eval": (add_eval_args, run_eval, "PSNR / SSIM of input, F and F+R on paired data"),
    "enhance": (add_enhance_args, run_enhance, "enhance images without ground truth"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser. ``only``: add the options of that command alone (the others' options need heavy
    imports, e.g. train's come from TrainConfig), so that ``ptg-refine --help`` stays fast."""
    parser = argparse.ArgumentParser(prog="ptg-refine", description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--debug", action="store_true", help="on an error, print the full traceback too")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (add, run, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_, formatter_class=HelpFormatter)
        if only is None or only == name:
            add(p)
        p.set_defaults(func=run)
    return parser


def _command_in(argv) -> str | None:
    for token in argv:
        if not token.startswith("-"):
            return token if token in COMMANDS else None
    return None


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {_flat(message, 2000)}", file=sys.stderr if file is None else file)


def _expected(e: BaseException) -> bool:
    names = {"DecompressionBombError", "SafetensorError"}
    return isinstance(e, (CLIError, OSError, ValueError, TypeError, RuntimeError, MemoryError, ArithmeticError,
                          ImportError)) or type(e).__name__ in names


def main(argv=None) -> int:
    from ._outputs import interrupt_on_terminate
    from ._inference_precision import set_passive_wait

    set_passive_wait()  # before torch loads its OpenMP runtime (unless the user chose a wait policy)
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = build_parser(only=_command_in(argv) or "").parse_args(argv)
    debug = getattr(args, "debug", False)
    with warnings.catch_warnings():
        if not debug:
            warnings.showwarning = _show_warning
        try:
            with interrupt_on_terminate():  # kill PID: temporaries removed as for Ctrl-C
                rc = args.func(args)
        except KeyboardInterrupt:
            print("error: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        except Exception as e:  # noqa: BLE001
            if not _expected(e):
                raise  # a bug: keep the traceback
            if debug:
                import traceback

                traceback.print_exc()
            print(f"error: {error_message(e)}", file=sys.stderr)
            return EXIT_ERROR
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
