"""Where the benchmarks find their inputs: the data root is PTG_DATA_DIR (default ../shared/data beside the
checkout; the LOL training pairs: PTG_LOL_DIR, default data/lol_v1_train in the checkout); the authors' original weights lie beside it (its parent's weights/). Light on purpose: the speed
workers import it in processes whose memory they measure."""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("PTG_DATA_DIR", REPO.parent / "shared" / "data"))
SHARED = DATA.parent
# the LOL-v1 training split (485 real pairs), laid out on demand (too large for the data root) by
# <data root>/real_pairs/lol_v1_train/get_lol_v1_train.py into this ignored folder of the checkout
LOL = Path(os.environ.get("PTG_LOL_DIR", REPO / "data" / "lol_v1_train"))
LOL_VAL_EVERY = 10  # its fixed split (SOURCES.md there): every 10th id in numeric order is val (49), the rest train
RESULTS = REPO / "benchmarks" / "results"  # every results file of the benchmarks and tools/ship.py
