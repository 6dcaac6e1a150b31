"""PTG-SVE: prior-driven selective variable-range enhancement (Xu et al., CVPR 2024, Eq. 2-3).

Eq. 2:  M = R_m(f ⊕ T_m(g) ⊕ S_m)          a per-position range score in [0,1]
Eq. 3:  f̂ = M · R_s(f) + (1 − M) · R_l(f)   short-range CNN vs long-range transformer branch
"""
from torch import nn

from .coordinates import CoordinateEmbedding
from .global_stats import GlobalStatistics
from .prior_embedding import PriorMLP, conv_with_broadcast
from .transformer import TransformerBlock


class RangeScore(nn.Module):
    """R_m of Eq. 2: conv3x3 (c+e+c)→c, LeakyReLU, conv3x3 c→1, sigmoid."""

    def __init__(self, width: int, embed_dim: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(width + embed_dim + width, width, 3, padding=1),
            nn.LeakyReLU(0.1),
            nn.Conv2d(width, 1, 3, padding=1),
            nn.Sigmoid(),
        )

    def forward(self, f, prior_vec, coord_map):
        """f ⊕ T_m(g) ⊕ S_m, with T_m(g) given as the (B,e) vector (see conv_with_broadcast), or None."""
        return self.net[1:](conv_with_broadcast(self.net[0], f, prior_vec, coord_map))


class ResidualBlock(nn.Module):
    """R_s of Eq. 3: x + conv3x3(ReLU(conv3x3(x))), a short-range branch."""

    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1))

    def forward(self, x):
        return x + self.body(x)


class PTGSVE(GlobalStatistics, nn.Module):
    """Mix R_s and R_l per position with the prior- and position-driven score M (Eq. 2-3).

    Returns (f̂, M) with M of shape (B,1,h,w) in [0,1]. ``position``: None, one (top, left, H, W) for the batch
    or a (B,4) tensor of per-sample rows (:func:`~.coordinates.coordinate_grid`).
    """

    def __init__(self, width: int = 16, prior_dim: int = 512, prior_hidden: int = 256, embed_dim: int = 64,
                 num_blocks: int = 4, heads: int = 1, ffn_expansion: float = 2.66):
        super().__init__()
        # prior_dim 0: no prior layers (a refiner without a prior G holds no T_m and R_m reads f ⊕ S_m)
        self.prior_mlp = PriorMLP(prior_dim, prior_hidden, embed_dim) if prior_dim else None  # T_m
        self.coord_embed = CoordinateEmbedding(width)                        # S_m
        self.range_score = RangeScore(width, embed_dim if prior_dim else 0)  # R_m
        self.short_range = ResidualBlock(width)                              # R_s
        self.long_range = nn.Sequential(                                     # R_l
            *[TransformerBlock(width, heads, ffn_expansion) for _ in range(num_blocks)]
        )

    def forward(self, f, g, position=None):
        if self.stats_context is None:
            return self._forward(f, g, position)
        # tiled: keep each tile's result between the statistics passes, resume R_l where the last pass stopped
        return self.stats_context.memo(self, lambda: self._forward(f, g, position))

    def _forward(self, f, g, position=None):
        b, _, h, w = f.shape
        coord_map = self.coord_embed(h, w, position, like=f).expand(b, -1, -1, -1)
        prior_vec = self.prior_mlp(g) if self.prior_mlp is not None else None
        m = self.range_score(f, prior_vec, coord_map)                                # Eq. 2
        ctx = self.stats_context  # tiled: R_l resumes at the block whose statistics are being collected
        long_range = self.long_range(f) if ctx is None else ctx.run_sequential(self.long_range, f)
        f_hat = m * self.short_range(f) + (1 - m) * long_range                       # Eq. 3
        return f_hat, m
