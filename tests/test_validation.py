"""Every public entry point rejects bad input with a specific error."""
from __future__ import annotations

import re

import pytest
import torch

from ptg_refine import PTGRefiner, RefinementNetwork
from ptg_refine.export import export_onnx
from ptg_refine.tiling import plan_axis, _refine_tiled, _tiled_map

DIM = 8


@pytest.fixture(scope="module")
def refiner():
    return PTGRefiner(restorer=lambda x: x.sqrt(), prior=f"none:{DIM}", width=8, num_blocks=1, prior_hidden=16,
                      embed_dim=8).eval()


def good(b=1, h=32, w=40):
    return torch.rand(b, 3, h, w)


BAD_IMAGES = [
    ("not a tensor", lambda: [[0.5]], TypeError, "torch.Tensor"),
    ("uint8", lambda: (good() * 255).to(torch.uint8), TypeError, "floating-point"),
    ("rank 3", lambda: good()[0], ValueError, "rank 3"),
    ("rank 5", lambda: good()[None], ValueError, "rank 5"),
    ("1 channel", lambda: good()[:, :1], ValueError, r"3 \(RGB\) channels"),
    ("4 channels", lambda: torch.rand(1, 4, 32, 32), ValueError, r"3 \(RGB\) channels"),
    ("too small", lambda: good(h=15), ValueError, "at least 16x16"),
    ("empty batch", lambda: good(b=0), ValueError, "empty batch"),
    ("NaN", lambda: good().index_fill_(2, torch.tensor([3]), float("nan")), ValueError, "NaN or Inf"),
    ("Inf", lambda: good().index_fill_(3, torch.tensor([0]), float("inf")), ValueError, "NaN or Inf"),
    ("above 1", lambda: good() * 255, ValueError, r"\[0,1\]"),
    ("negative", lambda: good() - 0.5, ValueError, r"\[0,1\]"),
]


ENTRIES = ["forward", "enhance", "enhance_tiled", "prior_features"]
CASES = [(entry, *case) for entry in ENTRIES for case in BAD_IMAGES
         if not (entry == "prior_features" and case[0] == "too small")]  # priors take any size >= 1x1


