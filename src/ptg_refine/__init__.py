"""ptg-refine: PTG-RM refinement of frozen restoration models with priors from pre-trained models.

Xu et al., "Boosting Image Restoration via Priors from Pre-trained Models", CVPR 2024.

The public names are imported on first use, so ``ptg-refine --help`` / ``--version`` do not pay for torch.
"""
from importlib import import_module

__version__ = "0.1.0"

_LAZY = {"PTGRefiner": ".refiner", "RefinerConfig": ".refiner", "RefinementNetwork": ".modules",
         "list_pretrained": "._pretrained", "get_pretrained_config": "._pretrained",
         "create_prior": ".priors", "list_priors": ".priors", "register_prior": ".priors", "get_prior_config": ".priors",
         "create_restorer": ".restorers", "list_restorers": ".restorers", "register_restorer": ".restorers",
         "get_restorer_config": ".restorers", "set_value_checks": "._validation", "value_checks": "._validation",
         "Trainer": ".training", "TrainConfig": ".training", "PairedFolder": ".data", "ImageFolder": ".data"}


def __getattr__(name):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ptg_refine' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))


__all__ = ["PTGRefiner", "RefinerConfig", "RefinementNetwork", "create_prior", "list_priors", "register_prior",
           "get_prior_config", "list_pretrained", "get_pretrained_config", "create_restorer", "list_restorers",
           "register_restorer", "get_restorer_config", "set_value_checks", "value_checks", "Trainer", "TrainConfig",
           "PairedFolder", "ImageFolder"]
