"""The refiners shipped inside the package, as data: one folder ``pretrained/<name>/`` each (config.json +
model.safetensors + checksums.json + README.md) and ``pretrained/index.json`` with what a folder does not hold
(description, training data, validation means, licences, the default flag). What config.json holds (F, the prior,
its path, the exposure setting) is read from there: each value is stored once. ``tools/ship.py`` writes an index
entry when it ships a refiner. No torch here: the CLI reads the default refiner's name from it.

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
    """One shipped refiner: its entry of ``pretrained/index.json`` and, from its config.json, ``restorer`` (zoo name of
    F), ``prior`` / ``prior_mode`` (G's spec and path) and ``exposure`` (its inference exposure setting,
    :mod:`ptg_refine.exposure`).

    description: one line. iterations: training steps. validation: ``data`` (what the validation pairs are:
    SYNTHETIC), ``n`` images and mean ``psnr_F``, ``psnr_F+R``, ``ssim_F``, ``ssim_F+R`` (from
    ``benchmarks/results/ship_<name>.json``). licence: of R's weights (``R``), F's (``F``) and G's (``prior``).
    default: the refiner of ``ptg-refine enhance`` and ``torch.hub`` without a name (exactly one entry).
    trained_on: what R was trained on, in order (e.g. SYNTHETIC pairs, then REAL pairs of one camera): a refiner is
    a domain adapter, so this says where it is expected to help.
    """

    restorer: str
    prior: str
    prior_mode: str
    exposure: str | float
    description: str = ""
    iterations: int = 0
    validation: dict = field(default_factory=dict)
    licence: dict = field(default_factory=dict)
    default: bool = False
    trained_on: tuple = ()


FROM_CONFIG = ("restorer", "prior", "prior_mode", "exposure")  # PretrainedConfig fields read from config.json


def _shipped() -> Registry[PretrainedConfig]:
    registry: Registry[PretrainedConfig] = Registry("shipped refiner")
    for name, entry in json.loads(INDEX_FILE.read_text())["refiners"].items():
        config = json.loads((PRETRAINED_DIR / name / "config.json").read_text())
        registry.register(name, PretrainedConfig(**entry, **{k: config[k] for k in FROM_CONFIG}))
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
    registry = _shipped()  # one read of the index and the config.json files
    names = [n for n in registry.list() if registry.get(n).default]
    if len(names) != 1:
        raise RuntimeError(f"{INDEX_FILE} must mark exactly one refiner as default, not {names}")
    return names[0]
