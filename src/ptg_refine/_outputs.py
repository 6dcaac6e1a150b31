"""How every results file of the package is written, so that no result is ever lost or left half-written.

* :func:`atomic_file` / :func:`write_text_atomic`: the content goes to a hidden temporary file next to the target
  (``.NAME.tmp-PID``), is flushed to disk, and only then takes the target's name: a full disk or a kill during
  the write leaves the previous file (or none) intact, never a truncated one.
* ``overwrite=False`` publishes the temporary file with a hard link, which fails if the name exists: an existing
  file is never replaced, even by another process that created it after the caller's own "already exists"
  check (two ``enhance`` runs into one folder).
* :func:`remove_stale_temporaries`: the ``.NAME.tmp-PID`` files of processes that are gone (killed runs).
* :func:`refuse_existing_results`: the "pass --overwrite" check of commands that write into a folder.
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
from pathlib import Path

_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS, errno.EXDEV}
_TMP = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)$")


class OutputExistsError(FileExistsError):
    """An output file exists and ``overwrite`` was not given; the message names it."""


def _exists(path: Path) -> OutputExistsError:
    return OutputExistsError(f"{path} already exists (written meanwhile by another run?) and was not replaced "
                             "(--overwrite / overwrite=True replaces it)")


def temporary_name(path: str | Path) -> Path:
    """The hidden temporary file next to ``path`` that this process writes first: ``.NAME.tmp-PID``."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


@contextlib.contextmanager
def _naming(path: Path):
    """An OSError without a file name (e.g. "No space left on device" from a write) names ``path``."""
    try:
        yield
    except OSError as e:
        if e.filename is not None or isinstance(e, OutputExistsError):
            raise
        raise type(e)(e.errno, e.strerror or str(e), str(path)) from e


_OS_ERROR = re.compile(r"\(os error (\d+)\)")


@contextlib.contextmanager
def writing(path: str | Path):
    """Around a write of ``path`` by a library that reports I/O failures without the file (safetensors:
    "Error while serializing: I/O error: ... (os error 28)"; an OSError without a file name): raise an OSError
    naming ``path`` with the system's message (e.g. "No space left on device") instead."""
    try:
        with _naming(path):
            yield
    except OSError:
        raise
    except Exception as e:  # noqa: BLE001  (SafetensorError, RuntimeError: only those carrying an OS error)
        m = _OS_ERROR.search(str(e))
        if m is None:
            raise
        code = int(m[1])
        raise OSError(code, os.strerror(code), str(path)) from e


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(tmp: str | Path, path: str | Path, overwrite: bool = True) -> Path:
    """Give the finished temporary file ``tmp`` the name ``path`` in one step. ``overwrite``: replace an existing
    file (``os.replace``); else :class:`OutputExistsError` if ``path`` exists, checked and claimed atomically (a
    hard link; on file systems without them, an exclusive create then a rename). ``tmp`` is gone afterwards."""
    tmp, path = Path(tmp), Path(path)
    try:
        if overwrite:
            os.replace(tmp, path)
            return path
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise _exists(path) from None
        except OSError as e:
            if e.errno not in _NO_LINKS:
                raise
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                raise _exists(path) from None
            os.replace(tmp, path)
        return path
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_file(path: str | Path, mode: str = "w", overwrite: bool = True, **open_kwargs):
    """``with atomic_file(path) as f: f.write(...)``: ``f`` is a temporary file next to ``path`` that is flushed
    to disk and published under ``path`` (see :func:`publish`) when the block ends without an error; on an error
    it is removed and ``path`` stays as it was. The folder must exist."""
    path = Path(path)
    tmp = temporary_name(path)
    try:
        with _naming(path), open(tmp, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        publish(tmp, path, overwrite)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str, overwrite: bool = True, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (:func:`atomic_file`)."""
    with atomic_file(path, "w", overwrite=overwrite, encoding=encoding) as f:
        f.write(text)
    return Path(path)


def save_atomic(write, path: str | Path, overwrite: bool = True) -> Path:
    """``write(tmp_path)`` writes the file (e.g. ``image.save``); then it is flushed to disk and published under
    ``path`` (:func:`publish`); on an error the temporary file is removed and ``path`` stays as it was."""
    path = Path(path)
    tmp = temporary_name(path)
    try:
        with _naming(path):
            write(tmp)
            _fsync(tmp)
        publish(tmp, path, overwrite)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # another user's process (or cannot tell): leave its file alone
    return True


def remove_stale_temporaries(paths) -> list[Path]:
    """Remove the ``.NAME.tmp-PID`` files next to each of ``paths`` (output files about to be written) left by
    processes that no longer run (a killed run). Files of running processes are left alone. Returns the removed
    files."""
    removed, seen = [], set()
    for path in paths:
        path = Path(path)
        if not path.parent.is_dir():
            continue
        for tmp in path.parent.glob(f".{glob_escape(path.name)}.tmp-*"):
            m = _TMP.match(tmp.name)
            if m is None or m["name"] != path.name or tmp in seen or not tmp.is_file() or _alive(int(m["pid"])):
                continue
            seen.add(tmp)
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


@contextlib.contextmanager
def interrupt_on_terminate():
    """Inside the block a SIGTERM (``kill PID``) raises KeyboardInterrupt, so that the temporary files and folders
    of the writes in progress are removed on the way out, as for Ctrl-C (a SIGKILL cannot be caught: its leftovers
    are removed by the next run, :func:`remove_stale_temporaries`). Only in the main thread; the previous handler
    is restored afterwards."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def refuse_existing_results(folder: str | Path, names, option: str = "--out", overwrite: bool = False) -> list[str]:
    """The entries of ``names`` present in ``folder``. Without ``overwrite``, FileExistsError naming them when
    there are any (an earlier run's results: pass --overwrite to replace them, or choose another folder)."""
    folder = Path(folder)
    found = [n for n in names if (folder / n).exists() or (folder / n).is_symlink()]
    if found and not overwrite:
        raise OutputExistsError(f"{option} {folder} already holds results ({', '.join(found)}): pass --overwrite "
                                "to replace them, or choose another folder")
    return found
