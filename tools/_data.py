"""The data of the committed recipes of tools/ship.py (also used by ``python -m benchmarks calibration``): SYNTHETIC
pairs made by ``ptg-refine synth`` from the clean photos under the data root (PTG_DATA_DIR, default ../shared/data),
made once per ``--work`` folder."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._runs import DATA


def synth(clean: Path, out: Path, *extra: str) -> None:
    """``ptg-refine synth`` of this interpreter (the checkout on its path: a worktree's own code) into ``out``, made
    beside it and renamed when complete (an interrupted run leaves no half-made folder that would pass as made)."""
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "ptg_refine.cli", "synth", "--clean", str(clean), "--out", str(partial),
                    *extra], check=True)
    partial.rename(out)


def prepare_data(work: Path) -> dict:
    """The synthetic folders (made once; a lock file keeps two workers from making them together)."""
    specs = {"train2": (DATA / "clean" / "train", ["--variants", "2", "--seed", "0", "--max-side", "512"]),
             "val": (DATA / "clean" / "val", ["--variants", "1", "--seed", "1"])}
    work.mkdir(parents=True, exist_ok=True)
    for name, (clean, extra) in specs.items():
        out = work / name
        while not out.is_dir():
            try:
                fd = os.open(work / f".{name}.lock", os.O_CREAT | os.O_EXCL)
            except FileExistsError:
                time.sleep(5)
                continue
            os.close(fd)
            try:
                synth(clean, out, *extra)
            finally:
                os.unlink(work / f".{name}.lock")
    return {k: work / k for k in specs}


def prepare_camera_data(work: Path) -> Path:
    """The calibrated SYNTHETIC training pairs (``camera`` preset; made once)."""
    out = work / "train_camera"
    if not out.is_dir():
        synth(DATA / "clean" / "train", out, "--variants", "2", "--seed", "0", "--max-side", "512", "--preset",
              "camera", "--no-progress")
    return out
