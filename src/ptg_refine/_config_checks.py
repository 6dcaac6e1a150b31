"""Checks of a refiner's configuration (config.json, or PTGRefiner's arguments) before anything is built from it:
unknown or misspelt keys (with the close names, as the registries propose them), wrong types (naming the field,
the value and the expected type) and values out of bounds (a ``num_blocks`` of 1e8 would otherwise try to build a
network of many gigabytes). What is allowed comes from the fields of :class:`ptg_refine.refiner.RefinerConfig`
(their annotations and their ``setting(limits=..., choices=...)`` metadata): the callers pass those fields, so a
new field is checked with no edit here. No torch here."""
from __future__ import annotations

from pathlib import Path

from ._registry import Registry

_TYPE_NAMES = {"int": "an integer", "float": "a number", "str": "a string", "bool": "a boolean",
               "None": "null (None)"}


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_IS = {"int": _is_int, "float": _is_number, "str": lambda v: isinstance(v, str), "bool": lambda v: isinstance(v, bool),
       "None": lambda v: v is None}


def _types(f) -> list[str]:
    """The types a field's annotation allows (``from __future__ import annotations``: a string such as
    ``"int | str | None"``); ``[]`` for ``Any`` or anything else this module does not check."""
    text = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    names = [t.strip() for t in text.replace("Optional[", "").rstrip("]").split("|")]
    return names if all(n in _IS for n in names) else []


def _interval(f) -> str:
    lo, hi = f.metadata["limits"]
    low_open, high_open = f.metadata.get("open", (False, False))
    return f"{'(' if low_open else '['}{lo}, {hi}{')' if high_open else ']'}"


def expected_text(f) -> str:
    """What field ``f`` accepts, in words: ``an integer``, ``"refiner", "restorer", "scene" or a number in (0, 1)``."""
    parts = []
    for t in _types(f):
        if t == "str" and f.metadata.get("choices"):
            parts += [f'"{c}"' for c in f.metadata["choices"]]
        elif t in ("int", "float") and f.metadata.get("limits") and "str" in _types(f):
            parts.append(f"{_TYPE_NAMES[t]} in {_interval(f)}")
        else:
            parts.append(_TYPE_NAMES[t])
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


def _in_limits(f, value) -> bool:
    lo, hi = f.metadata["limits"]
    low_open, high_open = f.metadata.get("open", (False, False))
    return (lo < value if low_open else lo <= value) and (value < hi if high_open else value <= hi)


def check_refiner_values(values: dict, where: str, fields) -> None:
    """Types, choices and bounds of the refiner settings in ``values`` (those present; ``where`` opens each message,
    e.g. the config.json file) against the RefinerConfig ``fields``: TypeError naming the field, the value and the
    expected type; ValueError for a string outside its choices or a number outside its limits."""
    by_name = {f.name: f for f in fields}
    for name, value in values.items():
        f = by_name.get(name)
        types = _types(f) if f is not None else []
        if not types:
            continue
        kind = next((t for t in types if _IS[t](value)), None)
        if kind is None:
            raise TypeError(f"{where}: {name} must be {expected_text(f)}, got {value!r} ({type(value).__name__})")
        choices, limits = f.metadata.get("choices"), f.metadata.get("limits")
        if kind == "str" and choices and value not in choices:
            raise ValueError(f"{where}: {name} must be {expected_text(f)}, got {value!r}")
        if kind in ("int", "float") and limits and not _in_limits(f, value):
            raise ValueError(f"{where}: {name} = {value} is out of bounds: it must lie in {_interval(f)}")


def check_refiner_config(config: dict, path: str | Path, fields, error=ValueError) -> None:
    """A config.json read from ``path`` (or ``__init__``'s arguments): no key outside the RefinerConfig ``fields``
    (a misspelt one gets the close names proposed; ``error``: its exception type), then
    :func:`check_refiner_values`. ValueError / TypeError naming the file."""
    names: Registry = Registry("key")
    for f in fields:
        names.register(f.name, f.name)
    unknown = [k for k in config if k not in names]
    if unknown:
        raise error(f"{path}: {names.unknown_message(unknown[0])}"
                    + (f" (also unknown: {', '.join(map(repr, unknown[1:]))})" if len(unknown) > 1 else ""))
    check_refiner_values(config, str(path), fields)
