"""A small registry of priors G in the style of timm / open_clip: ``list_priors`` / ``create_prior``.

Specs are ``"name"`` or ``"name:argument"`` (e.g. ``"clip:ViT-B-32/openai"``, ``"timm:resnet18"``).
"""
from __future__ import annotations

from typing import Callable

from torch import nn

_PRIORS: dict[str, Callable[..., nn.Module]] = {}

DEFAULT = "default"  # sentinel: the prior's own default weights (CLIP tag, timm's pretrained, Lite0's package)


def register_prior(name: str):
    """Decorator: register ``factory(arg: str | None, pretrained) -> nn.Module`` under ``name``."""

    def deco(factory):
        _PRIORS[name] = factory
        return factory

    return deco


def list_priors() -> list[str]:
    """Names of the registered priors (use ``name:argument`` where the prior takes one)."""
    return sorted(_PRIORS)


def parse_spec(spec: str) -> tuple[str, str | None]:
    if not isinstance(spec, str) or not spec:
        raise TypeError(f"a prior spec must be a non-empty string like 'clip' or 'timm:resnet18', got {spec!r}")
    name, _, arg = spec.partition(":")
    if name not in _PRIORS:
        raise ValueError(f"unknown prior {name!r} (from spec {spec!r}); available: {', '.join(list_priors())}")
    return name, arg or None


def create_prior(spec: str, pretrained=DEFAULT, **kwargs) -> nn.Module:
    """Build a frozen prior from a spec.

    pretrained: ``"default"`` for the prior's own pretrained weights, ``None`` for random init, a local
    file path, or a prior-specific value (a CLIP tag; ``True``/``False`` for timm).

    >>> import torch
    >>> g = create_prior("none")                     # the no-prior ablation: g = 0, 512-d
    >>> g(torch.rand(2, 3, 64, 64)).shape
    torch.Size([2, 512])
    >>> create_prior("efficientnet_lite0").feature_dim   # ImageNet weights from a dependency: offline
    1280

    Offline, ``"clip"`` and ``"timm:<name>"`` raise :class:`ptg_refine._hub.HubUnavailableError` at once
    (unless their weights are in the local cache), naming what works offline.
    """
    from .._frozen import freeze

    name, arg = parse_spec(spec)
    return freeze(_PRIORS[name](arg, pretrained, **kwargs))
