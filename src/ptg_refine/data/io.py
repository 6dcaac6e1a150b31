"""Image files <-> float tensors (Pillow), and listing image files in folders.

What a read does to a file, so that nothing is silently wrong:

* **EXIF orientation** is applied (``ImageOps.exif_transpose``): a portrait phone photo stored sideways is read
  upright, as every viewer shows it, and written upright.
* **Transparency** (RGBA, LA, palette or grey/RGB images with a transparent colour): the colour is composited
  on a **black** background (``ALPHA_BACKGROUND``), so whatever colour happens to sit under transparent pixels
  never becomes visible; :func:`read_uint8_alpha` also returns the alpha channel so that ``ptg-refine enhance``
  writes it back (the output keeps the input's transparency).
* **16-bit** files (grey ``I;16`` and RGB 48-bit PNG / TIFF) are rejected with a message instead of being cut to
  8 bits silently; convert them to 8-bit RGB first.
* **Animated** GIF / PNG / WebP and multi-page TIFF files are rejected with a message instead of being cut to
  their first frame; save the frames as separate images first.
* Unreadable, truncated and decompression-bomb files raise ``ValueError`` naming the file.
"""
from __future__ import annotations

import errno
from pathlib import Path
from struct import error as struct_error  # raised by Pillow on some malformed headers

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageOps

from .._outputs import save_atomic

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
ALPHA_BACKGROUND = 0  # transparent pixels are composited on black (0, 0, 0)
_DEEP_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


def _is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def scan_folder(folder: str | Path, recursive: bool = False, exclude=()) -> tuple[list[Path], list[tuple[Path, str]]]:
    """(sorted image files, skipped entries) of ``folder``. Skipped entries are ``(path, reason)`` for files that
    are not images (by extension), subfolders when not ``recursive``, symbolic link loops and broken links, and
    anything inside ``exclude`` folders
    (e.g. the output folder of a run that sits inside its input folder). Raises if ``folder`` is no folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {str(folder)!r} does not exist or is not a directory")
    excluded = [e for e in (Path(x).resolve() for x in exclude) if e != folder.resolve()]
    images, skipped = [], []
    for entry in sorted(folder.rglob("*") if recursive else folder.iterdir()):
        if entry.is_symlink():  # a link loop or a broken link: skipped (reported), the rest goes on
            try:
                entry.resolve(strict=True)
            except (OSError, RuntimeError) as e:  # RuntimeError: Python < 3.13's "Symlink loop"
                loop = isinstance(e, RuntimeError) or e.errno == errno.ELOOP
                skipped.append((entry, "symbolic link loop" if loop else "broken symbolic link"))
                continue
        if excluded:
            resolved = entry.resolve()
            if resolved in excluded:
                skipped.append((entry, "the output folder"))
                continue
            if any(e in resolved.parents for e in excluded):
                continue  # inside the output folder: reported once, above
        if entry.is_dir():
            if not recursive:
                skipped.append((entry, "subfolder (use --recursive)"))
        elif entry.is_file():
            if _is_image_file(entry):
                images.append(entry)
            elif not entry.name.startswith("."):
                skipped.append((entry, f"not an image ({', '.join(IMAGE_EXTENSIONS)})"))
    return images, skipped


def list_images(folder: str | Path, recursive: bool = False) -> list[Path]:
    """Sorted image files (by extension, case-insensitive) in ``folder``; raises if there are none."""
    files, _ = scan_folder(folder, recursive)
    if not files:
        raise ValueError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) in {str(folder)!r}")
    return files


def _reject_deep(im: Image.Image, path: Path) -> None:
    """16/32-bit images: Pillow reads grey ones as I;16 / I / F and RGB 48-bit ones as 8-bit "RGB" (truncated)."""
    if im.mode in _DEEP_MODES:
        raise ValueError(f"{path}: {im.mode} (16/32-bit) images are not supported; convert to 8-bit RGB")
    for tile in getattr(im, "tile", None) or []:
        args = getattr(tile, "args", None)
        if args is None and isinstance(tile, tuple) and len(tile) > 3:
            args = tile[3]
        raw = args[0] if isinstance(args, tuple) and args else args
        if isinstance(raw, str) and ";16" in raw:
            raise ValueError(f"{path}: 16-bit ({raw}) images are not supported (they would be cut to 8 bits); "
                             "convert to 8-bit RGB")


def _reject_animated(im: Image.Image, path: Path) -> None:
    """Animated GIF / APNG / WebP and multi-page TIFF: Pillow would give their first frame alone."""
    frames = getattr(im, "n_frames", 1)
    if frames > 1:
        raise ValueError(f"{path}: an animated or multi-frame image ({frames} frames) is not supported: only its "
                         "first frame would be enhanced; save the frames as separate images first")


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info


def _open(path: str | Path):
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a folder, not an image file")
    if not path.is_file():
        raise FileNotFoundError(f"image file {str(path)!r} does not exist")
    return path


def read_uint8_alpha(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(H,W,3) uint8 RGB, upright (EXIF orientation applied), and the (H,W) uint8 alpha channel, or None when
    the file has no transparency (or is fully opaque). The RGB of transparent pixels is composited on black."""
    path = _open(path)
    try:
        with Image.open(path) as im:
            return pil_to_uint8_alpha(im, path)
    except Image.DecompressionBombError as e:
        raise ValueError(f"could not read image {str(path)!r}: {e} (Pillow's decompression-bomb guard; raise "
                         "PIL.Image.MAX_IMAGE_PIXELS if you trust the file)") from e
    except (OSError, SyntaxError, struct_error) as e:  # truncated / not an image / broken EXIF
        if isinstance(e, (FileNotFoundError, PermissionError, IsADirectoryError)):
            raise
        raise ValueError(f"could not read image {str(path)!r}: {e}") from e


