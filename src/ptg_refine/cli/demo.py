"""``ptg-refine demo``: the local web demo. Its code is :mod:`ptg_refine.demo` (``add_arguments(parser)`` and
``run(args) -> int``), imported only when this subcommand runs (or shows its help), so the other commands never pay
for it or its optional dependencies."""
from __future__ import annotations

HELP = "a local web demo: upload a photo, pick a refiner and an exposure, compare before and after"


def _module():
    """ptg_refine.demo, or None when this installation has none (an error inside it is raised as it is)."""
    import importlib

    try:
        return importlib.import_module("ptg_refine.demo")
    except ModuleNotFoundError as e:
        if e.name != "ptg_refine.demo":
            raise
        return None


def add_arguments(p):
    module = _module()
    if module is not None:  # without it, run says so
        module.add_arguments(p)


def run(args):
    from ._common import CLIError

    module = _module()
    if module is None:
        raise CLIError("this installation of ptg-refine has no demo module (ptg_refine.demo)")
    return module.run(args)
