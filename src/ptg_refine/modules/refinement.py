"""R: the light refinement network of PTG-RM (Xu et al., CVPR 2024, Fig. 2), without F and G.

R_e → PTG-SVE (Eq. 2-3) → PTG-CSA (Eq. 4-7) → R_d → Eq. 1. Inputs are the degraded image, F's output
and the prior features, so R can be trained, exported (ONNX) and tiled on its own.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .composition import compose_output
from .coordinates import STRIDE
from .csa import PTGCSA
from .decoder import Decoder
from .encoder import Encoder
from .sve import PTGSVE


class RefinementNetwork(nn.Module):
    """R(I_d, Î_c, g) -> Ī_c (Eq. 1), or a dict of all intermediate maps with ``return_details``.

    Args:
        width: channels c of the latent features (release: 16).
        prior_dim: size D of the prior features g.
        prior_proj_dim: if set, g is first projected D→prior_proj_dim by one shared linear layer, which
            keeps large priors (e.g. 1280-d EfficientNet-Lite0) within the parameter budget.
        prior_hidden / embed_dim: hidden and output sizes of T_m and T_c (release: 256 / 64).
        num_blocks / heads / ffn_expansion: the transformer branch R_l (release: 4 / 1 / 2.66).
        kernel_size: size of the per-position kernels of PTG-CSA (release: 3).
        prior_dropout: dropout on g during training (regularises the prior path).
    """

    def __init__(self, width: int = 16, prior_dim: int = 512, prior_proj_dim: int | None = None,
                 prior_hidden: int = 256, embed_dim: int = 64, num_blocks: int = 4, heads: int = 1,
                 ffn_expansion: float = 2.66, kernel_size: int = 3, prior_dropout: float = 0.0):
        super().__init__()
        self.prior_dim = prior_dim
        self.prior_proj = nn.Linear(prior_dim, prior_proj_dim, bias=False) if prior_proj_dim else nn.Identity()
        self.prior_dropout = nn.Dropout(prior_dropout)
        t_in = prior_proj_dim or prior_dim
        self.encoder = Encoder(width)
        self.sve = PTGSVE(width, t_in, prior_hidden, embed_dim, num_blocks, heads, ffn_expansion)
        self.csa = PTGCSA(width, t_in, prior_hidden, embed_dim, kernel_size)
        self.decoder = Decoder(width)

    def forward(self, low: torch.Tensor, restored: torch.Tensor, prior_features: torch.Tensor,
                position=None, return_details: bool = False):
        """low, restored: (B,3,H,W); prior_features: (B,D).

        position: ``(top, left, full_h, full_w)`` when the inputs are a crop/tile of a larger image,
        so the coordinate embedding uses positions in the full image (must have top, left % 4 == 0 for
        tiles to line up with the untiled latent grid).
        """
        h, w = low.shape[-2:]
        if position is None:
            position = (0, 0, h, w)
        # R_e downsamples by 4: reflect-pad to a multiple of 4 (bottom/right, so positions are unchanged).
        ph, pw = (-h) % STRIDE, (-w) % STRIDE
        x = torch.cat([restored, low], dim=1)
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect")
        g = self.prior_dropout(self.prior_proj(prior_features))
        f = self.encoder(x)
        f_hat, m = self.sve(f, g, position)
        f_bar, m_c, m_s = self.csa(f_hat, g, position)
        mask, residual = self.decoder(f_bar)
        mask, residual = mask[..., :h, :w], residual[..., :h, :w]
        out = compose_output(low, restored, mask, residual)
        if not return_details:
            return out
        return {"output": out, "restored": restored, "mask": mask, "residual": residual,
                "range_score": m, "channel_attention": m_c, "spatial_attention": m_s}
