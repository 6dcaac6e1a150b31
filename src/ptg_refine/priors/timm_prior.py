"""Pooled features of any timm model as the prior (Wightman, PyTorch Image Models). Spec ``timm:<name>``."""
from __future__ import annotations

import os

from .._hub import OFFLINE_ALTERNATIVES, HubUnavailableError, network_errors, timm_weights_file
from .base import ImagePrior
from .registry import DEFAULT, register_prior


def build_timm_backbone(model_name: str, pretrained):
    """timm model without classifier (num_classes=0: globally pooled features); ``pretrained`` is
    True/False/None or a local weights file. Weights come from the local cache when there; offline (not
    cached, hub unreachable) a :class:`ptg_refine._hub.HubUnavailableError` comes within a few seconds."""
    import timm

    if model_name not in timm.list_models():
        close = timm.list_models(f"*{model_name}*")[:20]
        raise ValueError(f"unknown timm model {model_name!r}; similar names: {close or 'none'} "
                         "(timm.list_models() lists all)")
    kwargs = {}
    if isinstance(pretrained, (str, os.PathLike)):
        if not os.path.isfile(pretrained):
            raise FileNotFoundError(f"timm prior {model_name}: weights file {os.fspath(pretrained)!r} does not exist")
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


def prior_from_timm(model, name: str) -> ImagePrior:
    import timm

    cfg = timm.data.resolve_model_data_config(model)
    return ImagePrior(model, model.num_features, cfg["input_size"][1:], cfg["mean"], cfg["std"], name=name)


@register_prior("timm")
def create_timm_prior(arg: str | None, pretrained=DEFAULT) -> ImagePrior:
    if not arg:
        raise ValueError("the timm prior needs a model name: 'timm:<name>', e.g. 'timm:resnet18'")
    pretrained = True if pretrained == DEFAULT else pretrained
    return prior_from_timm(build_timm_backbone(arg, pretrained), f"timm:{arg}")
