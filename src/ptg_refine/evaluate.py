"""Full-reference evaluation of F and F+R on paired images: per-image and mean PSNR / SSIM, JSON / CSV,
and comparison strips (input | F | F+R | target; :func:`ptg_refine.data.io.comparison_strip`). The metric
library (pytorch_msssim) is imported here only, so ``enhance`` does not load it.

Protocol: :data:`PROTOCOL` (recorded in every result). Also per image: mean luminance and mean HSV saturation of
each prediction and of the target, and the artefact measures of :mod:`ptg_refine.artefacts` (``nyq``: the share of
the horizontal spectrum at period 2 px; ``black``: the 1st-percentile luminance; ``clip``: the share of clipped
pixels) of each image and of the target. Means are reported with their standard error over images (sample std /
sqrt(n)); ``worse``: the number of images where F+R scores a lower PSNR than F.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from pytorch_msssim import ssim as _ssim

from ._outputs import atomic_file, save_atomic, write_text_atomic
from .data.io import comparison_strip, strip_labels
from .artefacts import black_level, clipped_share, nyquist_share
from .exposure import mean_luminance, mean_saturation, scale_to_luminance

PROTOCOL = ("RGB, float in [0,1]; predictions are clamped to [0,1] (Eq. 1 is unbounded) but not quantised to 8 bit; "
            "targets are the 8-bit ground truth / 255. PSNR: -10 log10(MSE + 1e-8) over all three channels "
            "(data range 1; the formula of piq.psnr, which earlier results used). SSIM: "
            "``pytorch_msssim.ssim(data_range=1)``: Gaussian window 11x11, sigma 1.5, K1=0.01, K2=0.03 (Wang et al., "
            "\"Image Quality Assessment: From Error Visibility to Structural Similarity\", IEEE TIP 2004), computed "
            "per channel on RGB and averaged, valid region only (no padding), no downsampling. GT-mean PSNR: the "
            "prediction scaled by one gain per image so that its mean luminance equals the target's "
            "(:func:`ptg_refine.exposure.scale_to_luminance`, clamped), then PSNR; it separates exposure from "
            "restoration.")
PSNR_EPS = 1e-8


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR (dB) of (B,3,H,W) tensors in [0,1]; ``pred`` is clamped to [0,1]."""
    if pred.ndim != 4 or pred.shape != target.shape:
        raise ValueError(f"psnr needs two (B,C,H,W) tensors of one shape, got {tuple(pred.shape)} and "
                         f"{tuple(target.shape)}")
    mse = ((pred.float().clamp(0, 1) - target.float()) ** 2).mean(dim=(1, 2, 3))
    return -10 * torch.log10(mse + PSNR_EPS)


def ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM of (B,3,H,W) tensors in [0,1] (11x11 Gaussian, sigma 1.5); ``pred`` is clamped."""
    if min(pred.shape[-2:]) < 11:
        raise ValueError(f"SSIM needs images of at least 11x11 pixels (the Gaussian window), got {tuple(pred.shape[-2:])}")
    return _ssim(pred.float().clamp(0, 1), target.float(), data_range=1.0, size_average=False)


def mean_se(values) -> tuple[float, float]:
    """Mean and standard error (sample std / sqrt(n); 0 for n = 1)."""
    v = np.asarray(list(values), dtype=np.float64)
    if v.size == 0:
        raise ValueError("mean_se of an empty list")
    se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else 0.0
    return float(v.mean()), se


@torch.no_grad()
def evaluate_pairs(pairs, restorer=None, refiner=None, cache=None, out_dir=None, strips: bool = True,
                   progress: bool = True, device=None, precision: str = "fp32", labels: dict | None = None) -> dict:
    """Score input, F (``restorer`` or ``refiner.restorer``) and F+R (if ``refiner``) on every pair.

    pairs: a list of :class:`ptg_refine.data.Pair` (e.g. ``PairedFolder(root).pairs``). cache: an optional
    :class:`ptg_refine.training.FeatureCache` holding F / G of the full images. out_dir: writes
    ``metrics.json``, ``metrics.csv`` and (``strips``) ``strips/<name>.png``. Returns
    ``{"images": [per-image rows], "mean": {...}, "se": {...}, "n": n}``. device: where the images go (the
    caller's models must be there already, e.g. ``refiner.to(device)``); None: the device of the refiner's R,
    else of the restorer's weights, else the CPU. Metrics are computed in float32 on that device. precision: R's
    arithmetic (``PTGRefiner.enhance``); float32 by default, so that scores are comparable across machines.
    labels: the strips' column labels by key ("input", "F", "F+R", "target"); by default F is named after the
    restorer (its ``name``, e.g. "F: sci"), and the caller may name the refiner (``{"F+R": "F+R: sci-none"}``).
    """
    from tqdm import tqdm

    from ._device import module_device, resolve_device

    if restorer is None and refiner is not None:
        restorer = refiner.restorer
    # None: where the models are (they are not moved here); else the package's device rule
    device = (module_device(refiner, restorer) or torch.device("cpu")) if device is None else resolve_device(device)
    if restorer is None and cache is None:
        raise ValueError("evaluate_pairs needs a restorer F (restorer= or a refiner with one)")
    if refiner is not None:
        refiner.eval()
    out_dir = Path(out_dir) if out_dir is not None else None
    labels = {**strip_labels(restorer), **(labels or {})}
    rows = []
    for pair in tqdm(list(pairs), desc="eval", disable=not progress, unit="img"):
        low = pair.low_float()[None].to(device)
        target = pair.high_float()[None].to(device)
        if cache is not None and cache.cache_restored:
            restored = cache.restored(pair.low)[None].to(device)
        else:
            restored = restorer(low)
        row = {"name": pair.name}
        outputs = {"input": low, "F": restored}
        if refiner is not None:
            g = cache.prior_features(pair.low)[:1].to(device) if cache is not None else None
            dense = cache.dense_features(pair.low)[None].to(device) \
                if cache is not None and refiner.uses_dense else None
            outputs["F+R"] = refiner.enhance(low, restored, g, dense_features=dense, precision=precision)
        target_lum = mean_luminance(target)
        for key, pred in outputs.items():
            row[f"psnr_{key}"] = float(psnr(pred, target)[0])
            row[f"ssim_{key}"] = float(ssim(pred, target)[0])
            row[f"gtmean_psnr_{key}"] = float(psnr(scale_to_luminance(pred.clamp(0, 1), target_lum), target)[0])
            row[f"lum_{key}"] = float(mean_luminance(pred.clamp(0, 1))[0])
            row[f"sat_{key}"] = float(mean_saturation(pred)[0])
        row["lum_target"], row["sat_target"] = float(target_lum[0]), float(mean_saturation(target)[0])
        for key, image in [*outputs.items(), ("target", target)]:
            row[f"nyq_{key}"] = float(nyquist_share(image)[0])
            row[f"black_{key}"] = float(black_level(image)[0])
            row[f"clip_{key}"] = float(clipped_share(image)[0])
        rows.append(row)
        if out_dir is not None and strips:
            ims = [v[0] for v in outputs.values()] + [target[0]]
            strip = comparison_strip(ims, [labels.get(k, k) for k in [*outputs.keys(), "target"]])
            save_atomic(lambda tmp: Image.fromarray(strip).save(tmp, format="PNG"),
                        _mkdir(out_dir / "strips") / f"{pair.name}.png")
    if not rows:
        raise ValueError("no pairs to evaluate")
    keys = [k for k in rows[0] if k != "name"]
    stats = {k: mean_se(r[k] for r in rows) for k in keys}
    result = {"n": len(rows), "protocol": PROTOCOL,
              "mean": {k: v[0] for k, v in stats.items()}, "se": {k: v[1] for k, v in stats.items()},
              "images": rows}
    if refiner is not None:
        result["worse"] = sum(r["psnr_F+R"] < r["psnr_F"] for r in rows)
    if out_dir is not None:
        _mkdir(out_dir)
        write_text_atomic(out_dir / "metrics.json", json.dumps(result, indent=1))
        with atomic_file(out_dir / "metrics.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["name", *keys])
            writer.writeheader()
            writer.writerows(rows)
            writer.writerow({"name": "mean", **result["mean"]})
            writer.writerow({"name": "se", **result["se"]})
    return result


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
