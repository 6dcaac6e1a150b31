"""Frozen pre-trained priors G: (B,3,H,W) in [0,1] -> L2-normalised (B,D) features."""
from . import clip, lite0, none, timm_prior  # noqa: F401  (register the built-in priors)
from .base import CallablePrior, ImagePrior, ZeroPrior
from .registry import DEFAULT, create_prior, list_priors, register_prior

__all__ = ["CallablePrior", "ImagePrior", "ZeroPrior", "create_prior", "list_priors", "register_prior", "DEFAULT"]
