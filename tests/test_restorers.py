"""Tests of ptg_refine.restorers: registry, exactness against the authors' outputs, contract, freezing."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from ptg_refine.restorers import (
    count_subnormals,
    create_restorer,
    flush_subnormals_,
    get_restorer_config,
    list_restorers,
    register_restorer,
)
from ptg_refine.restorers._common import read_state_dict
from ptg_refine.restorers.registry import RESTORERS, WEIGHTS_DIR
from conftest import SPECS, WEIGHTS

needs_originals = pytest.mark.skipif(not (WEIGHTS.is_dir() and SPECS.is_dir()),
                                     reason=f"the authors' weights {WEIGHTS} / reference outputs {SPECS} are absent "
                                            "(they lie beside the data root, PTG_DATA_DIR)")

NETWORKS = ["zero_dce", "zero_dce_pp", "sgz", "sci_easy", "sci_medium", "sci_difficult", "iat_lol_v1"]
BUNDLED = sorted(n for n in list_restorers() if get_restorer_config(n).bundled)
NOT_BUNDLED = ["zero_dce", "zero_dce_pp"]


def make(name: str) -> nn.Module:
    """Default weights for bundled/weight-free names; the shared original for CC BY-NC ones."""
    if name in NOT_BUNDLED:
        if not WEIGHTS.is_dir():
            pytest.skip(f"{name} weights are not bundled and {WEIGHTS} is absent (beside PTG_DATA_DIR)")
        return create_restorer(name, weights=WEIGHTS / get_restorer_config(name).original)
    return create_restorer(name)


@pytest.fixture(scope="module")
def references() -> list[dict[str, torch.Tensor]]:
    return [load_file(p) for p in sorted((SPECS / "reference").glob("*.safetensors"))]


def test_list_restorers():
    names = list_restorers()
    assert names == sorted(names)
    assert {"identity", "gamma", "zero_dce", "zero_dce_pp", "sgz", "sci_easy", "sci_medium",
            "sci_difficult", "iat_lol_v1", "iat_lol_v2", "iat_exposure"} <= set(names)
    assert "sci" not in names and "iat" not in names  # aliases: listed only on request
    assert set(list_restorers(aliases=True)) == set(names) | {"sci", "iat"}
    assert list_restorers("iat*") == ["iat_exposure", "iat_lol_v1", "iat_lol_v2"]


def test_unknown_name_lists_available_and_proposes_close_names():
    with pytest.raises(ValueError, match="unknown restorer 'zero_dce_plus'; did you mean 'zero_dce_pp'.*"
                                         "available: .*sci_medium"):
        create_restorer("zero_dce_plus")


def test_aliases_and_no_variant_argument():
    for alias, target in [("sci", "sci_medium"), ("iat", "iat_lol_v1")]:
        assert get_restorer_config(alias) is get_restorer_config(target) and RESTORERS.resolve(alias) == target
    sci, medium = create_restorer("sci"), create_restorer("sci_medium")
    assert sci.state_dict().keys() == medium.state_dict().keys()
    assert all(torch.equal(sci.state_dict()[k], v) for k, v in medium.state_dict().items())
    # one naming scheme: the variant is part of the name, and the error says which name to use
    with pytest.raises(TypeError, match=r"no variant= argument.*use create_restorer\('sci_easy'\)$"):
        create_restorer("sci", variant="easy")
    with pytest.raises(TypeError, match=r"use a name of list_restorers\('sci\*'\)$"):
        create_restorer("sci", variant="hard")


def test_register_restorer():
    @register_restorer("test_half")
    class Half(nn.Module):
        def forward(self, x):
            return x / 2

    try:
        m = create_restorer("test_half")
        assert "test_half" in list_restorers() and not m.training
        assert torch.equal(m(torch.ones(1, 3, 2, 2)), torch.full((1, 3, 2, 2), 0.5))
        with pytest.raises(ValueError, match="restorer 'test_half' is already registered; pass overwrite=True"):
            register_restorer("test_half", Half)
        with pytest.raises(ValueError, match="'sci' \\(an alias of 'sci_medium'\\) is already registered"):
            register_restorer("my_sci", Half, aliases=("sci",))
        register_restorer("test_half", Half, overwrite=True, aliases=("test_halve",))
        assert torch.equal(create_restorer("test_halve")(torch.ones(1, 3, 2, 2)), torch.full((1, 3, 2, 2), 0.5))
    finally:
        RESTORERS.remove("test_half")
    assert "test_half" not in list_restorers() and "test_halve" not in RESTORERS


@needs_originals
@pytest.mark.parametrize("name", NETWORKS)
def test_reproduces_original_outputs(name, references):
    """Our implementation (original weights, subnormals zeroed) matches the authors' code within 1e-4."""
    models = [make(name)]
    if get_restorer_config(name).bundled:
        models.append(create_restorer(name))
    assert references
    with torch.no_grad():
        for m in models:
            for ref in references:
                assert (m(ref["input"]) - ref[name]).abs().max().item() < 1e-4


