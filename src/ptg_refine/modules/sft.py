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

from .coordinates import coordinate_grid


def sample_dense(maps, position, latent_hw) -> torch.Tensor:
    """Bilinear samples of ``maps`` (B,C,h,w), which cover the full image, at the latent cells of a crop.

    position: (top, left, full_h, full_w) of the crop in the full image, or a (B,4) integer tensor of such
    rows, one per sample; latent_hw: (rows, cols) of its latent grid (stride 4). Latent cell (i, j) of the
    crop is cell (top/4 + i, left/4 + j) of the full image, centred at pixel 4·(top/4 + i) + 2; that point is
    sampled (``grid_sample``, align_corners=False, border padding), so every crop gets exactly the values of
    the same cells of the full image. With per-sample positions whose full images differ in size, ``maps`` is
    a list of B (1,C,h_i,w_i) maps, one per sample's full image. Returns (B,C,rows,cols).
    """
    rows, cols = int(latent_hw[0]), int(latent_hw[1])
    dev = maps.device if isinstance(maps, torch.Tensor) else maps[0].device
    if not isinstance(position, torch.Tensor):
        position = tuple(int(v) for v in position)
    # the cell centres of R's coordinate embedding, as grid_sample's (B or 1, rows, cols, 2) grid of (x, y)
    grid = coordinate_grid(rows, cols, position, device=dev).permute(0, 2, 3, 1)
    if isinstance(maps, torch.Tensor):
        return _sample(maps, grid.expand(maps.shape[0], -1, -1, -1))
    grid = grid.expand(len(maps), -1, -1, -1)
    return torch.cat([_sample(m, grid[i:i + 1]) for i, m in enumerate(maps)])


def _sample(maps: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
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

    def condition(self, maps, position, latent_hw, batch: int | None = None) -> torch.Tensor:
        """The SFT condition at a crop's latent cells: maps (B,dense_dim,h,w), or a list of B
        (1,dense_dim,h_i,w_i) maps, one per sample (see :func:`sample_dense`); ``batch``: the expected B."""
        listed = not isinstance(maps, torch.Tensor)
        for m in maps if listed else [maps]:
            bad = not isinstance(m, torch.Tensor) or m.ndim != 4 or m.shape[1] != self.dense_dim
            if bad or (listed and len(m) != 1):
                shape = tuple(m.shape) if isinstance(m, torch.Tensor) else type(m).__name__
                want = "a list of (1,{0},h,w) maps" if listed else "shape (B,{0},h,w)"
                raise ValueError(f"dense prior maps must have {want.format(self.dense_dim)}, got {shape}")
        n = len(maps) if listed else maps.shape[0]
        if batch is not None and n != batch and not (n == 1 and not listed):
            raise ValueError(f"dense prior maps are given for {n} samples but low has batch size {batch}")
        return self.trunk(sample_dense(maps, position, latent_hw))

    @staticmethod
    def modulate(f: torch.Tensor, head: nn.Module, cond: torch.Tensor) -> torch.Tensor:
        gamma, beta = head(cond).to(f.dtype).chunk(2, dim=1)
        return f * (1 + gamma) + beta
