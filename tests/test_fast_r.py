"""R's speed settings (``resolution="half"``, ``kernel_hidden``) and R without prior layers (``prior="none"``)."""
from __future__ import annotations

import json

import pytest
import torch
from _nets import real_photo, trained_looking
from test_tiling import _measured_radius

from ptg_refine import PTGRefiner
from ptg_refine.modules.guided import box_mean, guided_upsample
from ptg_refine.tiling import _refine_tiled, receptive_field

FAST = {"resolution": "half", "kernel_hidden": 32, "num_blocks": 2}
SMALL = {"width": 8, "prior_hidden": 16, "embed_dim": 8}


def gamma(x):
    return x.clamp(0, 1) ** 0.5


def test_a_none_prior_builds_no_prior_layers():
    with_layers = PTGRefiner(restorer=gamma, prior="none:1280", prior_proj_dim=128, prior_layers=True)
    without = PTGRefiner(restorer=gamma, prior="none:1280", prior_proj_dim=128)
    assert without.config["prior_layers"] is None and without.net.prior_layers is False
    assert not [n for n, _ in without.net.named_parameters() if "prior" in n]
    # the 355,328 weights of the projection (1280x128), of T_m / T_c (128x256 + 256x64, twice) and of the
    # prior channels of R_m, R_c and R_p (64 each) are gone, nothing else
    n_with = sum(p.numel() for p in with_layers.parameters())
    n_without = sum(p.numel() for p in without.parameters())
    assert n_with == 626_076 and n_with - n_without == 1280 * 128 + 2 * (128 * 256 + 256 * 64) + 16 * 64 * 9 \
        + 16 * 64 + 144 * 64 * 9
    x = torch.rand(1, 3, 37, 50)
    assert torch.equal(without(x), gamma(x))  # identity at initialisation


def test_a_real_prior_keeps_its_layers():
    r = PTGRefiner(restorer=gamma, prior=lambda x: x.mean(dim=(2, 3)), prior_dim=3)
    assert r.net.prior_layers and r.net.sve.prior_mlp is not None


@pytest.mark.parametrize("shape", [(1, 3, 37, 50), (2, 3, 64, 64)])
def test_fast_r_is_the_identity_at_initialisation(shape):
    r = PTGRefiner(restorer=gamma, prior="none", **FAST)
    x = torch.rand(shape)
    assert torch.equal(r(x), gamma(x))
    # 6x fewer parameters than the paper's R without prior layers (270,748), and less work per pixel
    assert sum(p.numel() for p in r.parameters()) == 45_458


def test_fast_r_is_trainable_and_changes_the_output():
    net = trained_looking(prior_dim=4, prior_layers=False, **SMALL, **FAST)
    low = torch.rand(1, 3, 40, 44)
    out = net(low, low.sqrt(), torch.zeros(1, 4))
    assert out.shape == low.shape and (out - low.sqrt()).abs().mean() > 0.01


@pytest.mark.parametrize("shape", [(1, 3, 93, 71), (2, 3, 48, 120)])
def test_fast_r_tiled_equals_untiled(shape):
    net = trained_looking(prior_dim=4, prior_layers=False, **SMALL, **FAST)
    gen = torch.Generator().manual_seed(1)
    low = torch.rand(shape, generator=gen)
    g = torch.zeros(shape[0], 4)
    with torch.no_grad():
        ref = net(low, low.sqrt(), g)
        tiled = _refine_tiled(net, low, low.sqrt(), g, tile=48, overlap=8)
        no_context = _refine_tiled(net, low, low.sqrt(), g, tile=48, overlap=8, context=0)
    assert (ref - low.sqrt()).abs().mean() > 0.01
    assert (tiled - ref).abs().max() < 1e-5
    assert (no_context - ref).abs().max() > 1e-4  # the context margin matters


def test_fast_r_receptive_field_bounds_the_measured_one():
    net = trained_looking(prior_dim=4, prior_layers=False, **SMALL, **FAST)
    bound = receptive_field(net)
    assert bound == 4 * (1 + 4 + 2 + 1 + 4 + 1)
    for at in ((96, 96), (97, 98), (99, 101)):
        measured = _measured_radius(net, 192, at)
        assert bound - 20 <= measured <= bound, (at, measured, bound)