def pil_to_uint8_alpha(im: Image.Image, name="image") -> tuple[np.ndarray, np.ndarray | None]:
    """What :func:`read_uint8_alpha` does to an opened image (EXIF orientation, transparency on black, 16-bit
    refused; ``name`` appears in the messages): (H,W,3) uint8 RGB and the alpha channel or None."""
    _reject_deep(im, name)
    _reject_animated(im, name)
    im = ImageOps.exif_transpose(im)
    if _has_alpha(im):
        rgba = np.asarray(im.convert("RGBA"), dtype=np.uint8)
        alpha = rgba[..., 3].copy()
        if alpha.min() == 255:
            return np.ascontiguousarray(rgba[..., :3]), None
        rgb = (rgba[..., :3].astype(np.uint16) * alpha[..., None] + ALPHA_BACKGROUND * (255 - alpha[..., None])
               + 127) // 255
        return rgb.astype(np.uint8), alpha
    return np.asarray(im.convert("RGB"), dtype=np.uint8).copy(), None


def read_uint8(path: str | Path) -> np.ndarray:
    """(H,W,3) uint8 RGB, upright (EXIF orientation applied). Grey / palette images are converted to RGB,
    transparent pixels composited on black (see the module docstring); 16-bit files are rejected rather than
    silently truncated."""
    return read_uint8_alpha(path)[0]


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) of an image file as :func:`read_uint8` would return it, from its header only."""
    path = _open(path)
    try:
        with Image.open(path) as im:
            w, h = im.size
            orientation = im.getexif().get(0x0112, 1)
    except Image.DecompressionBombError as e:
        raise ValueError(f"could not read image {str(path)!r}: {e}") from e
    except (OSError, SyntaxError, struct_error) as e:
        if isinstance(e, (FileNotFoundError, PermissionError)):
            raise
        raise ValueError(f"could not read image {str(path)!r}: {e}") from e
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)


def to_tensor(array: np.ndarray) -> torch.Tensor:
    """(H,W,3) uint8 -> (3,H,W) float32 in [0,1]."""
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).float().div_(255)


def read_image(path: str | Path) -> torch.Tensor:
    """Read an image file as a (3,H,W) float32 tensor in [0,1] (upright; see the module docstring)."""
    return to_tensor(read_uint8(path))


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(3,H,W) float in [0,1] (values outside are clamped: outputs of Eq. 1 are not bounded) -> (H,W,3) uint8."""
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"expected a (3,H,W) image tensor, got shape {tuple(image.shape)}")
    return image.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()


