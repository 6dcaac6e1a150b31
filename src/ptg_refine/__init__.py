"""ptg-refine: PTG-RM refinement of frozen restoration models with priors from pre-trained models.

Xu et al., "Boosting Image Restoration via Priors from Pre-trained Models", CVPR 2024.
"""
from .modules import RefinementNetwork
from .priors import create_prior, list_priors, register_prior
from .refiner import PTGRefiner, list_pretrained

__version__ = "0.1.0"


def __getattr__(name):  # the restorer zoo is imported on first use
    if name in ("create_restorer", "list_restorers", "register_restorer"):
        from . import restorers

        return getattr(restorers, name)
    raise AttributeError(f"module 'ptg_refine' has no attribute {name!r}")


__all__ = ["PTGRefiner", "RefinementNetwork", "create_prior", "list_priors", "register_prior", "list_pretrained",
           "create_restorer", "list_restorers", "register_restorer"]
