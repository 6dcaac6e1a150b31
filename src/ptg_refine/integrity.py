"""Checkpoint integrity: checksums and config files of saved refiner folders.

* **Checksums.** :func:`write_checksums` stores the SHA-256 of a folder's weight and state files
  (``*.safetensors``, ``*.pt``, ``*.pth``, ``*.bin``) in ``checksums.json``; :func:`verify_checksums` recomputes
  them and raises :class:`CorruptCheckpointError` naming the first file that differs (zeroed bytes inside a
  ``model.safetensors`` load without error, but to different weights). Folders without ``checksums.json``
  (older checkpoints, hand-made folders) are accepted unverified, with a :class:`CheckpointWarning` from
  :func:`check_pretrained_folder`.
* **Configs.** :func:`read_config` / :func:`check_pretrained_folder` check a folder before ``from_pretrained``.

Training checkpoints (run fingerprints, resuming past a corrupt checkpoint) build on this in
:mod:`ptg_refine.training.resume`.
"""
from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

CHECKSUMS_NAME = "checksums.json"
CHECKSUM_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")


class CorruptCheckpointError(OSError):
    """A checkpoint file is damaged (checksum mismatch, unreadable, missing); the message names the file."""


class CheckpointWarning(UserWarning):
    """A corrupt checkpoint was skipped, or a checkpoint could not be checked."""


# -- checksums --------------------------------------------------------------------------------------
def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def write_checksums(folder: str | Path, also=()) -> Path:
    """Write ``folder/checksums.json``: SHA-256 of every weight / state file in ``folder`` (see the module
    docstring), and of the files named in ``also`` (e.g. a training state's JSON). Written via a temporary file
    and a rename; returns its path."""
    folder = Path(folder)
    files = sorted({p for p in folder.iterdir() if p.is_file() and p.suffix in CHECKSUM_SUFFIXES}
                   | {folder / name for name in also})
    data = {"algorithm": "sha256", "files": {p.name: file_sha256(p) for p in files}}
    from ._outputs import write_text_atomic

    return write_text_atomic(folder / CHECKSUMS_NAME, json.dumps(data, indent=1))


def verify_checksums(folder: str | Path) -> bool:
    """Check the files listed in ``folder/checksums.json``. Returns True when all match, False when the folder
    has no ``checksums.json`` (nothing to check); raises :class:`CorruptCheckpointError` naming the file when one
    is missing or differs, or when ``checksums.json`` itself is unreadable.

    Call it before loading weights from a folder, e.g. at the top of ``PTGRefiner.from_pretrained`` for a
    local folder."""
    folder = Path(folder)
    listing = folder / CHECKSUMS_NAME
    if not listing.is_file():
        return False
    try:
        data = json.loads(listing.read_text())
        files = data["files"]
        if not isinstance(files, dict):
            raise TypeError("'files' is not a mapping")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise CorruptCheckpointError(f"{listing} is damaged ({type(e).__name__}: {e})") from e
    for name, digest in files.items():
        path = folder / name
        if not path.is_file():
            raise CorruptCheckpointError(f"{path} is missing (listed in {listing})")
        if file_sha256(path) != digest:
            raise CorruptCheckpointError(f"{path} is corrupt: its SHA-256 differs from the one in {listing}")
    return True


def read_config(folder_or_file: str | Path) -> dict:
    """A checkpoint's ``config.json`` as a dict; ValueError naming the file when it is not valid JSON or not a
    JSON object (instead of a bare JSONDecodeError / AttributeError)."""
    path = Path(folder_or_file)
    if path.is_dir():
        path = path / "config.json"
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not a text (JSON) file: {e}") from e
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(config, dict):
        raise ValueError(f"{path} must hold a JSON object ({{\"name\": value, ...}}), got a JSON "
                         f"{type(config).__name__}")
    return config


def check_pretrained_folder(folder: str | Path) -> dict:
    """Before ``from_pretrained`` on a local folder: its ``config.json`` is a valid JSON object and its files match
    their checksums (when recorded). Returns the config."""
    folder = Path(folder)
    config = read_config(folder) if (folder / "config.json").is_file() else {}
    if not verify_checksums(folder):
        warnings.warn(f"{folder} has no {CHECKSUMS_NAME}: damage to its weights (e.g. zeroed bytes) cannot be "
                      "detected. If the folder is intact, record its checksums with "
                      "ptg_refine.integrity.write_checksums(folder)", CheckpointWarning, stacklevel=1)  # here:
        # one place, so a folder checked twice (the CLI, then from_pretrained) warns once
    return config
