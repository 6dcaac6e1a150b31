"""``ptg-refine demo``: the local web demo. Its code is :mod:`ptg_refine.demo` (``add_arguments(parser)`` and
``run(args) -> int``), imported only when this subcommand runs (or shows its help), so the other commands never pay
for it or its optional dependencies."""
from __future__ import annotations

HELP = "a local web demo: upload a photo, pick a refiner and an exposure, compare before and after"


def _module():
    import importlib

    return importlib.import_module("ptg_refine.demo")


def add_arguments(p):
    try:
        module = _module()
    except ModuleNotFoundError as e:
        if e.name != "ptg_refine.demo":
            raise
        return  # this installation has no demo: ``run`` says so
    module.add_arguments(p)


def run(args):
    from ._common import CLIError

    try:
        module = _module()
    except ModuleNotFoundError as e:
        if e.name != "ptg_refine.demo":
            raise
        raise CLIError("this installation of ptg-refine has no demo module (ptg_refine.demo)") from e
    return module.run(args)
