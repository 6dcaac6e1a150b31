"""Frozen low-light baselines F (Zero-DCE, Zero-DCE++, SGZ, SCI, IAT, identity, gamma).

>>> from ptg_refine.restorers import create_restorer, list_restorers
>>> f = create_restorer("sci")            # bundled MIT weights, frozen
>>> y = f(x)                              # (B, 3, H, W) in [0, 1] -> same shape in [0, 1]
"""

from ._common import Restorer, count_subnormals, flush_subnormals_
from .classic import Gamma, Identity
from .iat import IAT
from .registry import (
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
    "IAT", "SCI", "SGZ", "Gamma", "Identity", "Restorer", "RestorerConfig", "ZeroDCE", "ZeroDCEPP",
    "count_subnormals", "create_restorer", "flush_subnormals_", "get_restorer_config", "list_restorers",
    "register_restorer",
]
