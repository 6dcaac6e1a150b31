"""The ``ptg-refine`` command (``python -m ptg_refine.cli``): one module per subcommand in this package, each with
``HELP``, ``add_arguments(parser)`` and ``run(args)``, listed in :data:`COMMANDS`; shared helpers in ``_common``.
:data:`DESCRIPTION` is the top-level help."""
from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from ._common import (EXAMPLES_DIR, EXIT_ERROR, EXIT_INTERRUPTED, CLIError, HelpFormatter, error_message,
                      show_warning)

__all__ = ["main", "build_parser", "error_message", "CLIError", "EXAMPLES_DIR", "COMMANDS"]

# one module per subcommand (``HELP``, ``add_arguments(parser)``, ``run(args)``), in the order of the help
COMMANDS = ("enhance", "eval", "train", "synth", "demo")
DESCRIPTION = ("ptg-refine: enhance | eval | train | synth | demo. Run \"ptg-refine COMMAND -h\" for the options of a "
               "command. Exit status: 0 success; 1 some images of an enhance batch failed (listed at the end); 2 an "
               "error stopped the command (one \"error: ...\" line naming the file; --debug also prints the "
               "traceback); 130 interrupted.")
def command_module(name: str):
    """The module of subcommand ``name`` (imported on first use: ``ptg-refine --help`` imports none of them)."""
    return importlib.import_module(f"{__name__}.{name}")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ptg-refine")
    except PackageNotFoundError:
        return "unknown"


def _run(name):
    def run(args):
        return command_module(name).run(args)
    return run


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser. ``only``: add the options of that command alone (the others' options need heavy
    imports, e.g. train's come from TrainConfig), so that ``ptg-refine --help`` stays fast."""
    parser = argparse.ArgumentParser(prog="ptg-refine", description=DESCRIPTION, formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--debug", action="store_true", help="on an error, print the full traceback too")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = command_module(name)  # light: each imports its heavy parts inside add_arguments / run
        p = sub.add_parser(name, help=module.HELP, description=module.HELP, formatter_class=HelpFormatter)
        if only is None or only == name:
            module.add_arguments(p)
        p.set_defaults(func=_run(name))
    return parser


def _command_in(argv) -> str | None:
    for token in argv:
        if not token.startswith("-"):
            return token if token in COMMANDS else None
    return None


def _expected(e: BaseException) -> bool:
    names = {"DecompressionBombError", "SafetensorError"}
    return isinstance(e, (CLIError, OSError, ValueError, TypeError, RuntimeError, MemoryError, ArithmeticError,
                          ImportError)) or type(e).__name__ in names


def main(argv=None) -> int:
    from .._inference_precision import set_passive_wait
    from .._outputs import interrupt_on_terminate

    set_passive_wait()  # before torch loads its OpenMP runtime (unless the user chose a wait policy)
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = build_parser(only=_command_in(argv) or "").parse_args(argv)
    debug = getattr(args, "debug", False)
    with warnings.catch_warnings():
        if not debug:
            warnings.showwarning = show_warning
        try:
            with interrupt_on_terminate():  # kill PID: temporaries removed as for Ctrl-C
                rc = args.func(args)
        except KeyboardInterrupt:
            print("error: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        except Exception as e:  # noqa: BLE001
            if not _expected(e):
                raise  # a bug: keep the traceback
            if debug:
                import traceback

                traceback.print_exc()
            print(f"error: {error_message(e)}", file=sys.stderr)
            return EXIT_ERROR
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
