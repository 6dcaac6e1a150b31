"""Zero-DCE (DCE-Net).

C. Guo, C. Li, J. Guo, C. C. Loy, J. Hou, S. Kwong, R. Cong. "Zero-Reference Deep Curve Estimation for
Low-Light Image Enhancement." CVPR 2020. Written from ``shared/specs/zero_dce.md``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._common import Restorer, check_input


class ZeroDCE(Restorer):
    """Seven 3x3 convs estimate eight per-pixel, per-channel curve maps A_n; the image is
    enhanced by y <- y + A_n * (y^2 - y) for n = 1..8.

    Fully convolutional with stride 1: any H, W works, no padding or size multiple needed.
    Key names (``e_conv1`` ... ``e_conv7``) match the authors' ``Epoch99.pth``, a legacy (pre-1.6)
    pickle saved on CUDA: it is read with ``map_location="cpu"`` and ``weights_only=True``; only this
    exact file (checked by SHA-256) may fall back to ``weights_only=False`` on a torch that cannot read
    legacy pickles safely (see ``_common.read_state_dict``). Its weights are CC BY-NC 4.0, so they are not
    bundled: pass ``create_restorer("zero_dce", weights="/path/to/Epoch99.pth")``.
    """

    def __init__(self, width: int = 32, iterations: int = 8) -> None:
        super().__init__()
        self.iterations = iterations
        ins = [3, width, width, width, 2 * width, 2 * width, 2 * width]
        outs = [width] * 6 + [3 * iterations]
        for i, (c_in, c_out) in enumerate(zip(ins, outs), start=1):
            setattr(self, f"e_conv{i}", nn.Conv2d(c_in, c_out, 3, 1, 1))

    def curves(self, x: torch.Tensor) -> torch.Tensor:
        """The 3*iterations curve maps in (-1, 1), eight RGB groups in order."""
        return dce_net(self, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self)
        y = x
        for a in self.curves(x).split(3, dim=1):
            y = y + a * (y.pow(2) - y)
        # |A| < 1 keeps [0, 1] mathematically; the clamp (as the authors' save_image) only guards rounding.
        return y.clamp(0, 1)


def dce_net(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """DCE-Net's 7 layers ``m.e_conv1..7`` with symmetric skip concatenations, tanh output.
    Shared by Zero-DCE and Zero-DCE++ / SGZ (whose convolutions are depthwise-separable)."""
    f1 = F.relu(m.e_conv1(x))
    f2 = F.relu(m.e_conv2(f1))
    f3 = F.relu(m.e_conv3(f2))
    f4 = F.relu(m.e_conv4(f3))
    f5 = F.relu(m.e_conv5(torch.cat([f3, f4], 1)))
    f6 = F.relu(m.e_conv6(torch.cat([f2, f5], 1)))
    return torch.tanh(m.e_conv7(torch.cat([f1, f6], 1)))