@needs_originals
@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_weights_equal_originals(name):
    cfg = get_restorer_config(name)
    model = cfg.builder()
    original = model.convert_state_dict(read_state_dict(WEIGHTS / cfg.original))
    flush_subnormals_(original)
    bundled = read_state_dict(WEIGHTS_DIR / cfg.weights)
    assert bundled.keys() == original.keys()
    assert all(torch.equal(bundled[k], original[k]) for k in bundled)


@pytest.mark.parametrize("name", list_restorers())
def test_contract_on_odd_sizes(name):
    """Any size (here 37x53 and a tiny 5x7, batch 2) gives the same shape, finite, in [0, 1]."""
    m = make(name)
    gen = torch.Generator().manual_seed(0)
    for h, w in [(37, 53), (5, 7)]:
        x = torch.rand(2, 3, h, w, generator=gen) * 0.3
        with torch.no_grad():
            y = m(x)
        assert y.shape == x.shape and torch.isfinite(y).all()
        assert y.min() >= 0 and y.max() <= 1


@pytest.mark.parametrize("name", list_restorers())
def test_frozen_and_no_subnormals(name):
    m = make(name)
    assert not m.training and not any(p.requires_grad for p in m.parameters())
    nn.Sequential(m).train()  # a parent switching to train mode must not unfreeze BatchNorm
    assert not any(mod.training for mod in m.modules())
    assert count_subnormals(m) == 0


def test_flush_subnormals_helper():
    lin = nn.Linear(4, 1, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1e-41, -1e-40, 0.5, 0.0]]))
    assert count_subnormals(lin) == 2
    assert flush_subnormals_(lin) == 2
    assert lin.weight.tolist() == [[0.0, 0.0, 0.5, 0.0]] and count_subnormals(lin) == 0


def test_identity_is_exact():
    x = torch.rand(2, 3, 9, 11)
    assert torch.equal(create_restorer("identity")(x), x)


def test_gamma_moves_mean_towards_target():
    g = create_restorer("gamma", target=0.4)
    dark = torch.rand(1, 3, 32, 32) * 0.1  # mean ~0.05
    bright = 0.7 + 0.2 * torch.rand(1, 3, 32, 32)  # mean ~0.8
    y = g(torch.cat([dark, bright]))
    assert dark.mean() < y[0].mean() and abs(y[0].mean() - 0.4) < abs(dark.mean() - 0.4)
    assert bright.mean() > y[1].mean() and abs(y[1].mean() - 0.4) < abs(bright.mean() - 0.4)
    flat = torch.full((1, 3, 4, 4), 0.1)
    assert torch.allclose(g(flat), torch.full_like(flat, 0.4), atol=1e-5)  # exact for uniform images
    assert torch.isfinite(g(torch.zeros(1, 3, 4, 4))).all()  # black image: gamma clamped to its minimum


def test_zero_dce_without_weights_explains_licence():
    for name in NOT_BUNDLED:
        with pytest.raises(ValueError, match=r"CC BY-NC 4\.0.*weights='/path/to/Epoch99\.pth'"):
            create_restorer(name)


def test_weights_errors(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        create_restorer("sci", weights=missing)
    with pytest.raises(ValueError, match="no weights"):
        create_restorer("identity", weights=missing)


def test_explicit_safetensors_weights():
    m = create_restorer("sgz", weights=WEIGHTS_DIR / "sgz.safetensors")
    ref = create_restorer("sgz")
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), ref.state_dict().values()))


@pytest.mark.parametrize("bad", [torch.rand(3, 8, 8), torch.rand(1, 4, 8, 8), torch.rand(1, 1, 8, 8)])
def test_bad_input_shape(bad):
    for name in ["identity", "gamma", "sci", "sgz", "iat"]:
        with pytest.raises(ValueError, match=r"\(B,3,H,W\)"):
            create_restorer(name)(bad)


def test_unsafe_pickles_are_refused(tmp_path):
    """Only plain tensors load; the full unpickler is reserved for the known legacy Zero-DCE file."""
    bad = tmp_path / "bad.pth"
    torch.save({"w": Path("x")}, bad)
    with pytest.raises(pickle.UnpicklingError):
        read_state_dict(bad)


def test_bad_input_type():
    sci = create_restorer("sci")
    with pytest.raises(TypeError, match="floating-point"):
        sci(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(TypeError, match="torch.Tensor"):
        sci([[0.5]])
    assert sci.name == "sci" and create_restorer("iat_exposure").name == "iat_exposure"
