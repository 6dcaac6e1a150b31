"""The per-position depthwise convolution of PTG-CSA, Eq. 6: M̂_s = f̂ ∗ C_p (Xu et al., CVPR 2024).

Every position (i, j) and channel c has its own k x k kernel, predicted by R_p (Eq. 5).
Written as a sum of k*k shifted views (no unfold) so memory stays O(C·H·W) per term and the op
exports to ONNX.
"""
import torch
import torch.nn.functional as F
from torch import nn


def per_position_filter(x: torch.Tensor, kernels: torch.Tensor, kernel_size: int = 3) -> torch.Tensor:
    """Apply a separate k x k depthwise kernel at every position, with replicate padding.

    Args:
        x: (B,C,H,W) features.
        kernels: (B, C*k*k, H, W); channel index ``c*k*k + dy*k + dx`` holds tap (dy, dx) of channel c.
    Returns:
        (B,C,H,W) with out[b,c,i,j] = sum_{dy,dx} x_pad[b,c,i+dy,j+dx] * kernels[b, c*k*k+dy*k+dx, i, j].

    >>> x = torch.rand(1, 2, 5, 5)
    >>> k = torch.zeros(1, 18, 5, 5); k[:, 4::9] = 1   # centre tap = 1: identity
    >>> torch.equal(per_position_filter(x, k), x)
    True
    """
    b, c, h, w = x.shape
    k = kernel_size
    if kernels.shape != (b, c * k * k, h, w):
        raise ValueError(f"kernels must have shape {(b, c * k * k, h, w)} for x of shape {tuple(x.shape)}, "
                         f"got {tuple(kernels.shape)}")
    p = k // 2
    x_pad = F.pad(x, (p, p, p, p), mode="replicate")
    taps = kernels.reshape(b, c, k * k, h, w)
    out = torch.zeros_like(x)
    for dy in range(k):
        for dx in range(k):
            out = out + x_pad[:, :, dy:dy + h, dx:dx + w] * taps[:, :, dy * k + dx]
    return out


class PerPositionFilter(nn.Module):
    """Module form of :func:`per_position_filter`."""

    def __init__(self, kernel_size: int = 3):
        super().__init__()
        self.kernel_size = kernel_size

    def forward(self, x, kernels):
        return per_position_filter(x, kernels, self.kernel_size)
