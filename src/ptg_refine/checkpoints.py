"""Checkpoint integrity: checksums, run fingerprints, falling back past a corrupt checkpoint.

* **Checksums.** :func:`write_checksums` stores the SHA-256 of a folder's weight and state files
  (``*.safetensors``, ``*.pt``, ``*.pth``, ``*.bin``) in ``checksums.json``; :func:`verify_checksums` recomputes
  them and raises :class:`CorruptCheckpointError` naming the first file that differs (zeroed bytes inside a
  ``model.safetensors`` load without error, but to different weights). Folders without ``checksums.json``
  (older checkpoints, hand-made folders) are accepted unverified.
* **Run fingerprints.** :func:`run_fingerprint` records what a training run was made of: F (name and a hash of
  its weights), the prior (spec, weights hash), R's configuration and the training pairs (names and image
  hashes). :func:`fingerprint_differences` lists what differs, so ``--resume`` refuses to continue a run on
  another F, prior or data.
* **Resume.** :func:`find_intact_checkpoint` walks ``checkpoints/latest`` and then older ``step_*`` folders,
  newest first, and returns the first intact one, warning with the name of each corrupt file it passes;
  :func:`clean_stale_temporaries` removes the ``.tmp_step_*`` folders a kill during a write leaves behind.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path

CHECKSUMS_NAME = "checksums.json"
CHECKSUM_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")
STATE_NAME = "training_state.pt"        # = ptg_refine.training.STATE_NAME
WEIGHTS_NAME = "model.safetensors"      # = ptg_refine.refiner.WEIGHTS_NAME
RESTORER_NAME = "restorer.safetensors"  # = ptg_refine.training.RESTORER_NAME


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


def write_checksums(folder: str | Path) -> Path:
    """Write ``folder/checksums.json``: SHA-256 of every weight / state file in ``folder`` (see the module
    docstring). Written via a temporary file and a rename; returns its path."""
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in CHECKSUM_SUFFIXES)
    data = {"algorithm": "sha256", "files": {p.name: file_sha256(p) for p in files}}
    tmp = folder / f".{CHECKSUMS_NAME}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, folder / CHECKSUMS_NAME)
    return folder / CHECKSUMS_NAME


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
    verify_checksums(folder)
    return config


# -- run fingerprints -------------------------------------------------------------------------------
def _short(value):
    return value[:12] if isinstance(value, str) and len(value) == 64 else value


def run_fingerprint(trainer) -> dict:
    """What a :class:`~ptg_refine.training.Trainer` run is made of (JSON-able): F's name and weights hash, the
    prior's spec and weights hash, R's configuration and a hash of the training pairs (names + image hashes, in
    order). With ``joint`` F's weights change during training, so only its name is recorded. Cached on the
    trainer (F and G are frozen, the pairs fixed)."""
    cached = getattr(trainer, "_run_fingerprint", None)
    if cached is not None:
        return cached
    from .data.cache import image_hash, model_fingerprint

    refiner = trainer.refiner
    config = refiner.config
    restorer = refiner.restorer
    keys = getattr(trainer, "keys", None) or [image_hash(p.low) for p in trainer.train_pairs]
    pairs = hashlib.sha256()
    for pair, key in zip(trainer.train_pairs, keys):
        pairs.update(f"{pair.name}\0{key}\n".encode())
    joint = bool(getattr(trainer.config, "joint", False))
    fp = {
        "restorer": config.get("restorer") or getattr(restorer, "name", type(restorer).__name__),
        "restorer_weights": None if joint else model_fingerprint(restorer),
        "prior": config.get("prior") or getattr(refiner.prior, "name", type(refiner.prior).__name__),
        "prior_pretrained": config.get("prior_pretrained"),
        "prior_weights": model_fingerprint(refiner.prior),
        "refiner_config": {k: v for k, v in sorted(config.items())
                           if k not in ("restorer", "prior", "prior_pretrained")},
        "training_pairs": len(trainer.train_pairs),
        "training_pairs_sha256": pairs.hexdigest(),
    }
    trainer._run_fingerprint = fp
    return fp


_LABELS = {"restorer": "restorer F", "restorer_weights": "F's weights (sha256)", "prior": "prior",
           "prior_pretrained": "prior weights setting", "prior_weights": "prior's weights (sha256)",
           "training_pairs": "number of training pairs", "training_pairs_sha256": "training pairs (sha256)"}


def fingerprint_differences(saved: dict, now: dict) -> list[str]:
    """Human-readable differences between two :func:`run_fingerprint` results (empty when they agree)."""
    out = []
    for key in now:
        a, b = saved.get(key), now.get(key)
        if key == "refiner_config" and isinstance(a, dict) and isinstance(b, dict):
            out += [f"refiner {k}: {a.get(k)!r} (checkpoint) vs {b.get(k)!r} (now)"
                    for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        elif key == "restorer_weights" and (a is None or b is None):
            continue  # joint fine-tuning: F's weights are part of the checkpoint
        elif a != b:
            out.append(f"{_LABELS.get(key, key)}: {_short(a)!r} (checkpoint) vs {_short(b)!r} (now)")
    return out


def check_run_fingerprint(trainer, state: dict, checkpoint) -> None:
    """Raise ValueError listing the differences when ``state`` (a training state) was written by a run on another
    F, prior, R configuration or training data than ``trainer``'s; warn when it records no fingerprint."""
    saved = state.get("fingerprint")
    if saved is None:
        warnings.warn(f"{checkpoint} records no run fingerprint (written by an older version): F, the prior and the "
                      "training data cannot be checked against it", CheckpointWarning, stacklevel=3)
        return
    diff = fingerprint_differences(saved, run_fingerprint(trainer))
    if diff:
        raise ValueError(f"cannot resume {checkpoint}: it was trained with another restorer, prior or data — "
                         + "; ".join(diff) + ". Resume with the same settings, or start a new run "
                         "(another --out, or --overwrite)")


