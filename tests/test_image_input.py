"""refiner.enhance on a file path, a PIL image or a numpy array: the same pixels as the tensor path
and as ``ptg-refine enhance``, returned as the kind that came in."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ptg_refine import PTGRefiner
from ptg_refine.cli import main
from ptg_refine.data.io import read_image, to_uint8
from ptg_refine.testing import trained_looking


@pytest.fixture(scope="module")
def refiner_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("refiner")
    torch.manual_seed(0)
    r = PTGRefiner(restorer="sci", prior="none:8", width=8, num_blocks=1)
    trained_looking(r.net)  # R changes F's output: the comparisons below mean something
    r.save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def refiner(refiner_dir):
    return PTGRefiner.from_pretrained(str(refiner_dir))


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    d = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(10, 120, (40, 48, 3), dtype=np.uint8)).save(d / "plain.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: viewers rotate it to 40 wide x 48 high
    Image.fromarray(rng.integers(10, 120, (40, 48, 3), dtype=np.uint8)).save(d / "portrait.jpg", exif=exif)
    rgba = rng.integers(10, 120, (40, 48, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    rgba[:, 24:, 3] = 0
    Image.fromarray(rgba, "RGBA").save(d / "logo.png")
    return d


def test_tensor_in_tensor_out(refiner, photos):
    x = read_image(photos / "plain.png")[None]
    out = refiner.enhance(x)
    assert isinstance(out, torch.Tensor) and out.shape == x.shape
    assert (out - refiner.restore(x).clamp(0, 1)).abs().max() > 0.01


@pytest.mark.parametrize("name", ["plain.png", "portrait.jpg", "logo.png"])
def test_path_gives_the_pil_image_the_cli_writes(refiner, refiner_dir, photos, tmp_path, name):
    out = refiner.enhance(photos / name)
    assert isinstance(out, Image.Image)
    assert refiner.enhance(str(photos / name)).tobytes() == out.tobytes()
    # (--format png: a lossless file to compare with; by default a JPEG input gives a JPEG)
    assert main(["enhance", photos / name, "-o", tmp_path, "--refiner", refiner_dir, "--no-progress",
                 "--format", "png"]) == 0
    written = Image.open(tmp_path / (name.rsplit(".", 1)[0] + ".png"))
    assert out.mode == written.mode and out.size == written.size
    assert np.array_equal(np.asarray(out), np.asarray(written))
    if name == "portrait.jpg":
        assert out.size == (40, 48)  # (W, H): upright
    if name == "logo.png":
        assert out.mode == "RGBA" and np.array_equal(np.asarray(out)[..., 3],
                                                     np.asarray(Image.open(photos / name))[..., 3])


def test_pil_in_pil_out_and_the_callers_image_is_untouched(refiner, photos):
    im = Image.open(photos / "portrait.jpg")
    before = (im.size, im.tobytes(), dict(im.getexif()))
    out = refiner.enhance(im)
    assert isinstance(out, Image.Image) and out.size == (40, 48)
    assert out.tobytes() == refiner.enhance(photos / "portrait.jpg").tobytes()
    assert (im.size, im.tobytes(), dict(im.getexif())) == before


def test_numpy_uint8_and_float(refiner, photos):
    arr = np.asarray(Image.open(photos / "plain.png"))
    x = torch.from_numpy(arr.copy()).permute(2, 0, 1)[None].float() / 255
    ref = refiner.enhance(x)[0]
    out8 = refiner.enhance(arr)
    assert out8.dtype == np.uint8 and out8.shape == arr.shape
    assert np.array_equal(out8, to_uint8(ref))
    for dtype in (np.float32, np.float64):
        out = refiner.enhance(arr.astype(dtype) / 255)
        assert out.dtype == dtype and out.shape == arr.shape
        assert np.abs(out - ref.permute(1, 2, 0).numpy()).max() < 1e-6
        assert out.min() >= 0 and out.max() <= 1


def test_exposure_and_tiling_pass_through(refiner, photos):
    x = read_image(photos / "plain.png")[None]
    for kwargs in ({"exposure": 0.5}, {"exposure": "restorer"}, {"tile": 32, "overlap": 8}):
        ref = to_uint8(refiner.enhance(x, **kwargs)[0])
        assert np.array_equal(np.asarray(refiner.enhance(photos / "plain.png", **kwargs)), ref), kwargs


def test_wrong_kinds_are_named(refiner, photos, tmp_path):
    with pytest.raises(TypeError, match=r"an image file path, a PIL.Image or a numpy \(H,W,3\) array; got list"):
        refiner.enhance([[0.5]])
    with pytest.raises(ValueError, match=r"numpy image must have shape \(H,W,3\) \(RGB\), got \(40, 48\)"):
        refiner.enhance(np.zeros((40, 48), np.uint8))
    with pytest.raises(TypeError, match="uint8 .* or float"):
        refiner.enhance(np.zeros((40, 48, 3), np.int64))
    with pytest.raises(FileNotFoundError, match="missing.png"):
        refiner.enhance(tmp_path / "missing.png")
    with pytest.raises(ValueError, match=r"in \[0,1\]"):
        refiner.enhance(np.full((40, 48, 3), 2.0, np.float32))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on the CI machine)")
def test_pil_on_a_gpu_refiner(refiner_dir, photos):
    cpu = PTGRefiner.from_pretrained(str(refiner_dir))
    gpu = PTGRefiner.from_pretrained(str(refiner_dir)).to("cuda")
    a, b = (np.asarray(r.enhance(photos / "plain.png"), dtype=int) for r in (cpu, gpu))
    assert np.abs(a - b).max() <= 1
