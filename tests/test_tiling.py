"""Tiled inference: plan, blending, exactness against untiled R, prior/F calls."""
from __future__ import annotations

import pytest
import torch
from _nets import real_photo, trained_looking

from ptg_refine import PTGRefiner
from ptg_refine.modules.global_stats import StatsContext, StopPass
from ptg_refine.tiling import plan_axis, receptive_field, _refine_tiled, _tiled_map


DIM = 8


@pytest.fixture(scope="module")
def net():  # a small R (receptive field 52 px) keeps the tests fast on a shared 2-core CPU
    return trained_looking(prior_dim=DIM, width=8, num_blocks=2, prior_hidden=16, embed_dim=8)


@pytest.mark.parametrize("tile,overlap,context", [(32, 8, 0), (64, 16, 68), (96, 24, 8), (512, 32, 68), (512, 0, 0)])
def test_plan_axis_partitions_and_weights_sum_to_one(tile, overlap, context):
    for n in range(16, 1400, 13):
        spans = plan_axis(n, tile, overlap, context)
        assert spans[0].zone[0] == 0 and spans[-1].zone[1] == n
        total = torch.zeros(n, dtype=torch.float64)
        for a, b in zip(spans, spans[1:]):
            assert a.zone[1] == b.zone[0]  # zones partition the axis
        for s in spans:
            assert s.zone[0] % 4 == 0 and s.window[0] % 4 == 0  # latent grids line up
            assert s.support[1] - s.support[0] <= tile + 3
            # the window holds the support plus `context` on each side (clipped to the image)
            assert s.window[0] <= max(0, s.support[0] - context)
            assert s.window[1] >= min(n, s.support[1] + context)
            total[s.support[0]:s.support[1]] += s.weight
        torch.testing.assert_close(total, torch.ones(n, dtype=torch.float64), rtol=0, atol=1e-12)
        assert len(spans) == (1 if n <= tile else -(-n // (tile - overlap)))


def test_constant_image_stays_constant_no_seams():
    x = torch.full((1, 3, 300, 250), 0.37)
    y = _tiled_map(lambda t: t, x, tile=64, overlap=16, context=8)
    assert y.max() - y.min() < 1e-6  # float32 rounding of w_a*v + w_b*v only
    torch.testing.assert_close(y, x, rtol=0, atol=1e-6)
    # every tile returns a different constant where its window starts: blending leaves no seam lines,
    # only smooth ramps whose values stay between the two tiles' values
    y = _tiled_map(lambda t: torch.full_like(t, 0.5), x, tile=64, overlap=16, context=8)
    torch.testing.assert_close(y, torch.full_like(x, 0.5), rtol=0, atol=1e-6)


def test_blend_is_a_smooth_ramp_between_tiles():
    x = torch.zeros(1, 1, 16, 88)  # two tiles along the width
    marks = iter(range(100))
    y = _tiled_map(lambda t: torch.full_like(t, float(next(marks))), x, tile=64, overlap=16, context=0)
    row = y[0, 0, 0]
    steps = row.diff()
    assert steps.min() >= 0 and steps.max() < 0.11  # monotone 0 -> 1 over 16 px (max step pi/32), no jump
    assert row[0] == 0 and row[-1] == 1


def _measured_radius(net, size: int, at: tuple[int, int]) -> int:
    """Farthest output pixel (Chebyshev distance) that changes when one input pixel (of low and, separately, of
    restored) is perturbed, with the whole-image statistics held at those of the unperturbed image."""
    gen = torch.Generator().manual_seed(0)
    low = torch.rand(1, 3, size, size, generator=gen) * 0.5
    restored, g = low.sqrt(), torch.randn(1, net.prior_dim, generator=gen)
    ctx = StatsContext()
    with torch.no_grad(), ctx.attached(net):
        ctx.set_tile((size, size), (0, 0, size, size), 0)  # one tile: the whole image
        while True:  # collect every global operation's statistics, one pass each
            try:
                ref = net(low, restored, g)
                break
            except StopPass:
                ctx.finish_pass()
        radius = 0
        for which in (0, 1):
            ctx.cache.clear()  # statistics stay fixed, nothing else is reused
            inputs = [low.clone(), restored.clone()]
            inputs[which][..., at[0], at[1]] += 0.5
            changed = (net(*inputs, g) - ref).abs().amax(dim=(0, 1)) > 0
            ys, xs = torch.nonzero(changed, as_tuple=True)
            radius = max(radius, int((ys - at[0]).abs().max()), int((xs - at[1]).abs().max()))
    return radius


@pytest.mark.parametrize("blocks", [1, 2])
def test_receptive_field_bounds_the_measured_one(blocks):
    """receptive_field() (used as the tiles' context margin) is an upper bound of the receptive field measured
    by perturbation, and not a loose one (measured here: 34-35 px for 1 block, 38-42 px for 2 blocks; 51-57 px
    for the default 4 blocks, whose bound is 68)."""
    net = trained_looking(prior_dim=DIM, width=8, num_blocks=blocks, prior_hidden=16, embed_dim=8)
    bound = receptive_field(net)
    assert bound == {1: 44, 2: 52}[blocks]
    for at in ((96, 96), (97, 98), (99, 101)):  # every phase of the stride-4 latent grid
        measured = _measured_radius(net, 192, at)
        assert bound - 16 <= measured <= bound, (at, measured, bound)


@pytest.mark.parametrize("shape", [(2, 3, 93, 71), (1, 3, 48, 120)])
def test_tiled_equals_untiled(net, shape):
    gen = torch.Generator().manual_seed(1)
    low = torch.rand(shape, generator=gen)
    restored, g = low.sqrt(), torch.randn(shape[0], DIM, generator=gen)
    with torch.no_grad():
        ref = net(low, restored, g)
        exact = _refine_tiled(net, low, restored, g, tile=48, overlap=8)
        naive = _refine_tiled(net, low, restored, g, tile=48, overlap=8, stats="tile")
        no_context = _refine_tiled(net, low, restored, g, tile=48, overlap=8, context=0)
    assert (ref - low.sqrt()).abs().mean() > 0.05  # R really changes F's output
    assert (exact - ref).abs().max() < 1e-5
    # without whole-image statistics or without context the tiles visibly differ: both parts matter
    assert (naive - ref).abs().max() > 1e-4
    assert (no_context - ref).abs().max() > 1e-3


def test_tiled_on_real_image_with_odd_size(net):
    low = real_photo(90, 130)
    g = torch.nn.functional.normalize(torch.randn(1, DIM), dim=1)
    with torch.no_grad():
        ref = net(low, low.sqrt(), g)
        out = _refine_tiled(net, low, low.sqrt(), g, tile=64, overlap=8)
    assert (out - ref).abs().max() < 1e-5


def test_single_tile_is_the_untiled_call(net):
    low = torch.rand(1, 3, 60, 50)
    g = torch.randn(1, DIM)
    with torch.no_grad():
        assert torch.equal(_refine_tiled(net, low, low, g, tile=64, overlap=16), net(low, low, g))


class Counting:
    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, x):
        self.calls += 1
        return self.fn(x)


def test_enhance_computes_prior_once_and_f_whole_by_default(net):
    prior = Counting(lambda x: torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], 1).repeat(1, 2)[:, :DIM])
    restorer = Counting(lambda x: x.sqrt())
    refiner = PTGRefiner(restorer=restorer, prior=prior, prior_dim=DIM, width=8, num_blocks=2, prior_hidden=16,
                         embed_dim=8)
    refiner.net.load_state_dict(net.state_dict())
    low = torch.rand(1, 3, 100, 120)
    whole = refiner.enhance(low, precision="fp32")  # float32: tiling changes nothing but the rounding
    prior.calls = restorer.calls = 0
    tiled = refiner.enhance(low, tile=48, overlap=8, precision="fp32")
    assert (prior.calls, restorer.calls) == (1, 1)
    assert (tiled - whole).abs().max() < 1e-5
    assert tiled.min() >= 0 and tiled.max() <= 1

    restorer.calls = 0
    tiled_f = refiner.enhance(low, tile=48, overlap=8, tile_restorer=True, precision="fp32")
    assert restorer.calls == 9  # 3 x 3 tiles; a pointwise F gives the same result tiled
    assert (tiled_f - whole).abs().max() < 1e-5


def test_cli_enhance_tile_flags(tmp_path, net):
    import numpy as np
    from PIL import Image

    from ptg_refine.cli import main

    refiner = PTGRefiner(restorer="gamma", prior=f"none:{DIM}", width=8, num_blocks=2, prior_hidden=16, embed_dim=8,
                         prior_layers=True)  # the fixture network has prior layers
    refiner.net.load_state_dict(net.state_dict())
    refiner.save_pretrained(tmp_path / "refiner")
    (tmp_path / "in").mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 120, (90, 110, 3), dtype=np.uint8)).save(tmp_path / "in" / "a.png")
    args = ["enhance", str(tmp_path / "in"), "--refiner", str(tmp_path / "refiner")]
    assert main(args + ["-o", str(tmp_path / "whole")]) == 0
    assert main(args + ["-o", str(tmp_path / "tiled"), "--tile", "48", "--overlap", "8"]) == 0
    whole, tiled = (np.asarray(Image.open(tmp_path / d / "a.png")).astype(int) for d in ("whole", "tiled"))
    assert np.abs(whole - tiled).max() <= 1  # 8-bit rounding only
    assert main(args + ["-o", str(tmp_path / "bad"), "--tile", "50"]) == 2  # clear error, exit code 2
