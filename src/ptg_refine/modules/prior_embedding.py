"""T_m / T_c: prior-feature MLPs of PTG-SVE (Eq. 2) and PTG-CSA (Eq. 4-5) (Xu et al., CVPR 2024)."""
import torch
import torch.nn.functional as F
from torch import nn


class PriorMLP(nn.Sequential):
    """(B,D) prior features g -> (B,out) embedding; the release uses D→256→64 without bias."""

    def __init__(self, in_dim: int = 512, hidden: int = 256, out_dim: int = 64):
        super().__init__(
            nn.Linear(in_dim, hidden, bias=False),
            nn.LeakyReLU(0.1),
            nn.Linear(hidden, out_dim, bias=False),
        )


def conv_with_broadcast(conv: nn.Conv2d, x: torch.Tensor, v: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """``conv(cat([x, v repeated over every position, s], 1))`` without building the broadcast channels.

    v is one vector per image, so its channels are constant maps: through a zero-padded convolution
    they give Σ_t K[b,:,t] V_t, where K[b,:,t] = W_v[:,:,t] v_b is the weight of kernel tap t applied to
    v_b and V_t (h,w) is 1 where tap t falls inside the image, 0 where it falls on the padding. This
    costs k² instead of len(v)·k² multiply-adds per output; for R_m and R_p (Eq. 2, 5) it removes 2/3 of
    the first layer's work. The result is the same up to float rounding.
    x: (B,cx,h,w); v: (B,cv) or None (a network without prior layers: ``conv(cat([x, s], 1))``); s: (B,cs,h,w)
    (may be an expanded view). conv: stride 1, 'same' padding.
    """
    if v is None:
        return conv(torch.cat([x, s], dim=1))
    b, cx, h, w = x.shape
    cv = v.shape[1]
    weight = conv.weight
    out_ch, _, kh, kw = weight.shape
    w_x, w_v, w_s = weight.split([cx, cv, weight.shape[1] - cx - cv], dim=1)
    out = F.conv2d(torch.cat([x, s], dim=1), torch.cat([w_x, w_s], dim=1), conv.bias, padding=conv.padding)
    taps = torch.eye(kh * kw, dtype=weight.dtype, device=weight.device).reshape(kh * kw, 1, kh, kw)
    inside = F.conv2d(weight.new_ones(1, 1, h, w), taps, padding=conv.padding)  # (1, k², h, w): V_t
    k = torch.einsum("octu,bc->botu", w_v, v.to(weight.dtype)).reshape(b, out_ch, kh * kw)
    const = (k @ inside.reshape(kh * kw, h * w)).reshape(b, out_ch, h, w)
    return out + const.to(out.dtype)
