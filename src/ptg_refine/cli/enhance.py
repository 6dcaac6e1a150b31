"""``ptg-refine enhance``: enhance images without ground truth."""
from __future__ import annotations

import sys
from pathlib import Path

from ._common import (EXAMPLES_DIR, EXIT_FAILURES, CLIError, add_common, add_precision, argtype, check_file,
                      check_out, device_of, error_message, load_refiner, refiner_label, set_threads, to_device)

HELP = "enhance images without ground truth"


def add_arguments(p):
    from .._pretrained import default_pretrained  # no torch: the index of shipped refiners is JSON
    from ..data.io import OUTPUT_FORMATS
    from ..exposure import parse_exposure
    from ..tiling import DEFAULT_OVERLAP

    p.add_argument("inputs", nargs="*", help="image files and/or folders (a folder: the images directly in it; "
                                             "with --recursive, its whole tree)")
    p.add_argument("-o", "--out", required=True, help="output folder: NAME[SUFFIX].EXT per input image (created "
                                                      "when the first image is written)")
    p.add_argument("--examples", action="store_true", help="also enhance the bundled example photos")
    p.add_argument("--refiner", default=default_pretrained(), help="refiner: a folder (or local-dir:PATH), a "
                                                                   "shipped name (ptg_refine.list_pretrained()) "
                                                                   "or hf-hub:user/name")
    p.add_argument("--exposure", default=None, type=argtype(parse_exposure),
                   help="output brightness, as enhance(exposure=): 'refiner' (R's own), 'restorer' (F's mean "
                        "luminance), 'scene' (a mean predicted from the input, highlights spared) or a mean luminance "
                        "in (0, 1) (default: the refiner's own setting, from its config.json)")
    p.add_argument("--format", default=None, choices=tuple(OUTPUT_FORMATS),
                   help="output file format (default: the input's own: png, jpg or webp; png for other formats)")
    p.add_argument("--quality", type=int, default=None, metavar="1-100",
                   help="quality of jpg / webp outputs (default: Pillow's, 75); EXIF and ICC profile of the input "
                        "are kept in every format")
    p.add_argument("--suffix", default="", help="appended to every output name, e.g. --suffix _sci-lol writes "
                                                "photo_sci-lol.jpg, so several refiners can write into one folder")
    p.add_argument("--restorer", default=None, help="zoo name of F (default: the refiner's own)")
    p.add_argument("--restorer-weights", default=None, help="weights file for F (with --restorer)")
    p.add_argument("--prior-weights", default=None, metavar="FILE",
                   help="local weights file of the refiner's prior (offline use; default: its config's setting)")
    p.add_argument("--side-by-side", action="store_true", help="also write NAME[SUFFIX]_compare.png: input | F | F+R, "
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
    add_precision(p, default="auto")
    add_common(p)


def tile_args(args) -> tuple[int | None, int | None]:
    """(tile, overlap) checked before any model or image is loaded, by the rule of ``enhance(tile=, overlap=)``
    (:func:`ptg_refine.tiling.tiling_args`: the default overlap fits the tile)."""
    if args.tile is None:
        if args.overlap is not None:
            raise CLIError("--overlap needs --tile")
        if args.tile_restorer:
            raise CLIError("--tile-restorer needs --tile PIXELS")
        return None, None
    from ..tiling import tiling_args

    return args.tile, tiling_args(args.tile, args.overlap)


def check_untiled_memory(refiner, low) -> None:
    """Before enhancing ``low`` whole: refuse, saying --tile 512, when it would not fit in memory."""
    from .._memory import check_untiled_memory as check

    check(refiner, low.shape[-2], low.shape[-1], device=low.device)


def enhance_image(refiner, low, args, tile=None, overlap=None):
    """(1,3,H,W) -> (F output, refined output). With ``args.tile_restorer`` F runs tile by tile inside ``enhance``
    and its whole-image output is computed only for a comparison strip (``args.side_by_side``; else None)."""
    options = {"precision": getattr(args, "precision", "auto"), "exposure": getattr(args, "exposure", None)}
    if tile is None:
        check_untiled_memory(refiner, low)
        restored = refiner.restore(low)
        return restored, refiner.enhance(low, restored, **options)
    if getattr(args, "tile_restorer", False):
        refined = refiner.enhance(low, tile=tile, overlap=overlap, tile_restorer=True, **options)
        return (refiner.restore(low) if getattr(args, "side_by_side", False) else None), refined
    restored = refiner.restore(low)
    return restored, refiner.enhance(low, restored, tile=tile, overlap=overlap, **options)


def output_format(file: Path, chosen: str | None) -> str:
    """The output format of input ``file``: ``--format``, else the input's own (png, jpg, webp), else png."""
    if chosen:
        return chosen
    from ..data.io import image_metadata

    try:
        return image_metadata(file)["format"] or "png"
    except Exception:  # noqa: BLE001  (an unreadable file fails later, when it is read, with its own message)
        return "png"


def plan_outputs(images, out: Path, side_by_side: bool, overwrite: bool, suffix: str = "",
                 fmt: str | None = None) -> list[tuple[Path, Path | None]]:
    """(output file, comparison-strip file or None) per input image, refusing before anything is written:
    two inputs (or an output and a strip) mapped to the same file, an output that is an input file, and
    (without ``overwrite``) output files that already exist."""
    inputs = {f.resolve(): f for f in images.files}
    plan, produced = [], {}
    for f, name in zip(images.files, images.names):
        target = out / f"{name}{suffix}.{output_format(f, fmt)}"
        strip = out / f"{name}{suffix}_compare.png" if side_by_side else None
        for path, what in ((target, f"the output of {f}"), (strip, f"the comparison strip of {f}")):
            if path is None:
                continue
            key = path.resolve()
            if key in inputs:
                raise CLIError(f"refusing to write over the input file {inputs[key]} ({what}); choose another "
                               "--out folder or a --suffix")
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
                           f"{', ...' if len(existing) > 5 else ''}; pass --overwrite to replace them, choose "
                           "another --out folder or add a --suffix")
    return plan


