"""Training-only augmentations of what R is conditioned on (the prior g and the crop's position), beyond the crops
and flips of :mod:`ptg_refine.data.crops`. They regularise R against memorising per-image corrections keyed by the
prior (PTG-RM's g, Xu et al., CVPR 2024, is one vector per full image); validation and inference never use them.

* :func:`prior_view_images` — augmented views of an image whose prior features replace the full-image g
  (``TrainConfig.prior_views``; cached by :meth:`~ptg_refine.training.FeatureCache.prior_views`).
* :func:`mix_crop_prior` — g mixed with G of the crop itself (``prior_crop_mix``).
* :func:`add_prior_noise` — Gaussian noise on g (``prior_noise``).
* :func:`jitter_position` — the crop's coordinate position shifted on R's stride grid (``position_jitter``).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .._stride import STRIDE

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
    Used by :meth:`ptg_refine.training.FeatureCache.prior_views`: g of a training crop is then the prior
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


def mix_crop_prior(g: torch.Tensor, g_crop: torch.Tensor, mix: float) -> torch.Tensor:
    """normalise((1 − mix)·g + mix·g_crop): the full-image g moved towards G of the crop, back on the unit
    sphere."""
    return F.normalize((1 - mix) * g + mix * g_crop, dim=0)


def add_prior_noise(g: torch.Tensor, fraction: float) -> torch.Tensor:
    """g (B,D) plus Gaussian noise of expected norm ``fraction``·|g| for unit-norm g (std fraction / sqrt(D))."""
    return g + torch.randn_like(g) * (fraction / math.sqrt(g.shape[1]))


def jitter_position(position, jitter: int, size: int, generator: torch.Generator):
    """``(top, left, H, W)`` of a ``size``-pixel crop shifted by a random multiple of STRIDE in [−jitter, jitter]
    per axis, kept inside the image (R's coordinates then no longer pin the crop's exact place)."""
    if not jitter:
        return position
    top, left, h, w = position
    steps = torch.randint(-(jitter // STRIDE), jitter // STRIDE + 1, (2,), generator=generator).tolist()
    top = min(max(0, top + STRIDE * steps[0]), (h - size) // STRIDE * STRIDE)
    left = min(max(0, left + STRIDE * steps[1]), (w - size) // STRIDE * STRIDE)
    return (top, left, h, w)
