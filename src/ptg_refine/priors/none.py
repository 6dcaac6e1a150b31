"""``none``: the no-prior ablation (g = 0). Spec ``none`` or ``none:<dim>`` (default 512)."""
import os

from .base import DEFAULT, ZeroPrior


def create_zero_prior(arg, pretrained=None) -> ZeroPrior:
    if arg and not (arg.isdigit() and int(arg) > 0):
        raise ValueError(f"the none prior takes a feature size: 'none:<dim>', e.g. 'none:512'; got {arg!r}")
    if isinstance(pretrained, os.PathLike) or isinstance(pretrained, str) and pretrained != DEFAULT:
        raise ValueError(f"prior 'none' (g = 0) has no weights, so the prior weights {os.fspath(pretrained)!r} would "
                         "be ignored: drop --prior-weights (prior_pretrained=...), or use a refiner / prior that has "
                         "weights")
    return ZeroPrior(int(arg) if arg else 512)
