"""S_m / S_c: learned coordinate (position) embeddings of PTG-SVE / PTG-CSA (Xu et al., CVPR 2024, Eq. 2, 5).

The embedding is computed from a fixed x/y grid in [-1,1] at latent resolution (stride 4). Coordinates
are relative to the *full* image, so a tile at (top, left) of a larger image gets the same embedding as
the same region of the untiled image. The 3x3 conv sees a one-cell margin of true coordinates instead of
zero padding, for the same reason.
"""
from __future__ import annotations

import torch
from torch import nn

from .._stride import STRIDE  # a latent cell covers 4x4 input pixels (two stride-2 convolutions in R_e)


def coordinate_grid(h: int, w: int, position=None, margin: int = 0, device=None) -> torch.Tensor:
    """(1,2,h+2m,w+2m) grid of (x, y) for the centres of an h x w block of latent cells (+ margin m).

    position: ``None`` (the block is the whole image) or ``(top, left, full_h, full_w)`` in input pixels,
    for a crop / tile whose top-left corner sits at (top, left) of a full_h x full_w image.
    Values are in [-1,1] inside the image and extrapolate linearly into the margin.
    """
    top, left, full_h, full_w = (0, 0, h * STRIDE, w * STRIDE) if position is None else position
    ys = torch.arange(-margin, h + margin, device=device, dtype=torch.float32)
    xs = torch.arange(-margin, w + margin, device=device, dtype=torch.float32)
    # centre of latent cell i, in input pixels: STRIDE*i + STRIDE/2 (+ the tile offset); normalise to [-1,1]
    # no float(): sizes may be symbolic (torch.export / ONNX with dynamic H, W) and must stay so
    ys = (ys * STRIDE + STRIDE / 2 + top) / full_h * 2 - 1
    xs = (xs * STRIDE + STRIDE / 2 + left) / full_w * 2 - 1
    return torch.stack(torch.broadcast_tensors(xs[None, :], ys[:, None]))[None]


class CoordinateEmbedding(nn.Module):
    """S: conv3x3 2→c, LeakyReLU, conv1x1 c→c applied to the coordinate grid; output (1,c,h,w)."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(2, width, 3), nn.LeakyReLU(0.1), nn.Conv2d(width, width, 1))

    def forward(self, h: int, w: int, position=None, like: torch.Tensor | None = None) -> torch.Tensor:
        weight = self.net[0].weight
        grid = coordinate_grid(h, w, position, margin=1, device=weight.device)
        out = self.net(grid.to(weight.dtype))
        return out if like is None else out.to(like.dtype)
