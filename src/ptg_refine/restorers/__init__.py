"""Frozen low-light baselines F (Zero-DCE, Zero-DCE++, SGZ, SCI, IAT, identity, gamma).

>>> import torch
>>> from ptg_refine.restorers import create_restorer, list_restorers
>>> list_restorers("sci*")               # canonical names; "sci" is an alias of "sci_medium"
['sci_difficult', 'sci_easy', 'sci_medium']
>>> f = create_restorer("sci")            # bundled MIT weights, frozen
>>> x = torch.rand(2, 3, 64, 48)          # (B, 3, H, W) in [0, 1]
>>> y = f(x)                              # -> same shape in [0, 1]
>>> y.shape, bool(y.min() >= 0 and y.max() <= 1), any(p.requires_grad for p in f.parameters())
(torch.Size([2, 3, 64, 48]), True, False)
"""

from ..diagnostics import count_subnormals, flush_subnormals_
from ._common import Restorer
from .classic import Gamma, Identity
from .iat import IAT
from .registry import (
    RESTORERS,
    RestorerConfig,
    create_restorer,
    get_restorer_config,
    list_restorers,
    register_restorer,
)
from .sci import SCI
from .sgz import SGZ
from .zero_dce import ZeroDCE
from .zero_dce_pp import ZeroDCEPP

__all__ = [
    "IAT", "RESTORERS", "SCI", "SGZ", "Gamma", "Identity", "Restorer", "RestorerConfig", "ZeroDCE", "ZeroDCEPP",
    "count_subnormals", "create_restorer", "flush_subnormals_", "get_restorer_config", "list_restorers",
    "register_restorer",
]
