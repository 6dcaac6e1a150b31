"""``ptg-refine``: synth | train | eval | enhance. Run ``ptg-refine <command> -h`` for the options."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

DEFAULT_REFINER = "sci-lite0"
EXAMPLES_DIR = Path(__file__).parent / "examples_data"


# -- shared helpers ---------------------------------------------------------------------------------
def _threads(args):
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)


def build_restorer(name: str, weights: str | None = None):
    from .restorers import create_restorer

    return create_restorer(name, weights=weights)


def load_refiner(refiner: str, restorer: str | None = None, restorer_weights: str | None = None):
    """A trained refiner (folder or shipped name) with F rebuilt from its config, or from ``restorer``."""
    from .refiner import PTGRefiner

    if restorer is None and restorer_weights is None:
        model = PTGRefiner.from_pretrained(refiner)
        if model.restorer is None:
            raise SystemExit(f"error: refiner {refiner!r} does not record its restorer F; pass --restorer NAME")
        return model
    if restorer is None:
        raise SystemExit("error: --restorer-weights needs --restorer NAME")
    model = PTGRefiner.from_pretrained(refiner, restorer=build_restorer(restorer, restorer_weights))
    trained_for = _read_config(refiner).get("restorer")
    if trained_for and trained_for != restorer:
        print(f"warning: refiner {refiner!r} was trained for restorer {trained_for!r}, running it on "
              f"{restorer!r}", file=sys.stderr)
    return model


def _read_config(refiner: str) -> dict:
    from .refiner import CONFIG_NAME, local_checkpoint_dir

    config = Path(local_checkpoint_dir(refiner)) / CONFIG_NAME
    return json.loads(config.read_text()) if config.is_file() else {}


# -- synth ------------------------------------------------------------------------------------------
def add_synth_args(p):
    p.add_argument("--clean", nargs="+", required=True, help="folders of clean photos (searched recursively)")
    p.add_argument("--out", required=True, help="output paired folder (LOL layout: out/low, out/high); must be new/empty")
    p.add_argument("--variants", type=int, default=1, help="synthetic low-light variants per clean image")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-side", type=int, default=None,
                   help="downscale clean images whose long side exceeds this (Lanczos), reported in synthetic.json")


def run_synth(args):
    from .data.synth import synthesize_pairs

    s = synthesize_pairs(args.clean, args.out, variants=args.variants, seed=args.seed, max_side=args.max_side)
    print(f"wrote {s['pairs']} SYNTHETIC pairs from {s['images']} clean images to {args.out} "
          f"(seed {args.seed}, {args.variants} variant(s) each); {len(s['resized'])} image(s) downscaled "
          f"to max side {args.max_side}; parameters in {Path(args.out) / 'synthetic.json'}")


# -- train ------------------------------------------------------------------------------------------
def add_train_args(p):
    from .training import TrainConfig

    p.add_argument("--pairs", required=True, help="paired training folder (LOL layout)")
    p.add_argument("--val-pairs", default=None, help="paired validation folder")
    p.add_argument("--out", required=True, help="output folder: checkpoints/, final/ (save_pretrained), history.json")
    p.add_argument("--restorer", required=True, help="zoo name of F (ptg_refine.list_restorers())")
    p.add_argument("--restorer-weights", default=None, help="weights file for F (needed for zero_dce, zero_dce_pp)")
    p.add_argument("--prior", default="efficientnet_lite0", help="prior spec (ptg_refine.list_priors())")
    p.add_argument("--prior-random", action="store_true", help="randomly initialised prior (ablation)")
    p.add_argument("--prior-proj-dim", type=int, default=128, help="project g to this size first (0: off)")
    p.add_argument("--prior-dropout", type=float, default=0.0)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--num-blocks", type=int, default=4)
    p.add_argument("--cache-dir", default=None, help="on-disk cache of F(low) and G(low), shared between runs")
    p.add_argument("--resume", action="store_true", help="continue from out/checkpoints/latest if it exists")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training pairs")
    p.add_argument("--no-progress", action="store_true")
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.name == "flips":
            p.add_argument("--no-flips", dest="flips", action="store_false", help="no random flips")
        elif f.name == "joint":
            p.add_argument("--joint", action="store_true", help="fine-tune F jointly (paper Eq. 8)")
        else:
            kind = float if isinstance(f.default, float) or f.name in ("prior_weight_decay", "grad_clip") else \
                int if isinstance(f.default, int) else str
            p.add_argument(flag, type=kind, default=f.default)


def run_train(args):
    import torch

    from .data import PairedFolder
    from .refiner import PTGRefiner
    from .training import Trainer, config_from_args, init_distributed_from_env

    _threads(args)
    init_distributed_from_env()
    config = config_from_args(args)
    torch.manual_seed(config.seed)  # R's initialisation (and a random prior's) follow the seed
    restorer = build_restorer(args.restorer, args.restorer_weights)
    refiner = PTGRefiner(restorer=restorer, prior=args.prior, prior_pretrained=None if args.prior_random else "default",
                         prior_proj_dim=args.prior_proj_dim or None, prior_dropout=args.prior_dropout,
                         width=args.width, num_blocks=args.num_blocks)
    refiner._hub_mixin_config["restorer"] = args.restorer  # so from_pretrained can rebuild F by name
    train = PairedFolder(args.pairs, limit=args.limit)
    val = PairedFolder(args.val_pairs) if args.val_pairs else None
    trainer = Trainer(refiner, train.pairs, config, val_pairs=val.pairs if val else None, out_dir=args.out,
                      cache_dir=args.cache_dir, restorer_name=args.restorer, progress=not args.no_progress)
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
        print(msg + f"; refiner saved to {Path(args.out) / 'final'}")
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


# -- eval -------------------------------------------------------------------------------------------
def add_eval_args(p):
    p.add_argument("--pairs", required=True, help="paired folder (LOL layout) with ground truth")
    p.add_argument("--restorer", default=None, help="zoo name of F (default: the refiner's own)")
    p.add_argument("--restorer-weights", default=None)
    p.add_argument("--refiner", default=None, help="trained refiner folder or shipped name (ptg_refine.list_pretrained())")
    p.add_argument("--out", default=None, help="folder for metrics.json, metrics.csv, strips/")
    p.add_argument("--no-strips", action="store_true")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--threads", type=int, default=None)


def run_eval(args):
    from .data import PairedFolder
    from .evaluate import evaluate_pairs

    _threads(args)
    if args.refiner is None and args.restorer is None:
        raise SystemExit("error: eval needs --restorer NAME and/or --refiner DIR_OR_NAME")
    refiner = load_refiner(args.refiner, args.restorer, args.restorer_weights) if args.refiner else None
    restorer = refiner.restorer if refiner is not None else build_restorer(args.restorer, args.restorer_weights)
    pairs = PairedFolder(args.pairs, limit=args.limit).pairs
    res = evaluate_pairs(pairs, restorer=restorer, refiner=refiner, out_dir=args.out, strips=not args.no_strips)
    m, se = res["mean"], res["se"]
    for key in ("input", "F", "F+R"):
        if f"psnr_{key}" in m:
            print(f"{key:6s} PSNR {m[f'psnr_{key}']:.2f} ± {se[f'psnr_{key}']:.2f} dB   "
                  f"SSIM {m[f'ssim_{key}']:.4f} ± {se[f'ssim_{key}']:.4f}   (n={res['n']}, mean ± s.e.)")
    if args.out:
        print(f"per-image metrics: {Path(args.out) / 'metrics.json'}, {Path(args.out) / 'metrics.csv'}")


# -- enhance ----------------------------------------------------------------------------------------
def add_enhance_args(p):
    p.add_argument("inputs", nargs="*", help="image files and/or folders")
    p.add_argument("-o", "--out", required=True, help="output folder (PNG files)")
    p.add_argument("--examples", action="store_true", help="also enhance the bundled example photos")
    p.add_argument("--refiner", default=DEFAULT_REFINER, help=f"refiner folder or shipped name (default {DEFAULT_REFINER})")
    p.add_argument("--restorer", default=None, help="zoo name of F (default: the refiner's own)")
    p.add_argument("--restorer-weights", default=None)
    p.add_argument("--side-by-side", action="store_true", help="also write <name>_compare.png: input | F | F+R")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--tile", type=int, default=None,
                   help="run R on tiles of about this many pixels (multiple of 4, e.g. 512) to bound memory on "
                        "large images; same result as untiled up to float rounding (default: whole image)")
    p.add_argument("--overlap", type=int, default=32, help="pixels over which neighbouring tiles are blended "
                                                           "(multiple of 4, at most tile/4; default 32)")


def enhance_image(refiner, low, args):
    """(1,3,H,W) -> (F output, refined output). The one place to add tiling options to."""
    restored = refiner.restore(low)
    tile = getattr(args, "tile", None)
    if tile is None:
        return restored, refiner.enhance(low, restored)
    return restored, refiner.enhance(low, restored, tile=tile, overlap=getattr(args, "overlap", 32))


def run_enhance(args):
    from PIL import Image
    from tqdm import tqdm

    from .data import ImageFolder, save_image
    from .evaluate import comparison_strip

    _threads(args)
    inputs = list(args.inputs) + ([str(EXAMPLES_DIR)] if args.examples else [])
    if not inputs:
        raise SystemExit("error: give image files / folders, or --examples")
    images = ImageFolder(inputs)
    stems = [f.stem for f in images.files]
    dupes = sorted({s for s in stems if stems.count(s) > 1})
    if dupes:
        raise SystemExit(f"error: several inputs share the name(s) {dupes}; outputs would overwrite each other")
    refiner = load_refiner(args.refiner, args.restorer, args.restorer_weights)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for i in tqdm(range(len(images)), desc="enhance", unit="img"):
        name, low = images[i]
        restored, refined = enhance_image(refiner, low[None], args)
        save_image(refined[0], out / f"{name}.png")
        if args.side_by_side:
            strip = comparison_strip([low, restored[0], refined[0]], ["input", "F", "F+R"])
            Image.fromarray(strip).save(out / f"{name}_compare.png")
    print(f"wrote {len(images)} enhanced image(s) to {out}")


COMMANDS = {
    "synth": (add_synth_args, run_synth, "write SYNTHETIC low-light pairs (LOL layout) from clean photos"),
    "train": (add_train_args, run_train, "train the refinement network R (F and the prior frozen)"),
    "eval": (add_eval_args, run_eval, "PSNR / SSIM of input, F and F+R on paired data"),
    "enhance": (add_enhance_args, run_enhance, "enhance images without ground truth"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ptg-refine", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (add, run, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        add(p)
        p.set_defaults(func=run)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
