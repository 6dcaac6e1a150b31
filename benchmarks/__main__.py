"""One entry point for the benchmarks: ``python -m benchmarks <command> [options]`` from the repository root.

    python -m benchmarks                 # list the commands
    python -m benchmarks speed --help    # a command's own options (each script's header has its exact command)
    python -m benchmarks readme          # copy the results tables into README.md (--check: fail when stale)

Every command is one module of the ``benchmarks`` package (also ``python -m benchmarks.<module>``), run from the
repository root; each writes its figures under ``benchmarks/results/`` with this command in the file's header.
Release tooling (train and ship a bundled refiner, write its model card) is ``python -m tools.ship`` and
``python -m tools.model_card``. Training studies (``quality``, ``calibration``) key their runs
by a hash of the run's configuration and record the commit they ran on (``_runs.run_config``), so a rerun skips
only runs whose configuration is unchanged.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# command: (script module, entry function)
COMMANDS = {
    "speed": ("speed", "main"),
    "speed-fast-r": ("speed_fast_r", "main"),
    "restorers": ("restorer_speed", "main"),
    "quality": ("quality", "main"),
    "calibration": ("prior_calibration", "main"),
    "ship-summary": ("ship_summary", "main"),
    "real-photos": ("real_photo_stats", "main"),
    "faults": ("fault_cases", "main_"),
    "digests": ("output_digests", "main"),
    "step-time": ("train_step_time", "main"),
    "readme": ("readme_tables", "main"),
    "fewshot": ("fewshot", "main"),
    "real-vs-synthetic": ("real_vs_synthetic", "main"),
    "real": ("real_pairs", "main"),
    "adapt-time": ("adapt_time", "main"),
    "paper-protocol": ("paper_protocol", "main"),
    "exposure-policy": ("exposure_policy", "main"),
    "fast-r": ("fast_r", "main"),
    "do-no-harm": ("do_no_harm", "main"),
}
# commands that only render committed results (no measurement): they run on an uncommitted tree
REPORTS = {"readme", "ship-summary"}


def summary(script: str) -> str:
    """First line of a script's docstring, read without importing it (imports pull in torch)."""
    import ast

    doc = ast.get_docstring(ast.parse((HERE / f"{script}.py").read_text())) or ""
    return doc.splitlines()[0] if doc else ""


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: python -m benchmarks <command> [options]   (python -m benchmarks <command> --help)", "",
             "commands:"]
    lines += [f"  {name:<{width}}  {summary(script)}" for name, (script, _) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "list"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        import difflib

        close = difflib.get_close_matches(name, COMMANDS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        print(f"python -m benchmarks: unknown command {name!r}{hint} (commands: {', '.join(COMMANDS)})",
              file=sys.stderr)
        return 2
    script, entry = COMMANDS[name]
    if name not in REPORTS and not {"-h", "--help", "--report", "--check", "--fit"} & set(rest):
        from benchmarks._runs import code_version

        code_version()  # refuses an uncommitted tree before the work starts, not when the results are written
    module = importlib.import_module(f"{__package__ or 'benchmarks'}.{script}")
    sys.argv = [f"python -m benchmarks {name}", *rest]  # the scripts parse sys.argv
    result = getattr(module, entry)()
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