# -- loading and fallback ---------------------------------------------------------------------------
def clean_stale_temporaries(checkpoints_dir: str | Path) -> list[Path]:
    """Remove ``.tmp_step_*`` folders and ``.latest_*`` files left in ``checkpoints_dir`` by a run killed while
    writing a checkpoint (only one run may write into a folder at a time). Returns what was removed."""
    root = Path(checkpoints_dir)
    removed = []
    if not root.is_dir():
        return removed
    for p in sorted(root.glob(".tmp_step_*")) + sorted(root.glob(".latest_*")):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        removed.append(p)
    return removed


def load_training_checkpoint(checkpoint: str | Path, joint: bool = False, state_name: str = STATE_NAME,
                             weights_name: str = WEIGHTS_NAME, restorer_name: str = RESTORER_NAME):
    """(training state dict, R's state_dict, F's state_dict or None) of a checkpoint folder, on the CPU, after
    verifying its checksums. FileNotFoundError when the folder is no training checkpoint;
    :class:`CorruptCheckpointError` naming the file when one is damaged."""
    import pickle
    import zipfile

    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    checkpoint = Path(checkpoint)
    if not (checkpoint / state_name).is_file():
        raise FileNotFoundError(f"{checkpoint} is not a training checkpoint (no {state_name})")
    verify_checksums(checkpoint)
    try:
        state = torch.load(checkpoint / state_name, map_location="cpu", weights_only=False)
        if not isinstance(state, dict) or "step" not in state:
            raise ValueError("not a training state")
    except (EOFError, RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError, OSError, KeyError,
            AttributeError, IndexError) as e:
        raise CorruptCheckpointError(f"{checkpoint / state_name} is unreadable ({type(e).__name__}: "
                                     f"{' '.join(str(e).split())[:200]})") from e

    def weights(name):
        path = checkpoint / name
        if not path.is_file():
            raise CorruptCheckpointError(f"{path} is missing")
        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as e:
            raise CorruptCheckpointError(f"{path} is unreadable ({e})") from e

    return state, weights(weights_name), weights(restorer_name) if joint else None


def checkpoint_candidates(checkpoints_dir: str | Path) -> list[Path]:
    """The folder ``latest`` points at (if it exists), then every other ``step_*`` folder, newest first."""
    root = Path(checkpoints_dir)
    if not root.is_dir():
        return []
    steps = sorted((p for p in root.glob("step_*") if p.is_dir()), reverse=True)
    latest = root / "latest"
    first = []
    if latest.is_file():
        target = root / latest.read_text().strip()
        if target.is_dir():
            first = [target]
        else:
            warnings.warn(f"{latest} points at {target}, which does not exist; using the newest checkpoint present",
                          CheckpointWarning, stacklevel=3)
    return first + [p for p in steps if p not in first]


def find_intact_checkpoint(checkpoints_dir: str | Path, joint: bool = False, **names):
    """``(folder, (state, R weights, F weights or None))`` of the newest intact checkpoint in ``checkpoints_dir``
    (see :func:`checkpoint_candidates`), or None when there is none at all. Each corrupt checkpoint passed is
    reported with a :class:`CheckpointWarning` naming the file; if every checkpoint is corrupt,
    :class:`CorruptCheckpointError` lists them."""
    problems = []
    for folder in checkpoint_candidates(checkpoints_dir):
        try:
            loaded = load_training_checkpoint(folder, joint=joint, **names)
        except (CorruptCheckpointError, FileNotFoundError) as e:
            problems.append(str(e))
            continue
        if problems:
            warnings.warn(f"skipped {len(problems)} damaged checkpoint(s) — {'; '.join(problems)} — resuming from "
                          f"the previous intact one, {folder}", CheckpointWarning, stacklevel=3)
        return folder, loaded
    if problems:
        raise CorruptCheckpointError(f"no intact checkpoint in {checkpoints_dir}: {'; '.join(problems)}. Start a new "
                                     "run (another --out, or --overwrite)")
    return None
