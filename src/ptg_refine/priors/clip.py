"""CLIP image embedding as the prior (the paper's default: OpenAI CLIP ViT-B/32, Radford et al., ICML 2021),
loaded through open_clip (Cherti et al., CVPR 2023). Spec: ``clip`` or ``clip:<model>/<tag>``."""
from __future__ import annotations

import os

from .base import ImagePrior
from .registry import DEFAULT, register_prior

DEFAULT_MODEL, DEFAULT_TAG = "ViT-B-32", "openai"


def _weights_location(model: str, tag: str) -> str:
    import open_clip

    cfg = open_clip.get_pretrained_cfg(model, tag) or {}
    where = cfg.get("hf_hub") or cfg.get("url")
    return f"hub repo/URL {where!r}" if where else "no known download location"


@register_prior("clip")
def create_clip_prior(arg: str | None, pretrained=DEFAULT) -> ImagePrior:
    """``arg`` is ``<model>`` or ``<model>/<tag>``; ``pretrained`` (a tag, a local file, or None for random
    init) overrides the tag."""
    import open_clip

    model, _, tag = (arg or DEFAULT_MODEL).partition("/")
    if model not in open_clip.list_models():
        raise ValueError(f"unknown open_clip model {model!r}; available: {', '.join(open_clip.list_models())}")
    if pretrained == DEFAULT:
        pretrained = tag or (DEFAULT_TAG if model == DEFAULT_MODEL else None)
    if pretrained is not None and not isinstance(pretrained, (str, os.PathLike)):
        raise TypeError(f"clip prior: pretrained must be a tag, a local file path or None, got {pretrained!r}")
    pretrained = None if pretrained is None else os.fspath(pretrained)
    is_file = pretrained is not None and os.path.isfile(pretrained)
    looks_like_path = pretrained is not None and (os.sep in pretrained or "." in pretrained)
    if looks_like_path and not is_file:
        raise FileNotFoundError(f"clip prior {model}: weights file {pretrained!r} does not exist")
    tags = [t for m, t in open_clip.list_pretrained() if m == model]
    if pretrained is not None and not is_file and pretrained not in tags:
        raise ValueError(f"unknown pretrained tag {pretrained!r} for CLIP {model}; available: {tags}, "
                         "a local file path, or None for random init")
    if pretrained is None or is_file:
        clip = open_clip.create_model(model, pretrained=pretrained)
    else:
        clip = _download_and_create(model, pretrained)
    visual = clip.visual
    size = visual.image_size if isinstance(visual.image_size, (tuple, list)) else (visual.image_size,) * 2
    name = f"clip:{model}/{pretrained}" if pretrained and not is_file else f"clip:{model}"
    return ImagePrior(visual, visual.output_dim, size, visual.image_mean, visual.image_std, name=name)


def _download_and_create(model: str, tag: str):
    import open_clip

    try:
        return open_clip.create_model(model, pretrained=tag)
    except Exception as e:  # network / hub failures deep inside open_clip
        raise RuntimeError(
            f"could not load pretrained weights {tag!r} for CLIP model {model} "
            f"({_weights_location(model, tag)}): {type(e).__name__}: {e}. Without network access, "
            f"download the weights elsewhere and pass pretrained='/path/to/open_clip_model.safetensors' "
            f"(or prior_pretrained=... for PTGRefiner), or pretrained=None for random init."
        ) from e
