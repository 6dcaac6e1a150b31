import json

import pytest
import torch

from ptg_refine import PTGRefiner
from ptg_refine.testing import trained_looking
from helpers import TinyPrior, TinyRestorer, perturb_


def make(**kw):
    kw.setdefault("restorer", TinyRestorer())
    kw.setdefault("prior", TinyPrior())
    return PTGRefiner(**kw)


def test_fresh_refiner_returns_restorer_output_exactly():
    refiner = make()
    x = torch.rand(2, 3, 37, 53)
    out = refiner(x)
    expected = refiner.restorer(x)
    assert (out - expected).abs().max() < 1e-6
    assert torch.equal(out, expected)


def test_odd_sizes_and_batch():
    refiner = perturb_(make())
    for h, w in [(37, 53), (16, 16), (65, 18)]:
        out = refiner(torch.rand(2, 3, h, w))
        assert out.shape == (2, 3, h, w) and torch.isfinite(out).all()


def test_details_components_shapes_and_ranges():
    refiner = perturb_(make())
    d = refiner(torch.rand(2, 3, 37, 53), return_details=True)
    assert set(d) == {"output", "restored", "mask", "residual", "range_score", "channel_attention", "spatial_attention"}
    assert d["mask"].shape == d["residual"].shape == d["restored"].shape == (2, 3, 37, 53)
    for key in ("range_score", "channel_attention", "spatial_attention"):
        assert 0 <= d[key].min() and d[key].max() <= 1, key
    assert 0 < d["mask"].min() and d["mask"].max() < 2


def test_eq1_holds_on_details():
    refiner = perturb_(make())
    x = torch.rand(1, 3, 32, 40)
    d = refiner(x, return_details=True)
    torch.testing.assert_close(d["output"], x + (d["restored"] - x) * d["mask"] + d["residual"], atol=1e-6, rtol=0)


def test_gradient_reaches_only_r():
    refiner = make()
    f_params = list(refiner.restorer.parameters()) + list(refiner.prior.parameters())
    assert all(p.requires_grad for p in f_params)  # the caller's modules keep their flags
    assert all(p.requires_grad for p in refiner.parameters())
    assert not {id(p) for p in f_params} & {id(p) for p in refiner.parameters()}
    refiner(torch.rand(2, 3, 32, 32)).square().mean().backward()
    assert all(p.grad is None for p in f_params)
    heads = refiner.net.decoder
    assert heads.residual_head.weight.grad.abs().sum() > 0 and heads.mask_head.weight.grad.abs().sum() > 0


def test_frozen_parts_bit_identical_after_training():
    refiner = make()
    before = {f"{name}.{k}": v.clone() for name, m in (("F", refiner.restorer), ("G", refiner.prior))
              for k, v in m.state_dict().items()}
    refiner.train()
    assert not refiner.restorer.training and not refiner.prior.training
    opt = torch.optim.AdamW(refiner.parameters(), lr=1e-2)
    for _ in range(4):
        x = torch.rand(2, 3, 32, 32)
        loss = (refiner(x) - x.sqrt()).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = {f"{name}.{k}": v for name, m in (("F", refiner.restorer), ("G", refiner.prior))
             for k, v in m.state_dict().items()}
    assert before.keys() == after.keys() and any("running_mean" in k for k in after)
    for k in before:
        assert torch.equal(before[k], after[k]), k
    # and R did learn something
    assert refiner.net.decoder.residual_head.weight.abs().sum() > 0


def test_state_dict_holds_only_r():
    refiner = make()
    keys = list(refiner.state_dict())
    assert keys and all(k.startswith("net.") for k in keys)
    assert not any("bn" in k or k.startswith(("restorer", "prior")) for k in keys)
    assert sum(p.numel() for p in refiner.parameters()) == sum(p.numel() for p in refiner.net.parameters())


def test_to_dtype_moves_everything():
    refiner = make().to(torch.float64)
    assert refiner.restorer.conv.weight.dtype == torch.float64
    assert refiner.prior.conv.weight.dtype == torch.float64
    assert next(refiner.parameters()).dtype == torch.float64
    assert refiner(torch.rand(1, 3, 16, 16, dtype=torch.float64)).dtype == torch.float64


def test_callable_restorer_and_restored_argument():
    refiner = PTGRefiner(restorer=lambda x: x ** 0.5, prior="none")
    x = torch.rand(1, 3, 20, 20)
    assert torch.equal(refiner(x), x ** 0.5)
    assert torch.equal(refiner(x, restored=x * 0.5), x * 0.5)


