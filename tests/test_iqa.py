"""NIQE (ptg_refine.iqa): the MATLAB reference value on baboon, distortions scoring worse, input checks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ptg_refine.iqa import load_niqe_params, niqe

MATLAB_BABOON = 5.72957338  # official MATLAB code (R2021a), Y channel, crop_border 0 (shared/data/README.md, iqa/)


@pytest.fixture(scope="module")
def iqa_dir():
    from conftest import DATA

    folder = DATA / "iqa"
    if not (folder / "niqe_pris_params.npz").is_file():
        pytest.skip(f"NIQE files {folder} not present (set PTG_DATA_DIR)")
    return folder


@pytest.fixture(scope="module")
def params(iqa_dir):
    return load_niqe_params(iqa_dir / "niqe_pris_params.npz")


@pytest.fixture(scope="module")
def baboon(iqa_dir):
    from PIL import Image

    with Image.open(iqa_dir / "baboon.png") as im:
        return np.array(im.convert("RGB"))


def _fake_params():
    """A valid pristine model (no data needed) for the input-check tests."""
    x = np.arange(7) - 3.0
    g = np.exp(-(x[:, None] ** 2 + x[None] ** 2) / 2)
    return {"mu_pris_param": np.zeros((1, 36)), "cov_pris_param": np.eye(36), "gaussian_window": g / g.sum()}


def test_baboon_matches_the_matlab_reference(baboon, params, iqa_dir):
    score = niqe(baboon, params)
    assert isinstance(score, float)
    assert abs(score - MATLAB_BABOON) < 1e-5  # 5.7295777 here
    # the same image as a float tensor in [0,1], batched or not, and params given as the .npz path
    t = torch.from_numpy(baboon).permute(2, 0, 1).float() / 255
    assert niqe(t, iqa_dir / "niqe_pris_params.npz") == score
    batch = niqe(torch.stack([t, t]), params)
    assert batch.shape == (2,) and batch.dtype == torch.float64
    assert torch.equal(batch, torch.tensor([score, score], dtype=torch.float64))


def test_blur_and_noise_score_worse(baboon, params):
    from PIL import Image, ImageFilter

    clean = niqe(baboon, params)
    blurred = np.array(Image.fromarray(baboon).filter(ImageFilter.GaussianBlur(3)))
    noisy = np.clip(baboon + np.random.default_rng(0).normal(0, 20, baboon.shape), 0, 255).astype(np.uint8)
    assert niqe(blurred, params) > clean + 2  # ~9.7
    assert niqe(noisy, params) > clean + 2  # ~9.6
    assert niqe(baboon, params, crop_border=4) != clean  # the border is removed before the 96-px crop


def test_flat_image_is_nan_without_warnings():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(niqe(torch.full((3, 192, 96), 0.5), _fake_params()))


@pytest.mark.parametrize("image, match", [
    (torch.rand(3, 96, 191), "at least two 96x96 blocks"),  # one block only
    (torch.rand(1, 3, 100, 100), "at least two 96x96 blocks"),
    (torch.rand(4, 192, 192), r"\(B,3,H,W\) or \(3,H,W\)"),
    (torch.rand(1, 1, 192, 192), r"\(B,3,H,W\) or \(3,H,W\)"),
    (torch.rand(192, 192), r"\(B,3,H,W\) or \(3,H,W\)"),
    (torch.randint(0, 255, (3, 192, 192), dtype=torch.uint8), "float torch.Tensor"),
    (np.zeros((192, 192), np.uint8), "numpy"),
    (np.zeros((3, 192, 192), np.uint8), "numpy"),
    (np.zeros((192, 192, 3), np.int32), "numpy"),
    ([[0.5]], "got list"),
])
def test_bad_images_raise_one_clear_error(image, match):
    with pytest.raises(ValueError, match=match):
        niqe(image, _fake_params())


def test_crop_border_and_nonfinite_checks():
    x = torch.rand(3, 192, 96)
    assert np.isfinite(niqe(x, _fake_params()))  # two blocks: the smallest accepted image
    with pytest.raises(ValueError, match="crop_border=1"):
        niqe(x, _fake_params(), crop_border=1)
    with pytest.raises(ValueError, match="crop_border must be an int >= 0"):
        niqe(x, _fake_params(), crop_border=-1)
    x[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        niqe(x, _fake_params())


def test_missing_or_malformed_params_name_the_file(tmp_path):
    missing = tmp_path / "nowhere" / "niqe_pris_params.npz"
    with pytest.raises(FileNotFoundError, match="niqe_pris_params.npz"):
        load_niqe_params(missing)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        niqe(torch.rand(3, 192, 192), missing)

    good = _fake_params()
    bad_shape = tmp_path / "bad_shape.npz"
    np.savez(bad_shape, **{**good, "cov_pris_param": np.eye(35)})
    with pytest.raises(ValueError, match=r"bad_shape\.npz.*cov_pris_param.*\(36, 36\)"):
        load_niqe_params(bad_shape)
    lacking = tmp_path / "lacking.npz"
    np.savez(lacking, mu_pris_param=good["mu_pris_param"])
    with pytest.raises(ValueError, match=r"lacking\.npz lacks the array 'cov_pris_param'"):
        load_niqe_params(lacking)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"cannot read .*garbage\.npz"):
        load_niqe_params(garbage)
    with pytest.raises(ValueError, match="params must be the path"):
        niqe(torch.rand(3, 192, 192), None)
