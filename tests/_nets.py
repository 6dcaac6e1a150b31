"""Small shared builders for the tiling / precision / export tests."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from conftest import DATA

from ptg_refine.testing import trained_looking  # noqa: F401  (re-exported for the tests)

REAL_LOWLIGHT = DATA / "real_lowlight"


def real_photo(h: int, w: int) -> torch.Tensor:
    """A (1,3,h,w) crop of a real low-light photo (LOL eval15 ``1.png``); the test is skipped where the data
    root is absent (a test about a real image never runs on stand-in random values)."""
    path = REAL_LOWLIGHT / "lol_eval15_low" / "1.png"
    if not path.is_file():
        pytest.skip(f"real low-light photo {path} not present (set PTG_DATA_DIR)")
    img = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255
    return torch.from_numpy(img[:h, :w].copy()).permute(2, 0, 1)[None]