def test_no_restorer_needs_restored():
    refiner = PTGRefiner(restorer=None, prior="none")
    x = torch.rand(1, 3, 20, 20)
    with pytest.raises(ValueError, match="restored="):
        refiner(x)
    assert torch.equal(refiner(x, restored=x.flip(-1)), x.flip(-1))


def test_prior_features_argument_skips_prior():
    calls = []

    def prior(x):
        calls.append(1)
        return torch.ones(x.shape[0], 8)

    refiner = perturb_(PTGRefiner(restorer=lambda x: x, prior=prior, prior_dim=8))
    x = torch.rand(2, 3, 24, 24)
    a = refiner(x)
    n = len(calls)
    b = refiner(x, prior_features=torch.ones(2, 8) / 8 ** 0.5)  # the L2-normalised ones vector
    assert len(calls) == n
    torch.testing.assert_close(a, b)


def test_prior_dim_mismatch_is_reported():
    with pytest.raises(ValueError, match="24-d features.*prior_dim=512"):
        make(prior_dim=512)


@pytest.mark.parametrize("bad, exc, words", [
    (torch.rand(3, 32, 32), ValueError, "rank 4"),
    (torch.rand(1, 1, 32, 32), ValueError, "3 \\(RGB\\) channels"),
    (torch.rand(1, 4, 32, 32), ValueError, "3 \\(RGB\\) channels"),
    ((torch.rand(1, 3, 32, 32) * 255).to(torch.uint8), TypeError, "floating-point"),
    (torch.full((1, 3, 32, 32), float("nan")), ValueError, "NaN"),
    (torch.rand(1, 3, 15, 32), ValueError, "at least 16x16"),
    (torch.rand(1, 3, 32, 8), ValueError, "at least 16x16"),
    (torch.rand(1, 3, 32, 32) * 3, ValueError, "\\[0,1\\]"),
    ([[0.5]], TypeError, "torch.Tensor"),
])
def test_bad_input(bad, exc, words):
    with pytest.raises(exc, match=words):
        make()(bad)


def test_mismatched_restored_and_features():
    refiner = make()
    x = torch.rand(2, 3, 32, 32)
    with pytest.raises(ValueError, match="shape of low"):
        refiner(x, restored=torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match="batch size 1 but low has 2"):
        refiner(x, prior_features=torch.rand(1, 24))
    with pytest.raises(ValueError, match=r"\(B,24\)"):
        refiner(x, prior_features=torch.rand(2, 23))


def test_enhance_clamps_and_has_no_grad():
    refiner = perturb_(make(), scale=0.5)
    out = refiner.enhance(torch.rand(1, 3, 32, 32))
    assert not out.requires_grad and out.min() >= 0 and out.max() <= 1


def test_restorer_by_name():
    refiner = PTGRefiner(restorer="identity", prior="none")
    x = torch.rand(1, 3, 20, 20)
    assert torch.equal(refiner(x), x)
    assert refiner.config["restorer"] == "identity"


def test_a_config_without_upsample_loads_the_pixelshuffle_decoder(tmp_path):
    """Refiners saved before R_d's ``upsample`` setting existed have no such key in config.json: they load with the
    PixelShuffle decoder they were trained with, weights and outputs intact; new refiners record the setting."""
    torch.manual_seed(0)
    old = PTGRefiner(restorer="gamma", prior="none:8", width=8, num_blocks=1, upsample="shuffle")
    trained_looking(old.net)
    old.save_pretrained(tmp_path / "old")
    path = tmp_path / "old" / "config.json"
    config = json.loads(path.read_text())
    del config["upsample"]
    path.write_text(json.dumps(config))
    back = PTGRefiner.from_pretrained(tmp_path / "old")
    assert back.config["upsample"] == "shuffle" and isinstance(back.net.decoder.body[1], torch.nn.PixelShuffle)
    x = torch.rand(1, 3, 24, 32)
    assert torch.equal(back(x), old(x))
    new = PTGRefiner(restorer="gamma", prior="none:8", width=8, num_blocks=1)
    new.save_pretrained(tmp_path / "new")
    assert json.loads((tmp_path / "new" / "config.json").read_text())["upsample"] == "bilinear"
    assert isinstance(PTGRefiner.from_pretrained(tmp_path / "new").net.decoder.body[0], torch.nn.Upsample)