def remove_stale_temporaries(plan) -> None:
    """Remove the hidden ``.NAME.png.tmp-PID`` files a killed earlier run left beside this run's outputs."""
    from .._outputs import remove_stale_temporaries as remove

    removed = remove(p for pair in plan for p in pair if p is not None)
    if removed:
        print(f"removed {len(removed)} temporary file(s) left by an interrupted earlier run: "
              f"{', '.join(str(p) for p in removed[:3])}{', ...' if len(removed) > 3 else ''}", file=sys.stderr)


def report_skipped(skipped) -> None:
    if not skipped:
        return
    shown = "; ".join(f"{p} ({why})" for p, why in skipped[:10])
    more = f"; and {len(skipped) - 10} more" if len(skipped) > 10 else ""
    print(f"skipped {len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'}: {shown}{more}", file=sys.stderr)


def _file_error(path: Path, e: BaseException) -> str:
    msg = error_message(e)
    return msg if str(path) in msg else f"{path}: {msg}"


def run(args):
    from .._validation import MIN_SIZE

    tile, overlap = tile_args(args)
    if args.quality is not None and not 1 <= args.quality <= 100:
        raise CLIError(f"--quality must lie in [1, 100], got {args.quality}")
    if "/" in args.suffix or "\\" in args.suffix:
        raise CLIError(f"--suffix {args.suffix!r} must not contain a path separator")
    inputs = list(args.inputs) + ([str(EXAMPLES_DIR)] if args.examples else [])
    if not inputs:
        raise CLIError("give image files / folders, or --examples")
    out = check_out(args.out, "--out")
    check_file(args.restorer_weights, "--restorer-weights")
    check_file(args.prior_weights, "--prior-weights")

    from tqdm import tqdm

    from ..data import ImageFolder, save_image
    from ..data.io import comparison_strip, image_metadata, strip_labels

    images = ImageFolder(inputs, recursive=args.recursive, exclude=[out])
    report_skipped([(p, why) for p, why in images.skipped if p.parent != EXAMPLES_DIR])
    plan = plan_outputs(images, out, args.side_by_side, args.overwrite, args.suffix, args.format)
    remove_stale_temporaries(plan)
    set_threads(args)
    device = device_of(args)
    refiner = to_device(load_refiner(args.refiner, args.restorer, args.restorer_weights, args.prior_weights),
                        device)
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
            restored, refined = enhance_image(refiner, low[None].to(device), args, tile, overlap)
            meta = image_metadata(file)
            save_image(refined[0], target, alpha=alpha, overwrite=args.overwrite,  # never replaced unasked
                       quality=args.quality, exif=meta["exif"], icc_profile=meta["icc_profile"])
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
