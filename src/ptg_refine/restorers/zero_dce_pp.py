"""Zero-DCE++.

C. Li, C. Guo, C. C. Loy. "Learning to Enhance Low-Light Image via Zero-Reference Deep Curve Estimation."
IEEE TPAMI 2021 (arXiv 2103.00860). Written from ``shared/specs/zero_dce_pp.md``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._common import Restorer, check_input
from .zero_dce import dce_net


class DSConv(nn.Module):
    """Depthwise 3x3 conv directly followed by a pointwise 1x1 conv (no activation between)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.depth_conv = nn.Conv2d(c_in, c_in, 3, 1, 1, groups=c_in)
        self.point_conv = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.point_conv(self.depth_conv(x))


class ZeroDCEPP(Restorer):
    """A depthwise-separable CNN estimates ONE 3-channel curve map on the image downscaled by
    ``scale_factor`` (12 in the authors' test script); the map is upsampled (bilinear,
    align_corners=True) and the curve y <- y + A * (y^2 - y) is applied 8 times at full resolution.

    Size multiple: the curve map is estimated at H/12 x W/12, so the authors need H and W divisible
    by 12 and *crop* the input (changing the output size). Here any H, W is accepted: the input is
    padded at the bottom/right to the next multiple of 12 (reflect; replicate when the image is
    smaller than the pad), the curve map is estimated on the padded image and cropped back to H x W,
    so the output keeps the input size. For sizes that are multiples of 12 nothing is padded and the
    result equals the authors' code.
    """

    def __init__(self, scale_factor: int = 12, iterations: int = 8) -> None:
        super().__init__()
        self.scale_factor = scale_factor
        self.iterations = iterations
        ins = [3, 32, 32, 32, 64, 64, 64]
        outs = [32] * 6 + [3]
        for i, (c_in, c_out) in enumerate(zip(ins, outs), start=1):
            setattr(self, f"e_conv{i}", DSConv(c_in, c_out))

    def curves(self, x: torch.Tensor) -> torch.Tensor:
        """The full-resolution curve map A (B, 3, H, W) in (-1, 1)."""
        s = self.scale_factor
        if s == 1:
            return dce_net(self, x)
        h, w = x.shape[-2:]
        ph, pw = -h % s, -w % s
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        hp, wp = x.shape[-2:]
        small = F.interpolate(x, size=(hp // s, wp // s), mode="bilinear", align_corners=False)
        a = F.interpolate(dce_net(self, small), size=(hp, wp), mode="bilinear", align_corners=True)
        return a[..., :h, :w]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self)
        a = self.curves(x)
        y = x
        for _ in range(self.iterations):
            y = y + a * (y.pow(2) - y)
        return y.clamp(0, 1)  # no-op for inputs in [0, 1] except rounding; matches the authors' save step
