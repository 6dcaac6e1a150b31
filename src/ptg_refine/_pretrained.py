"""The refiners shipped inside the package, as data: ``pretrained/index.json``, one entry per folder
``pretrained/<name>/`` (config.json + model.safetensors + checksums.json). ``tools/ship.py`` writes
an entry when it ships a refiner. No torch here: the CLI reads the default refiner's name from it.

>>> "sci-none" in list_pretrained() and default_pretrained() == "sci-none"
True
>>> cfg = get_pretrained_config("sci-none")
>>> cfg.restorer, cfg.prior, cfg.validation["psnr_F+R"] > cfg.validation["psnr_F"]
('sci', 'none:1280', True)
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ._registry import Registry

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
INDEX_FILE = PRETRAINED_DIR / "index.json"


@dataclass(frozen=True)
class PretrainedConfig:
    """One shipped refiner (an entry of ``pretrained/index.json``).

    restorer: zoo name of F (the folder's config.json records the same); prior / prior_mode: G's spec and path.
    description: one line. iterations: training steps. validation: ``data`` (what the validation pairs are:
    SYNTHETIC), ``n`` images and mean ``psnr_F``, ``psnr_F+R``, ``ssim_F``, ``ssim_F+R`` (from
    ``benchmarks/results/ship_<name>.json``). licence: of R's weights (``R``), F's (``F``) and G's (``prior``).
    default: the refiner of ``ptg-refine enhance`` and ``torch.hub`` without a name (exactly one entry).
    trained_on: what R was trained on, in order (e.g. SYNTHETIC pairs, then REAL pairs of one camera): a refiner is
    a domain adapter, so this says where it is expected to help. exposure: its inference exposure setting
    (:mod:`ptg_refine.exposure`, also in its config.json).
    """

    restorer: str
    prior: str
    prior_mode: str = "global"
    description: str = ""
    iterations: int = 0
    validation: dict = field(default_factory=dict)
    licence: dict = field(default_factory=dict)
    default: bool = False
    trained_on: tuple = ()
    exposure: str | float = "refiner"


def _shipped() -> Registry[PretrainedConfig]:
    registry: Registry[PretrainedConfig] = Registry("shipped refiner")
    for name, entry in json.loads(INDEX_FILE.read_text())["refiners"].items():
        registry.register(name, PretrainedConfig(**entry))
    return registry


def list_pretrained(pattern: str | None = None) -> list[str]:
    """Names of the refiners shipped inside the package (``PTGRefiner.from_pretrained(name)``) matching the
    shell-style ``pattern``, sorted."""
    return _shipped().list(pattern)


def get_pretrained_config(name: str) -> PretrainedConfig:
    """The index entry of shipped refiner ``name``; an unknown name raises ValueError with the close names."""
    return _shipped().get(name)


def is_pretrained(name) -> bool:
    return isinstance(name, str) and name in _shipped()


def unknown_pretrained_message(name, kind: str = "shipped refiner") -> str:
    """``unknown shipped refiner 'x'; did you mean 'y'? available: ...`` (``kind`` names what was asked for)."""
    registry = _shipped()
    registry.kind = kind
    return registry.unknown_message(name)


def default_pretrained() -> str:
    """The name of the default shipped refiner (the one entry with ``"default": true``)."""
    names = [n for n in list_pretrained() if get_pretrained_config(n).default]
    if len(names) != 1:
        raise RuntimeError(f"{INDEX_FILE} must mark exactly one refiner as default, not {names}")
    return names[0]
