"""One small registry for every kind of named thing in ptg-refine: priors, restorers, shipped refiners.

A :class:`Registry` maps names (and aliases of names) to a config object, plain data that says how to build the
thing; building stays with each kind (``create_prior``, ``create_restorer``, ``PTGRefiner.from_pretrained``).
It guards against silent overwrites, lists names by pattern, resolves aliases and, for an unknown name,
proposes the close ones. No torch here: the CLI lists names without importing it.
"""
from __future__ import annotations

import difflib
import fnmatch
from typing import Callable, Generic, Iterable, TypeVar

C = TypeVar("C")


class Registry(Generic[C]):
    """Names and aliases -> configs of one ``kind`` (used in messages: "unknown prior 'x'").

    Args:
        kind: what is registered, for error messages (``"prior"``, ``"restorer"``, ``"shipped refiner"``).

    Example:
        >>> reg = Registry("colour")
        >>> reg.register("red", {"rgb": (1, 0, 0)}, aliases=("r",))
        {'rgb': (1, 0, 0)}
        >>> reg.register("green", {"rgb": (0, 1, 0)})
        {'rgb': (0, 1, 0)}
        >>> reg.list(), reg.list("g*"), reg.list(aliases=True)
        (['green', 'red'], ['green'], ['green', 'r', 'red'])
        >>> reg.get("r") is reg.get("red"), reg.resolve("r"), "r" in reg
        (True, 'red', True)
        >>> reg.get("gren")
        Traceback (most recent call last):
        ...
        ValueError: unknown colour 'gren'; did you mean 'green'? available: green, red
        >>> reg.register("red", {"rgb": (2, 0, 0)})
        Traceback (most recent call last):
        ...
        ValueError: colour 'red' is already registered; pass overwrite=True to replace it, or choose another name
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._configs: dict[str, C] = {}
        self._aliases: dict[str, str] = {}  # alias -> canonical name

    def register(self, name: str, config: C, *, aliases: Iterable[str] = (), overwrite: bool = False) -> C:
        """Register ``config`` under ``name`` (and ``aliases``, which resolve to ``name``); returns ``config``.

        A name or alias already taken (as a name or as an alias) raises ValueError unless ``overwrite=True``:
        then a registered name gets the new config (its aliases stay), a taken alias is re-pointed, and a
        registered name given here as an alias is removed (with its own aliases)."""
        aliases = tuple(aliases)
        for n in (name, *aliases):
            if not isinstance(n, str) or not n:
                raise TypeError(f"a {self.kind} name must be a non-empty string, got {n!r}")
        taken = [n for n in (name, *aliases) if n in self]
        if taken and not overwrite:
            what = ", ".join(repr(n) if n in self._configs else f"{n!r} (an alias of {self._aliases[n]!r})"
                             for n in taken)
            raise ValueError(f"{self.kind} {what} is already registered; pass overwrite=True to replace it, "
                             "or choose another name")
        for n in taken:
            if n in self._aliases:
                del self._aliases[n]
            elif n != name:
                self.remove(n)
        self._configs[name] = config
        self._aliases.update({a: name for a in aliases})
        return config

    def register_builder(self, name: str, builder, make_config: Callable[[Callable], C], *,
                         aliases: Iterable[str] = (), overwrite: bool = False):
        """Register ``make_config(builder)`` under ``name``; returns ``builder``. With ``builder`` None, returns a
        decorator doing the same (``@register_xxx("name", ...)`` above a function or class). The shape of the
        public ``register_prior`` / ``register_restorer``."""

        def add(fn):
            self.register(name, make_config(fn), aliases=aliases, overwrite=overwrite)
            return fn

        return add(builder) if builder is not None else add

    def remove(self, name: str) -> None:
        """Forget ``name`` (with its aliases) or the alias ``name``; no error when it is unknown."""
        if self._aliases.pop(name, None) is None and self._configs.pop(name, None) is not None:
            self._aliases = {a: n for a, n in self._aliases.items() if n != name}

    def list(self, pattern: str | None = None, *, aliases: bool = False) -> list[str]:
        """Sorted names matching the shell-style ``pattern`` (``fnmatch``: ``"sci*"``); aliases only with
        ``aliases=True``."""
        names = [*self._configs, *(self._aliases if aliases else ())]
        return sorted(n for n in names if pattern is None or fnmatch.fnmatchcase(n, pattern))

    def aliases_of(self, name: str) -> list[str]:
        """The aliases that resolve to ``name``, sorted."""
        return sorted(a for a, n in self._aliases.items() if n == name)

    def resolve(self, name: str) -> str:
        """The registered name ``name`` stands for (itself, or the target of an alias); unknown: ValueError
        naming the close matches and everything available."""
        if name in self._configs:
            return name
        if name in self._aliases:
            return self._aliases[name]
        raise ValueError(self.unknown_message(name))

    def get(self, name: str) -> C:
        """The config of ``name`` (aliases resolved)."""
        return self._configs[self.resolve(name)]

    def unknown_message(self, name) -> str:
        """``unknown <kind> 'x'; did you mean 'y'? available: ...`` (the close-name suggestion, timm style)."""
        close = [repr(c) for c in difflib.get_close_matches(str(name), self.list(aliases=True), n=3, cutoff=0.6)]
        hint = "; "
        if close:
            hint = f"; did you mean {close[0] if len(close) == 1 else ', '.join(close[:-1]) + ' or ' + close[-1]}? "
        return f"unknown {self.kind} {name!r}{hint}available: {', '.join(self.list()) or 'none'}"

    def __contains__(self, name) -> bool:
        return name in self._configs or name in self._aliases

    def __len__(self) -> int:
        return len(self._configs)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.list()})"
