"""The data of the committed recipes of tools/ship.py (also used by ``python -m benchmarks calibration``): SYNTHETIC
pairs made by ``ptg-refine synth`` from the clean photos under the data root (PTG_DATA_DIR, default ../shared/data),
made once per ``--work`` folder."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from benchmarks._runs import DATA

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
                subprocess.run(["ptg-refine", "synth", "--clean", str(clean), "--out", str(out), *extra], check=True)
            finally:
                os.unlink(work / f".{name}.lock")
    return {k: work / k for k in specs}


def prepare_camera_data(work: Path) -> Path:
    """The calibrated SYNTHETIC training pairs (``camera`` preset; made once)."""
    out = work / "train_camera"
    if not out.is_dir():
        subprocess.run(["ptg-refine", "synth", "--clean", str(DATA / "clean" / "train"), "--out", str(out),
                        "--variants", "2", "--seed", "0", "--max-side", "512", "--preset", "camera", "--no-progress"],
                       check=True)
    return out
