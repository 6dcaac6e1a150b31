"""S_m / S_c: learned coordinate (position) embeddings of PTG-SVE / PTG-CSA (Xu et al., CVPR 2024, Eq. 2, 5).

The embedding is computed from a fixed x/y grid in [-1,1] at latent resolution (stride 4). Coordinates
are relative to the *full* image, so a tile at (top, left) of a larger image gets the same embedding as
the same region of the untiled image. The 3x3 conv sees a one-cell margin of true coordinates instead of
zero padding, for the same reason.

Positions come in two forms: ``None`` / one ``(top, left, full_h, full_w)`` tuple for the whole batch (one
(1,2,h,w) grid, expanded over the batch: inference and tiling), or a (B,4) integer tensor with one row per
sample (a training batch of crops from different images: one grid per sample, built in one vectorised pass).
"""
from __future__ import annotations

import torch
from torch import nn

from .._stride import STRIDE  # a latent cell covers 4x4 input pixels (two stride-2 convolutions in R_e)


def cell_centres(n: int, offset, full, margin: int = 0, device=None) -> torch.Tensor:
    """Normalised coordinates in [-1,1] of the centres of ``n`` latent cells (+ ``margin`` on each side) of a
    crop starting at pixel ``offset`` of a ``full``-pixel side: (n+2m,) for a scalar offset / size, (B, n+2m)
    for (B,) tensors of per-sample offsets and sizes. Values extrapolate linearly into the margin."""
    cells = torch.arange(-margin, n + margin, device=device, dtype=torch.float32)
    if isinstance(offset, torch.Tensor):  # per sample: float32 rows, the same operations in the same order
        cells, offset, full = cells[None], offset.float()[:, None], full.float()[:, None]
    # centre of latent cell i, in input pixels: STRIDE*i + STRIDE/2 (+ the crop offset); normalise to [-1,1]
    # no float(): sizes may be symbolic (torch.export / ONNX with dynamic H, W) and must stay so
    return (cells * STRIDE + STRIDE / 2 + offset) / full * 2 - 1


def coordinate_grid(h: int, w: int, position=None, margin: int = 0, device=None) -> torch.Tensor:
    """(1,2,h+2m,w+2m) grid of (x, y) for the centres of an h x w block of latent cells (+ margin m).

    position: ``None`` (the block is the whole image), ``(top, left, full_h, full_w)`` in input pixels,
    for a crop / tile whose top-left corner sits at (top, left) of a full_h x full_w image, or a (B,4)
    integer tensor of such rows, one per sample: then the grid is (B,2,h+2m,w+2m).
    Values are in [-1,1] inside the image and extrapolate linearly into the margin.
    """
    if isinstance(position, torch.Tensor):
        top, left, full_h, full_w = position.to(device).unbind(1)
        ys = cell_centres(h, top, full_h, margin, device)    # (B, h+2m)
        xs = cell_centres(w, left, full_w, margin, device)   # (B, w+2m)
        return torch.stack(torch.broadcast_tensors(xs[:, None, :], ys[:, :, None]), dim=1)
    top, left, full_h, full_w = (0, 0, h * STRIDE, w * STRIDE) if position is None else position
    ys = cell_centres(h, top, full_h, margin, device)
    xs = cell_centres(w, left, full_w, margin, device)
    return torch.stack(torch.broadcast_tensors(xs[None, :], ys[:, None]))[None]


class CoordinateEmbedding(nn.Module):
    """S: conv3x3 2→c, LeakyReLU, conv1x1 c→c applied to the coordinate grid; output (1,c,h,w), or (B,c,h,w)
    for a (B,4) tensor of per-sample positions."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(2, width, 3), nn.LeakyReLU(0.1), nn.Conv2d(width, width, 1))

    def forward(self, h: int, w: int, position=None, like: torch.Tensor | None = None) -> torch.Tensor:
        weight = self.net[0].weight
        grid = coordinate_grid(h, w, position, margin=1, device=weight.device)
        out = self.net(grid.to(weight.dtype))
        return out if like is None else out.to(like.dtype)
