"""--device / device=: the choice is checked on the CPU (auto, a missing GPU, a bad string), and
the models run where asked; the GPU tests run only where torch sees a CUDA GPU."""
from __future__ import annotations

import pytest
import torch
from helpers import write_images

from ptg_refine import PTGRefiner
from ptg_refine._device import module_device, parse_device, resolve_device
from ptg_refine.cli import main
from ptg_refine.testing import trained_looking

GPU = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on the CI machine)")


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


def test_auto_is_the_cpu_without_a_gpu_and_cuda_with_one(no_gpu, monkeypatch):
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


def test_explicit_devices(two_gpus):
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CUDA ") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device(torch.device("cuda", 0)) == torch.device("cuda", 0)
    with pytest.raises(ValueError, match=r"--device cuda:2: this machine has 2 CUDA GPU\(s\) \(cuda:0 to cuda:1\)"):
        resolve_device("cuda:2", "--device")


@pytest.mark.parametrize("spec", ["cuda", "cuda:0"])
def test_cuda_without_a_gpu_is_one_clear_error(no_gpu, spec):
    with pytest.raises(ValueError) as info:
        resolve_device(spec, "--device")
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"--device {spec}: no CUDA GPU is available")
    assert "--device cpu" in msg


def test_mps_without_mps(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device mps: Apple's MPS backend is not available"):
        resolve_device("mps")


@pytest.mark.parametrize("spec", ["gpu", "cuda:", "cuda:x", "cpu:0", "", "tpu", 3])
def test_invalid_strings(spec):
    with pytest.raises(ValueError, match=r"device must be auto, cpu, cuda, cuda:N .* or mps; got"):
        parse_device(spec)


def test_module_device():
    assert module_device(None, lambda x: x) is None
    assert module_device(torch.nn.Identity(), torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert module_device(PTGRefiner(restorer=lambda x: x, prior="none:8", width=8, num_blocks=1)).type == "cpu"


@pytest.fixture(scope="module")
def refiner_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("refiner")
    torch.manual_seed(0)
    PTGRefiner(restorer="sci", prior="none:8", width=8, num_blocks=1).save_pretrained(d)
    return d


@pytest.mark.parametrize("command", ["enhance", "eval", "train"])
@pytest.mark.parametrize("device, message", [("gpu", "--device must be auto, cpu, cuda"),
                                             ("cuda", "--device cuda: no CUDA GPU is available")])
def test_cli_device_errors_before_any_work(tmp_path, refiner_dir, capsys, no_gpu, command, device, message):
    write_images(tmp_path / "pairs" / "low", ["a.png"])
    write_images(tmp_path / "pairs" / "high", ["a.png"])
    out = tmp_path / "out"
    argv = {"enhance": ["enhance", tmp_path / "pairs" / "low", "-o", out, "--refiner", refiner_dir],
            "eval": ["eval", "--pairs", tmp_path / "pairs", "--refiner", refiner_dir, "--out", out],
            "train": ["train", "--pairs", tmp_path / "pairs", "--restorer", "sci", "--prior", "none:8",
                      "--out", out, "--iterations", "1", "--crop-size", "16"]}[command]
    assert main([*argv, "--device", device, "--no-progress" if command != "eval" else "--no-strips"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {message}"), err
    assert not out.exists() or not any(out.iterdir())  # nothing written


def test_cli_device_cpu_runs(tmp_path, refiner_dir, capsys):
    write_images(tmp_path / "in", ["a.png"], size=(32, 40))
    assert main(["enhance", tmp_path / "in", "-o", tmp_path / "out", "--refiner", refiner_dir, "--device", "cpu",
                 "--no-progress"]) == 0
    assert (tmp_path / "out" / "a.png").is_file()


# -- on a GPU ----------------------------------------------------------------------------------------------
@GPU
def test_refiner_to_cuda_moves_f_g_and_r_and_matches_the_cpu():
    torch.manual_seed(0)
    cpu = PTGRefiner(restorer="sci", prior="efficientnet_lite0", width=8, num_blocks=1)
    trained_looking(cpu.net)  # R changes F's output, so the comparison means something
    x = torch.rand(1, 3, 96, 128) * 0.4
    ref = cpu.enhance(x)
    gpu = PTGRefiner(restorer="sci", prior="efficientnet_lite0", width=8, num_blocks=1)
    gpu.net.load_state_dict(cpu.net.state_dict())
    gpu = gpu.to("cuda")
    assert {p.device.type for p in gpu.parameters()} == {"cuda"}
    assert {p.device.type for p in gpu.restorer.parameters()} == {"cuda"}
    assert {p.device.type for p in gpu.prior.parameters()} == {"cuda"}
    out = gpu.enhance(x.cuda(), precision="fp32")
    tiled = gpu.enhance(x.cuda(), tile=64, overlap=16, tile_restorer=True, precision="fp32")
    assert out.device.type == "cuda"
    assert (out.cpu() - ref).abs().max() < 1e-3
    assert (tiled.cpu() - ref).abs().max() < 2e-2  # F tiled: SCI is local, so only rounding and borders


@GPU
def test_cli_enhance_and_eval_on_cuda(tmp_path, refiner_dir, capsys):
    write_images(tmp_path / "pairs" / "low", ["a.png", "b.png"], size=(48, 64))
    write_images(tmp_path / "pairs" / "high", ["a.png", "b.png"], size=(48, 64), seed=1)
    for device in ("cpu", "cuda"):
        assert main(["enhance", tmp_path / "pairs" / "low", "-o", tmp_path / device, "--refiner", refiner_dir,
                     "--device", device, "--no-progress"]) == 0
        assert main(["eval", "--pairs", tmp_path / "pairs", "--refiner", refiner_dir, "--device", device,
                     "--out", tmp_path / f"eval-{device}"]) == 0
    import json

    import numpy as np
    from PIL import Image

    a, b = (np.asarray(Image.open(tmp_path / d / "a.png"), dtype=int) for d in ("cpu", "cuda"))
    assert np.abs(a - b).max() <= 1
    m = [json.loads((tmp_path / f"eval-{d}" / "metrics.json").read_text())["mean"] for d in ("cpu", "cuda")]
    assert m[0]["psnr_F+R"] == pytest.approx(m[1]["psnr_F+R"], abs=0.01)


# -- one rule for every caller; torchrun ranks each get their own GPU -----------------------------------------
def test_under_torchrun_each_rank_gets_its_own_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setenv("LOCAL_RANK", "2")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert resolve_device("auto") == torch.device("cuda", 2)
    assert resolve_device("cuda") == torch.device("cuda", 2)  # an explicit --device cuda too
    with pytest.raises(ValueError, match="under torchrun each process takes the GPU of its LOCAL_RANK"):
        resolve_device("cuda:1", "--device")  # every rank would land on cuda:1
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")  # one process on this machine: its GPU may be chosen
    assert resolve_device("cuda:1") == torch.device("cuda", 1)


def test_torchrun_without_a_gpu_runs_on_the_cpu(no_gpu, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="no CUDA GPU is available"):
        resolve_device("cuda")


@pytest.fixture
def one_pair(tmp_path):
    from PIL import Image

    from ptg_refine.data import PairedFolder

    high = torch.randint(40, 255, (20, 24, 3), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    for side, img in (("high", high), ("low", (high.float() * 0.3).round().byte())):
        (tmp_path / side).mkdir()
        Image.fromarray(img.numpy()).save(tmp_path / side / "p0.png")
    return PairedFolder(tmp_path).pairs


@pytest.mark.parametrize("device", ["auto", None, "cpu", torch.device("cpu")])
def test_trainer_and_evaluate_take_the_same_device_strings(no_gpu, one_pair, device):
    from ptg_refine.evaluate import evaluate_pairs
    from ptg_refine.training import Trainer, TrainConfig

    refiner = PTGRefiner(restorer="gamma", prior="none:8", width=8, num_blocks=1)
    pairs = one_pair
    trainer = Trainer(refiner, pairs, TrainConfig(iterations=1, batch_size=1, crop_size=16), progress=False,
                      device=device)
    assert trainer.device == torch.device("cpu")
    assert evaluate_pairs(pairs, refiner=refiner, device=device, progress=False)["n"] == 1
    with pytest.raises(ValueError, match="device must be auto, cpu"):
        Trainer(refiner, pairs, TrainConfig(iterations=1, batch_size=1, crop_size=16), progress=False, device="gpu")


@GPU
def test_trainer_auto_is_the_gpu(one_pair):
    from ptg_refine.training import Trainer, TrainConfig

    refiner = PTGRefiner(restorer="gamma", prior="none:8", width=8, num_blocks=1)
    trainer = Trainer(refiner, one_pair, TrainConfig(iterations=1, batch_size=1, crop_size=16), progress=False)
    assert trainer.device.type == "cuda" and next(refiner.net.parameters()).is_cuda
