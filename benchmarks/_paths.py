"""Where the benchmarks find their inputs: the data root is PTG_DATA_DIR (default ../shared/data beside the
checkout); the authors' original weights lie beside it (its parent's weights/). Light on purpose: the speed
workers import it in processes whose memory they measure."""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("PTG_DATA_DIR", REPO.parent / "shared" / "data"))
SHARED = DATA.parent
RESULTS = REPO / "benchmarks" / "results"  # every results file of the benchmarks and tools/ship.py
