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


# -- exposure "scene": a target mean luminance predicted from the input, reached by a tone curve -------------------

def _scene_images():
    """A made-up dark input (a low-light shot: median luminance about 0.03) and a made-up bright one (about 0.5),
    and an F + R output of the dark one (too dark, with a lifted floor and a few near-white pixels). Grey-ish, as
    in photos the channels go together."""
    g = torch.Generator().manual_seed(4)
    base = torch.rand(1, 1, 32, 48, generator=g) * torch.tensor([1.0, 1.0, 0.97]).view(1, 3, 1, 1)
    dark = base * 0.06
    bright = (0.25 + base * 0.5).clamp(0, 1)
    refined = 0.05 + base * 0.25
    refined[..., :2, :3] = 0.97  # a light
    return dark, bright, refined


def test_scene_target_follows_the_input_and_never_asks_a_bright_input_to_brighten():
    from ptg_refine.exposure import SCENE_B, SCENE_LOG_A, SCENE_MAX, luminance_quantile, scene_target

    dark, bright, _ = _scene_images()
    median = float(luminance_quantile(dark, 0.5)[0])
    expected = min(SCENE_MAX, np.exp(SCENE_LOG_A) * median ** SCENE_B)
    assert float(scene_target(dark)[0]) == pytest.approx(expected, rel=1e-5)
    assert float(mean_luminance(dark)[0]) < expected <= SCENE_MAX
    # a darker scene gets a darker target; a bright input its own mean (it is at or above its predicted target)
    assert float(scene_target(dark * 0.3)[0]) < float(scene_target(dark)[0])
    assert float(scene_target(bright)[0]) == pytest.approx(float(mean_luminance(bright)[0]), abs=1e-6)
    # batched: one target per image; a black frame gets a finite target
    both = scene_target(torch.cat([dark, bright, torch.zeros_like(dark)]))
    assert both.shape == (3,) and torch.isfinite(both).all()


def test_scene_brightens_a_dark_input_to_its_target_keeping_blacks_and_lights():
    from ptg_refine.artefacts import black_level, clipped_share
    from ptg_refine.exposure import black_point, scene_target

    dark, _, refined = _scene_images()
    out = apply_exposure(refined, refined, "scene", low=dark)
    target = float(scene_target(dark)[0])
    assert float(mean_luminance(out)[0]) == pytest.approx(target, abs=2e-3)
    assert target > float(mean_luminance(refined)[0])
    # the black level stays where F + R put it, and nothing clips (a plain gain to the same mean clips the light)
    assert float(black_level(out)[0]) == pytest.approx(float(black_level(refined)[0]), abs=2e-3)
    assert float(black_point(out)[0]) == pytest.approx(float(black_point(refined)[0]), abs=2e-3)
    assert float(clipped_share(out)[0]) == 0.0 < float(clipped_share(scale_to_luminance(refined, target))[0])
    assert out.min() >= 0 and out.max() < 1
    # the curve is monotone: brighter in, brighter out
    order = refined.flatten().argsort()
    assert (out.flatten()[order].diff() >= -1e-6).all()


def test_scene_does_not_brighten_a_bright_input():
    dark, bright, _ = _scene_images()
    kept = apply_exposure(bright, bright, "scene", low=bright)
    assert torch.allclose(kept, bright, atol=1e-6)  # F + R at the input's brightness: left alone
    too_bright = (bright * 1.4).clamp(0, 1)  # F + R brighter than the well-exposed input: scaled down to it
    down = apply_exposure(too_bright, too_bright, "scene", low=bright)
    assert float(mean_luminance(down)[0]) == pytest.approx(float(mean_luminance(bright)[0]), abs=1e-5)
    assert torch.allclose(down, scale_to_luminance(too_bright, mean_luminance(bright)))
    with pytest.raises(ValueError, match="pass low="):
        apply_exposure(dark, dark, "scene")


def test_knee_curve_is_identity_at_gain_one_and_maps_white_to_white():
    from ptg_refine.exposure import knee_curve

    x = torch.linspace(0, 1, 3 * 64).view(1, 3, 8, 8)
    assert torch.allclose(knee_curve(x, 1.0), x, atol=1e-6)
    assert torch.allclose(knee_curve(x, 1.0, black=0.1), x, atol=1e-6)
    y = knee_curve(x, 4.0, black=0.1)
    assert float(y.max()) == pytest.approx(1.0) and (y.flatten().diff() >= 0).all()
    assert torch.equal(y[x <= 0.1], x[x <= 0.1])  # below the black point: unchanged


@pytest.mark.parametrize("text, value", [("scene", "scene"), ("refiner", "refiner"), ("0.3", 0.3)])
def test_scene_is_parsed_and_checked(text, value):
    from ptg_refine.exposure import parse_exposure

    assert parse_exposure(text) == value and check_exposure(value) == value


@pytest.mark.parametrize("bad", ["Scene", "scenes", "scene "])
def test_misspelt_scene_names_the_options(bad):
    from ptg_refine.exposure import parse_exposure

    with pytest.raises(ValueError, match="'scene'"):
        parse_exposure(bad)
    with pytest.raises(ValueError, match="'scene'"):
        check_exposure(bad)


def test_refiner_accepts_scene_applies_it_and_records_it(tmp_path):
    dark, _, _ = _scene_images()
    refiner = _trained_looking("scene")
    assert refiner.exposure == "scene"
    restored = refiner.restore(dark)
    out = refiner.enhance(dark, restored, precision="fp32")
    # enhance() = the policy applied to R's own output (what benchmarks/exposure_policy.py relies on)
    own = refiner.enhance(dark, restored, exposure="refiner", precision="fp32")
    assert torch.equal(out, apply_exposure(own, restored, "scene", low=dark))
    from ptg_refine.exposure import scene_target
    assert float(mean_luminance(out)[0]) == pytest.approx(float(scene_target(dark)[0]), abs=2e-3)
    refiner.save_pretrained(tmp_path / "r")
    assert json.loads((tmp_path / "r" / "config.json").read_text())["exposure"] == "scene"
    loaded = PTGRefiner.from_pretrained(str(tmp_path / "r"))
    assert loaded.exposure == "scene" and torch.equal(loaded.enhance(dark, restored, precision="fp32"), out)
    refiner.exposure = "refiner"
    refiner.exposure = "scene"  # the setter checks it too
    with pytest.raises(ValueError, match="'scene'"):
        refiner.exposure = "scenic"
