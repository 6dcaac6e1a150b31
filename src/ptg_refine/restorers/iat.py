"""IAT: Illumination-Adaptive Transformer (local + global branch, "ccc" conv blocks).

Z. Cui, K. Li, L. Gu, S. Su, P. Gao, Z. Jiang, Y. Qiao, T. Harada. "You Only Need 90K Parameters to Adapt
Light: a Light Weight Transformer for Image Enhancement and Exposure Correction." BMVC 2022
(arXiv 2205.14871). Written from ``shared/specs/iat.md``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._common import Restorer, check_input


class AffineChannelNorm(nn.Module):
    """Per pixel v -> alpha * (M v) + beta. No statistics: despite its name in the paper, not a norm."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.color = nn.Parameter(torch.eye(dim))
        self.alpha = nn.Parameter(torch.ones(1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = x.permute(0, 2, 3, 1)  # channels last: row vectors, so M v is v @ M^T
        return (v @ self.color.t() * self.alpha + self.beta).permute(0, 3, 1, 2)


class Mlp(nn.Module):
    """fc1 -> exact (erf) GELU -> fc2, as 1x1 convs on feature maps or as linears on tokens."""

    def __init__(self, dim: int, hidden: int, conv: bool) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(dim, hidden, 1) if conv else nn.Linear(dim, hidden)
        self.fc2 = nn.Conv2d(hidden, dim, 1) if conv else nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class ConvFormerBlock(nn.Module):
    """Conv-former block of the local branch: positional DW3x3, DW5x5 token mixing, 1x1 MLP."""

    def __init__(self, dim: int = 16, mlp_ratio: int = 4) -> None:
        super().__init__()
        self.pos_embed = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.norm1 = AffineChannelNorm(dim)
        self.conv1 = nn.Conv2d(dim, dim, 1)
        self.attn = nn.Conv2d(dim, dim, 5, padding=2, groups=dim)
        self.conv2 = nn.Conv2d(dim, dim, 1)
        self.norm2 = AffineChannelNorm(dim)
        self.mlp = Mlp(dim, dim * mlp_ratio, conv=True)
        self.gamma_1 = nn.Parameter(torch.ones(1, dim, 1, 1))
        self.gamma_2 = nn.Parameter(torch.ones(1, dim, 1, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z + self.pos_embed(z)
        z = z + self.gamma_1 * self.conv2(self.attn(self.conv1(self.norm1(z))))
        return z + self.gamma_2 * self.mlp(self.norm2(z))


class LocalBranch(nn.Module):
    """Predicts per-pixel multiply (>= 0) and add (in (-1, 1)) maps at full resolution."""

    def __init__(self, dim: int = 16, depth: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, dim, 3, padding=1)
        self.mul_blocks = nn.Sequential(*[ConvFormerBlock(dim) for _ in range(depth)])
        self.add_blocks = nn.Sequential(*[ConvFormerBlock(dim) for _ in range(depth)])
        self.mul_end = nn.Sequential(nn.Conv2d(dim, 3, 3, padding=1), nn.ReLU())
        self.add_end = nn.Sequential(nn.Conv2d(dim, 3, 3, padding=1), nn.Tanh())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = F.leaky_relu(self.conv1(x), 0.2)
        mul = self.mul_end(self.mul_blocks(f) + f)
        add = self.add_end(self.add_blocks(f) + f)
        return mul, add


class QueryAttention(nn.Module):
    """Learned queries attend over all image tokens (no residual: the tokens are replaced)."""

    def __init__(self, dim: int = 64, heads: int = 4, queries: int = 10) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Parameter(torch.zeros(1, queries, dim))
        self.k = nn.Linear(dim, dim, bias=False)
        self.v = nn.Linear(dim, dim, bias=False)
        self.proj = nn.Linear(dim, dim)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        n, length, c = t.shape
        h, d = self.heads, c // self.heads
        q = self.q.expand(n, -1, -1).reshape(n, -1, h, d).transpose(1, 2)  # n, h, Q, d
        k = self.k(t).reshape(n, length, h, d).transpose(1, 2)
        v = self.v(t).reshape(n, length, h, d).transpose(1, 2)
        attn = (q @ k.transpose(-2, -1) * d**-0.5).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(n, -1, c))


class QueryGenerator(nn.Module):
    def __init__(self, dim: int = 64, heads: int = 4, queries: int = 10) -> None:
        super().__init__()
        self.pos_embed = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = QueryAttention(dim, heads, queries)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, 4 * dim, conv=False)

    def forward(self, g: torch.Tensor) -> torch.Tensor:
        g = g + self.pos_embed(g)
        u = self.attn(self.norm1(g.flatten(2).transpose(1, 2)))  # tokens in row-major order
        return u + self.mlp(self.norm2(u))


class GlobalBranch(nn.Module):
    """Predicts one gamma and one 3x3 colour matrix per image from the full-resolution input."""

    def __init__(self, dim: int = 64) -> None:
        super().__init__()
        self.gamma_base = nn.Parameter(torch.ones(1))
        self.color_base = nn.Parameter(torch.eye(3))
        self.conv_large = nn.Module()
        self.conv_large.proj = nn.Sequential(
            nn.Conv2d(3, dim // 2, 3, 2, 1),
            nn.BatchNorm2d(dim // 2),
            nn.GELU(),
            nn.Conv2d(dim // 2, dim, 3, 2, 1),
            nn.BatchNorm2d(dim),
        )
        self.generator = QueryGenerator(dim)
        self.gamma_linear = nn.Linear(dim, 1)
        self.color_linear = nn.Linear(dim, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        u = self.generator(self.conv_large.proj(x))
        gamma = self.gamma_linear(u[:, 0]) + self.gamma_base  # (N, 1)
        color = self.color_linear(u[:, 1:]).reshape(-1, 3, 3) + self.color_base  # token 1+3i+j -> [i, j]
        return gamma, color


class IAT(Restorer):
    """IAT: out = clamp(C (x * mul + add), 1e-8, 1) ** gamma, with the local branch giving mul/add
    and the global branch (learned queries over all tokens) giving C and gamma per image.

    Any H, W works; the global branch sees the full-resolution image (its output depends on the token
    count, so do not resize before it). BatchNorm in the global stem uses running statistics; the
    module is kept in eval mode when frozen. The public checkpoints contain ~21-24k subnormal
    weights (whole local blocks collapsed to ~1e-41); zeroing them changes outputs by < 1e-7.
    Checkpoints: ``iat_lol_v1`` (checked against the authors' outputs), ``iat_lol_v2`` and
    ``iat_exposure`` (same keys and shapes, same unnormalised [0, 1] input; no reference outputs).
    """

    def __init__(self) -> None:
        super().__init__()
        self.local_net = LocalBranch()
        self.global_net = GlobalBranch()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self)
        mul, add = self.local_net(x)
        y = x * mul + add
        gamma, color = self.global_net(x)
        p = torch.einsum("nij,njhw->nihw", color, y).clamp(1e-8, 1)
        return (p ** gamma[:, :, None, None]).clamp(0, 1)
