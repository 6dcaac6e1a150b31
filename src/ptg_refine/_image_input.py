"""Images as users hold them, for :meth:`PTGRefiner.enhance`: a file path, a ``PIL.Image`` or a numpy (H,W,3) array
as well as a (B,3,H,W) tensor. The result comes back as the same kind: a path or a PIL image gives a PIL image
(read the way ``ptg-refine enhance`` reads files: EXIF orientation applied, transparency composited on black and
given back as the output's alpha channel), a uint8 array a uint8 array, a float array a float array of its dtype
in [0,1].
"""
from __future__ import annotations

import os
from typing import Callable

import numpy as np
import torch

KINDS = "a (B,3,H,W) torch.Tensor (float, in [0,1]), an image file path, a PIL.Image or a numpy (H,W,3) array"


def _pil_out(alpha):
    from PIL import Image

    from .data.io import to_uint8

    def back(out: torch.Tensor):
        picture = Image.fromarray(to_uint8(out[0]))
        if alpha is not None:
            picture.putalpha(Image.fromarray(alpha))
        return picture
    return back


def as_batch(image, device=None) -> tuple[torch.Tensor, Callable[[torch.Tensor], object]]:
    """(a (1,3,H,W) float32 tensor on ``device``, a function turning a (1,3,H,W) result into ``image``'s kind)."""
    if isinstance(image, (str, os.PathLike)):
        from .data.io import read_uint8_alpha

        rgb, alpha = read_uint8_alpha(image)
        back = _pil_out(alpha)
    elif _is_pil(image):
        from .data.io import pil_to_uint8_alpha

        rgb, alpha = pil_to_uint8_alpha(image, "the PIL image")
        back = _pil_out(alpha)
    elif isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"a numpy image must have shape (H,W,3) (RGB), got {image.shape}")
        if image.dtype == np.uint8:
            rgb = np.array(image)  # a copy: the caller's array is never shared (nor warned about if read-only)

            def back(out):
                from .data.io import to_uint8

                return to_uint8(out[0])
        elif np.issubdtype(image.dtype, np.floating):
            dtype = image.dtype
            x = torch.from_numpy(np.array(image, dtype=np.float32)).permute(2, 0, 1)[None]

            def back(out):
                return out[0].float().clamp(0, 1).permute(1, 2, 0).cpu().numpy().astype(dtype, copy=False)
            return x.to(device) if device is not None else x, back
        else:
            raise TypeError(f"a numpy image must be uint8 (0-255) or float (values in [0,1]), got dtype {image.dtype}")
    else:
        raise TypeError(f"the image must be {KINDS}; got {type(image).__name__}")
    from .data.io import to_tensor

    x = to_tensor(rgb)[None]
    return (x.to(device) if device is not None else x), back


def _is_pil(image) -> bool:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover  (Pillow is a dependency)
        return False
    return isinstance(image, Image.Image)
