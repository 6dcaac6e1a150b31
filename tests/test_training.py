"""ptg_refine.training: steps, loss, resume after interruption, joint mode, torchrun with 2 processes."""
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
from ptg_refine.training import (FeatureCache, Trainer, TrainConfig, charbonnier, joint_loss,
                                  prior_parameter_names, refinement_loss)
from ptg_refine.training.resume import read_training_state
from helpers import dark_pairs

TINY = dict(prior="none:8", width=8, num_blocks=1, prior_hidden=16, embed_dim=8)


def pairs(n=3, size=(36, 44), seed=0):
    return dark_pairs(n, size, seed)


def refiner(restorer="gamma", **kw):
    torch.manual_seed(0)
    return PTGRefiner(restorer=restorer, **{**TINY, **kw})


def cfg(**kw):
    return TrainConfig(**{"iterations": 4, "batch_size": 2, "crop_size": 16, "lr": 1e-3, **kw})


def test_loss_values():
    x = torch.zeros(1, 3, 16, 16)
    assert charbonnier(x, x + 0.5, eps=0).item() == pytest.approx(0.5)
    assert refinement_loss(x, x, ssim_weight=0.1).item() == pytest.approx(1e-3, abs=1e-6)  # sqrt(eps^2)


def test_joint_loss_is_eq8():
    """Eq. 8: L(Î_c, T) + λ·L(Ī_c, T), the extra (feature) term inside the λ product."""
    g = torch.Generator().manual_seed(0)
    restored, refined, target = torch.rand(3, 2, 3, 16, 16, generator=g).unbind(0)
    L = refinement_loss
    torch.testing.assert_close(joint_loss(restored, refined, target, 0.5),
                               L(restored, target) + 0.5 * L(refined, target))
    torch.testing.assert_close(joint_loss(restored, refined, target, 2.0, ssim_weight=0, eps=0.01,
                                          refined_extra=torch.tensor(0.25)),
                               L(restored, target, 0, 0.01) + 2.0 * (L(refined, target, 0, 0.01) + 0.25))


def test_config_errors():
    with pytest.raises(ValueError, match="multiple of 4"):
        TrainConfig(crop_size=30)
    with pytest.raises(ValueError, match="amp"):
        TrainConfig(amp="fp8")
    with pytest.raises(ValueError, match="smaller than crop_size"):
        Trainer(refiner(), pairs(size=(20, 20)), cfg(crop_size=32), progress=False)


def test_batches_steps_and_overfitting():
    tr = Trainer(refiner(), pairs(), cfg(iterations=40, flips=False), progress=False)
    b = tr.sample_batch()
    assert b["low"].shape == b["target"].shape == b["restored"].shape == (2, 3, 16, 16)
    assert b["prior"].shape == (2, 8) and b["positions"].shape == (2, 4) and b["positions"].dtype == torch.long
    assert all(top % 4 == 0 and left % 4 == 0 and (h, w) == (36, 44) for top, left, h, w in b["positions"].tolist())
    first = tr.train_step(b)["loss"]
    for _ in range(25):
        last = tr.train_step(b)["loss"]
    assert tr.step == 26 and last < first * 0.9
    assert tr.cache.hits > 0  # F/G came from the cache, not recomputed per step


def test_only_r_trains_and_prior_weight_decay_group():
    r = refiner(restorer="sci", prior_proj_dim=4, prior_layers=True)  # a zero prior with prior layers
    before = {k: v.clone() for k, v in r.restorer.state_dict().items()}
    tr = Trainer(r, pairs(), cfg(prior_weight_decay=0.5), progress=False)
    tr.train_step(tr.sample_batch())
    assert all(torch.equal(v, r.restorer.state_dict()[k]) for k, v in before.items())
    names = prior_parameter_names(r.net)
    assert "prior_proj.weight" in names and any("sve.prior_mlp" in n for n in names)
    assert [g["weight_decay"] for g in tr.optimizer.param_groups] == [1e-4, 0.5]


def test_joint_finetunes_f():
    r = refiner(restorer="sci")
    before = {k: v.clone() for k, v in r.restorer.state_dict().items() if v.is_floating_point()}
    tr = Trainer(r, pairs(), cfg(joint=True, joint_lr=1e-2), progress=False)
    assert not tr.cache.cache_restored
    b = tr.sample_batch()
    assert b["restored"] is None
    tr.train_step(b)
    assert any(not torch.equal(v, r.restorer.state_dict()[k]) for k, v in before.items())


