"""Weight-free baselines: identity and a per-image global gamma curve."""

from __future__ import annotations

import math

import torch

from ._common import Restorer, check_input


class Identity(Restorer):
    """Returns the input unchanged (the "no restorer" baseline)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x)
        return x


class Gamma(Restorer):
    """Global gamma curve y = x ** g_b, one exponent per image b, chosen from its mean brightness:

        m_b = mean of x_b over channels and pixels, clamped to [1e-6, 1 - 1e-6]
        g_b = clamp(log(target) / log(m_b), min_gamma, max_gamma)

    so that a uniform image of brightness m_b would map exactly to ``target`` (textbook auto-gamma).
    Defaults: target 0.4, g in [0.1, 10]; g < 1 brightens dark images, g > 1 darkens bright ones.
    By Jensen's inequality the output mean of a dark, non-uniform image lands somewhat above target.
    """

    def __init__(self, target: float = 0.4, min_gamma: float = 0.1, max_gamma: float = 10.0) -> None:
        super().__init__()
        if not 0 < target < 1 or not 0 < min_gamma <= max_gamma:
            raise ValueError("need 0 < target < 1 and 0 < min_gamma <= max_gamma")
        self.target, self.min_gamma, self.max_gamma = target, min_gamma, max_gamma

    def gamma(self, x: torch.Tensor) -> torch.Tensor:
        """The exponent g_b per image, shape (B,)."""
        check_input(x)
        m = x.mean(dim=(1, 2, 3)).clamp(1e-6, 1 - 1e-6)
        return (math.log(self.target) / m.log()).clamp(self.min_gamma, self.max_gamma)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(0, 1) ** self.gamma(x)[:, None, None, None]

    def extra_repr(self) -> str:
        return f"target={self.target}, min_gamma={self.min_gamma}, max_gamma={self.max_gamma}"
