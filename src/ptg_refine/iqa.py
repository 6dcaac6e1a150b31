"""No-reference image quality: NIQE, the Natural Image Quality Evaluator.

A. Mittal, R. Soundararajan and A. C. Bovik, "Making a Completely Blind Image Quality Analyzer",
IEEE Signal Processing Letters 20(3), 209-212, 2013.

NIQE fits a multivariate Gaussian to natural-scene-statistics features of the 96x96 blocks of an image and
reports its distance to the Gaussian fitted once on pristine photographs (the "pristine model"). **Lower is
better** (closer to the statistics of undistorted natural images); there is no upper bound.

This is an independent numpy implementation of the official MATLAB release (``computequality.m``). On the
reference image (baboon, Y channel) it gives 5.7295777, MATLAB R2021a 5.72957338. The protocol:

* luminance: the Y channel of MATLAB's ``rgb2ycbcr`` on 8-bit RGB, i.e.
  ``round(16 + 65.481 R + 128.553 G + 24.966 B)`` with R, G, B in [0, 1] (values 16..235). Float inputs
  are clamped to [0, 1] and go through the same rounding, so ``x / 255`` of a uint8 image scores exactly as
  the uint8 image. (The MATLAB release itself uses ``rgb2gray``; the Y channel is the convention of the
  super-resolution literature, and the one the reference value was computed with.)
* ``crop_border`` pixels are removed from each side, then the image is cropped (bottom / right) to a
  multiple of 96 pixels.
* MSCN coefficients: ``(I - mu) / (sigma + 1)`` with ``mu = w * I`` and ``sigma = sqrt(|w * I^2 - mu^2|)``,
  ``w`` the 7x7 Gaussian window of the pristine model, borders replicated (MATLAB ``imfilter(..., 'replicate')``).
  The two filtered images are rounded to single precision. NIQE is numerically touchy (the cancellation in
  ``w * I^2 - mu^2`` on flat regions, then a discrete shape search where one grid step on one block moves the
  score by ~2e-4): in plain double arithmetic baboon scores 5.72996, 4e-4 from MATLAB's value, while
  single-precision local moments reproduce it to 5e-6 (and BasicSR's float32 port, 5.7295763, as closely).
* per block, 18 features: the asymmetric generalised Gaussian (AGGD) fit of the MSCN coefficients (shape,
  mean of the left and right scales) and, for each of the 4 neighbour products (horizontal, vertical, both
  diagonals; neighbours taken cyclically within the block), the AGGD shape, mean, left and right scales. The
  shape is found by moment matching on the grid 0.2:0.001:10.
* two scales: the second is the image halved by MATLAB's ``imresize(I, 0.5)`` (bicubic, antialiased,
  symmetric borders), with 48x48 blocks; 36 features per block in all.
* score: ``sqrt((mu_p - mu_d) pinv((C_p + C_d) / 2) (mu_p - mu_d)^T)`` with ``mu_d`` the NaN-ignoring mean of
  the block features and ``C_d`` their covariance over the blocks without NaN (MATLAB ``nanmean``/``nancov``).
  No block is dropped when scoring (the sharpness threshold of the release only serves to build the
  pristine model).

The pristine model is not bundled: pass the ``.npz`` (arrays ``mu_pris_param`` 1x36, ``cov_pris_param``
36x36, ``gaussian_window`` 7x7, the official release's values) or the dict :func:`load_niqe_params` returns.
"""
from __future__ import annotations

import math
import os
from functools import lru_cache

import numpy as np
import torch

__all__ = ["niqe", "load_niqe_params", "NIQE_BLOCK"]

NIQE_BLOCK = 96  # block size of the official release (and of its pristine model)
_SHAPES = {"mu_pris_param": (1, 36), "cov_pris_param": (36, 36), "gaussian_window": (7, 7)}
_IMAGE_KINDS = "a (B,3,H,W) or (3,H,W) float torch.Tensor in [0,1], or a numpy (H,W,3) uint8 / float array"


