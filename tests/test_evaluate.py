"""ptg_refine.evaluate: metric values, per-image rows, JSON/CSV output, comparison strips."""
from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from ptg_refine import PTGRefiner
from ptg_refine.data import Pair
from ptg_refine.evaluate import comparison_strip, evaluate_pairs, mean_se, psnr, ssim


def test_psnr_and_ssim_values():
    t = torch.full((2, 3, 32, 32), 0.5)
    assert torch.allclose(psnr(t + 0.1, t), torch.tensor([20.0, 20.0]), atol=1e-4)  # 10·log10(1/0.01)
    assert torch.allclose(ssim(t, t), torch.ones(2))
    noisy = (t + 0.2 * torch.randn_like(t)).clamp(0, 1)
    assert (ssim(noisy, t) < 0.5).all()
    assert torch.allclose(psnr(t + 2.0, t), torch.tensor([20 * math.log10(1 / 0.5)] * 2), atol=1e-4)  # clamped
    with pytest.raises(ValueError, match="11x11"):
        ssim(t[..., :8, :8], t[..., :8, :8])


def test_mean_se():
    m, se = mean_se([1.0, 2.0, 3.0])
    assert m == 2.0 and se == pytest.approx(1 / math.sqrt(3))
    assert mean_se([4.0]) == (4.0, 0.0)
    with pytest.raises(ValueError):
        mean_se([])


def test_evaluate_pairs_writes_rows_and_strips(tmp_path):
    g = torch.Generator().manual_seed(0)
    pairs = [Pair(f"im{i}", torch.randint(0, 80, (3, 24, 28), generator=g, dtype=torch.uint8),
                  torch.randint(0, 255, (3, 24, 28), generator=g, dtype=torch.uint8)) for i in range(3)]
    torch.manual_seed(0)
    refiner = PTGRefiner(restorer="identity", prior="none:8", width=8, num_blocks=1)
    res = evaluate_pairs(pairs, refiner=refiner, out_dir=tmp_path, progress=False)
    assert res["n"] == 3 and len(res["images"]) == 3
    row = res["images"][0]
    expected = float(psnr(pairs[0].low_float()[None], pairs[0].high_float()[None])[0])
    assert row["psnr_input"] == pytest.approx(expected)
    assert row["psnr_F"] == pytest.approx(expected)   # identity F
    assert row["psnr_F+R"] == pytest.approx(expected, abs=1e-4)  # a new refiner returns F exactly
    assert res["mean"]["psnr_F"] == pytest.approx(np.mean([r["psnr_F"] for r in res["images"]]))
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["n"] == 3 and "Gaussian" in saved["protocol"]
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert [r["name"] for r in rows] == ["im0", "im1", "im2", "mean", "se"]
    strip = np.asarray(Image.open(tmp_path / "strips" / "im1.png"))
    assert strip.shape == (24 + 18, 4 * 28 + 3 * 4, 3)  # input | F | F+R | target with labels


def test_strip_layout():
    ims = [torch.zeros(3, 10, 12), torch.ones(3, 10, 12)]
    s = comparison_strip(ims, ["a", "b"], gap=2)
    assert s.shape == (28, 26, 3) and s[18:, 14:].min() == 255 and s[18:, :12].max() == 0
