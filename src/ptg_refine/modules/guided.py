"""Guided upsampling: maps predicted at half resolution brought to full resolution along the edges of an image.

R's ``resolution="half"`` setting (:class:`~ptg_refine.modules.Decoder`) predicts the logits of I_m and I_r at half
resolution and brings them up with the guided filter (He, Sun, Tang, "Guided Image Filtering", TPAMI 2013) in its
fast, joint-upsampling form (He, Sun, "Fast Guided Filter", arXiv:1505.00996; used after a learned low-resolution
network by Wu et al., "Fast End-to-End Trainable Guided Filter", CVPR 2018): at low resolution each map p is fitted
locally as a linear function of the guide I, p ≈ a·I + b over a (2r+1)² window, the coefficients a and b are
averaged and upsampled bilinearly, and the output is a·I + b with the *full-resolution* guide. Edges of I (here the
luminance of F's output) stay sharp in the output; flat areas of I get the smooth low-resolution map.

A map that is zero everywhere gives a = 0 and b = 0 exactly, so R's identity at initialisation (I_m = 1, I_r = 0)
holds bit-exactly through this step.

>>> guide = torch.rand(1, 1, 8, 8)
>>> torch.equal(guided_upsample(torch.zeros(1, 6, 4, 4), guide), torch.zeros(1, 6, 8, 8))
True
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

RADIUS, EPS = 2, 1e-3  # window 5x5 at half resolution (10x10 pixels); eps in (luminance)^2


def box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over the (2r+1)² window around each position, counting only positions inside the map.

    Two depthwise 1-D convolutions of ones (one pass each, ~10x faster on CPU than ``avg_pool2d`` with stride 1)
    divided by the number of window positions inside the map.

    >>> box_mean(torch.arange(5.).view(1, 1, 1, 5), 1)
    tensor([[[[0.5000, 1.0000, 2.0000, 3.0000, 3.5000]]]])
    """
    c, (h, w), k = x.shape[1], x.shape[-2:], 2 * radius + 1
    s = F.conv2d(x, x.new_ones(c, 1, 1, k), padding=(0, radius), groups=c)
    s = F.conv2d(s, x.new_ones(c, 1, k, 1), padding=(radius, 0), groups=c)
    return s / (_inside(h, radius, x)[:, None] * _inside(w, radius, x)[None, :])


def _inside(n: int, radius: int, like: torch.Tensor) -> torch.Tensor:
    """How many of the 2r+1 window positions around each of n positions fall inside [0, n)."""
    i = torch.arange(n, device=like.device)
    return ((i + radius).clamp(max=n - 1) - (i - radius).clamp(min=0) + 1).to(like.dtype)


def guided_upsample(p: torch.Tensor, guide: torch.Tensor, radius: int = RADIUS, eps: float = EPS) -> torch.Tensor:
    """p (B,C,h,w) at half the resolution of guide (B,1,2h,2w) -> (B,C,2h,2w), edge-aware (module docstring).

    The low-resolution guide is the 2x2 mean of ``guide`` (the half-resolution grid of R_d: cell j covers pixels
    2j and 2j+1). Computed in float32 at least, with autocast off (the local variances are differences of nearby
    numbers, which bfloat16 would lose), returned in p's dtype.
    """
    if p.dim() != 4 or guide.dim() != 4 or guide.shape[1] != 1:
        raise ValueError(f"guided_upsample: p must be (B,C,h,w) and guide (B,1,H,W), got {tuple(p.shape)} and "
                         f"{tuple(guide.shape)}")
    if guide.shape[-2:] != (2 * p.shape[-2], 2 * p.shape[-1]) or guide.shape[0] != p.shape[0]:
        raise ValueError(f"guided_upsample: guide {tuple(guide.shape)} must be twice the size of p {tuple(p.shape)}")
    if torch.is_autocast_enabled(p.device.type):
        with torch.autocast(p.device.type, enabled=False):
            return guided_upsample(p, guide, radius, eps)
    c, dtype = p.shape[1], p.dtype
    work = torch.promote_types(dtype, torch.float32)
    p, guide = p.to(work), guide.to(work)
    small = F.avg_pool2d(guide, 2)
    # the four local means in one pass: I, p, I·p, I²
    means = box_mean(torch.cat([small, p, small * p, small * small], dim=1), radius)
    mean_i, mean_p, mean_ip, mean_ii = means.split([1, c, c, 1], dim=1)
    a = (mean_ip - mean_i * mean_p) / (mean_ii - mean_i * mean_i + eps)
    b = mean_p - a * mean_i
    ab = F.interpolate(box_mean(torch.cat([a, b], dim=1), radius), scale_factor=2, mode="bilinear",
                       align_corners=False)
    a, b = ab.split([c, c], dim=1)
    return (a * guide + b).to(dtype)


class GuidedUpsample(nn.Module):
    """:func:`guided_upsample` as a module (no parameters): forward(p, guide)."""

    def __init__(self, radius: int = RADIUS, eps: float = EPS):
        super().__init__()
        self.radius, self.eps = radius, eps

    def forward(self, p: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        return guided_upsample(p, guide, self.radius, self.eps)

    def extra_repr(self) -> str:
        return f"radius={self.radius}, eps={self.eps}"
