"""Artefact measures of an enhanced image, per image, for F against F + R (what "do no harm" looks for):

* :func:`nyquist_share`: a fine 2-pixel column texture. The power of the luminance at the horizontal Nyquist
  frequency (period 2 px), as a share of the power in the upper half of the horizontal spectrum (rows summed,
  each row's mean removed). A natural photo puts about 0.002-0.004 there; a period-2 pattern pushes it up
  (a pure column pattern gives 1).
* :func:`black_level`: the 1st-percentile luminance: lifted (grey or coloured) blacks raise it.
* :func:`clipped_share`: the share of pixels with a channel at or above 254.5/255 (clipped lights).

Each has a function on (B,3,H,W) tensors in [0,1] returning a (B,) tensor; luminance is Rec. 709 luma
(:func:`ptg_refine.exposure.luminance`), on the output clamped to [0,1].

>>> x = torch.full((1, 3, 8, 8), 0.5)
>>> x[..., ::2] += 0.1                     # a period-2 column pattern
>>> float(nyquist_share(x)[0])
1.0
"""
from __future__ import annotations

import torch

from .exposure import luminance

__all__ = ["luminance", "nyquist_share", "black_level", "clipped_share"]

CLIP_LEVEL = 254.5 / 255


def nyquist_share(image: torch.Tensor) -> torch.Tensor:
    """Share of the luminance's horizontal spectrum, upper half, at the Nyquist frequency (period 2 px): (B,).
    Needs a width of at least 4; 0 for an image without horizontal variation."""
    y = luminance(image).double()
    if y.shape[-1] < 4:
        raise ValueError(f"nyquist_share needs images at least 4 pixels wide, got {y.shape[-1]}")
    y = y - y.mean(dim=-1, keepdim=True)
    power = torch.fft.rfft(y, dim=-1).abs().pow(2).sum(dim=1)  # (B, W//2+1), rows summed
    # the Nyquist bin exists for even widths; for odd ones the highest bin lies half a bin below it
    upper = power[:, (power.shape[-1] - 1) // 2:].sum(-1)
    return torch.where(upper > 0, power[:, -1] / upper.clamp_min(1e-300), torch.zeros_like(upper)).float()


def black_level(image: torch.Tensor, q: float = 0.01) -> torch.Tensor:
    """The ``q``-quantile (default the 1st percentile) of the luminance: (B,)."""
    if not 0 <= q <= 1:
        raise ValueError(f"q must lie in [0, 1], got {q}")
    y = luminance(image).flatten(1)
    return torch.quantile(y, q, dim=1)


def clipped_share(image: torch.Tensor) -> torch.Tensor:
    """Share of pixels with at least one channel at or above 254.5/255 (the output clamped to [0,1]): (B,)."""
    if image.ndim != 4 or image.shape[1] != 3:
        raise ValueError(f"clipped_share expects (B,3,H,W) RGB, got shape {tuple(image.shape)}")
    x = image.float().clamp(0, 1)
    return (x.amax(1) >= CLIP_LEVEL).float().flatten(1).mean(1)
