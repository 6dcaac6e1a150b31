"""Dense prior injection into R by spatial feature transform.

SFT (Wang, Yu, Dong, Loy, "Recovering Realistic Texture in Image Super-resolution by Deep Spatial Feature
Transform", CVPR 2018): a condition map gives a per-position scale γ and shift β, f ← f·(1 + γ) + β.
SKF (Wu et al., CVPR 2023) guides low-light enhancement with semantic feature maps in this way. Here the
condition is the frozen backbone's dense maps (:mod:`ptg_refine.priors.dense`), sampled at the absolute
positions of R's latent cells, and applied twice: to f = R_e(...) before PTG-SVE and to f̄ after PTG-CSA,
before R_d. The γ / β layers start at zero, so a new R is still exactly the identity on F's output.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .coordinates import STRIDE


def sample_dense(maps: torch.Tensor, position, latent_hw) -> torch.Tensor:
    """Bilinear samples of ``maps`` (B,C,h,w), which cover the full image, at the latent cells of a crop.

    position: (top, left, full_h, full_w) of the crop in the full image; latent_hw: (rows, cols) of its
    latent grid (stride 4). Latent cell (i, j) of the crop is cell (top/4 + i, left/4 + j) of the full
    image, centred at pixel 4·(top/4 + i) + 2; that point is sampled (``grid_sample``, align_corners=False,
    border padding), so every crop gets exactly the values of the same cells of the full image.
    """
    top, left, full_h, full_w = (int(v) for v in position)
    rows, cols = int(latent_hw[0]), int(latent_hw[1])
    dev = maps.device
    y = (torch.arange(rows, device=dev, dtype=torch.float32) * STRIDE + (top + STRIDE / 2)) / full_h * 2 - 1
    x = (torch.arange(cols, device=dev, dtype=torch.float32) * STRIDE + (left + STRIDE / 2)) / full_w * 2 - 1
    grid = torch.stack(torch.meshgrid(y, x, indexing="ij")[::-1], dim=-1)  # (rows, cols, 2) as (x, y)
    grid = grid[None].expand(maps.shape[0], -1, -1, -1)
    return F.grid_sample(maps.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)


class DensePriorSFT(nn.Module):
    """Condition trunk (1x1 convs dense_dim → hidden → hidden) and two zero-initialised γ/β heads."""

    def __init__(self, width: int, dense_dim: int, hidden: int = 32):
        super().__init__()
        self.dense_dim = int(dense_dim)
        self.trunk = nn.Sequential(nn.Conv2d(dense_dim, hidden, 1), nn.LeakyReLU(0.1, inplace=True),
                                   nn.Conv2d(hidden, hidden, 1), nn.LeakyReLU(0.1, inplace=True))
        self.head_in = nn.Conv2d(hidden, 2 * width, 1)
        self.head_out = nn.Conv2d(hidden, 2 * width, 1)
        for head in (self.head_in, self.head_out):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def condition(self, maps: torch.Tensor, position, latent_hw) -> torch.Tensor:
        if maps.ndim != 4 or maps.shape[1] != self.dense_dim:
            raise ValueError(f"dense prior maps must have shape (B,{self.dense_dim},h,w), got {tuple(maps.shape)}")
        return self.trunk(sample_dense(maps, position, latent_hw))

    @staticmethod
    def modulate(f: torch.Tensor, head: nn.Module, cond: torch.Tensor) -> torch.Tensor:
        gamma, beta = head(cond).to(f.dtype).chunk(2, dim=1)
        return f * (1 + gamma) + beta
