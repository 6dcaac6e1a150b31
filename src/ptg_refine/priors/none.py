"""``none``: the no-prior ablation (g = 0). Spec ``none`` or ``none:<dim>`` (default 512)."""
from .base import ZeroPrior


def create_zero_prior(arg, pretrained=None) -> ZeroPrior:
    if arg and not (arg.isdigit() and int(arg) > 0):
        raise ValueError(f"the none prior takes a feature size: 'none:<dim>', e.g. 'none:512'; got {arg!r}")
    return ZeroPrior(int(arg) if arg else 512)
