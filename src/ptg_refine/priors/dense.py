"""Dense (spatial) prior features: multi-scale feature maps of a frozen backbone instead of one pooled vector.

SKF (Wu et al., "Learning Semantic-Aware Knowledge Guidance for Low-Light Image Enhancement", CVPR 2023)
guides an enhancer with semantic feature *maps*; here the maps come from the same frozen pre-trained
backbone that gives PTG-RM's global g. A map describes local content and moves with it, so unlike a
whole-image vector it cannot serve R as a per-image key.

:func:`dense_feature_maps` runs the backbone once on the whole image (resized, aspect ratio kept, long side
``DENSE_LONG_SIDE``), takes the stages of stride 8, 16 and 32, L2-normalises each position's channel vector
per stage (times sqrt(C) so entries have unit RMS), upsamples the coarser stages to the stride-8 grid and
concatenates them: one (B, C, h, w) map per image, rounded to float16 precision. R samples it at the absolute positions of its latent
cells (:func:`ptg_refine.modules.sft.sample_dense`), so a crop or a tile of the image sees exactly the
crop of the full map. :func:`feature_maps` gives the per-stage maps without resizing (differentiable in
the input) for the feature-space training loss (:mod:`ptg_refine.training`).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

DENSE_LONG_SIDE = 448          # whole-image resize for the dense maps (multiple of 32)
DENSE_REDUCTIONS = (8, 16, 32)


def _maps_source(prior: nn.Module):
    """``prior`` itself if it gives feature maps (:meth:`~ptg_refine.priors.ImagePrior.feature_maps`)."""
    if not (callable(getattr(prior, "feature_maps", None)) and callable(getattr(prior, "feature_channels", None))):
        name = getattr(prior, "name", type(prior).__name__)
        raise NotImplementedError(f"prior {name!r} has no dense feature maps (no feature_maps method); use "
                                  "prior_mode='global' for this prior")
    return prior


def dense_dim(prior: nn.Module) -> int:
    """Channels of :func:`dense_feature_maps` for ``prior`` (an :class:`~ptg_refine.priors.ImagePrior`)."""
    return sum(_maps_source(prior).feature_channels(DENSE_REDUCTIONS))


def feature_maps(prior: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Per-stage maps (stride 8, 16, 32) of ``x`` (B,3,H,W) in [0,1] at its own size, channel vectors
    L2-normalised times sqrt(C). Differentiable in ``x`` (G's weights stay frozen)."""
    maps = _maps_source(prior).feature_maps(x, DENSE_REDUCTIONS)
    return [F.normalize(m.float(), dim=1) * math.sqrt(m.shape[1]) for m in maps]


def dense_size(h: int, w: int, long_side: int = DENSE_LONG_SIDE) -> tuple[int, int]:
    """Backbone input size for an h x w image: long side ``long_side``, aspect ratio kept, multiples of 32."""
    s = long_side / max(h, w)
    return max(32, round(h * s / 32) * 32), max(32, round(w * s / 32) * 32)


@torch.no_grad()
def dense_feature_maps(prior: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(B, dense_dim, h, w) maps on the stride-8 grid of the resized whole image (see the module docstring)."""
    size = dense_size(*x.shape[-2:])
    xr = F.interpolate(x.float(), size=size, mode="bilinear", align_corners=False, antialias=True)
    maps = feature_maps(prior, xr)
    grid = maps[0].shape[-2:]
    maps = [maps[0]] + [F.interpolate(m, size=grid, mode="bilinear", align_corners=False) for m in maps[1:]]
    # rounded to float16 precision: the training cache stores them as float16, so fresh and cached maps match
    return torch.cat(maps, dim=1).half().to(x.dtype)