@pytest.mark.parametrize("entry,name,make,error,message", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_bad_low_image(refiner, entry, name, make, error, message):
    x = make()
    call = {"forward": lambda: refiner(x), "enhance": lambda: refiner.enhance(x),
            "enhance_tiled": lambda: refiner.enhance(x, tile=128), "prior_features": lambda: refiner.prior_features(x)}
    with pytest.raises(error, match=message):
        call[entry]()


def test_restored_checks(refiner):
    low = good()
    with pytest.raises(ValueError, match=re.escape("restored must have the shape of low (1, 3, 32, 40)")):
        refiner(low, restored=good(h=36))
    with pytest.raises(ValueError, match="batch size 2 but low has 1"):
        refiner(low, restored=good(b=2))
    with pytest.raises(ValueError, match="restored contains NaN"):
        refiner(low, restored=torch.full_like(low, float("nan")))
    with pytest.raises(TypeError, match="restored must be a floating-point"):
        refiner.enhance(low, restored=torch.zeros(1, 3, 32, 40, dtype=torch.int64), tile=128)
    refiner(low, restored=low * 1.5)  # F's output is not range-checked (Eq. 1 allows any I_c)


def test_prior_feature_checks(refiner):
    low = good(b=2)
    cases = [
        (torch.rand(2, DIM + 1), ValueError, rf"shape \(B,{DIM}\)"),
        (torch.rand(2, DIM, 1), ValueError, rf"shape \(B,{DIM}\)"),
        (torch.rand(3, DIM), ValueError, "batch size 3 but low has 2"),
        (torch.full((2, DIM), float("nan")), ValueError, "prior_features contains NaN"),
        (torch.ones(2, DIM, dtype=torch.int32), TypeError, "floating point"),
        ([0.0] * DIM, TypeError, "torch.Tensor"),
    ]
    for g, error, message in cases:
        for call in (lambda: refiner(low, prior_features=g), lambda: refiner.enhance(low, prior_features=g, tile=128)):
            with pytest.raises(error, match=message):
                call()


def test_refinement_network_checks_shapes():
    net = RefinementNetwork(width=8, prior_dim=DIM, num_blocks=1, prior_hidden=16, embed_dim=8)
    low, g = good(), torch.rand(1, DIM)
    with pytest.raises(TypeError, match="restored must be a torch.Tensor"):
        net(low, None, g)
    with pytest.raises(ValueError, match=r"low must have shape \(B,3,H,W\)"):
        net(low[:, :2], low[:, :2], g)
    with pytest.raises(ValueError, match="restored must have the shape of low"):
        net(low, good(w=44), g)
    with pytest.raises(ValueError, match="batch size 2 but low has 1"):
        net(low, low, torch.rand(2, DIM))
    with pytest.raises(ValueError, match=rf"\(B,{DIM}\)"):
        net(low, low, torch.rand(1, DIM + 2))
    with pytest.raises(ValueError, match="at least 16x16"):
        net(good(h=12), good(h=12), g)
    with pytest.raises(ValueError, match="multiples of 4"):
        net(low, low, g, position=(2, 0, 64, 64))
    with pytest.raises(ValueError, match="does not fit"):
        net(low, low, g, position=(40, 0, 64, 64))
    with pytest.raises(ValueError, match=r"\(top, left, full_h, full_w\)"):
        net(low, low, g, position=(0, 0))


@pytest.mark.parametrize("kwargs,error,message", [
    ({"tile": 502}, ValueError, "multiple of 4"),
    ({"tile": 16}, ValueError, "at least 32"),
    ({"tile": 64.0}, TypeError, "tile must be an int"),
    ({"tile": True}, TypeError, "tile must be an int"),
    ({"tile": 64, "overlap": 6}, ValueError, "overlap must be a multiple of 4"),
    ({"tile": 64, "overlap": 20}, ValueError, "tile/4 = 16"),
    ({"tile": 64, "overlap": -4}, ValueError, "overlap must be"),
    ({"tile": 128, "context": -4}, ValueError, "context must be"),
    ({"tile": 128, "context": 6}, ValueError, "context must be"),
    ({"tile_restorer": True}, ValueError, "tile_restorer=True needs tile="),
])
def test_tiling_arguments(refiner, kwargs, error, message):
    with pytest.raises(error, match=message):
        refiner.enhance(good(), **kwargs)


def test_tiling_functions_check_arguments(refiner):
    with pytest.raises(ValueError, match="stats must be one of"):
        _refine_tiled(refiner.net, good(), good(), torch.rand(1, DIM), tile=128, stats="global")
    with pytest.raises(ValueError, match="overlap must be"):
        _tiled_map(lambda x: x, good(), tile=128, overlap=36)
    with pytest.raises(ValueError, match=r"needs a \(B,C,H,W\) tensor"):
        _tiled_map(lambda x: x, good()[0], tile=128)
    with pytest.raises(ValueError, match="restored must have the shape of low"):
        _refine_tiled(refiner.net, good(), good(h=48), torch.rand(1, DIM), tile=128)
    with pytest.raises(ValueError, match=rf"\(B,{DIM}\)"):
        _refine_tiled(refiner.net, good(), good(), torch.rand(1, DIM + 1), tile=128)
    assert len(plan_axis(100, 64, 8, 0)) == 2


def test_no_restorer_message():
    refiner = PTGRefiner(restorer=None, prior="none:8", width=8, num_blocks=1, prior_hidden=16, embed_dim=8)
    with pytest.raises(ValueError, match="no restorer F: pass restored="):
        refiner.enhance(good(), tile=128)


def test_export_arguments(refiner, tmp_path):
    with pytest.raises(TypeError, match="PTGRefiner or a RefinementNetwork"):
        export_onnx(torch.nn.Conv2d(3, 3, 1), tmp_path / "x.onnx")
    with pytest.raises(ValueError, match="example_size must be"):
        export_onnx(refiner, tmp_path / "x.onnx", example_size=(8, 64))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export_onnx(refiner, tmp_path / "missing" / "x.onnx")


# -- checkpoints ---------------------------------------------------------------------------------------
@pytest.fixture
def checkpoint(tmp_path):
    refiner = PTGRefiner(restorer=None, prior="none:512", width=8, num_blocks=1, prior_hidden=16, embed_dim=8)
    refiner.save_pretrained(tmp_path / "ckpt")
    return tmp_path / "ckpt"


def test_checkpoint_with_another_prior_fails_clearly(checkpoint):
    assert PTGRefiner.from_pretrained(checkpoint).net.prior_dim == 512
    with pytest.raises(ValueError, match=r"gives 256-d features but this refiner expects prior_dim=512 "
                                         r"\(e\.g\. from its checkpoint's config\.json\)"):
        PTGRefiner.from_pretrained(checkpoint, prior="none:256")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_weights_file_raises_oserror_naming_it(checkpoint, damage):
    weights = checkpoint / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"\x00\xff" * 500, "empty": b""}[damage])
    with pytest.raises(OSError, match=re.escape(str(weights))):
        PTGRefiner.from_pretrained(checkpoint)


