"""Training checkpoints of :class:`~ptg_refine.training.Trainer` (PTG-RM's refiner R, Xu et al., CVPR 2024):
writing them atomically, resuming from them, and refusing or skipping the wrong ones.

* **Save.** :func:`save_checkpoint` writes ``out_dir/checkpoints/step_<n>``: the ``save_pretrained`` files of the
  refiner (R only; F's weights too in joint mode, ``restorer.safetensors``) and the training state (optimiser,
  scheduler, AMP scaler, the RNG states of every rank, history, config, run fingerprint) as
  ``training_state.json`` + ``training_state.safetensors`` (:mod:`ptg_refine._safe_state`), with checksums
  (:func:`ptg_refine.integrity.write_checksums`), through a temporary folder and an atomic rename; then
  ``checkpoints/latest`` names it and only the newest ``keep_checkpoints`` are kept.
* **No code from a checkpoint runs.** The state is JSON and safetensors, never a pickle; a ``training_state.pt``
  (the pickle of unreleased early versions, or a planted one) is never loaded: such a checkpoint is refused by name.
* **Run fingerprints.** :func:`run_fingerprint` records what a training run was made of: F (name and a hash of
  its weights), the prior (spec, weights hash), R's configuration and the training pairs (names and image
  hashes). :func:`fingerprint_differences` lists what differs, so ``--resume`` refuses to continue a run on
  another F, prior or data.
* **Resume.** :func:`resume` loads a checkpoint into a Trainer after checking its settings, process count and
  fingerprint. :func:`find_intact_checkpoint` walks ``checkpoints/latest`` and then older ``step_*`` folders,
  newest first, and returns the first intact one, warning with the name of each corrupt file it passes;
  :func:`clean_stale_temporaries` removes the ``.tmp_step_*`` folders a kill during a write leaves behind.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import warnings
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .._outputs import write_text_atomic, writing
from .._safe_state import load_state, save_state, state_paths
from ..integrity import CheckpointWarning, CorruptCheckpointError, verify_checksums, write_checksums
from .._loading import WEIGHTS_NAME
from . import distributed
from .cache import image_hash, model_fingerprint
from .config import RESUMABLE_CHANGES

STATE_NAME = "training_state"  # training_state.json + training_state.safetensors (no pickle)
PICKLED_STATE_NAME = "training_state.pt"  # unreleased early versions: a pickle, never loaded (refused by name)
RESTORER_NAME = "restorer.safetensors"  # F's weights, joint fine-tuning only


# -- save and resume --------------------------------------------------------------------------------
def save_restorer(refiner, folder: Path) -> None:
    """F's weights (joint fine-tuning) beside the refiner's files, as ``restorer.safetensors``."""
    save_file({k: v.detach().contiguous() for k, v in refiner.restorer.state_dict().items()},
              str(folder / RESTORER_NAME))


def _rng_state(trainer) -> dict:
    return {"generator": trainer.generator.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def _set_rng_state(trainer, rng: dict) -> None:
    trainer.generator.set_state(rng["generator"])
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])


def save_checkpoint(trainer) -> Path | None:
    """Write ``out_dir/checkpoints/step_<n>`` of ``trainer`` (see the module docstring); every rank takes part
    (their RNG states are gathered), rank 0 writes. Returns the folder on rank 0, None on the others."""
    if trainer.out_dir is None:
        raise ValueError("this Trainer has no out_dir")
    rng = distributed.gather(_rng_state(trainer))
    path = None
    if trainer.rank == 0:
        root = trainer.out_dir / "checkpoints"
        root.mkdir(parents=True, exist_ok=True)
        path = root / f"step_{trainer.step:07d}"
        tmp = root / f".tmp_step_{trainer.step:07d}_{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:  # a failed write (e.g. a full disk) names the file and leaves no partial checkpoint
            with writing(path / WEIGHTS_NAME):
                trainer.refiner.save_pretrained(tmp)
            if trainer.config.joint:
                with writing(path / RESTORER_NAME):
                    save_restorer(trainer.refiner, tmp)
            state = {"step": trainer.step, "config": asdict(trainer.config),
                     "optimizer": trainer.optimizer.state_dict(), "scheduler": trainer.scheduler.state_dict(),
                     "scaler": trainer.scaler.state_dict(), "rng": rng, "history": trainer.history,
                     "train_time": trainer.train_time, "world_size": trainer.world,
                     "fingerprint": run_fingerprint(trainer)}
            with writing(path / f"{STATE_NAME}.safetensors"):
                files = save_state(state, tmp, STATE_NAME)
            write_checksums(tmp, also=[f.name for f in files])
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
        write_text_atomic(root / "latest", path.name)
        kept = sorted(p for p in root.glob("step_*") if p.is_dir())
        for old in kept[:-max(1, trainer.config.keep_checkpoints)]:
            shutil.rmtree(old, ignore_errors=True)
    distributed.barrier()
    return path


def resume(trainer, checkpoint=None) -> int:
    """Load a checkpoint into ``trainer`` (default: its ``out_dir/checkpoints/latest``); returns the step to
    continue from. Returns 0 and changes nothing when there is no checkpoint yet. Checksums are verified; a damaged
    newest checkpoint is reported by file name and the previous intact one is used; stale ``.tmp_step_*`` folders
    are removed. Refuses a checkpoint of a run on another F, prior, R configuration, training data, training
    settings (but :data:`~ptg_refine.training.config.RESUMABLE_CHANGES`) or number of processes."""
    joint = trainer.config.joint
    if checkpoint is None:
        if trainer.out_dir is None:
            raise ValueError("resume() needs a checkpoint path or a Trainer with out_dir")
        if trainer.rank == 0:
            clean_stale_temporaries(trainer.out_dir / "checkpoints")
        found = find_intact_checkpoint(trainer.out_dir / "checkpoints", joint=joint)
        if found is None:
            return 0
        checkpoint, (state, net_state, restorer_state) = found
    else:
        checkpoint = Path(checkpoint)
        state, net_state, restorer_state = load_training_checkpoint(checkpoint, joint=joint)
    saved, now = state["config"], asdict(trainer.config)
    diff = {k: (saved.get(k), now[k]) for k in now if k not in RESUMABLE_CHANGES and saved.get(k) != now[k]}
    if diff:
        raise ValueError(f"cannot resume {checkpoint}: training settings differ from the checkpoint "
                         f"(setting: (checkpoint, now)): {diff}")
    if state["world_size"] != trainer.world:
        raise ValueError(f"{checkpoint} was written by {state['world_size']} processes, now {trainer.world}; "
                         "resume with the same number of processes")
    check_run_fingerprint(trainer, state, checkpoint)
    trainer.refiner.net.load_state_dict(net_state)
    if joint:
        trainer.refiner.restorer.load_state_dict(restorer_state)
    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer.scheduler.load_state_dict(state["scheduler"])
    trainer.scaler.load_state_dict(state["scaler"])
    _set_rng_state(trainer, state["rng"][trainer.rank])
    trainer.step, trainer.history, trainer.train_time = state["step"], state["history"], state["train_time"]
    return trainer.step


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


# refiner settings that only change inference (enhance's output brightness), never training: a run may resume with
# another value
INFERENCE_ONLY = frozenset({"exposure"})


def fingerprint_differences(saved: dict, now: dict) -> list[str]:
    """Human-readable differences between two :func:`run_fingerprint` results (empty when they agree)."""
    out = []
    for key in now:
        a, b = saved.get(key), now.get(key)
        if key == "refiner_config" and isinstance(a, dict) and isinstance(b, dict):
            out += [f"refiner {k}: {a.get(k)!r} (checkpoint) vs {b.get(k)!r} (now)"
                    for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k) and k not in INFERENCE_ONLY]
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
                      "training data cannot be checked against it", CheckpointWarning, stacklevel=4)
        return
    diff = fingerprint_differences(saved, run_fingerprint(trainer))
    if diff:
        raise ValueError(f"cannot resume {checkpoint}: it was trained with another restorer, prior or data — "
                         + "; ".join(diff) + ". Resume with the same settings, or start a new run "
                         "(another --out, or --overwrite)")


# -- loading and fallback ---------------------------------------------------------------------------
def clean_stale_temporaries(checkpoints_dir: str | Path) -> list[Path]:
    """Remove ``.tmp_step_*`` folders and ``.latest_*`` / ``.latest.tmp-*`` files left in ``checkpoints_dir`` by a
    run killed while writing a checkpoint (only one run may write into a folder at a time). Returns what was
    removed."""
    root = Path(checkpoints_dir)
    removed = []
    if not root.is_dir():
        return removed
    for p in sorted(root.glob(".tmp_step_*")) + sorted(root.glob(".latest_*")) + sorted(root.glob(".latest.tmp-*")):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        removed.append(p)
    return removed


def read_training_state(checkpoint: str | Path, state_name: str = STATE_NAME) -> dict:
    """The training state of a checkpoint folder (tensors on the CPU), without running any code from its files:
    ``STATE_NAME.json`` + ``.safetensors``. Checksums are not verified here (see :func:`load_training_checkpoint`).
    FileNotFoundError when there is no state; :class:`CorruptCheckpointError` naming the file when it is unreadable,
    or when the state is a pickle (``training_state.pt``: never loaded, it could run code)."""
    checkpoint = Path(checkpoint)
    skeleton, tensors = state_paths(checkpoint, state_name)
    pickled = checkpoint / PICKLED_STATE_NAME
    if skeleton.is_file() or tensors.is_file():
        path = skeleton
        try:
            state = load_state(checkpoint, state_name)
        except (ValueError, OSError) as e:
            raise CorruptCheckpointError(f"{skeleton.parent / (state_name + '.*')} is unreadable "
                                         f"({' '.join(str(e).split())[:300]})") from e
    elif pickled.is_file():
        raise CorruptCheckpointError(
            f"{pickled} is refused: a training state that is a pickle could run code when loaded, so it is never "
            f"read (this version writes {skeleton.name} + {tensors.name}); if you did not write this file, do not "
            "trust this folder")
    else:
        raise FileNotFoundError(f"{checkpoint} is not a training checkpoint (no {skeleton.name} + {tensors.name})")
    if not isinstance(state, dict) or not isinstance(state.get("step"), int):
        raise CorruptCheckpointError(f"{path} is unreadable (not a training state: no step)")
    return state


def load_training_checkpoint(checkpoint: str | Path, joint: bool = False, state_name: str = STATE_NAME,
                             weights_name: str = WEIGHTS_NAME, restorer_name: str = RESTORER_NAME):
    """(training state dict, R's state_dict, F's state_dict or None) of a checkpoint folder, on the CPU, after
    verifying its checksums; no code from its files runs (:func:`read_training_state`). FileNotFoundError when
    the folder is no training checkpoint; :class:`CorruptCheckpointError` naming the file when one is damaged."""
    checkpoint = Path(checkpoint)
    skeleton, tensors = state_paths(checkpoint, state_name)
    if not (skeleton.is_file() or tensors.is_file() or (checkpoint / PICKLED_STATE_NAME).is_file()):
        raise FileNotFoundError(f"{checkpoint} is not a training checkpoint (no {skeleton.name})")
    verify_checksums(checkpoint)
    state = read_training_state(checkpoint, state_name)

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
                          CheckpointWarning, stacklevel=4)
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
                          f"the previous intact one, {folder}", CheckpointWarning, stacklevel=4)
        return folder, loaded
    if problems:
        raise CorruptCheckpointError(f"no intact checkpoint in {checkpoints_dir}: {'; '.join(problems)}. Start a new "
                                     "run (another --out, or --overwrite)")
    return None
