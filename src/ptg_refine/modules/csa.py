"""PTG-CSA: prior-driven channel and spatial attention (Xu et al., CVPR 2024, Eq. 4-7).

Eq. 4:  M_c = R_c(O(f̂) ⊕ T_c(g)),  f̂_c = f̂ · M_c                  (O: global average pooling)
Eq. 5:  C_p = R_p(f̂ ⊕ T_c(g) ⊕ S_c)                                 (a k x k kernel per position)
Eq. 6:  M_s = R_o(f̂ ∗ C_p),  f̂_s = f̂ · M_s
Eq. 7:  f̄ = R_f(f̂_c ⊕ f̂_s)   (1x1 conv plus a residual connection from f̂)
"""
import torch
from torch import nn

from .coordinates import CoordinateEmbedding
from .global_stats import GlobalStatistics
from .per_position_filter import PerPositionFilter
from .prior_embedding import PriorMLP, conv_with_broadcast


class PriorChannelAttention(GlobalStatistics, nn.Module):
    """R_c of Eq. 4: [pooled f̂, T_c(g)] → Linear → c, LeakyReLU, Linear c→c, sigmoid; M_c is (B,c,1,1).

    The pool spans the whole image; tiles get the whole image's value
    through ``stats_context`` (:class:`~.global_stats.GlobalStatistics`).
    """

    def __init__(self, width: int, embed_dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(width + embed_dim, width), nn.LeakyReLU(0.1),
                                 nn.Linear(width, width), nn.Sigmoid())

    def forward(self, f_hat, prior_vec):
        if self.stats_context is None:
            pooled = f_hat.mean(dim=(2, 3))
        else:  # O(f̂) of the whole image, from sums over all tiles
            pooled, = self.stats_context.resolve(self, f_hat, _pixel_sums, _mean)
        x = pooled if prior_vec is None else torch.cat([pooled, prior_vec], dim=1)
        return self.net(x)[:, :, None, None]


def _pixel_sums(x):
    x = x.double()
    return x.sum(dim=(2, 3)), torch.full_like(x[:, :1, 0, 0], x.shape[-2] * x.shape[-1])


def _mean(total, count):
    return (total / count,)


class KernelPredictor(nn.Sequential):
    """R_p of Eq. 5: conv3x3 (c+e+c)→k²c, LeakyReLU, conv3x3 k²c→k²c, on f̂ ⊕ T_c(g) ⊕ S_c.

    ``hidden`` (R's fast setting ``kernel_hidden``): conv3x3 (c+e+c)→hidden, LeakyReLU, conv1x1 hidden→k²c instead.
    The second layer of the paper's R_p (144→144 channels, 3x3, for c = 16, k = 3) is about half of R's work; a
    narrow hidden layer and a 1x1 output layer predict the same k²c kernel weights per position."""

    def __init__(self, width: int, embed_dim: int, kernel_size: int = 3, hidden: int | None = None):
        kk = kernel_size * kernel_size * width
        mid = hidden or kk
        super().__init__(nn.Conv2d(width + embed_dim + width, mid, 3, padding=1), nn.LeakyReLU(0.1),
                         nn.Conv2d(mid, kk, 1) if hidden else nn.Conv2d(kk, kk, 3, padding=1))

    def forward(self, f_hat, prior_vec, coord_map):
        return self[2](self[1](conv_with_broadcast(self[0], f_hat, prior_vec, coord_map)))


class SpatialScore(nn.Sequential):
    """R_o of Eq. 6: LeakyReLU, conv3x3 c→1, sigmoid."""

    def __init__(self, width: int):
        super().__init__(nn.LeakyReLU(0.1), nn.Conv2d(width, 1, 3, padding=1), nn.Sigmoid())


class Fusion(nn.Module):
    """R_f of Eq. 7: f̂ + conv1x1(f̂_c ⊕ f̂_s)."""

    def __init__(self, width: int):
        super().__init__()
        self.proj = nn.Conv2d(2 * width, width, 1)

    def forward(self, f_hat, f_c, f_s):
        return f_hat + self.proj(torch.cat([f_c, f_s], dim=1))


class PTGCSA(nn.Module):
    """Channel attention (Eq. 4) and per-position-kernel spatial attention (Eq. 5-6), fused (Eq. 7).

    Returns (f̄, M_c, M_s) with M_c (B,c,1,1) and M_s (B,1,h,w), both in [0,1]. ``position``: None, one
    (top, left, H, W) for the batch or a (B,4) tensor of per-sample rows (:func:`~.coordinates.coordinate_grid`).
    """

    def __init__(self, width: int = 16, prior_dim: int = 512, prior_hidden: int = 256, embed_dim: int = 64,
                 kernel_size: int = 3, kernel_hidden: int | None = None):
        super().__init__()
        # prior_dim 0: no prior layers (no T_c; R_c and R_p read f̂ alone / f̂ ⊕ S_c)
        self.prior_mlp = PriorMLP(prior_dim, prior_hidden, embed_dim) if prior_dim else None     # T_c
        e = embed_dim if prior_dim else 0
        self.coord_embed = CoordinateEmbedding(width)                                          # S_c
        self.channel_attention = PriorChannelAttention(width, e)                               # R_c
        self.kernel_predictor = KernelPredictor(width, e, kernel_size, kernel_hidden)          # R_p
        self.filter = PerPositionFilter(kernel_size)                             # ∗ C_p
        self.spatial_score = SpatialScore(width)                                 # R_o
        self.fusion = Fusion(width)                                              # R_f

    def forward(self, f_hat, g, position=None):
        b, _, h, w = f_hat.shape
        prior_vec = self.prior_mlp(g) if self.prior_mlp is not None else None
        m_c = self.channel_attention(f_hat, prior_vec)
        coord_map = self.coord_embed(h, w, position, like=f_hat).expand(b, -1, -1, -1)
        kernels = self.kernel_predictor(f_hat, prior_vec, coord_map)
        m_s = self.spatial_score(self.filter(f_hat, kernels))
        return self.fusion(f_hat, f_hat * m_c, f_hat * m_s), m_c, m_s
