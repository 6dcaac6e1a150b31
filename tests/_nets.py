"""Small shared builders for the tiling / precision / export tests."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from conftest import DATA

from ptg_refine import RefinementNetwork

REAL_LOWLIGHT = DATA / "real_lowlight"


def trained_looking(prior_dim: int = 32, seed: int = 0, **kwargs) -> RefinementNetwork:
    """R whose output heads have PyTorch's default random init instead of zeros, so R changes its input
    (a fresh R returns F's output exactly, which would make every comparison trivially pass)."""
    torch.manual_seed(seed)
    net = RefinementNetwork(prior_dim=prior_dim, **kwargs).eval()
    for head in (net.decoder.mask_head, net.decoder.residual_head):
        head.reset_parameters()
    return net


def real_photo(h: int, w: int) -> torch.Tensor:
    """A (1,3,h,w) crop of a real low-light photo (LOL eval15 ``1.png``); the test is skipped where the data
    root is absent (a test about a real image never runs on stand-in random values)."""
    path = REAL_LOWLIGHT / "lol_eval15_low" / "1.png"
    if not path.is_file():
        pytest.skip(f"real low-light photo {path} not present (set PTG_DATA_DIR)")
    img = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255
    return torch.from_numpy(img[:h, :w].copy()).permute(2, 0, 1)[None]