def test_resume_after_interruption_equals_uninterrupted_run(tmp_path):
    data = pairs()
    full = Trainer(refiner(), data, cfg(iterations=6), out_dir=tmp_path / "a", progress=False)
    full.fit()
    # "killed" run: 3 steps, a checkpoint, then a crash before the end (a stale temp folder left behind)
    part = Trainer(refiner(), data, cfg(iterations=6), out_dir=tmp_path / "b", progress=False)
    for _ in range(3):
        part.train_step(part.sample_batch())
    part.save_checkpoint()
    (tmp_path / "b" / "checkpoints" / ".tmp_step_0000004_1").mkdir()
    torch.manual_seed(123)  # the new process has other RNG state; resume must restore it
    again = Trainer(refiner(), data, cfg(iterations=6), out_dir=tmp_path / "b", progress=False)
    assert again.resume() == 3
    again.fit()
    for k, v in full.refiner.net.state_dict().items():
        assert torch.equal(v, again.refiner.net.state_dict()[k]), k
    assert (tmp_path / "b" / "checkpoints" / "latest").read_text() == "step_0000006"
    loaded = PTGRefiner.from_pretrained(tmp_path / "b" / "final", restorer="gamma", prior_hidden=16, embed_dim=8)
    for k, v in full.refiner.net.state_dict().items():
        assert torch.equal(v, loaded.net.state_dict()[k]), k
    with pytest.raises(ValueError, match="differ"):
        Trainer(refiner(), data, cfg(iterations=6, lr=5e-4), out_dir=tmp_path / "b", progress=False).resume()


def test_validation_reports_psnr(tmp_path):
    data = pairs()
    tr = Trainer(refiner(), data[:2], cfg(iterations=2, val_every=2), val_pairs=data[2:], out_dir=tmp_path,
                 progress=False)
    tr.fit()
    v = [h for h in tr.history if "val_psnr_FR" in h]
    assert len(v) == 1 and np.isfinite(v[0]["val_psnr_FR"]) and v[0]["val_psnr_F"] > 0
    assert json.loads((tmp_path / "history.json").read_text())["summary"]["iterations"] == 2


def test_torchrun_two_processes(tmp_path):
    for sub in ("low", "high"):
        (tmp_path / "d" / sub).mkdir(parents=True)
    for p in pairs(4):
        Image.fromarray(p.low.permute(1, 2, 0).numpy()).save(tmp_path / "d" / "low" / f"{p.name}.png")
        Image.fromarray(p.high.permute(1, 2, 0).numpy()).save(tmp_path / "d" / "high" / f"{p.name}.png")
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
           "ptg_refine.cli", "train", "--pairs", str(tmp_path / "d"), "--out", str(out), "--restorer", "gamma",
           "--prior", "none:8", "--prior-proj-dim", "0", "--width", "8", "--num-blocks", "1",
           "--iterations", "3", "--batch-size", "1", "--crop-size", "16", "--threads", "1", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    state = read_training_state(out / "checkpoints" / "step_0000003")
    assert state["world_size"] == 2 and state["step"] == 3 and len(state["rng"]) == 2
    assert not torch.equal(state["rng"][0]["generator"], state["rng"][1]["generator"])  # ranks draw different crops
    assert (out / "final" / "model.safetensors").is_file()
    assert json.loads((out / "final" / "config.json").read_text())["restorer"] == "gamma"


def test_bf16_autocast_on_cpu():
    tr = Trainer(refiner(), pairs(), cfg(amp="bf16"), progress=False)
    assert tr.amp_dtype == torch.bfloat16
    stats = tr.train_step(tr.sample_batch())
    assert np.isfinite(stats["loss"]) and tr.step == 1
    with pytest.raises(ValueError, match="CUDA"):
        Trainer(refiner(), pairs(), cfg(amp="fp16"), progress=False, device="cpu")


def _stats_prior(x):
    """A tiny content-dependent prior (B,8): channel means, channel maxima, min of R and G."""
    return torch.cat([x.mean((2, 3)), x.amax((2, 3)), x.amin((2, 3))[:, :2]], 1)