def test_fast_r_reduced_precision_stays_within_one_level(tmp_path):
    torch.manual_seed(0)
    r = PTGRefiner(restorer=gamma, prior="none", **FAST)
    trained_looking(r.net)
    low = real_photo(96, 128)
    fp32 = r.enhance(low, precision="fp32")
    bf16 = r.enhance(low, precision="bf16")
    assert ((bf16 - fp32).abs() <= 1 / 255).float().mean() >= 0.999


def test_old_config_without_prior_layers_key_loads_with_its_prior_layers(tmp_path):
    torch.manual_seed(0)
    old = PTGRefiner(restorer="gamma", prior="none:16", prior_layers=True, **SMALL)
    trained_looking(old.net)
    old.save_pretrained(tmp_path / "old")
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    del config["prior_layers"], config["resolution"], config["kernel_hidden"]
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    back = PTGRefiner.from_pretrained(tmp_path / "old")
    assert back.net.prior_layers and back.config["resolution"] == "full"
    x = torch.rand(1, 3, 32, 36)
    assert torch.equal(back(x), old(x))


def test_fast_r_round_trips_through_save_pretrained(tmp_path):
    r = PTGRefiner(restorer="gamma", prior="none", **FAST)
    trained_looking(r.net)
    r.save_pretrained(tmp_path / "fast")
    back = PTGRefiner.from_pretrained(tmp_path / "fast")
    assert {k: back.config[k] for k in FAST} == FAST and back.config["prior_layers"] is None
    x = torch.rand(1, 3, 40, 40)
    assert torch.equal(back(x), r(x))


def test_box_mean_counts_only_positions_inside():
    x = torch.ones(1, 2, 5, 7)
    assert torch.allclose(box_mean(x, 2), x)  # a constant stays constant up to the borders
    y = torch.zeros(1, 1, 5, 5)
    y[..., 0, 0] = 9.0
    assert box_mean(y, 1)[0, 0, 0, 0] == 9.0 / 4 and box_mean(y, 1)[0, 0, 1, 1] == 1.0


def test_guided_upsampling_follows_the_edges_of_the_guide():
    # a step edge at an odd column of the full-resolution guide, where a half-resolution map cannot have it
    guide = torch.zeros(1, 1, 16, 16)
    guide[..., 9:] = 1.0
    target = guide.clone()
    p = torch.nn.functional.avg_pool2d(target, 2)  # the map at half resolution: blurred at the edge
    bilinear = torch.nn.functional.interpolate(p, scale_factor=2, mode="bilinear", align_corners=False)
    guided = guided_upsample(p, guide, radius=1, eps=1e-4)
    assert (guided - target).abs().mean() < 0.25 * (bilinear - target).abs().mean()
    with pytest.raises(ValueError, match="twice the size"):
        guided_upsample(p, guide[..., :15, :15])


def test_bounded_corrections_stay_within_their_bound():
    r = PTGRefiner(restorer=gamma, prior="none", correction_bound=0.2, **FAST)
    x = torch.rand(1, 3, 40, 44)
    assert torch.equal(r(x), gamma(x))  # still the identity at initialisation
    trained_looking(r.net)
    with torch.no_grad():
        for head in (r.net.decoder.mask_head, r.net.decoder.residual_head):
            head.weight.mul_(1000)  # saturate the heads
        d = r(x, return_details=True)
    assert 0.8 - 1e-6 <= d["mask"].min() < 0.9 and 1.1 < d["mask"].max() <= 1.2 + 1e-6
    assert 0.15 < d["residual"].abs().max() <= 0.2 + 1e-6
    with pytest.raises(ValueError, match="correction_bound"):
        PTGRefiner(restorer=gamma, prior="none", correction_bound=1.5)


def test_fast_r_cast_to_bfloat16_keeps_the_guided_step_in_float32():
    torch.manual_seed(0)
    r = PTGRefiner(restorer=gamma, prior="none", exposure="refiner", **FAST)
    trained_looking(r.net)
    x = torch.rand(1, 3, 64, 80)
    fp32 = r.enhance(x, precision="fp32")
    bf16 = r.to(torch.bfloat16).enhance(x.bfloat16())
    assert bf16.dtype == torch.bfloat16
    # (computed in bfloat16, the guide's local variances cancel: the difference reached 0.21)
    assert (bf16.float() - fp32).abs().max() < 8 / 255 and (bf16.float() - fp32).abs().mean() < 1 / 255
