"""What the subcommands share: the error type and its one-line messages, the help format, --threads / --device /
--precision, checks of files and output folders, and loading a refiner or a restorer."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples_data"
EXIT_FAILURES, EXIT_ERROR, EXIT_INTERRUPTED = 1, 2, 130


class CLIError(Exception):
    """An expected failure: printed as one ``error: ...`` line, exit status 2."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows "(default: X)" after every option that has a default worth showing (not None / False)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or isinstance(action.default, list) and not action.default:
            return action.help
        if isinstance(action, argparse._StoreFalseAction):  # "--no-flips (default: True)" would read backwards
            return action.help
        return super()._get_help_string(action)


def add_common(p, threads: bool = True):
    if threads:
        p.add_argument("--threads", type=int, default=None, help="number of CPU threads for torch "
                                                                 "(torch.set_num_threads; default: torch's choice)")
        # the commands that run models (the same ones that take --threads) choose where they run
        from .._device import DEVICE_HELP

        p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="on an error, print the full traceback too")


def set_threads(args):
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)


def device_of(args):
    """The torch.device of ``--device`` by the package's one rule (:func:`ptg_refine._device.resolve_device`;
    one error line when e.g. no GPU is there)."""
    from .._device import resolve_device

    return resolve_device(getattr(args, "device", "auto"), "--device")


def add_precision(p, default: str, note: str = ""):
    from .._inference_precision import PRECISION_HELP, PRECISIONS

    p.add_argument("--precision", choices=PRECISIONS, default=default, help=PRECISION_HELP + note)


def refiner_label(spec) -> str:
    """A short name of ``--refiner`` for comparison strips and output names: a shipped name or hub id as given, a
    folder by its name (``run/final`` by its run's name too)."""
    p = Path(str(spec))
    if not p.is_dir():
        return str(spec)
    p = p.resolve()
    return f"{p.parent.name}/{p.name}" if p.name == "final" and p.parent.name else p.name


def to_device(model, device):
    """``model`` (a PTGRefiner: F, G and R together; or a restorer module) moved to ``device``; None stays None."""
    return model.to(device) if hasattr(model, "to") and callable(model.to) else model


def check_file(path, option: str) -> None:
    """Before any long work: ``path`` (given with ``option``) is an existing file."""
    if path is None:
        return
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(f"{option} {str(p)!r} is a folder, not a file")
    if not p.is_file():
        raise FileNotFoundError(f"{option} {str(p)!r} does not exist")


def check_out(path, option: str = "--out"):
    from .._validation import check_output_dir

    return check_output_dir(path, option)


def flat(text: str, limit: int = 600) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + " ... (--debug for the full message)"


# the CLI's version of _hub.OFFLINE_ALTERNATIVES (which names Python arguments)
OFFLINE_ADVICE = ("Offline: pass the prior's weights as a local file with --prior-weights FILE (downloaded on a "
                  "machine with network access), or train with --prior efficientnet_lite0 (its weights ship with a "
                  "dependency) or --prior none.")


def error_message(e: BaseException) -> str:
    """One line for an exception, naming the file when the exception carries one."""
    from .._hub import OFFLINE_ALTERNATIVES, HubUnavailableError

    if isinstance(e, HubUnavailableError):  # prior weights offline: advise the CLI's options, in full
        return flat(str(e).replace(OFFLINE_ALTERNATIVES, OFFLINE_ADVICE), limit=1000)
    if isinstance(e, OSError) and e.filename and e.strerror:
        files = f"{e.filename}" + (f" -> {e.filename2}" if e.filename2 else "")
        return flat(f"{files}: {e.strerror}")
    if isinstance(e, MemoryError):
        return flat(f"out of memory{': ' + str(e) if str(e) else ''}; for large images try --tile 512 "
                    "--tile-restorer")
    return flat(str(e) or type(e).__name__)


def show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {flat(message, 2000)}", file=sys.stderr if file is None else file)


def build_restorer(name: str, weights: str | None = None):
    from ..restorers import create_restorer

    check_file(weights, "--restorer-weights")
    return create_restorer(name, weights=weights)


def open_refiner(refiner: str):
    """The one load pass of ``--refiner`` / ``--init-from`` (:func:`ptg_refine._loading.open_checkpoint`: resolved,
    fetched or found, checksums verified, config.json read and checked, once). A name that is neither a folder nor a
    shipped refiner nor a hub repo id leads with "unknown refiner"; a bare ``user/name`` that is neither a local
    folder nor a fetchable hub repo is reported as both."""
    from dataclasses import fields

    from .._loading import open_checkpoint
    from .._sources import resolve_source
    from ..refiner import RefinerConfig

    text = os.fspath(refiner) if isinstance(refiner, os.PathLike) else str(refiner)
    source = resolve_source(refiner)
    try:
        return open_checkpoint(source, fields(RefinerConfig), given=text)
    except OSError as e:
        if source.implied:
            raise FileNotFoundError(f"refiner {text!r}: there is no local folder {os.path.abspath(text)!r}, "
                                    f"and no hub repo {text!r} could be fetched ({error_message(e)}); "
                                    f"say which you mean: 'local-dir:PATH' or 'hf-hub:{text}'") from e
        raise


def load_refiner(refiner: str, restorer: str | None = None, restorer_weights: str | None = None,
                 prior_weights: str | None = None, **settings):
    """A trained refiner (``hf-hub:user/name``, ``local-dir:PATH`` or a folder, a shipped name: see
    :func:`ptg_refine._sources.resolve_source`) with F rebuilt from its config, or from ``restorer``; ``settings``
    replace the config's (e.g. ``exposure``). Loaded in one pass (:func:`open_refiner`)."""
    from ..refiner import PTGRefiner

    if restorer is None and restorer_weights is not None:
        raise CLIError("--restorer-weights needs --restorer NAME")
    check_file(prior_weights, "--prior-weights")
    checkpoint = open_refiner(refiner)
    kwargs = dict(settings)
    if prior_weights is not None:
        kwargs["prior_pretrained"] = prior_weights
    if restorer is not None:
        kwargs["restorer"] = build_restorer(restorer, restorer_weights)
    try:
        model = PTGRefiner.from_pretrained(checkpoint, **kwargs)
    except RuntimeError as e:  # e.g. num_blocks in config.json does not match the weights
        raise RuntimeError(f"refiner {checkpoint.source.location}: its weights do not fit its config.json "
                           f"({flat(e, 300)})") from e
    if model.restorer is None:
        raise CLIError(f"refiner {refiner!r} does not record its restorer F; pass --restorer NAME")
    return model  # (another --restorer than the refiner's own: from_pretrained warns)


def val_split_arg(text: str) -> int:
    """--val-split: an integer >= 2 (every N-th pair is held out)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected an integer >= 2 (every N-th pair is held out), got {text!r}")
    return value


VAL_SPLIT_HELP = ("every N-th pair of --pairs, in numeric name order starting with the first, is validation "
                  "(10: the LOL-v1 split of README: 49 of our485's 485 pairs)")


def argtype(parse):
    """An argparse type from a parser that raises ValueError (e.g. :func:`ptg_refine.exposure.parse_exposure`): its
    message becomes argparse's one error line."""
    def typed(text):
        try:
            return parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    typed.__name__ = getattr(parse, "__name__", "value")
    return typed
