"""Image files <-> float tensors (Pillow), and listing image files in folders."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def list_images(folder: str | Path, recursive: bool = False) -> list[Path]:
    """Sorted image files (by extension, case-insensitive) in ``folder``; raises if there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {str(folder)!r} does not exist or is not a directory")
    pattern = "**/*" if recursive else "*"
    files = sorted(p for p in folder.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise ValueError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) in {str(folder)!r}")
    return files


def read_uint8(path: str | Path) -> np.ndarray:
    """(H,W,3) uint8 RGB. Grey / palette / RGBA files are converted to RGB (alpha discarded) by Pillow;
    16-bit files are rejected rather than silently truncated."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file {str(path)!r} does not exist")
    try:
        with Image.open(path) as im:
            if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                raise ValueError(f"{path}: {im.mode} (16/32-bit) images are not supported; convert to 8-bit RGB")
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except OSError as e:
        raise ValueError(f"could not read image {str(path)!r}: {e}") from e


def to_tensor(array: np.ndarray) -> torch.Tensor:
    """(H,W,3) uint8 -> (3,H,W) float32 in [0,1]."""
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).float().div_(255)


def read_image(path: str | Path) -> torch.Tensor:
    """Read an image file as a (3,H,W) float32 tensor in [0,1]."""
    return to_tensor(read_uint8(path))


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(3,H,W) float in [0,1] (values outside are clamped: outputs of Eq. 1 are not bounded) -> (H,W,3) uint8."""
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"expected a (3,H,W) image tensor, got shape {tuple(image.shape)}")
    return image.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()


def save_image(image: torch.Tensor | np.ndarray, path: str | Path) -> Path:
    """Write a (3,H,W) float tensor in [0,1] or an (H,W,3) uint8 array; the format follows the suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    array = to_uint8(image) if isinstance(image, torch.Tensor) else image
    Image.fromarray(array).save(path)
    return path
