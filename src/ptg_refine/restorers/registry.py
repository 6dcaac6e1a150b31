"""Registry of frozen baseline restorers, in the style of timm's ``create_model``.

Each name maps to a :class:`RestorerConfig` (plain data) in :data:`RESTORERS` (a
:class:`ptg_refine._registry.Registry`; ``sci`` and ``iat`` are aliases of ``sci_medium`` and ``iat_lol_v1``).
``create_restorer`` builds the network, loads weights (bundled, or a user file), zeroes subnormal weights and
freezes the module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from torch import nn

from .._frozen import freeze
from .._registry import Registry
from ..diagnostics import flush_subnormals_
from ._common import read_state_dict
from .classic import Gamma, Identity
from .iat import IAT
from .sci import SCI
from .sgz import SGZ
from .zero_dce import ZeroDCE
from .zero_dce_pp import ZeroDCEPP

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


@dataclass(frozen=True)
class RestorerConfig:
    """What ``create_restorer`` needs to know about one name.

    builder: callable(**kwargs) -> nn.Module (kwargs of ``create_restorer`` are passed on).
    licence: licence of the default weights ("n/a" for weight-free restorers).
    params: number of parameters of the built module (buffers not counted).
    weights: default weights file: a file name in ``restorers/weights/`` when ``bundled``, else a path.
    bundled: True when ``weights`` ships inside the package.
    original: the authors' checkpoint, relative to ``shared/weights/`` (used by the convert script,
        tests and benchmarks); None for weight-free restorers.
    source: "repo @ commit : path" of the authors' checkpoint, for messages and attribution.
    """

    builder: Callable[..., nn.Module]
    licence: str = "n/a"
    params: int = 0
    weights: str | None = None
    bundled: bool = False
    original: str | None = None
    source: str = ""

    @property
    def needs_weights(self) -> bool:
        return self.weights is not None or self.original is not None


_SCI_SRC = "vis-opt-group/SCI @ 9d28a3f1 : weights/{}.pt"
_IAT_SRC = "cuiziteng/Illumination-Adaptive-Transformer @ c7647226 : IAT_enhance/{}"


def _sci(variant: str) -> RestorerConfig:
    return RestorerConfig(SCI, "MIT", 258, f"sci_{variant}.safetensors", True, f"sci/{variant}.pt",
                          _SCI_SRC.format(variant))


def _iat(variant: str, file: str) -> RestorerConfig:
    return RestorerConfig(IAT, "Apache-2.0", 91_154, f"iat_{variant}.safetensors", True, f"iat/{file}",
                          _IAT_SRC.format(file))


RESTORERS: Registry[RestorerConfig] = Registry("restorer")
RESTORERS.register("identity", RestorerConfig(Identity))
RESTORERS.register("gamma", RestorerConfig(Gamma))
RESTORERS.register("zero_dce", RestorerConfig(
    ZeroDCE, "CC BY-NC 4.0", 79_416, None, False, "zero_dce/Epoch99.pth",
    "Li-Chongyi/Zero-DCE @ e0f4adc5 : Zero-DCE_code/snapshots/Epoch99.pth"))
RESTORERS.register("zero_dce_pp", RestorerConfig(
    ZeroDCEPP, "CC BY-NC 4.0", 10_561, None, False, "zero_dce_pp/Epoch99.pth",
    "Li-Chongyi/Zero-DCE_extension @ 09f202b6 : Zero-DCE++/snapshots_Zero_DCE++/Epoch99.pth"))
RESTORERS.register("sgz", RestorerConfig(
    SGZ, "MIT", 10_561, "sgz.safetensors", True, "sgz/Epoch99.pth",
    "ShenZheng2000/Semantic-Guided-Low-Light-Image-Enhancement @ 94dedc53 : weight/Epoch99.pth"))
RESTORERS.register("sci_easy", _sci("easy"))
RESTORERS.register("sci_medium", _sci("medium"), aliases=("sci",))  # "sci": the default of the authors' test.py
RESTORERS.register("sci_difficult", _sci("difficult"))
RESTORERS.register("iat_lol_v1", _iat("lol_v1", "best_Epoch_lol_v1.pth"), aliases=("iat",))
RESTORERS.register("iat_lol_v2", _iat("lol_v2", "best_Epoch_lol.pth"))
RESTORERS.register("iat_exposure", _iat("exposure", "best_Epoch_exposure.pth"))


def list_restorers(pattern: str | None = None, aliases: bool = False) -> list[str]:
    """Registered names matching the shell-style ``pattern`` (e.g. ``"sci*"``), sorted. Aliases (``sci`` =
    ``sci_medium``, ``iat`` = ``iat_lol_v1``) are listed only with ``aliases=True``; both kinds work everywhere."""
    return RESTORERS.list(pattern, aliases=aliases)


def get_restorer_config(name: str) -> RestorerConfig:
    """The :class:`RestorerConfig` of ``name`` (an alias gives its target's)."""
    return RESTORERS.get(name)


def register_restorer(name: str, builder: Callable[..., nn.Module] | None = None, *, aliases=(),
                      overwrite: bool = False, **config):
    """Register ``builder`` under ``name`` (and ``aliases``); usable as a decorator::

        @register_restorer("my_net", licence="MIT", weights="/path/to/my_net.safetensors")
        class MyNet(nn.Module): ...

    ``config`` takes the other :class:`RestorerConfig` fields. A taken name raises ValueError unless
    ``overwrite=True``.
    """
    return RESTORERS.register_builder(name, builder, lambda fn: RestorerConfig(fn, **config), aliases=aliases,
                                      overwrite=overwrite)


def create_restorer(name: str, weights: str | Path | None = None, **kwargs) -> nn.Module:
    """Build a frozen restorer: eval mode, ``requires_grad=False``, subnormal weights zeroed.

    Contract: input (B, 3, H, W) float in [0, 1] -> output (B, 3, H, W) in [0, 1].
    ``weights``: a ``.safetensors`` file or an authors' ``.pth``/``.pt`` checkpoint; defaults to the
    bundled file. Other kwargs go to the network's constructor (e.g. ``target=`` for ``gamma``). A sibling
    network is its own name: ``create_restorer("sci_easy")`` (``list_restorers("sci*")``). The module's
    ``zoo_name`` is ``name`` when ``create_restorer(name)`` alone rebuilds it (no weights file, no kwargs), else
    None: a :class:`~ptg_refine.PTGRefiner` records it in config.json as its F.
    """
    if "variant" in kwargs:  # the variant is part of the name: say which name to use
        wanted = f"{name}_{kwargs['variant']}"
        fix = f"create_restorer({wanted!r})" if wanted in RESTORERS else f"a name of list_restorers({name + '*'!r})"
        raise TypeError(f"create_restorer() has no variant= argument: the variant is part of the name; use {fix}")
    cfg = get_restorer_config(name)
    rebuildable = weights is None and not kwargs  # create_restorer(name) alone builds the same F again
    model = cfg.builder(**kwargs)
    if weights is None and cfg.needs_weights:
        if cfg.weights is None:
            file = Path(cfg.original).name if cfg.original else "weights.pth"
            raise ValueError(
                f"{name}: the weights are licensed {cfg.licence}, which does not allow bundling them in this "
                f"package. Get the authors' checkpoint ({cfg.source}) and pass its path: "
                f"create_restorer({name!r}, weights='/path/to/{file}')"
            )
        weights = WEIGHTS_DIR / cfg.weights if cfg.bundled else Path(cfg.weights)
    if weights is not None:
        if not cfg.needs_weights:
            raise ValueError(f"{name} has no weights; got weights={weights!r}")
        convert = getattr(model, "convert_state_dict", lambda sd: sd)
        state = read_state_dict(weights)
        try:
            model.load_state_dict(convert(state), strict=True)
        except (RuntimeError, KeyError, ValueError) as e:
            msg = " ".join(str(e).split())
            raise ValueError(f"{weights} does not hold weights of restorer {name!r}: "
                             f"{msg[:300]}{' ...' if len(msg) > 300 else ''}") from e
    flush_subnormals_(model)
    if not hasattr(model, "name"):
        model.name = name  # e.g. for reprs and reports
    # the name a refiner records for this F (config.json), so that loading rebuilds it; None: pass F again
    model.zoo_name = name if rebuildable else None
    return freeze(model)
