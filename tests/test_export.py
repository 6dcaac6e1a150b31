"""ONNX export of R with dynamic batch/H/W (onnxruntime parity), and torch.compile(dynamic=True) capture.

Full inductor compilation takes > 60 s on the 2-core CI CPU, so its parity check lives in
benchmarks/speed.py; here dynamo must capture R as one graph with dynamic shapes (backend "eager").
"""
from __future__ import annotations

import pytest
import torch
from _nets import real_photo, trained_looking

from ptg_refine import PTGRefiner
from ptg_refine.export import export_onnx

ort = pytest.importorskip("onnxruntime", reason="install the [onnx] extra")


@pytest.fixture(scope="module")
def refiner():
    refiner = PTGRefiner(restorer=lambda x: x.sqrt(), prior="none:64", prior_layers=True)
    refiner.net.load_state_dict(trained_looking(prior_dim=64).state_dict())
    return refiner


@pytest.fixture(scope="module")
def net(refiner):
    return refiner.net


@pytest.fixture(scope="module")
def onnx_path(refiner, tmp_path_factory):
    refiner.train()  # export switches R to eval and back
    path = export_onnx(refiner, tmp_path_factory.mktemp("onnx") / "r.onnx", example_size=(64, 64))
    assert refiner.net.training
    refiner.eval()
    return path


def inputs(b, h, w, seed=0):
    gen = torch.Generator().manual_seed(seed)
    low = torch.rand(b, 3, h, w, generator=gen) * 0.4
    g = torch.nn.functional.normalize(torch.randn(b, 64, generator=gen), dim=1)
    return low, low.sqrt(), g


def test_onnx_inputs_are_dynamic(onnx_path):
    sess = ort.InferenceSession(str(onnx_path))
    shapes = {i.name: i.shape for i in sess.get_inputs()}
    assert list(shapes) == ["low", "restored", "prior_features"]
    assert all(isinstance(shapes["low"][d], str) for d in (0, 2, 3)) and shapes["low"][1] == 3
    assert isinstance(shapes["prior_features"][0], str) and shapes["prior_features"][1] == 64


@pytest.mark.parametrize("b,h,w", [(1, 90, 70), (3, 48, 132)])  # not the export size, nor multiples of 4
def test_onnxruntime_matches_pytorch(net, onnx_path, b, h, w):
    low, restored, g = inputs(b, h, w)
    sess = ort.InferenceSession(str(onnx_path))
    out, = sess.run(None, {"low": low.numpy(), "restored": restored.numpy(), "prior_features": g.numpy()})
    with torch.no_grad():
        ref = net(low, restored, g)
    assert out.shape == (b, 3, h, w)
    assert (ref - restored).abs().mean() > 0.005  # a trained-looking R: the comparison is not trivial
    assert abs(torch.from_numpy(out) - ref).max() < 1e-4


def test_onnxruntime_matches_pytorch_on_real_image(net, onnx_path):
    low = real_photo(100, 140)
    g = torch.nn.functional.normalize(torch.randn(1, 64), dim=1)
    out, = ort.InferenceSession(str(onnx_path)).run(None, {"low": low.numpy(), "restored": low.sqrt().numpy(),
                                                           "prior_features": g.numpy()})
    with torch.no_grad():
        ref = net(low, low.sqrt(), g)
    assert abs(torch.from_numpy(out) - ref).max() < 1e-4


def test_compile_dynamic_captures_one_graph(net):
    torch._dynamo.reset()
    counters = torch._dynamo.utils.counters
    counters.clear()
    compiled = torch.compile(net, dynamic=True, fullgraph=True, backend="eager")
    with torch.no_grad():
        for b, h, w in [(2, 72, 96), (3, 40, 92)]:  # H, W != prior_dim: duck sizing would tie them
            low, restored, g = inputs(b, h, w)
            torch.testing.assert_close(compiled(low, restored, g), net(low, restored, g), rtol=0, atol=1e-5)
    assert counters["stats"]["unique_graphs"] == 1  # the second size reused the dynamic graph
