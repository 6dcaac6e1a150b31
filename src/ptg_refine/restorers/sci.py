"""SCI: self-calibrated illumination (test-time model).

L. Ma, T. Ma, R. Liu, X. Fan, Z. Luo. "Toward Fast, Flexible, and Robust Low-Light Image Enhancement."
CVPR 2022. Written from ``shared/specs/sci.md``.
"""

from __future__ import annotations

import torch
from torch import nn

from ._common import Restorer, check_input


class IlluminationNet(nn.Module):
    """Three 3x3 convs (3 channels) with one residual conv-BN-ReLU block; predicts the illumination u."""

    def __init__(self) -> None:
        super().__init__()
        self.in_conv = nn.Sequential(nn.Conv2d(3, 3, 3, 1, 1), nn.ReLU())
        self.conv = nn.Sequential(nn.Conv2d(3, 3, 3, 1, 1), nn.BatchNorm2d(3, eps=1e-5), nn.ReLU())
        self.out_conv = nn.Sequential(nn.Conv2d(3, 3, 3, 1, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.in_conv(x)
        g = g + self.conv(g)  # the shared block is applied once at test time
        return (self.out_conv(g) + x).clamp(1e-4, 1)


class SCI(Restorer):
    """Retinex enhancement r = clamp(x / u, 0, 1) with u from a 258-parameter illumination net.

    Only the test-time part is built. The checkpoints also hold the training-only calibration net
    (``calibrate.*``) and alias keys of the shared block (``enhance.blocks.0.*`` = ``enhance.conv.*``);
    :meth:`convert_state_dict` drops both so the remaining keys load with ``strict=True``.
    BatchNorm runs with its running statistics (eps 1e-5); the module is kept in eval mode when frozen.
    Any H, W works (stride-1 convs only).
    """

    def __init__(self) -> None:
        super().__init__()
        self.enhance = IlluminationNet()

    @staticmethod
    def convert_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {
            k: v for k, v in state_dict.items() if k.startswith("enhance.") and not k.startswith("enhance.blocks.")
        }

    def illumination(self, x: torch.Tensor) -> torch.Tensor:
        """The illumination map u in [1e-4, 1]."""
        check_input(x, self)
        return self.enhance(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x / self.illumination(x)).clamp(0, 1)
