"""``ptg-refine eval``: PSNR / SSIM of input, F and F+R on paired data."""
from __future__ import annotations

from pathlib import Path

from ._common import (VAL_SPLIT_HELP, CLIError, add_common, add_precision, build_restorer, check_file, check_out,
                      device_of, load_refiner, refiner_label, set_threads, to_device, val_split_arg)

HELP = "PSNR / SSIM of input, F and F+R on paired data"
RESULT_FILES = ("metrics.json", "metrics.csv", "strips")  # what eval writes into --out


def add_arguments(p):
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
    p.add_argument("--val-split", type=val_split_arg, default=None, metavar="N",
                   help=f"score only the validation part of --pairs: {VAL_SPLIT_HELP} (as train --val-split N)")
    add_precision(p, default="fp32", note="; fp32 by default so that metrics are comparable across machines")
    add_common(p)


def run(args):
    if args.refiner is None and args.restorer is None:
        raise CLIError("eval needs --restorer NAME and/or --refiner DIR_OR_NAME")
    if args.prior_weights and args.refiner is None:
        raise CLIError("--prior-weights needs --refiner (without a refiner no prior is used)")
    if args.out is not None:
        from .._outputs import refuse_existing_results

        check_out(args.out)
        refuse_existing_results(args.out, RESULT_FILES, "--out", getattr(args, "overwrite", False))
    check_file(args.restorer_weights, "--restorer-weights")

    from ..data import PairedFolder
    from ..evaluate import evaluate_pairs

    set_threads(args)
    device = device_of(args)
    refiner = load_refiner(args.refiner, args.restorer, args.restorer_weights, args.prior_weights) \
        if args.refiner else None
    restorer = refiner.restorer if refiner is not None else build_restorer(args.restorer, args.restorer_weights)
    refiner, restorer = to_device(refiner, device), to_device(restorer, device)
    if args.val_split and args.limit:
        raise CLIError("--val-split and --limit exclude each other: score the validation part, or the first N pairs")
    pairs = PairedFolder(args.pairs, limit=args.limit).pairs
    if args.val_split:
        from ..data import split_every

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