EXIF_ORIENTATION = 0x0112
OUTPUT_FORMATS = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}  # enhance --format: suffix -> PIL format


def image_metadata(path: str | Path) -> dict:
    """What an output of ``path`` keeps of it: ``format`` (``"png"``, ``"jpg"``, ``"webp"``, or None for another
    format), ``icc_profile`` (bytes or None) and ``exif`` (bytes or None; orientation reset to 1, since the pixels
    are read upright)."""
    with Image.open(path) as im:
        fmt = {"PNG": "png", "JPEG": "jpg", "MPO": "jpg", "WEBP": "webp"}.get(im.format or "")
        exif = im.getexif()
        if EXIF_ORIENTATION in exif:
            exif[EXIF_ORIENTATION] = 1
        return {"format": fmt, "icc_profile": im.info.get("icc_profile") or None,
                "exif": exif.tobytes() if len(exif) else None}


def save_image(image: torch.Tensor | np.ndarray, path: str | Path, alpha: np.ndarray | None = None,
               overwrite: bool = True, quality: int | None = None, exif: bytes | None = None,
               icc_profile: bytes | None = None) -> Path:
    """Write a (3,H,W) float tensor in [0,1] or an (H,W,3) uint8 array; the format follows the suffix.

    alpha: optional (H,W) uint8 alpha channel (the output is then RGBA; PNG / WebP / TIFF). The file is written
    to a temporary name next to ``path`` and renamed into place (:func:`ptg_refine._outputs.save_atomic`), so an
    interrupted write never leaves a half-written image under the final name. ``overwrite=False``: an existing
    ``path`` is never replaced, even one created by another process meanwhile
    (:class:`~ptg_refine._outputs.OutputExistsError`). Folders are created as needed. quality: of a JPEG / WebP
    (PIL's default when None); exif / icc_profile: metadata to embed (:func:`image_metadata` of the input). A JPEG
    has no alpha channel: ``alpha`` is then dropped (the colour, composited on black, stays).
    """
    path = Path(path)
    array = to_uint8(image) if isinstance(image, torch.Tensor) else image
    picture = Image.fromarray(array)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt == "JPEG":
        alpha = None
    if alpha is not None:
        if alpha.shape != array.shape[:2]:
            raise ValueError(f"alpha has shape {alpha.shape}, the image {array.shape[:2]}")
        picture.putalpha(Image.fromarray(np.asarray(alpha, dtype=np.uint8)))
    if fmt is None:
        raise ValueError(f"{path}: unknown image file extension {path.suffix!r}")
    extra = {k: v for k, v in (("quality", quality), ("exif", exif), ("icc_profile", icc_profile)) if v is not None}
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_atomic(lambda tmp: picture.save(tmp, format=fmt, **extra), path, overwrite=overwrite)


def _label(image: np.ndarray, text: str) -> np.ndarray:
    bar = Image.new("RGB", (image.shape[1], 18), (255, 255, 255))
    ImageDraw.Draw(bar).text((4, 3), text, fill=(0, 0, 0))
    return np.concatenate([np.asarray(bar), image], axis=0)


def strip_labels(restorer=None, refiner: str | None = None) -> dict:
    """Column labels of comparison strips: F and F+R with the restorer's ``name`` and the refiner's name when known
    (e.g. {"F": "F: sci", "F+R": "F+R: sci-none"})."""
    name = getattr(restorer, "name", None)
    return {"input": "input", "F": f"F: {name}" if isinstance(name, str) else "F",
            "F+R": f"F+R: {refiner}" if refiner else "F+R", "target": "target"}


def comparison_strip(images: list[torch.Tensor], labels: list[str], gap: int = 4) -> np.ndarray:
    """Side-by-side (H+18, sum W + gaps, 3) uint8 array of (3,H,W) images with a text label above each."""
    tiles = [_label(to_uint8(im), lab) for im, lab in zip(images, labels)]
    spacer = np.full((tiles[0].shape[0], gap, 3), 255, np.uint8)
    parts = []
    for t in tiles:
        parts += [t, spacer]
    return np.concatenate(parts[:-1], axis=1)
