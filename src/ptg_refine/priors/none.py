"""``none``: the no-prior ablation (g = 0). Spec ``none`` or ``none:<dim>`` (default 512)."""
from .base import ZeroPrior
from .registry import register_prior


@register_prior("none")
def create_zero_prior(arg, pretrained=None) -> ZeroPrior:
    return ZeroPrior(int(arg) if arg else 512)
