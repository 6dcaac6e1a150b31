"""What ships in the package, checked on the shipped files themselves (issue 9): the refiner checkpoints and the
bundled restorer weights hold no subnormal floats, and the parameter counts the zoo states are the real ones."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import ptg_refine
from ptg_refine.restorers import count_subnormals, get_restorer_config, list_restorers

PACKAGE = Path(ptg_refine.__file__).resolve().parent
CHECKPOINTS = sorted(PACKAGE.glob("pretrained/*/model.safetensors"))
BUNDLED = sorted(PACKAGE.glob("restorers/weights/*.safetensors"))


def test_there_are_shipped_files():
    assert len(CHECKPOINTS) >= 2 and len(BUNDLED) >= 3


@pytest.mark.parametrize("path", CHECKPOINTS + BUNDLED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_weights_hold_no_subnormals(path):
    """The files as shipped (not weights built or flushed at load time): subnormal float32 values would make
    every convolution that reads them slow on many x86 CPUs."""
    state = load_file(str(path))
    assert any(t.is_floating_point() for t in state.values())
    assert count_subnormals(state) == 0


def test_shipped_refiners_load_without_subnormals():
    for name in ptg_refine.list_pretrained():
        refiner = ptg_refine.PTGRefiner.from_pretrained(name)
        assert count_subnormals(refiner.net) == 0, name


@pytest.mark.parametrize("name", list_restorers())
def test_restorer_config_params_is_the_real_count(name):
    cfg = get_restorer_config(name)
    module = cfg.builder()
    assert sum(p.numel() for p in module.parameters()) == cfg.params, name


def test_count_subnormals_sees_them():
    """The check above can fail: a state_dict with a subnormal value is counted."""
    tiny = torch.finfo(torch.float32).tiny
    assert count_subnormals({"w": torch.tensor([tiny / 4, tiny, 0.0, 1.0])}) == 1
