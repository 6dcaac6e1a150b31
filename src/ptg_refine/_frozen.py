"""Frozen parts: the restorer F and the prior G are never trained by the refiner (only R is)."""
from __future__ import annotations

from torch import nn


class StaysFrozen:
    """Mixin of modules that, once :func:`freeze` d, stay in eval mode even if a parent calls ``.train()``
    (e.g. restorers with BatchNorm layers, whose batch statistics would change the output completely)."""

    _frozen = False

    def train(self, mode: bool = True):
        return super().train(False if self._frozen else mode)


def freeze(module: nn.Module) -> nn.Module:
    """Eval mode and no gradients; a :class:`StaysFrozen` module also ignores later ``.train()`` calls."""
    module.requires_grad_(False).eval()
    if isinstance(module, StaysFrozen):
        module._frozen = True
    return module


def use_callers(module: nn.Module) -> nn.Module:
    """A module the caller built, used as F or G: put in eval mode (inference needs it: BatchNorm / dropout), its
    ``requires_grad`` flags left as the caller set them. The refiner runs F and G under ``torch.no_grad()`` and
    never hands their parameters to an optimizer, so no gradient reaches them either way."""
    return module.eval()
