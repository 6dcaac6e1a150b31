"""Random crops and flips that keep R's coordinate embedding consistent with full-image inference.

The choice made here (documented for the issue): a flipped crop is treated as a crop of the *flipped full
image*. We draw the flips first, then a top-left corner (top', left') on a 4-pixel grid of the flipped
image (R_e's stride, so latent cells line up with those of full-image inference), and map it back to the
unflipped image to cut low / restored / target together. The position handed to R is
``(top', left', H, W)``: exactly what R would see running on the flipped full image. The prior features
are those of the flipped full image (cached for all four flip states), and the restored crop is the
flipped crop of F(full image), which equals F(flipped image) for fully-convolutional F with symmetric
padding (SCI, Zero-DCE, ...) and approximates it for F with global, non-symmetric parts (IAT).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .._stride import STRIDE


@dataclass(frozen=True)
class Crop:
    top: int      # in the unflipped image
    left: int
    size: int
    hflip: bool
    vflip: bool
    position: tuple[int, int, int, int]  # (top', left', H, W) in the flipped full image

    @property
    def flip_index(self) -> int:
        """Index into the 4 cached prior features: 0 none, 1 horizontal, 2 vertical, 3 both."""
        return int(self.hflip) + 2 * int(self.vflip)


def sample_crop(height: int, width: int, size: int, generator: torch.Generator, flips: bool = True) -> Crop:
    if height < size or width < size:
        raise ValueError(f"image of {height}x{width} pixels is smaller than the crop size {size}")
    hflip = flips and bool(torch.randint(2, (1,), generator=generator))
    vflip = flips and bool(torch.randint(2, (1,), generator=generator))
    top_f = STRIDE * int(torch.randint((height - size) // STRIDE + 1, (1,), generator=generator))
    left_f = STRIDE * int(torch.randint((width - size) // STRIDE + 1, (1,), generator=generator))
    top = height - top_f - size if vflip else top_f
    left = width - left_f - size if hflip else left_f
    return Crop(top, left, size, hflip, vflip, (top_f, left_f, height, width))


def apply_crop(image: torch.Tensor, crop: Crop) -> torch.Tensor:
    """Cut and flip a (...,C,H,W) tensor."""
    out = image[..., crop.top:crop.top + crop.size, crop.left:crop.left + crop.size]
    dims = [d for d, f in ((-1, crop.hflip), (-2, crop.vflip)) if f]
    return out.flip(dims) if dims else out


FLIP_DIMS = ([], [-1], [-2], [-2, -1])  # flip states of Crop.flip_index

