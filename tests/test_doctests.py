"""The examples in the package's docstrings run and give what they show (part of `python -m pytest -q tests`,
so CI runs them)."""
from __future__ import annotations

import doctest
import importlib
import pkgutil
import sys

import pytest

import ptg_refine


def _modules() -> list[str]:
    names = ["ptg_refine"]
    for info in pkgutil.walk_packages(ptg_refine.__path__, "ptg_refine."):
        if info.name != "ptg_refine.__main__":
            names.append(info.name)
    return sorted(names)


def _with_examples(name: str) -> bool:
    module = importlib.import_module(name)
    return any(t.examples for t in doctest.DocTestFinder(exclude_empty=True).find(module))


MODULES = [m for m in _modules() if _with_examples(m)]


@pytest.mark.skipif(sys.flags.optimize >= 2, reason="python -OO strips the docstrings: there are no examples to run")
def test_doctests_are_collected():
    # the examples README and docstrings point to; a module whose examples vanish should be noticed
    assert {"ptg_refine.restorers", "ptg_refine.refiner", "ptg_refine.priors.registry",
            "ptg_refine.modules.per_position_filter"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_module_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False,
                             report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples of {name} failed (see above)"
