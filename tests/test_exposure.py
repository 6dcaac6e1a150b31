"""Real-photo features: exposure control, GT-mean PSNR / luminance / worse-count in evaluation, the do-no-harm
identity penalty, the calibrated `camera` synthetic preset."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from helpers import dark_pairs
from ptg_refine import PTGRefiner
from ptg_refine.data import PairedFolder
from ptg_refine.data.synth import PRESETS, degrade
from ptg_refine.evaluate import evaluate_pairs, psnr
from ptg_refine.exposure import apply_exposure, check_exposure, mean_luminance, mean_saturation, scale_to_luminance
from ptg_refine.training.losses import identity_penalty


def test_mean_luminance_is_rec709_luma_and_scaling_sets_it():
    x = torch.zeros(2, 3, 4, 5)
    x[0, 0], x[1, 1] = 1.0, 0.5
    assert torch.allclose(mean_luminance(x), torch.tensor([0.2126, 0.5 * 0.7152]))
    y = scale_to_luminance(torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 0.3,
                           torch.tensor([0.1, 0.2]))
    assert torch.allclose(mean_luminance(y), torch.tensor([0.1, 0.2]), atol=1e-6)
    black = torch.zeros(1, 3, 4, 4)
    assert torch.equal(scale_to_luminance(black, 0.5), black)  # no gain for a black image
    with pytest.raises(ValueError, match=r"\(B,3,H,W\) RGB"):
        mean_luminance(torch.zeros(3, 4, 4))


def test_saturation_of_grey_and_pure_colours():
    grey = torch.full((1, 3, 4, 4), 0.4)
    red = torch.zeros(1, 3, 4, 4)
    red[:, 0] = 0.8
    assert float(mean_saturation(grey)[0]) == 0.0 and float(mean_saturation(red)[0]) == pytest.approx(1.0)


@pytest.mark.parametrize("bad", ["brightest", 0.0, 1.0, -0.2, True, None])
def test_exposure_options_are_checked(bad):
    with pytest.raises(ValueError, match="exposure must be 'refiner'"):
        check_exposure(bad)
    # a wrong type is a TypeError naming the field (the config checks), a wrong value a ValueError with the options
    with pytest.raises(TypeError if bad is None or isinstance(bad, bool) else ValueError, match="exposure"):
        PTGRefiner(restorer="identity", prior="none:8", exposure=bad)


def test_apply_exposure_modes():
    g = torch.Generator().manual_seed(1)
    out, restored = torch.rand(2, 3, 6, 6, generator=g), torch.rand(2, 3, 6, 6, generator=g) * 0.5
    assert torch.equal(apply_exposure(out * 1.5, restored, "refiner"), (out * 1.5).clamp(0, 1))
    kept = apply_exposure(out, restored, "restorer")
    assert torch.allclose(mean_luminance(kept), mean_luminance(restored), atol=1e-6)
    assert torch.allclose(mean_luminance(apply_exposure(out, restored, 0.3)), torch.full((2,), 0.3), atol=1e-6)


def _trained_looking(exposure):
    from ptg_refine.testing import trained_looking

    torch.manual_seed(0)
    refiner = PTGRefiner(restorer="gamma", prior="none:8", prior_proj_dim=None, width=8, num_blocks=1,
                         exposure=exposure)
    trained_looking(refiner.net)
    return refiner.eval()


def test_enhance_exposure_identity_at_init_and_config_round_trip(tmp_path):
    low = torch.rand(1, 3, 24, 32, generator=torch.Generator().manual_seed(2)) * 0.3
    fresh = PTGRefiner(restorer="gamma", prior="none:8", prior_proj_dim=None, width=8, num_blocks=1,
                       exposure="restorer").eval()
    restored = fresh.restore(low)
    # a fresh R returns F's output bit for bit, and keeping F's brightness keeps it bit for bit
    assert torch.equal(fresh.enhance(low), restored.clamp(0, 1))
    assert torch.equal(fresh.enhance(low, exposure="refiner"), restored.clamp(0, 1))

    refiner = _trained_looking("restorer")
    own = refiner.enhance(low, exposure="refiner")
    kept = refiner.enhance(low)  # the refiner's own setting: "restorer"
    assert not torch.equal(own, kept)
    assert float(mean_luminance(kept)[0]) == pytest.approx(float(mean_luminance(restored)[0]), abs=1e-5)
    assert float(mean_luminance(refiner.enhance(low, exposure=0.42))[0]) == pytest.approx(0.42, abs=1e-5)
    assert torch.equal(refiner(low, restored), refiner(low, restored))  # forward() is Eq. 1, no exposure
    refiner.save_pretrained(tmp_path / "r")
    assert json.loads((tmp_path / "r" / "config.json").read_text())["exposure"] == "restorer"
    loaded = PTGRefiner.from_pretrained(str(tmp_path / "r"))
    assert loaded.exposure == "restorer" and torch.equal(loaded.enhance(low), kept)


def _pairs(tmp_path, n=3):
    from PIL import Image

    g = np.random.default_rng(0)
    for i in range(n):
        high = g.integers(30, 250, (24, 28, 3), dtype=np.uint8)
        for side, img in (("high", high), ("low", (high * 0.25).astype(np.uint8))):
            (tmp_path / side).mkdir(exist_ok=True)
            Image.fromarray(img).save(tmp_path / side / f"p{i}.png")
    return PairedFolder(tmp_path).pairs


def test_evaluation_reports_gtmean_luminance_and_worse(tmp_path):
    pairs = _pairs(tmp_path)
    refiner = _trained_looking("refiner")
    res = evaluate_pairs(pairs, refiner=refiner, progress=False)
    assert res["n"] == 3 and 0 <= res["worse"] <= 3
    assert res["worse"] == sum(r["psnr_F+R"] < r["psnr_F"] for r in res["images"])
    for r, pair in zip(res["images"], pairs):
        target = pair.high_float()[None]
        restored = refiner.restore(pair.low_float()[None])
        assert r["lum_target"] == pytest.approx(float(mean_luminance(target)[0]), abs=1e-6)
        assert r["lum_F"] == pytest.approx(float(mean_luminance(restored.clamp(0, 1))[0]), abs=1e-6)
        scaled = scale_to_luminance(restored.clamp(0, 1), mean_luminance(target))
        assert r["gtmean_psnr_F"] == pytest.approx(float(psnr(scaled, target)[0]), abs=1e-4)
        # GT-mean removes the exposure error, so it is at least as good here (low is 4x too dark for gamma)
        assert r["gtmean_psnr_input"] > r["psnr_input"]
    # the refiner's exposure setting is what evaluation scores
    refiner.exposure = "restorer"
    kept = evaluate_pairs(pairs, refiner=refiner, progress=False)
    assert [r["lum_F+R"] for r in kept["images"]] == pytest.approx([r["lum_F"] for r in kept["images"]], abs=1e-5)


def test_identity_penalty_is_zero_exactly_at_identity():
    mask, residual = torch.ones(2, 1, 4, 4), torch.zeros(2, 3, 4, 4)
    assert float(identity_penalty(mask, residual)) == 0.0
    assert float(identity_penalty(mask * 0.5, residual + 0.1)) == pytest.approx(0.5 + 0.1)


def test_identity_weight_keeps_r_closer_to_f():
    from ptg_refine.training import TrainConfig, Trainer

    pairs = _pairs_in_memory()
    moved = {}
    for w in (0.0, 10.0):
        torch.manual_seed(0)
        refiner = PTGRefiner(restorer="gamma", prior="none:8", prior_proj_dim=None, width=8, num_blocks=1)
        cfg = TrainConfig(iterations=20, batch_size=2, crop_size=16, lr=5e-3, log_every=1, identity_weight=w)
        Trainer(refiner, pairs, cfg, progress=False).fit()
        low = pairs[0].low_float()[None]
        with torch.no_grad():
            d = refiner(low, return_details=True)
        moved[w] = float(identity_penalty(d["mask"], d["residual"]))
    assert moved[10.0] < moved[0.0]


def _pairs_in_memory():
    return dark_pairs(2, (24, 24), seed=3, prefix="m")


def test_camera_preset_is_darker_with_wider_casts_and_a_black_level():
    clean = np.full((16, 16, 3), 180, np.uint8)
    cam = [degrade(clean, np.random.default_rng(s), PRESETS["camera"])[1] for s in range(200)]
    default = [degrade(clean, np.random.default_rng(s), PRESETS["default"])[1] for s in range(200)]
    assert all(0.008 <= p["exposure"] <= 0.3 and 0.65 <= p["gain_r"] <= 1.6 and 0 <= p["black"] <= 0.001
               for p in cam)
    assert min(p["exposure"] for p in cam) < 0.03 <= min(p["exposure"] for p in default)
    assert all("black" not in p for p in default)
    # the default preset's stream is that of DegradationConfig() (its outputs are unchanged)
    a, _ = degrade(clean, np.random.default_rng(5))
    b, _ = degrade(clean, np.random.default_rng(5), PRESETS["default"])
    assert np.array_equal(a, b)


def test_a_run_resumes_across_an_exposure_change(tmp_path):
    """exposure only changes enhance()'s output brightness, never training: the run fingerprint ignores it."""
    from ptg_refine.training import TrainConfig, Trainer

    pairs = _pairs_in_memory()
    cfg = TrainConfig(iterations=2, batch_size=1, crop_size=16, log_every=1, ckpt_every=1)

    def trainer(exposure, iterations):
        torch.manual_seed(0)
        refiner = PTGRefiner(restorer="gamma", prior="none:8", prior_proj_dim=None, width=8, num_blocks=1,
                             exposure=exposure)
        return Trainer(refiner, pairs, TrainConfig(**{**cfg.__dict__, "iterations": iterations}),
                       out_dir=tmp_path / "run", progress=False)

    trainer("refiner", 2).fit()
    resumed = trainer(0.45, 3)
    assert resumed.resume() == 2
    resumed.fit()
    assert json.loads((tmp_path / "run" / "final" / "config.json").read_text())["exposure"] == 0.45