def load_niqe_params(path) -> dict:
    """The NIQE pristine model in ``path`` (an ``.npz``): a dict of float64 arrays ``mu_pris_param`` (1,36),
    ``cov_pris_param`` (36,36) and ``gaussian_window`` (7,7). Raises FileNotFoundError if the file is missing
    and ValueError, naming the file, if it is unreadable or an array is absent, misshapen or not finite."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"NIQE pristine model not found: {path} (an .npz with mu_pris_param, "
                                "cov_pris_param, gaussian_window)")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: np.array(z[k]) for k in z.files}
    except Exception as e:  # a corrupt or non-npz file: one clear error naming it
        raise ValueError(f"cannot read the NIQE pristine model {path}: {e}") from e
    return _check_params(arrays, path)


def _check_params(arrays, where: str) -> dict:
    out = {}
    for name, shape in _SHAPES.items():
        if name not in arrays:
            raise ValueError(f"NIQE pristine model {where} lacks the array {name!r} (expected {list(_SHAPES)})")
        a = np.asarray(arrays[name])
        if a.shape != shape or not np.issubdtype(a.dtype, np.number):
            raise ValueError(f"NIQE pristine model {where}: {name} must be a numeric array of shape {shape}, "
                             f"got {a.dtype} {a.shape}")
        a = a.astype(np.float64)
        if not np.isfinite(a).all():
            raise ValueError(f"NIQE pristine model {where}: {name} has non-finite values")
        out[name] = a
    return out


def niqe(image, params, crop_border: int = 0):
    """NIQE score of ``image`` (Mittal et al. 2013); **lower is better**.

    Args:
        image: a (B,3,H,W) or (3,H,W) float tensor of RGB in [0,1] (clamped), or a numpy (H,W,3) RGB array,
            uint8 or float in [0,1]. Scored on the 8-bit Y channel (see the module docstring).
        params: the pristine model: a path to its ``.npz`` or the dict of :func:`load_niqe_params`.
        crop_border: pixels removed from each side before scoring.

    Returns:
        a float for a (3,H,W) tensor or a numpy image, a (B,) float64 tensor for a (B,3,H,W) tensor. NaN where
        the score is undefined (fewer than two blocks with finite features, e.g. a flat image).

    Raises:
        ValueError: the image is not one of the kinds above, or has fewer than two 96x96 blocks after
            ``crop_border`` (at least 192x96 or 96x192 pixels).
        FileNotFoundError: ``params`` names a missing file.
    """
    if isinstance(params, dict):
        params = _check_params(params, "(dict)")
    elif isinstance(params, (str, os.PathLike)):
        params = load_niqe_params(params)
    else:
        raise ValueError(f"params must be the path of the NIQE .npz or the dict of load_niqe_params, "
                         f"got {type(params).__name__}")
    if isinstance(crop_border, bool) or not isinstance(crop_border, (int, np.integer)) or crop_border < 0:
        raise ValueError(f"crop_border must be an int >= 0, got {crop_border!r}")
    crop_border = int(crop_border)

    if isinstance(image, torch.Tensor):
        if image.ndim not in (3, 4) or image.shape[-3] != 3 or not image.is_floating_point():
            raise ValueError(f"niqe expects {_IMAGE_KINDS}; got a {image.dtype} tensor of shape "
                             f"{tuple(image.shape)}")
        batch = image.detach().to("cpu", torch.float64).reshape(-1, *image.shape[-3:]).numpy()
        lumas = [_luma(x.transpose(1, 2, 0), 1.0) for x in batch]
        scores = [_score(y, params, crop_border) for y in lumas]
        return torch.tensor(scores, dtype=torch.float64) if image.ndim == 4 else scores[0]
    if isinstance(image, np.ndarray):
        ok_dtype = image.dtype == np.uint8 or np.issubdtype(image.dtype, np.floating)
        if image.ndim != 3 or image.shape[2] != 3 or not ok_dtype:
            raise ValueError(f"niqe expects {_IMAGE_KINDS}; got a {image.dtype} array of shape {image.shape}")
        return _score(_luma(image, 255.0 if image.dtype == np.uint8 else 1.0), params, crop_border)
    raise ValueError(f"niqe expects {_IMAGE_KINDS}; got {type(image).__name__}")


def _luma(rgb: np.ndarray, peak: float) -> np.ndarray:
    """8-bit Y (16..235, float64) of an (H,W,3) RGB array with values in [0, peak], as MATLAB's rgb2ycbcr on
    uint8 (round half away from zero; all values are positive)."""
    rgb = np.asarray(rgb, dtype=np.float64)
    if not np.isfinite(rgb).all():
        raise ValueError("niqe: the image has non-finite values")
    rgb = np.clip(rgb / peak, 0.0, 1.0)
    y = 16.0 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]
    return np.floor(y + 0.5)


def _score(y: np.ndarray, params: dict, crop_border: int) -> float:
    h, w = y.shape
    if crop_border:
        y = y[crop_border:h - crop_border, crop_border:w - crop_border]
    rows, cols = y.shape[0] // NIQE_BLOCK, y.shape[1] // NIQE_BLOCK
    if rows * cols < 2:
        raise ValueError(f"niqe needs at least two {NIQE_BLOCK}x{NIQE_BLOCK} blocks (an image of at least "
                         f"192x96 or 96x192 pixels after crop_border={crop_border}), got {h}x{w}")
    y = y[:rows * NIQE_BLOCK, :cols * NIQE_BLOCK]

    window = params["gaussian_window"]
    feats = []
    for scale in (1, 2):
        if scale == 2:
            y = _imresize_half(y)
        feats.append(_block_features(_mscn(y, window), NIQE_BLOCK // scale))
    feats = np.concatenate(feats, axis=1)  # (blocks, 36)

    complete = feats[~np.isnan(feats).any(axis=1)]
    if len(complete) < 2:
        return float("nan")
    with np.errstate(invalid="ignore"):
        mu_d = np.nanmean(feats, axis=0)  # every column has a finite value: the complete rows
    cov_d = np.cov(complete, rowvar=False)
    diff = params["mu_pris_param"][0] - mu_d
    pooled = (params["cov_pris_param"] + cov_d) / 2
    # MATLAB pinv's tolerance: max(size) * norm * eps
    inv = np.linalg.pinv(pooled, rcond=max(pooled.shape) * np.finfo(np.float64).eps)
    return float(np.sqrt(diff @ inv @ diff))


def _filter_replicate(img: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Correlation of ``img`` with ``window`` (odd size), same size, borders replicated."""
    kh, kw = window.shape
    padded = np.pad(img, ((kh // 2, kh // 2), (kw // 2, kw // 2)), mode="edge")
    out = np.zeros_like(img)
    h, w = img.shape
    for i in range(kh):
        for j in range(kw):
            out += window[i, j] * padded[i:i + h, j:j + w]
    return out


def _single(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32).astype(np.float64)


def _mscn(img: np.ndarray, window: np.ndarray) -> np.ndarray:
    """MSCN coefficients; the two local moments are rounded to single precision (see the module docstring)."""
    mu = _single(_filter_replicate(img, window))
    sigma = np.sqrt(np.abs(_single(_filter_replicate(img * img, window)) - mu * mu))
    return (img - mu) / (sigma + 1.0)


def _block_features(mscn: np.ndarray, size: int) -> np.ndarray:
    """(blocks, 18) features of the ``size`` x ``size`` blocks of ``mscn`` (blocks in row-major order)."""
    r, c = mscn.shape[0] // size, mscn.shape[1] // size
    blocks = mscn.reshape(r, size, c, size).transpose(0, 2, 1, 3).reshape(r * c, size, size)
    alpha, left, right = _aggd(blocks.reshape(len(blocks), -1))
    feats = [alpha, (left + right) / 2]
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        neighbour = np.roll(blocks, (dy, dx), axis=(1, 2))
        alpha, left, right = _aggd((blocks * neighbour).reshape(len(blocks), -1))
        feats += [alpha, (right - left) * _gamma(2 / alpha) / _gamma(1 / alpha), left, right]
    return np.stack(feats, axis=1)


@lru_cache(maxsize=1)
def _shape_grid() -> tuple[np.ndarray, np.ndarray]:
    """The shapes 0.2:0.001:10 and their moment ratio Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a))."""
    shapes = 0.2 + 0.001 * np.arange(9801)
    ratio = _gamma(2 / shapes) ** 2 / (_gamma(1 / shapes) * _gamma(3 / shapes))
    return shapes, ratio


def _gamma(x: np.ndarray) -> np.ndarray:
    return np.array([math.gamma(v) if np.isfinite(v) else np.nan for v in np.ravel(x)]).reshape(np.shape(x))


def _aggd(x: np.ndarray):
    """Moment-matching AGGD fit of each row of ``x``: (shape, left scale, right scale), NaN where a side is
    empty (the shape then falls on the grid's first value, as MATLAB's min over NaN does)."""
    neg, pos = x < 0, x > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        left_std = np.sqrt((x * x * neg).sum(1) / neg.sum(1))
        right_std = np.sqrt((x * x * pos).sum(1) / pos.sum(1))
        g = left_std / right_std
        r = np.abs(x).mean(1) ** 2 / (x * x).mean(1)
        r_norm = r * (g ** 3 + 1) * (g + 1) / (g ** 2 + 1) ** 2
    shapes, ratio = _shape_grid()
    err = (ratio[None, :] - r_norm[:, None]) ** 2
    idx = np.where(np.isnan(r_norm), 0, np.argmin(np.where(np.isnan(err), np.inf, err), axis=1))
    alpha = shapes[idx]
    k = np.sqrt(_gamma(1 / alpha) / _gamma(3 / alpha))
    return alpha, left_std * k, right_std * k


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's 'bicubic')."""
    t = np.abs(x)
    near = (1.5 * t - 2.5) * t * t + 1
    far = ((-0.5 * t + 2.5) * t - 4) * t + 2
    return np.where(t <= 1, near, np.where(t <= 2, far, 0.0))


def _resize_matrix(n_in: int, n_out: int, scale: float) -> np.ndarray:
    """(n_out, n_in) resampling weights of MATLAB's imresize 'bicubic' along one axis: for a shrink the kernel
    is stretched by 1/scale (antialiasing), pixel centres are aligned, each row is normalised to sum 1, and
    taps beyond the border are mirrored (symmetric padding, the edge pixel repeated)."""
    support = 4.0
    if scale < 1:
        kernel, support = (lambda d: scale * _cubic(scale * d)), support / scale
    else:
        kernel = _cubic
    centre = (np.arange(1, n_out + 1) / scale + 0.5 * (1 - 1 / scale))[:, None]  # 1-based input coordinate
    taps = np.floor(centre - support / 2) + np.arange(int(math.ceil(support)) + 2)[None, :]
    weights = kernel(centre - taps)
    weights /= weights.sum(axis=1, keepdims=True)
    # mirror 1-based tap positions into 1..n_in: period 2*n_in, the second half reversed
    pos = np.mod(taps.astype(np.int64) - 1, 2 * n_in)
    pos = np.where(pos < n_in, pos, 2 * n_in - 1 - pos)
    out = np.zeros((n_out, n_in))
    np.add.at(out, (np.repeat(np.arange(n_out), taps.shape[1]), pos.ravel()), weights.ravel())
    return out


def _imresize_half(img: np.ndarray) -> np.ndarray:
    """MATLAB ``imresize(img, 0.5)`` (bicubic, antialiased) of a 2-D float array: rows first, then columns."""
    h, w = img.shape
    rows = _resize_matrix(h, math.ceil(h * 0.5), 0.5)
    cols = _resize_matrix(w, math.ceil(w * 0.5), 0.5)
    return (rows @ img) @ cols.T
