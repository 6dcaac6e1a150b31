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


# -- prior-feature augmentation (TrainConfig.prior_views) ------------------------------------------------
VIEW_AREA = (0.5, 1.0)       # random resized crop: fraction of the image area kept
VIEW_ASPECT = (3 / 4, 4 / 3)  # aspect-ratio change of the crop (log-uniform)
VIEW_GAIN = (0.8, 1.25)      # exposure jitter: intensity multiplied by a log-uniform factor
VIEW_GAMMA = (0.8, 1.25)     # gamma jitter: x ** gamma, log-uniform


def _log_uniform(lo: float, hi: float, g: torch.Generator) -> float:
    u = float(torch.rand((), generator=g))
    return float(torch.exp(torch.tensor(lo).log() + u * (torch.tensor(hi).log() - torch.tensor(lo).log())))


def prior_view_images(low: torch.Tensor, n: int, generator: torch.Generator) -> list[torch.Tensor]:
    """``n`` randomly augmented views of a (3,H,W) float image in [0,1], for the prior only.

    Each view: a random resized crop covering VIEW_AREA of the image area (aspect ratio jittered by
    VIEW_ASPECT, clipped to the image), a random horizontal / vertical flip, exposure gain VIEW_GAIN and
    gamma VIEW_GAMMA (clamped to [0,1]). Views keep their crop size (the prior resizes its input itself).
    Used by :meth:`ptg_refine.data.FeatureCache.prior_views`: g of a training crop is then the prior
    feature of one such view instead of the fixed full-image g, so that g describes the image's content
    without being an exact per-image key R could memorise corrections against.
    """
    _, h, w = low.shape
    out = []
    for _ in range(n):
        area = h * w * (VIEW_AREA[0] + (VIEW_AREA[1] - VIEW_AREA[0]) * float(torch.rand((), generator=generator)))
        aspect = _log_uniform(*VIEW_ASPECT, generator)
        ch = max(1, min(h, round((area / aspect) ** 0.5)))
        cw = max(1, min(w, round((area * aspect) ** 0.5)))
        top = int(torch.randint(h - ch + 1, (1,), generator=generator))
        left = int(torch.randint(w - cw + 1, (1,), generator=generator))
        view = low[:, top:top + ch, left:left + cw]
        dims = [d for d in (-1, -2) if bool(torch.randint(2, (1,), generator=generator))]
        if dims:
            view = view.flip(dims)
        gain, gamma = _log_uniform(*VIEW_GAIN, generator), _log_uniform(*VIEW_GAMMA, generator)
        out.append((view.clamp(0, 1) ** gamma * gain).clamp(0, 1))
    return out