def test_missing_weights_or_config(checkpoint, tmp_path):
    (checkpoint / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="has no model.safetensors"):
        PTGRefiner.from_pretrained(checkpoint)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        PTGRefiner.from_pretrained(tmp_path / "empty")


# -- each input value-checked once per public call; a global switch -----------------------------------
@pytest.fixture
def value_reads(monkeypatch):
    """The shapes of the tensors whose values are read by a check (``_validation.value_range``), in order."""
    from ptg_refine import _validation

    seen, real = [], _validation.value_range
    monkeypatch.setattr(_validation, "value_range", lambda x: seen.append(tuple(x.shape)) or real(x))
    return seen


@pytest.mark.parametrize("call", ["forward", "enhance", "enhance_tiled", "enhance_tiled_f"])
def test_each_input_is_value_checked_once_per_call(value_reads, call):
    # a zoo F and a spec G: both check their own input when called alone
    refiner = PTGRefiner(restorer="gamma", prior=f"none:{DIM}", width=8, num_blocks=1, prior_hidden=16, embed_dim=8)
    x = good(h=64, w=72)
    {"forward": lambda: refiner(x), "enhance": lambda: refiner.enhance(x, precision="fp32"),
     "enhance_tiled": lambda: refiner.enhance(x, tile=32, overlap=8, precision="fp32"),
     "enhance_tiled_f": lambda: refiner.enhance(x, tile=32, overlap=8, tile_restorer=True, precision="fp32")}[call]()
    assert value_reads == [(1, 3, 64, 72), (1, 3, 64, 72), (1, DIM)]  # low, restored, prior_features
    value_reads.clear()
    refiner.restore(x), refiner.prior_features(x)  # F and G alone still check what they are given
    assert value_reads == [(1, 3, 64, 72), (1, 3, 64, 72)]


def test_refinement_network_reads_no_image_values(value_reads):
    net = RefinementNetwork(width=8, prior_dim=DIM, num_blocks=1, prior_hidden=16, embed_dim=8)
    low = good()
    net(low, low.sqrt(), torch.rand(1, DIM), position=(0, 0, 32, 40))
    assert value_reads == []


def test_value_checks_can_be_turned_off(refiner, value_reads):
    import ptg_refine

    nan = good().index_fill_(2, torch.tensor([3]), float("nan"))
    with ptg_refine.value_checks(False):
        out = refiner(nan)  # no value read, no error: NaN goes through
        assert torch.isnan(out).any() and value_reads == []
        with pytest.raises(ValueError, match=r"3 \(RGB\) channels"):  # shape checks stay
            refiner(good()[:, :1])
    with pytest.raises(ValueError, match="NaN or Inf"):  # restored on leaving the block
        refiner(nan)
    assert ptg_refine.set_value_checks(False) is True and ptg_refine.set_value_checks(True) is False
    with pytest.raises(TypeError, match="True or False"):
        ptg_refine.set_value_checks(0)
