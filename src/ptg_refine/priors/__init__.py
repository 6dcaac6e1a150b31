"""Frozen pre-trained priors G: (B,3,H,W) in [0,1] -> L2-normalised (B,D) features."""
from .base import DEFAULT, CallablePrior, ImagePrior, ZeroPrior
from .registry import PRIORS, PriorConfig, create_prior, get_prior_config, list_priors, register_prior

__all__ = ["CallablePrior", "ImagePrior", "ZeroPrior", "PRIORS", "PriorConfig", "create_prior", "get_prior_config",
           "list_priors", "register_prior", "DEFAULT"]
