import os
from pathlib import Path

# Before torch starts OpenMP: spinning waiters hold the cores a busy shared CI machine needs.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the test suite never reaches a model hub

import pytest  # noqa: E402
import torch  # noqa: E402

# The tests use tiny tensors: one thread is as fast as several and never waits for a partner thread that lost
# its core on a shared 2-core CI machine (that made 2-thread runs up to 20x slower here).
torch.set_num_threads(1)

REPO_ROOT = Path(__file__).resolve().parents[1]
# the data root: PTG_DATA_DIR, default ../shared/data relative to the checkout; the authors' weights and the
# reference outputs lie beside it (its parent's weights/ and specs/)
DATA = Path(os.environ.get("PTG_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))
WEIGHTS, SPECS = DATA.parent / "weights", DATA.parent / "specs"


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def data_dir():
    """The data root (PTG_DATA_DIR); tests needing it skip only where it is absent (e.g. when testing an
    installed package outside the repository)."""
    if not DATA.is_dir():
        pytest.skip(f"data root {DATA} not present (set PTG_DATA_DIR)")
    return DATA
