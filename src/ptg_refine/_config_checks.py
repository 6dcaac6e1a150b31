"""Checks of a refiner's configuration (config.json, or PTGRefiner's arguments) before anything is built from it:
unknown or misspelt keys (with the close names, as the registries propose them), wrong types (naming the field,
the value and the expected type) and sizes out of bounds (a ``num_blocks`` of 1e8 would otherwise try to build a
network of many gigabytes). No torch here."""
from __future__ import annotations

from pathlib import Path

from ._registry import Registry

# inclusive bounds of R's size fields: far above anything trained here (width 16, 4 blocks), far below sizes that
# would not fit in memory (all at the maximum width and depth: about 95M parameters)
SIZE_LIMITS = {"prior_dim": (1, 8192), "width": (1, 256), "num_blocks": (1, 32), "heads": (1, 32),
               "kernel_size": (1, 15), "prior_hidden": (1, 4096), "embed_dim": (1, 1024),
               "prior_proj_dim": (1, 4096), "dense_hidden": (1, 512), "kernel_hidden": (1, 4096)}
FLOAT_LIMITS = {"ffn_expansion": (0.0, 16.0), "prior_dropout": (0.0, 1.0), "correction_bound": (0.0, 1.0)}  # (exclusive low, inclusive high)
OPTIONAL_STR = ("restorer", "prior")
STR_FIELDS = ("prior_mode", "prior_input", "upsample", "resolution")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _type_error(where: str, name: str, value, expected: str) -> TypeError:
    return TypeError(f"{where}: {name} must be {expected}, got {value!r} ({type(value).__name__})")


def check_refiner_values(values: dict, where: str) -> None:
    """Types and bounds of the refiner settings in ``values`` (those present; ``where`` opens each message, e.g.
    the config.json file): TypeError naming the field, the value and the expected type; ValueError for a size
    outside :data:`SIZE_LIMITS` / :data:`FLOAT_LIMITS`."""
    for name, value in values.items():
        if name in SIZE_LIMITS or name == "prior_seed":
            if name == "prior_proj_dim" and (value is None or value == "auto"):
                continue
            if name == "prior_proj_dim" and isinstance(value, str):  # a string, but not the one allowed
                raise ValueError(f"{where}: prior_proj_dim must be an integer, \"auto\" or null (None), got {value!r}")
            if name in ("prior_seed", "prior_dim", "kernel_hidden") and value is None:  # prior_dim None: inferred from the prior
                continue
            if not _is_int(value):
                expected = {"prior_proj_dim": "an integer, \"auto\" or null (None)",
                            "prior_seed": "an integer or null (None)"}.get(name, "an integer")
                raise _type_error(where, name, value, expected)
            if name == "prior_seed":
                continue
            lo, hi = SIZE_LIMITS[name]
            if not lo <= value <= hi:
                raise ValueError(f"{where}: {name} = {value} is out of bounds: it must lie in [{lo}, {hi}]")
        elif name in FLOAT_LIMITS:
            if name == "correction_bound" and value is None:
                continue
            if not _is_number(value):
                raise _type_error(where, name, value, "a number")
            lo, hi = FLOAT_LIMITS[name]
            if not lo < value <= hi and not (name == "prior_dropout" and value == 0):
                raise ValueError(f"{where}: {name} = {value} is out of bounds: it must lie in ({lo}, {hi}]"
                                 + (" (or 0)" if name == "prior_dropout" else ""))
        elif name in OPTIONAL_STR:
            if value is not None and not isinstance(value, str):
                raise _type_error(where, name, value, "a string or null (None)")
        elif name in STR_FIELDS:
            if not isinstance(value, str):
                raise _type_error(where, name, value, "a string")
        elif name == "exposure":
            if not (isinstance(value, str) or _is_number(value)):
                raise _type_error(where, name, value, "\"refiner\", \"restorer\", \"scene\" or a number in (0, 1)")
        elif name == "prior_layers":
            if value is not None and not isinstance(value, bool):
                raise _type_error(where, name, value, "true, false or null (None: decided by the prior)")
        elif name == "prior_pretrained":
            if value is not None and not isinstance(value, (str, bool)):
                raise _type_error(where, name, value, "a string (\"default\", a tag or a file), a boolean or null")


def check_refiner_config(config: dict, path: str | Path, known) -> None:
    """A config.json read from ``path``: no key outside ``known`` (the RefinerConfig fields; a misspelt one gets the
    close names proposed), then :func:`check_refiner_values`. ValueError / TypeError naming the file."""
    names: Registry = Registry("key")
    for name in known:
        names.register(name, name)
    unknown = [k for k in config if k not in names]
    if unknown:
        raise ValueError(f"{path}: {names.unknown_message(unknown[0])}"
                         + (f" (also unknown: {', '.join(map(repr, unknown[1:]))})" if len(unknown) > 1 else ""))
    check_refiner_values(config, str(path))
