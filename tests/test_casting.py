"""A refiner cast by the user (``.double()``, ``.to(torch.bfloat16)``) runs R, F and G in its dtype on inputs of
that dtype, gives its result in that dtype, and stays close to the float32 path; a mismatch is refused with one
line saying what to do."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT
from ptg_refine import PTGRefiner
from ptg_refine.data.io import read_uint8_alpha, to_tensor

PHOTO = REPO_ROOT / "src" / "ptg_refine" / "examples_data" / "lol_22.png"


@pytest.fixture(scope="module")
def photo():
    """A 96 x 128 crop of a bundled LOL photo (a real dark image, small enough for one thread)."""
    return to_tensor(read_uint8_alpha(PHOTO)[0])[None, :, 100:196, 200:328].contiguous()


@pytest.fixture(scope="module")
def float32_result(photo):
    refiner = PTGRefiner.from_pretrained("sci-none")
    return {e: refiner.enhance(photo, exposure=e, precision="fp32") for e in ("scene", "restorer")}


@pytest.mark.parametrize("exposure", ["scene", "restorer"])
def test_double_refiner_runs_in_double(photo, float32_result, exposure):
    refiner = PTGRefiner.from_pretrained("sci-none").double()
    assert refiner.weights_dtype == torch.float64
    out = refiner.enhance(photo.double(), exposure=exposure)
    assert out.dtype == torch.float64
    # float64 arithmetic throughout: the float32 result up to float32 rounding
    torch.testing.assert_close(out.float(), float32_result[exposure], rtol=0, atol=1e-5)
    # forward (Eq. 1, training) runs in double too
    assert refiner(photo.double()).dtype == torch.float64


@pytest.mark.parametrize("exposure", ["scene", "restorer"])
def test_bfloat16_refiner_runs_in_bfloat16(photo, float32_result, exposure):
    refiner = PTGRefiner.from_pretrained("sci-none").to(torch.bfloat16)
    out = refiner.enhance(photo.to(torch.bfloat16), exposure=exposure)
    assert out.dtype == torch.bfloat16
    diff = (out.float() - float32_result[exposure]).abs()
    # bfloat16 keeps 8 significant bits (steps of 1/256 near 1) and F, G and R all run in it: measured on this
    # crop, max 0.016 (4/255), mean 0.001
    assert float(diff.max()) < 8 / 255
    assert float(diff.mean()) < 1 / 255


def test_cast_refiner_takes_images_and_tiles(photo, float32_result):
    refiner = PTGRefiner.from_pretrained("sci-none").double()
    # a numpy / PIL image is converted to the refiner's dtype and comes back as the same kind
    array = (photo[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    out = refiner.enhance(array, exposure="scene")
    assert out.dtype == np.uint8 and out.shape == array.shape
    expected = (float32_result["scene"][0].permute(1, 2, 0).numpy() * 255).round()
    assert np.abs(out.astype(np.float64) - expected).max() <= 1
    tiled = refiner.enhance(photo.double(), exposure="restorer", tile=64, overlap=16)
    assert tiled.dtype == torch.float64
    torch.testing.assert_close(tiled.float(), float32_result["restorer"], rtol=0, atol=1e-4)


def test_cast_refiner_refuses_a_mismatch_in_one_line(photo):
    refiner = PTGRefiner.from_pretrained("sci-none").double()
    with pytest.raises(TypeError, match=r"^this refiner was cast to torch.float64 but low is torch.float32: pass "
                                        r"low.to\(torch.float64\), or cast the refiner back with .float\(\)$"):
        refiner.enhance(photo)
    with pytest.raises(ValueError, match=r"^precision='bf16' applies to a float32 refiner; this one was cast to "
                                         r"torch.float64 and runs in it: use precision='auto'"):
        refiner.enhance(photo.double(), precision="bf16")
    # cast back, it is the float32 refiner again
    refiner.float()
    assert refiner.enhance(photo, precision="fp32").dtype == torch.float32
