"""CLIP image embedding as the prior (the paper's default: OpenAI CLIP ViT-B/32, Radford et al., ICML 2021),
loaded through open_clip (Cherti et al., CVPR 2023). Spec: ``clip`` or ``clip:<model>/<tag>``.

Only the image tower is built and only its weights are read (the text tower, 40% of ViT-B-32's parameters,
is never built). The tower uses the activation of its pretrained tag: open_clip marks the tags trained with
QuickGELU (``openai``, ``laion400m_*``, ``metaclip_*``) with ``quick_gelu=True`` in their pretrained config,
but ``open_clip.create_model("ViT-B-32", pretrained="openai")`` builds nn.GELU in open_clip 3.x and only
warns; here the tag's own value decides (:func:`clip_tag_config`, which also gives the tag's normalisation).
"""
from __future__ import annotations

import copy
import os
import pickle
from dataclasses import asdict, dataclass
from types import SimpleNamespace

import torch

from .._hub import hub_file, url_file
from .base import DEFAULT, ImagePrior

DEFAULT_MODEL, DEFAULT_TAG = "ViT-B-32", "openai"


@dataclass(frozen=True)
class CLIPTagConfig:
    """How the weights of one pretrained tag are run: the activation they were trained with and the input
    preprocessing (``preprocess``: open_clip's PreprocessCfg fields; ``mean`` / ``std`` normalise)."""

    activation: str  # "quick_gelu" or "gelu"
    preprocess: dict

    @property
    def mean(self) -> tuple:
        return tuple(self.preprocess["mean"])

    @property
    def std(self) -> tuple:
        return tuple(self.preprocess["std"])


def clip_tag_config(model: str, tag: str | None) -> CLIPTagConfig:
    """The one place that decides a tag's activation and normalisation, from open_clip's data: its pretrained
    config of ``tag`` (``quick_gelu``, ``mean``, ``std``, ...) over the architecture's defaults; QuickGELU when
    either says so. ``tag`` None: the architecture's own.

    >>> cfg = clip_tag_config("ViT-B-32", "openai")
    >>> cfg.activation, cfg.mean
    ('quick_gelu', (0.48145466, 0.4578275, 0.40821073))
    >>> clip_tag_config("ViT-B-32", "laion2b_s34b_b79k").activation
    'gelu'
    """
    import open_clip
    from open_clip.transform import PreprocessCfg

    arch = open_clip.get_model_config(model)
    if arch is None:
        raise ValueError(f"unknown open_clip model {model!r}; open_clip.list_models() lists the available ones")
    tag_cfg = open_clip.get_pretrained_cfg(model, tag) if tag else {}
    quick = bool(arch.get("quick_gelu", False) or tag_cfg.get("quick_gelu", False))
    preprocess = asdict(PreprocessCfg())
    preprocess.update({k: tag_cfg[k] for k in preprocess if k in tag_cfg})
    return CLIPTagConfig("quick_gelu" if quick else "gelu", preprocess)


def visual_config(model: str, tag: str | None) -> tuple[dict, dict]:
    """(model config, preprocess config) for ``model``'s image tower with the activation and normalisation
    of pretrained ``tag`` (:func:`clip_tag_config`)."""
    import open_clip

    tag_cfg = clip_tag_config(model, tag)
    cfg = copy.deepcopy(open_clip.get_model_config(model))
    cfg["quick_gelu"] = tag_cfg.activation == "quick_gelu"
    return cfg, dict(tag_cfg.preprocess)


def build_visual(model: str, tag: str | None, device=None, **vision_overrides):
    """open_clip's image tower of ``model`` alone (random init; on the meta device: no memory, to be filled by
    :func:`load_visual_weights`), with ``tag``'s activation and normalisation. ``vision_overrides`` replace
    entries of the architecture's ``vision_cfg`` (e.g. a smaller width in tests)."""
    from open_clip.model import _build_vision_tower, set_model_preprocess_cfg

    cfg, preprocess = visual_config(model, tag)
    cfg["vision_cfg"].update(vision_overrides)
    with torch.device(device or "cpu"):
        visual = _build_vision_tower(cfg["embed_dim"], cfg["vision_cfg"], quick_gelu=cfg.get("quick_gelu", False),
                                     cast_dtype=None)
    preprocess["size"] = visual.image_size
    set_model_preprocess_cfg(SimpleNamespace(visual=visual), preprocess)
    return visual


