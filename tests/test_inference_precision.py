"""Inference precision: enhance() uses bfloat16 autocast by default only where the CPU has native
bfloat16, within 1/255 of float32 on >= 99.9 % of the values of a shipped refiner's output; precision="fp32" /
--precision fp32 opts out; forward() and eval stay float32; the CLI sets OMP_WAIT_POLICY=PASSIVE before torch loads.

(The speed: `python -m benchmarks speed`, section "PTGRefiner.enhance" of benchmarks/results/speed.md.)
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from ptg_refine import PTGRefiner
from ptg_refine import _inference_precision
from ptg_refine.cli import EXAMPLES_DIR, main
from ptg_refine.data import PairedFolder, read_image
from ptg_refine.data.io import to_uint8
from ptg_refine.evaluate import evaluate_pairs

PHOTOS = sorted(EXAMPLES_DIR.glob("*.png"))


@pytest.fixture
def native(monkeypatch):
    """Pretend the CPU has (True) or lacks (False) native bfloat16."""
    def set_(value: bool):
        monkeypatch.setattr(_inference_precision, "cpu_has_native_bf16", lambda: value)
    return set_


@pytest.fixture(scope="module")
def shipped():
    """The shipped refiners with exposure 'refiner' (Eq. 1 as is), so that enhance(fp32) is forward() clamped; the
    shipped exposure settings (a per-image gain after R) are tested in test_exposure.py / test_shipped_weights.py."""
    out = {}
    for name in ("sci-none", "iat-lol"):
        out[name] = PTGRefiner.from_pretrained(name)
        out[name].exposure = "refiner"
    return out


@pytest.fixture(scope="module")
def photo():
    return read_image(PHOTOS[0])[None]  # a 600x400 LOL photo


def test_precision_choice(native):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    native(True)
    assert _inference_precision.autocast_dtype("auto", cpu) is torch.bfloat16
    assert _inference_precision.autocast_dtype("auto", cuda) is None  # GPUs: float32 unless asked (not measured)
    assert _inference_precision.autocast_dtype("fp32", cpu) is None
    native(False)
    assert _inference_precision.autocast_dtype("auto", cpu) is None
    assert _inference_precision.autocast_dtype("bf16", cpu) is torch.bfloat16  # asked for: emulated, still correct
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16; got 'fp16'"):
        _inference_precision.autocast_dtype("fp16", cpu)


def test_cpuinfo_flags():
    x86 = "processor: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 amx_tile\n"
    assert _inference_precision.cpuinfo_has_bf16(x86, "x86_64")
    assert _inference_precision.cpuinfo_has_bf16("flags : avx2 amx_bf16", "x86_64")
    assert not _inference_precision.cpuinfo_has_bf16("flags : fpu avx2 avx512f avx512bw", "x86_64")
    assert _inference_precision.cpuinfo_has_bf16("Features : fp asimd bf16 i8mm", "aarch64")
    assert not _inference_precision.cpuinfo_has_bf16("Features : fp asimd", "aarch64")
    assert not _inference_precision.cpuinfo_has_bf16("", "x86_64")


@pytest.mark.parametrize("name", ["sci-none", "iat-lol"])
def test_bf16_within_1_255_of_float32_on_a_shipped_refiner(shipped, name):
    r = shipped[name]
    for path in PHOTOS:
        x = read_image(path)[None]
        ref = r.enhance(x, precision="fp32")
        assert torch.equal(ref, r(x).clamp(0, 1))  # fp32: exactly forward's Eq. (1), clamped
        out = r.enhance(x, precision="bf16")
        assert out.dtype == torch.float32 and out.shape == ref.shape
        diff = (out - ref).abs()
        assert diff.max() > 0  # bfloat16 did run
        assert (diff <= 1 / 255).float().mean() >= 0.999, (path.name, float((diff <= 1 / 255).float().mean()))
        assert diff.max() <= 0.02


def test_auto_follows_the_cpu_and_forward_stays_float32(shipped, photo, native):
    r = shipped["sci-none"]
    fp32, bf16 = r.enhance(photo, precision="fp32"), r.enhance(photo, precision="bf16")
    native(True)
    assert torch.equal(r.enhance(photo), bf16)
    assert torch.equal(r(photo).clamp(0, 1), fp32)  # forward ignores the precision default
    native(False)
    assert torch.equal(r.enhance(photo), fp32)


def test_bf16_tiled_and_batched(shipped, photo):
    r = shipped["sci-none"]
    ref = r.enhance(photo, precision="fp32")
    tiled = r.enhance(photo, tile=256, overlap=32, precision="bf16")
    assert ((tiled - ref).abs() <= 1 / 255).float().mean() >= 0.999
    two = torch.cat([photo, photo.flip(-1)])
    assert torch.equal(r.enhance(two, precision="bf16")[:1], r.enhance(photo, precision="bf16"))


def test_exposure_and_file_inputs_keep_the_precision(shipped):
    r = shipped["sci-none"]
    x = read_image(PHOTOS[0])[None]
    for precision in ("fp32", "bf16"):
        ref = r.enhance(x, exposure="restorer", precision=precision)
        out = r.enhance(PHOTOS[0], exposure="restorer", precision=precision)
        assert np.array_equal(np.asarray(out), to_uint8(ref[0]))


def test_cli_precision_opt_out(tmp_path, shipped, native):
    native(True)  # as on the machine the issue was measured on (a no-op there)
    src = PHOTOS[0]
    as_shipped = PTGRefiner.from_pretrained("sci-none")  # the CLI runs the shipped exposure setting
    for precision in ("fp32", "bf16"):
        assert main(["enhance", src, "-o", tmp_path / precision, "--refiner", "sci-none", "--precision", precision,
                     "--no-progress"]) == 0
        written = np.asarray(Image.open(tmp_path / precision / src.name))
        expected = to_uint8(as_shipped.enhance(read_image(src)[None], precision=precision)[0])
        assert np.array_equal(written, expected)
    assert main(["enhance", src, "-o", tmp_path / "auto", "--refiner", "sci-none", "--no-progress"]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "auto" / src.name)),
                          np.asarray(Image.open(tmp_path / "bf16" / src.name)))


def test_eval_scores_float32_by_default(tmp_path, shipped, native):
    native(True)
    for sub in ("low", "high"):
        (tmp_path / "pairs" / sub).mkdir(parents=True)
    Image.open(PHOTOS[0]).save(tmp_path / "pairs" / "low" / "a.png")
    Image.open(PHOTOS[1]).resize((600, 400)).save(tmp_path / "pairs" / "high" / "a.png")
    pairs = PairedFolder(tmp_path / "pairs").pairs
    r = PTGRefiner.from_pretrained("sci-none")  # as the CLI loads it (shipped exposure)
    default = evaluate_pairs(pairs, refiner=r, progress=False)["mean"]["psnr_F+R"]
    fp32 = evaluate_pairs(pairs, refiner=r, progress=False, precision="fp32")["mean"]["psnr_F+R"]
    bf16 = evaluate_pairs(pairs, refiner=r, progress=False, precision="bf16")["mean"]["psnr_F+R"]
    assert default == fp32 != bf16
    assert main(["eval", "--pairs", tmp_path / "pairs", "--refiner", "sci-none", "--out", tmp_path / "ev"]) == 0
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["mean"]["psnr_F+R"] == fp32


SPY = """
import os, sys
seen = []
class Spy:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and not seen:
            seen.append(os.environ.get("OMP_WAIT_POLICY"))
sys.meta_path.insert(0, Spy())
from ptg_refine.cli import main
main(["eval", "--pairs", "no-such-folder", "--restorer", "sci"])
print(seen)
"""


@pytest.mark.parametrize("user, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_cli_sets_passive_wait_before_torch_loads(user, expected):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if user:
        env["OMP_WAIT_POLICY"] = user
    proc = subprocess.run([sys.executable, "-c", SPY], capture_output=True, text=True, env=env, timeout=120)
    assert proc.stdout.strip().splitlines()[-1] == repr([expected]), proc.stderr[-2000:]
