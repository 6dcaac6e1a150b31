"""What ships in the package, checked on the shipped files themselves: the refiner checkpoints and the
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


def _real_validated():
    from ptg_refine._pretrained import get_pretrained_config

    return [n for n in ptg_refine.list_pretrained() if get_pretrained_config(n).validation["data"].startswith("REAL")]


@pytest.mark.parametrize("name", _real_validated())
def test_shipped_refiner_reproduces_its_real_pair_figures(name, data_dir):
    """Loaded from the package with its shipped exposure, a refiner selected on real pairs scores what its ship
    record says on the first two real IR-RGB val pairs (so the weights, config.json and exposure that ship are the
    ones that were measured)."""
    import json

    from ptg_refine.data import PairedFolder
    from ptg_refine.evaluate import evaluate_pairs

    record = json.loads((PACKAGE.parents[1] / "benchmarks" / "results" / f"ship_{name}.json").read_text())
    # refiners selected on LOL val (pairs laid out outside the data root) record their IR-RGB val scores too
    scored = record.get("irrgb_val") or record["val"]
    pairs = PairedFolder(data_dir / "real_pairs" / "ir_rgb" / "val").pairs[:2]
    res = evaluate_pairs(pairs, refiner=ptg_refine.PTGRefiner.from_pretrained(name), progress=False)
    for row in res["images"]:
        i = scored["name"].index(row["name"])
        assert row["psnr_F+R"] == pytest.approx(scored["psnr_F+R"][i], abs=1e-3), (name, row["name"])
        assert row["psnr_F"] == pytest.approx(scored["psnr_F"][i], abs=1e-3), (name, row["name"])


def test_shipped_exposure_settings_are_valid_and_indexed():
    from ptg_refine._pretrained import get_pretrained_config
    from ptg_refine.exposure import check_exposure

    for name in ptg_refine.list_pretrained():
        refiner = ptg_refine.PTGRefiner.from_pretrained(name)
        assert check_exposure(refiner.exposure) == refiner.exposure == get_pretrained_config(name).exposure, name
        assert get_pretrained_config(name).trained_on, name


@pytest.mark.parametrize("name,f_name", [("iat-lol", "iat"), ("sci-lol", "sci")])
def test_the_paper_protocol_refiners_load_and_run(name, f_name):
    """iat-lol / sci-lol: R trained on the REAL LOL train pairs around its frozen F, with the bilinear R_d; they
    load from the package and change F's output on a dark image."""
    from ptg_refine._pretrained import get_pretrained_config

    cfg = get_pretrained_config(name)
    assert cfg.restorer == f_name and any("LOL" in t for t in cfg.trained_on)
    refiner = ptg_refine.PTGRefiner.from_pretrained(name)
    assert refiner.config["upsample"] == "bilinear" and refiner.config["restorer"] == f_name
    low = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(0)) * 0.15
    out = refiner.enhance(low, precision="fp32")
    assert out.shape == low.shape and bool(torch.isfinite(out).all())
    assert float((out - refiner.restorer(low).clamp(0, 1)).abs().mean()) > 1e-3  # R is trained: not F's output