def _visual_state_dict(path: str) -> dict[str, torch.Tensor]:
    """The ``visual.*`` tensors of an open_clip checkpoint (prefix kept), reading as little else as possible:
    from a safetensors file only those tensors, from a torch.save zip file through a memory map."""
    if path.endswith(".safetensors"):
        from safetensors import safe_open

        with safe_open(path, framework="pt", device="cpu") as f:
            return {k: f.get_tensor(k) for k in f.keys() if k.startswith("visual.")}
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except (RuntimeError, pickle.UnpicklingError):  # not a zip-format file (e.g. TorchScript): open_clip's way
        state = None
    if isinstance(state, dict):
        state = state.get("state_dict", state)
        if next(iter(state), "").startswith("module."):
            state = {k[len("module."):]: v for k, v in state.items()}
        return {k: v.clone() for k, v in state.items() if k.startswith("visual.")}  # clone: off the map
    from open_clip.factory import load_state_dict

    return {k: v for k, v in load_state_dict(path, device="cpu", weights_only=True).items()
            if k.startswith("visual.")}


def load_visual_weights(visual, path: str, model: str) -> None:
    """Load the image-tower weights of an open_clip checkpoint file (full CLIP or image tower only) into
    ``visual`` (which may live on the meta device: its tensors are then the loaded ones)."""
    from open_clip.model import resize_pos_embed

    state = _visual_state_dict(path)
    if not state:
        raise ValueError(f"clip prior {model}: {path} holds no open_clip image-tower weights ('visual.*' tensors)")
    resize_pos_embed(state, SimpleNamespace(visual=visual))
    visual.load_state_dict({k[len("visual."):]: v for k, v in state.items()}, strict=True, assign=True)
    if any(t.is_meta for t in (*visual.parameters(), *visual.buffers())):
        raise RuntimeError(f"clip prior {model}: {path} left tensors of the image tower unset")


def _safe_alternatives(filename: str) -> list[str]:
    """open_clip's order of files in a hub repo: the safetensors twin first."""
    if filename == "open_clip_pytorch_model.bin":
        return ["open_clip_model.safetensors", filename]
    if filename.endswith((".bin", ".pth")):
        return [filename[:-4] + ".safetensors", filename]
    return [filename]


def download_weights(model: str, tag: str) -> str:
    """Local path of the weights of ``model``/``tag``: cached, or downloaded (hub preferred, as open_clip).
    Offline: :class:`ptg_refine._hub.HubUnavailableError` within a few seconds."""
    import open_clip
    from open_clip.pretrained import download_pretrained_from_url

    cfg = open_clip.get_pretrained_cfg(model, tag)
    what = f"CLIP model {model} (tag {tag!r})"
    if cfg.get("file"):
        return cfg["file"]
    if cfg.get("hf_hub"):
        repo, filename = os.path.split(cfg["hf_hub"])
        return hub_file(repo, _safe_alternatives(filename or "open_clip_pytorch_model.bin"), what)
    if cfg.get("url"):
        cache = os.path.expanduser("~/.cache/clip")
        return url_file(cfg["url"], cache, what, lambda url: download_pretrained_from_url(url, cache_dir=cache))
    raise ValueError(f"{what}: open_clip knows no download location")


def create_clip_prior(arg: str | None, pretrained=DEFAULT) -> ImagePrior:
    """``arg`` is ``<model>`` or ``<model>/<tag>``; ``pretrained`` (a tag, a local file, or None for random
    init) overrides the tag. The activation and normalisation follow the tag (for a local file or None: the
    spec's tag, or ``openai`` for the default model)."""
    import open_clip

    model, _, tag = (arg or DEFAULT_MODEL).partition("/")
    if model not in open_clip.list_models():
        raise ValueError(f"unknown open_clip model {model!r}; available: {', '.join(open_clip.list_models())}")
    tag = tag or (DEFAULT_TAG if model == DEFAULT_MODEL else None)
    if pretrained == DEFAULT:
        pretrained = tag
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
    if tag is not None and tag not in tags:
        raise ValueError(f"unknown pretrained tag {tag!r} for CLIP {model}; available: {tags}")
    weights_tag = pretrained if pretrained is not None and not is_file else None
    path = None if pretrained is None else pretrained if is_file else download_weights(model, pretrained)
    # with weights to load, build on the meta device: no memory for a random init that would be overwritten
    visual = build_visual(model, weights_tag or tag, device=None if path is None else "meta")
    if path is not None:
        load_visual_weights(visual, path, model)
    size = visual.image_size if isinstance(visual.image_size, (tuple, list)) else (visual.image_size,) * 2
    name = f"clip:{model}/{weights_tag}" if weights_tag else f"clip:{model}"
    return ImagePrior(visual, visual.output_dim, size, visual.image_mean, visual.image_std, name=name)
