"""Reduced precision: autocast outputs within stated tolerances of float32, no NaN on constant
images, no subnormal floats in R's weights or activations.

Tolerances (max abs difference of the output, values in [0,1]), on a real low-light image with a
trained-looking R: CPU bfloat16 autocast <= 1e-2 (benchmarks/speed.py measured 4.4e-3 at 600x400),
float16 autocast <= 2e-3 (5.7e-4 measured on CPU). The CUDA test runs only where a GPU exists.
"""
from __future__ import annotations

import pytest
import torch
from _nets import real_photo, trained_looking

from ptg_refine.diagnostics import SubnormalCounter, count_subnormals
from ptg_refine.tiling import _refine_tiled

TOLERANCE = {torch.bfloat16: 1e-2, torch.float16: 2e-3}


@pytest.fixture(scope="module")
def net():
    return trained_looking(prior_dim=512)


@pytest.fixture(scope="module")
def inputs():
    low = real_photo(96, 128)
    g = torch.nn.functional.normalize(torch.randn(1, 512, generator=torch.Generator().manual_seed(0)), dim=1)
    return low, (low * 4).clamp(0, 1) ** 0.8, g


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_cpu_autocast_close_to_float32(net, inputs, dtype):
    with torch.no_grad():
        ref = net(*inputs)
        with torch.autocast("cpu", dtype=dtype):
            out = net(*inputs)
    assert (ref - inputs[1]).abs().mean() > 0.02  # R changes F's output, so the comparison means something
    diff = (out.float() - ref).abs()
    assert diff.max() <= TOLERANCE[dtype]
    assert diff.mean() <= TOLERANCE[dtype] / 5


@pytest.mark.parametrize("value", [0.0, 1.0])
@pytest.mark.parametrize("dtype", [None, torch.bfloat16, torch.float16])
def test_no_nan_on_constant_images(net, value, dtype):
    """All-black / all-white: InstanceNorm sees (almost) zero variance, L2 norms may be ~0."""
    x = torch.full((1, 3, 48, 64), value)
    g = torch.zeros(1, 512)
    with torch.no_grad(), torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        out = net(x, x, g)
        # tiles: the statistics are sums over tiles (float64), also of a constant image
        tiled = _refine_tiled(net, x, x, g, tile=32, overlap=0, context=8)
    assert torch.isfinite(out).all() and torch.isfinite(tiled).all()


def test_no_subnormals_in_weights_and_activations(net, inputs):
    assert count_subnormals(net) == 0
    with torch.no_grad(), SubnormalCounter() as counter:
        net(*inputs)
    assert counter.values > 1_000_000  # every intermediate tensor was seen
    assert counter.subnormal == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on the CI machine)")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cuda_autocast_close_to_float32(net, inputs, dtype):
    gpu = trained_looking(prior_dim=512).cuda()
    low, restored, g = (t.cuda() for t in inputs)
    with torch.no_grad():
        ref = gpu(low, restored, g)
        with torch.autocast("cuda", dtype=dtype):
            out = gpu(low, restored, g)
            tiled = _refine_tiled(gpu, low, restored, g, tile=64, overlap=8)
    assert (out.float() - ref).abs().max() <= TOLERANCE[dtype]
    assert (tiled.float() - ref).abs().max() <= TOLERANCE[dtype]
    assert torch.isfinite(out).all()