def test_prior_views_cached_distinct_and_training_only(tmp_path):
    from ptg_refine.evaluate import evaluate_pairs

    data = pairs(3, size=(40, 48))
    r = refiner(prior=_stats_prior, prior_dim=8)
    tr = Trainer(r, data, cfg(prior_views=4, flips=False), cache_dir=tmp_path, progress=False)
    views = tr.cache.prior_views(data[0].low, 4, tr.keys[0])
    assert views.shape == (4, 8) and len(list(tmp_path.glob("priorviews4-*/*.safetensors"))) == 3  # on disk
    assert all(not torch.allclose(views[i], views[j]) for i in range(4) for j in range(i))  # views differ
    hits = tr.cache.hits
    assert tr.cache.prior_views(data[0].low, 4) is views and tr.cache.hits == hits + 1  # cached, not recomputed
    # deterministic per image (seeded by the image hash): a fresh cache rebuilds the same views
    fresh = FeatureCache(r.restorer, r.prior, "gamma", "custom", None)
    assert torch.allclose(fresh.prior_views(data[0].low, 4), views)
    # training batches take g from the views, never the full-image g
    all_views = torch.cat([tr.cache.prior_views(p.low, 4, k) for p, k in zip(data, tr.keys)])
    full = torch.cat([tr.cache.prior_features(p.low, k)[:1] for p, k in zip(data, tr.keys)])
    for _ in range(3):
        for g in tr.sample_batch()["prior"]:
            assert (g - all_views).abs().amax(1).min() < 1e-6 and (g - full).abs().amax(1).min() > 1e-4
    tr.train_step(tr.sample_batch())
    # validation / inference: the plain full-image g, as without prior_views
    assert torch.allclose(full[0], r.prior(data[0].low.float().div(255)[None])[0])
    a = evaluate_pairs(data, refiner=r, cache=tr.cache, progress=False)["mean"]["psnr_F+R"]
    b = evaluate_pairs(data, refiner=r, progress=False)["mean"]["psnr_F+R"]
    assert a == pytest.approx(b, abs=1e-4)
    # crop mix: g = normalise((1 - m) g_full + m G(crop)), unit norm, differs from the full-image g
    mix = Trainer(r, data, cfg(prior_crop_mix=0.5), progress=False)
    g = mix.sample_batch()["prior"]
    assert torch.allclose(g.norm(dim=1), torch.ones(2)) and (g[:, None] - full[None]).abs().amax(2).min() > 1e-4
    with pytest.raises(ValueError, match="prior_views"):
        TrainConfig(prior_views=-1)
    with pytest.raises(ValueError, match="prior_crop_mix"):
        TrainConfig(prior_crop_mix=2.0)


class CountingRestorer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(2.0))
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return (x * self.scale).clamp(0, 1)


class MeanPrior(torch.nn.Module):
    feature_dim = 3

    def forward(self, x):
        return x.mean((2, 3))


def test_feature_cache_computes_once_and_reuses_disk(tmp_path):
    f = CountingRestorer()
    low = torch.randint(0, 255, (3, 20, 24), dtype=torch.uint8)
    cache = FeatureCache(f, MeanPrior(), "count", "mean", tmp_path)
    r1 = cache.restored(low)
    r2 = cache.restored(low)
    assert f.calls == 1 and torch.equal(r1, r2)
    assert torch.allclose(r1, (low.float() / 255 * 2).clamp(0, 1))
    g = cache.prior_features(low)
    assert g.shape == (4, 3)  # the four flip states; the mean is flip-invariant
    assert torch.allclose(g, g[:1].expand(4, 3), atol=1e-6)
    fresh = CountingRestorer()
    cache2 = FeatureCache(fresh, MeanPrior(), "count", "mean", tmp_path)
    assert torch.equal(cache2.restored(low), r1) and fresh.calls == 0  # read from disk
    other = CountingRestorer()
    with torch.no_grad():
        other.scale.fill_(3.0)  # different weights -> different fingerprint -> recomputed
    cache3 = FeatureCache(other, MeanPrior(), "count", "mean", tmp_path)
    cache3.restored(low)
    assert other.calls == 1
