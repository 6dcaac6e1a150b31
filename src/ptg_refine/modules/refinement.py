"""R: the light refinement network of PTG-RM (Xu et al., CVPR 2024, Fig. 2), without F and G.

R_e → PTG-SVE (Eq. 2-3) → PTG-CSA (Eq. 4-7) → R_d → Eq. 1. Inputs are the degraded image, F's output
and the prior features, so R can be trained, exported (ONNX) and tiled on its own.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_position, check_refinement_inputs
from .composition import compose_output
from .coordinates import STRIDE
from .csa import PTGCSA
from .decoder import Decoder
from .encoder import Encoder
from .sft import DensePriorSFT
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
        dense_dim: channels of dense prior maps (0: none). When set, R also takes the frozen backbone's
            feature maps and injects them by spatial feature transform before PTG-SVE and before R_d
            (:mod:`ptg_refine.modules.sft`, zero-initialised).
        dense_hidden: channels of the SFT condition trunk.
        upsample: how R_d goes up from 1/4 resolution, ``"bilinear"`` or ``"shuffle"``
            (:class:`~ptg_refine.modules.Decoder`).
        resolution: ``"full"`` (the paper: R_e starts and R_d ends at full resolution) or ``"half"`` (the fast
            setting: both at 1/2, with I_m and I_r brought to full resolution by guided upsampling along F's
            output; :class:`~ptg_refine.modules.Encoder`, :class:`~ptg_refine.modules.Decoder`).
        kernel_hidden: None (the paper's R_p) or the hidden width of a lighter R_p
            (:class:`~ptg_refine.modules.csa.KernelPredictor`).
        prior_layers: False: R holds no prior layers at all (no projection, no T_m / T_c, no prior channels in
            R_m, R_c, R_p): the network of a refiner without a prior G (``prior="none"``), whose g is all zeros.
            ``prior_features`` is then checked for its shape and otherwise not read.
        correction_bound: None (the paper) or b: I_m ∈ 1 ± b and I_r ∈ ± b (:class:`~ptg_refine.modules.Decoder`).
    """

    def __init__(self, width: int = 16, prior_dim: int = 512, prior_proj_dim: int | None = None,
                 prior_hidden: int = 256, embed_dim: int = 64, num_blocks: int = 4, heads: int = 1,
                 ffn_expansion: float = 2.66, kernel_size: int = 3, prior_dropout: float = 0.0,
                 dense_dim: int = 0, dense_hidden: int = 32, upsample: str = "bilinear", resolution: str = "full",
                 kernel_hidden: int | None = None, prior_layers: bool = True, correction_bound: float | None = None):
        super().__init__()
        self.prior_dim = prior_dim
        self.dense_dim = int(dense_dim)
        self.prior_layers = bool(prior_layers)
        if prior_layers:
            self.prior_proj = nn.Linear(prior_dim, prior_proj_dim, bias=False) if prior_proj_dim else nn.Identity()
            self.prior_dropout = nn.Dropout(prior_dropout)
        t_in = (prior_proj_dim or prior_dim) if prior_layers else 0
        self.encoder = Encoder(width, resolution)
        self.sve = PTGSVE(width, t_in, prior_hidden, embed_dim, num_blocks, heads, ffn_expansion)
        self.csa = PTGCSA(width, t_in, prior_hidden, embed_dim, kernel_size, kernel_hidden)
        self.decoder = Decoder(width, upsample, resolution, correction_bound)
        self.dense_prior = DensePriorSFT(width, dense_dim, dense_hidden) if dense_dim else None

    def forward(self, low: torch.Tensor, restored: torch.Tensor, prior_features: torch.Tensor,
                position=None, return_details: bool = False, dense=None):
        """low, restored: (B,3,H,W); prior_features: (B,D); dense: (B,dense_dim,h,w) maps of the *full*
        image when the network has a dense prior path (ignored otherwise).

        position: ``(top, left, full_h, full_w)`` when the inputs are a crop/tile of a larger image,
        so the coordinate embedding uses positions in the full image (must have top, left % 4 == 0 for
        tiles to line up with the untiled latent grid); or a (B,4) integer tensor of such rows, one per
        sample (a batch of crops of different images, as in training; the full sizes may differ per row).
        Then ``dense`` is (B,dense_dim,h,w) when all full images have one size, else a list of B
        (1,dense_dim,h_i,w_i) maps, one per sample's full image.
        Shapes are checked here; values (range, NaN) are checked by :class:`ptg_refine.PTGRefiner`.
        """
        check_refinement_inputs(low, restored, prior_features, self.prior_dim)
        f = self.encode(low, restored)
        return self.refine_latent(f, low, restored, prior_features, position, return_details, dense)

    def encode(self, low: torch.Tensor, restored: torch.Tensor) -> torch.Tensor:
        """f = R_e(Î_c ⊕ I_d), (B,c,⌈H/4⌉,⌈W/4⌉). R_e downsamples by 4, so the input is first reflect-padded
        to a multiple of 4 at the bottom/right (positions are unchanged)."""
        return self.encoder(_pad_to_stride(torch.cat([restored, low], dim=1)))

    def refine_latent(self, f: torch.Tensor, low: torch.Tensor, restored: torch.Tensor,
                      prior_features: torch.Tensor, position=None, return_details: bool = False, dense=None):
        """Everything after R_e: PTG-SVE, PTG-CSA, R_d and Eq. 1, from f = :meth:`encode` (low, restored).
        (Split from :meth:`forward` so tiled inference can keep f between its passes.)"""
        h, w = low.shape[-2:]
        if position is None:
            position = (0, 0, h, w)
        else:
            check_position(position, h, w, batch=low.shape[0])
        g = self.prior_dropout(self.prior_proj(prior_features)) if self.prior_layers else None
        cond = None
        if self.dense_prior is not None:
            if dense is None:
                raise ValueError("this refinement network has a dense prior path: pass dense=<(B,"
                                 f"{self.dense_dim},h,w) feature maps of the full image>")
            cond = self.dense_prior.condition(dense, position, (-(-h // STRIDE), -(-w // STRIDE)), low.shape[0])
            if f is not None:  # (tiled inference passes None once PTG-SVE's output is kept)
                f = self.dense_prior.modulate(f, self.dense_prior.head_in, cond)
        f_hat, m = self.sve(f, g, position)
        f_bar, m_c, m_s = self.csa(f_hat, g, position)
        if cond is not None:
            f_bar = self.dense_prior.modulate(f_bar, self.dense_prior.head_out, cond)
        if not torch.compiler.is_exporting():
            # R_d in channels-last: its full-resolution convolutions and pixel shuffles run ~3x faster
            # on CPU (oneDNN) with the same values; the outputs go back to the input's layout below
            f_bar = f_bar.contiguous(memory_format=torch.channels_last)
        guide = _pad_to_stride(restored) if self.decoder.guided is not None else None
        mask, residual = self.decoder(f_bar, guide)
        if torch.compiler.is_exporting():
            mask, residual = _crop(mask, h, w), _crop(residual, h, w)
        else:  # back to the layout of the input
            mask = mask[..., :h, :w].contiguous(memory_format=_layout(low))
            residual = residual[..., :h, :w].contiguous(memory_format=_layout(low))
        out = compose_output(low, restored, mask, residual)
        if not return_details:
            return out
        return {"output": out, "restored": restored, "mask": mask, "residual": residual,
                "range_score": m, "channel_attention": m_c, "spatial_attention": m_s}


def _layout(x: torch.Tensor):
    return torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous() \
        else torch.contiguous_format


def _pad_to_stride(x: torch.Tensor) -> torch.Tensor:
    """x reflect-padded at the bottom/right to a multiple of 4 (R_e downsamples by 4; positions are unchanged)."""
    h, w = x.shape[-2:]
    ph, pw = (h + STRIDE - 1) // STRIDE * STRIDE - h, (w + STRIDE - 1) // STRIDE * STRIDE - w
    if torch.compiler.is_exporting():  # symbolic H, W: see _reflect_pad
        return _reflect_pad(x, ph, pw)
    return F.pad(x, (0, pw, 0, ph), mode="reflect") if ph or pw else x


# Export forms of the pad / crop above, for torch.export with symbolic H, W (ONNX export with dynamic sizes).
# Slicing and reflect padding by a computed amount make torch.export guard on facts such as
# 4*ceil(H/4) >= H that its solver cannot prove, which would freeze H and W; the same values taken with
# index_select (ONNX Gather) need no such guard.
def _reflect_pad(x: torch.Tensor, ph, pw) -> torch.Tensor:
    """F.pad(x, (0, pw, 0, ph), mode="reflect") as two index_selects."""
    h, w = x.shape[-2:]
    rows = torch.arange(h + ph, device=x.device)
    cols = torch.arange(w + pw, device=x.device)
    rows = torch.where(rows < h, rows, 2 * (h - 1) - rows)
    cols = torch.where(cols < w, cols, 2 * (w - 1) - cols)
    return x.index_select(2, rows).index_select(3, cols)


def _crop(x: torch.Tensor, h, w) -> torch.Tensor:
    """x[..., :h, :w] as two index_selects."""
    return x.index_select(2, torch.arange(h, device=x.device)).index_select(3, torch.arange(w, device=x.device))
