"""T_m / T_c: prior-feature MLPs of PTG-SVE (Eq. 2) and PTG-CSA (Eq. 4-5) (Xu et al., CVPR 2024)."""
import torch
from torch import nn


class PriorMLP(nn.Sequential):
    """(B,D) prior features g -> (B,out) embedding; the release uses D→256→64 without bias."""

    def __init__(self, in_dim: int = 512, hidden: int = 256, out_dim: int = 64):
        super().__init__(
            nn.Linear(in_dim, hidden, bias=False),
            nn.LeakyReLU(0.1),
            nn.Linear(hidden, out_dim, bias=False),
        )


def broadcast_to_map(v: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(B,C) -> (B,C,h,w): a per-image vector repeated over every position."""
    return v[:, :, None, None].expand(-1, -1, h, w)
