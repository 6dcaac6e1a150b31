"""``ptg-refine synth``: write SYNTHETIC low-light pairs (LOL layout) from clean photos."""
from __future__ import annotations

from pathlib import Path

from ._common import add_common, check_out

HELP = "write SYNTHETIC low-light pairs (LOL layout) from clean photos"


def add_arguments(p):
    from ..data.synth import DEFAULT_MIN_SIZE

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
    add_common(p, threads=False)


def run(args):
    check_out(args.out)
    from ..data.synth import PRESETS, synthesize_pairs

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
