"""Pooled features of any timm model as the prior (Wightman, PyTorch Image Models). Spec ``timm:<name>``.

:func:`build_timm_backbone` and :func:`prior_from_timm` are also the path of ``efficientnet_lite0``, whose
weights come from a file outside timm's layout (:mod:`ptg_refine.priors.lite0` gives the adapter).
"""
from __future__ import annotations

import os
from typing import Callable, Sequence

import torch
from torch import nn

from .._hub import OFFLINE_ALTERNATIVES, HubUnavailableError, network_errors, timm_weights_file
from .base import DEFAULT, ImagePrior

# (a weights file's state_dict, the timm model's full state_dict with classifier) -> the file's tensors, timm's names
StateDictAdapter = Callable[[dict, dict], dict]


def build_timm_backbone(model_name: str, pretrained, adapt_state_dict: StateDictAdapter | None = None) -> nn.Module:
    """timm model without classifier (num_classes=0: globally pooled features); ``pretrained`` is
    True/False/None or a local weights file. Weights come from the local cache when there; offline (not
    cached, hub unreachable) a :class:`ptg_refine._hub.HubUnavailableError` comes within a few seconds.

    ``adapt_state_dict``: for a weights file not in timm's layout (``pretrained`` a file, or None/False for
    random init). The model is then built as that checkpoint is, with its classifier, loaded strictly from the
    adapted tensors, and its classifier removed afterwards (so a random init draws the same numbers as the
    full model's)."""
    import timm

    if model_name not in timm.list_models():
        close = timm.list_models(f"*{model_name}*")[:20]
        raise ValueError(f"unknown timm model {model_name!r}; similar names: {close or 'none'} "
                         "(timm.list_models() lists all)")
    is_file = isinstance(pretrained, (str, os.PathLike))
    if is_file and not os.path.isfile(pretrained):
        raise FileNotFoundError(f"timm prior {model_name}: weights file {os.fspath(pretrained)!r} does not exist")
    if adapt_state_dict is not None:
        if not is_file and pretrained not in (None, False):
            raise TypeError(f"timm prior {model_name}: with a state_dict adapter, pretrained must be a local weights "
                            f"file or None (random init), got {pretrained!r}")
        return _build_adapted(model_name, pretrained if is_file else None, adapt_state_dict)
    kwargs = {}
    if is_file:
        kwargs["pretrained_cfg_overlay"] = {"file": os.fspath(pretrained)}
        pretrained = True
    elif pretrained:
        file = timm_weights_file(model_name)
        if file is not None:
            kwargs["pretrained_cfg_overlay"] = {"file": file}
    try:
        return timm.create_model(model_name, pretrained=bool(pretrained), num_classes=0, **kwargs)
    except network_errors() as e:
        raise HubUnavailableError(f"could not download the weights of timm model {model_name}: "
                                  f"{type(e).__name__}: {e}. {OFFLINE_ALTERNATIVES}") from e


def _build_adapted(model_name: str, path, adapt_state_dict: StateDictAdapter) -> nn.Module:
    import timm

    model = timm.create_model(model_name, pretrained=False)
    if path is not None:
        source = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
        try:
            mapped = adapt_state_dict(source, model.state_dict())
        except ValueError as e:
            raise ValueError(f"{os.fspath(path)}: {e}") from e
        model.load_state_dict(mapped, strict=True)
    model.reset_classifier(0)
    return model


def prior_from_timm(model, name: str, input_size: Sequence[int] | None = None,
                    mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> ImagePrior:
    """An :class:`ImagePrior` of a pooled timm model, preprocessed as timm's data config of the model says
    (``input_size`` (h, w), ``mean``, ``std`` replace it where given)."""
    import timm

    cfg = timm.data.resolve_model_data_config(model)
    return ImagePrior(model, model.num_features, input_size or cfg["input_size"][1:], mean or cfg["mean"],
                      std or cfg["std"], name=name)


def create_timm_prior(arg: str | None, pretrained=DEFAULT) -> ImagePrior:
    if not arg:
        raise ValueError("the timm prior needs a model name: 'timm:<name>', e.g. 'timm:resnet18'")
    pretrained = True if pretrained == DEFAULT else pretrained
    return prior_from_timm(build_timm_backbone(arg, pretrained), f"timm:{arg}")
