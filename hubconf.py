"""torch.hub entry points for ptg-refine.

    refiner = torch.hub.load("<owner>/ptg-refine", "ptg_refiner", restorer=my_model)  # no prior, as `train`
    refiner = torch.hub.load("/path/to/checkout", "ptg_refiner", source="local", restorer="sci", prior="clip")
    refiner = torch.hub.load(..., "ptg_refiner", pretrained=True)    # the default shipped refiner
    refiner = torch.hub.load(..., "ptg_refiner", pretrained="iat-lol")  # or "local-dir:PATH", "hf-hub:user/name"
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "src"))

dependencies = ["torch", "timm", "open_clip", "huggingface_hub", "safetensors"]

from ptg_refine import PTGRefiner, create_prior, create_restorer  # noqa: E402
from ptg_refine._pretrained import default_pretrained  # noqa: E402


_UNSET = object()  # lets ptg_refiner tell "prior not given" from an explicit prior
# a new refiner's prior when none is given: the documented default (README; `ptg-refine train --prior`), which the
# shipped refiners use and which works offline; prior="clip" (the paper's G) is a choice
NEW_REFINER_PRIOR = "none"


def ptg_refiner(restorer=None, prior=_UNSET, pretrained=None, **kwargs):
    """A PTGRefiner (PTG-RM, Xu et al., CVPR 2024) around a frozen ``restorer``.

    restorer: nn.Module, callable, zoo name (``ptg_refine.list_restorers()``) or None.
    prior: prior spec (``ptg_refine.list_priors()``) or module. A new refiner defaults to ``"none"`` (no prior,
        as ``ptg-refine train`` and the shipped refiners; nothing is downloaded); ``prior="clip"`` gives the paper's
        CLIP prior. With ``pretrained`` the checkpoint's config records its prior, which an explicit ``prior``
        (any value) replaces.
    pretrained: None or False for a new, untrained refiner (returns F's output until trained); True for the
        default shipped refiner (``"default": true`` in the package's pretrained/index.json: ``sci-none``); a
        shipped refiner's name (``ptg_refine.list_pretrained()``), a local save_pretrained folder
        (``"local-dir:PATH"`` or an existing path) or a Hugging Face Hub repo (``"hf-hub:user/name"``), resolved
        by ``PTGRefiner.from_pretrained`` (``ptg_refine._sources.resolve_source``).
    Other keyword arguments go to ``PTGRefiner`` / ``PTGRefiner.from_pretrained``.
    """
    if pretrained is None or pretrained is False:
        return PTGRefiner(restorer=restorer, prior=NEW_REFINER_PRIOR if prior is _UNSET else prior, **kwargs)
    if pretrained is True:
        pretrained = default_pretrained()
    if restorer is not None:
        kwargs["restorer"] = restorer
    if prior is not _UNSET:
        kwargs["prior"] = prior
    return PTGRefiner.from_pretrained(pretrained, **kwargs)


def prior(spec="clip", pretrained="default"):
    """A frozen prior G: (B,3,H,W) in [0,1] -> L2-normalised (B,D) features."""
    return create_prior(spec, pretrained=pretrained)


def restorer(name="sci", weights=None, **kwargs):
    """A frozen baseline restorer F from the zoo (``ptg_refine.list_restorers()``)."""
    return create_restorer(name, weights=weights, **kwargs)
