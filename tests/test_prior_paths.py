"""The prior paths: dense maps by SFT, G on F's output, the feature loss and the g regularisers."""
from __future__ import annotations

import pytest
import torch

from helpers import perturb_
from ptg_refine import PTGRefiner
from ptg_refine.data import Pair
from ptg_refine.modules.sft import sample_dense
from ptg_refine.priors import create_prior
from ptg_refine.priors.dense import dense_dim, dense_feature_maps, dense_size
from ptg_refine.training import FeatureCache, Trainer, TrainConfig, _variant_groups, feature_distance

SMALL = dict(width=8, num_blocks=1, prior_hidden=16, embed_dim=8, prior_proj_dim=16)


def gamma(x):
    return x.clamp(0, 1) ** 0.5


@pytest.fixture(scope="module")
def lite0():
    torch.manual_seed(0)
    return create_prior("efficientnet_lite0", pretrained=None)


def dense_refiner(lite0, mode="dense", **kw):
    torch.manual_seed(1)
    return PTGRefiner(restorer=gamma, prior=lite0, prior_mode=mode, **{**SMALL, **kw})


def test_dense_maps_shape_and_dim(lite0):
    assert dense_dim(lite0) == 40 + 112 + 320
    assert dense_size(500, 300) == (448, 256)  # long side 448, multiples of 32
    d = dense_feature_maps(lite0, torch.rand(2, 3, 100, 60))
    assert d.shape == (2, 472, 56, 32)
    assert torch.equal(d, d.half().float())  # float16 precision, as the training cache stores them


def test_priors_give_their_feature_maps(lite0):
    """ImagePrior.feature_maps: the backbone's stride-8/16/32 maps of the image at its own size, normalised with
    the prior's mean / std; feature_channels their widths; a prior without stages of a stride says so."""
    x = torch.rand(2, 3, 64, 96)
    maps = lite0.feature_maps(x, (8, 16, 32))
    assert [tuple(m.shape) for m in maps] == [(2, 40, 8, 12), (2, 112, 4, 6), (2, 320, 2, 3)]
    assert lite0.feature_channels((8, 16, 32)) == [40, 112, 320]
    with pytest.raises(NotImplementedError, match="no feature stages of stride \\[64\\]"):
        lite0.feature_channels((8, 64))
    with pytest.raises(NotImplementedError, match="no dense feature maps"):
        dense_dim(create_prior("none:8"))


def test_dense_path_needs_only_the_feature_maps_method(lite0):
    """A prior that is no ImagePrior (no backbone, mean or std attributes) drives the dense path through its
    feature_maps / feature_channels methods alone, with the same result."""
    class MapsOnly(torch.nn.Module):
        feature_dim, name = lite0.feature_dim, "maps-only"

        def forward(self, x):
            return lite0(x)

        def feature_maps(self, x, reductions):
            return lite0.feature_maps(x, reductions)

        def feature_channels(self, reductions):
            return lite0.feature_channels(reductions)

    x = torch.rand(1, 3, 52, 68)
    assert torch.equal(dense_feature_maps(MapsOnly(), x), dense_feature_maps(lite0, x))
    assert dense_dim(MapsOnly()) == dense_dim(lite0) == 472


@pytest.mark.parametrize("mode", ["dense", "global+dense"])
def test_identity_at_init(lite0, mode):
    r = dense_refiner(lite0, mode)
    x = torch.rand(1, 3, 52, 68)
    assert r.net.dense_prior is not None and r.net.dense_dim == 472
    assert torch.equal(r(x), gamma(x))
    assert sum(p.numel() for p in r.parameters()) < 700_000


def test_dense_sample_of_crop_equals_crop_of_full_sample():
    maps = torch.randn(1, 5, 13, 17)
    full = sample_dense(maps, (0, 0, 90, 130), (23, 33))  # latent grid of the full 90x130 image
    for top, left, h, w in [(8, 12, 40, 64), (52, 96, 38, 34), (0, 4, 16, 16)]:
        crop = sample_dense(maps, (top, left, 90, 130), (-(-h // 4), -(-w // 4)))
        assert torch.equal(crop, full[..., top // 4:top // 4 + crop.shape[-2], left // 4:left // 4 + crop.shape[-1]])


def test_dense_sample_with_per_sample_positions_equals_per_sample_calls():
    """A (B,4) position tensor samples each row's full map at its own cells, for a (B,C,h,w) tensor (one full size)
    and for a list of (1,C,h_i,w_i) maps (full sizes differing per row)."""
    g = torch.Generator().manual_seed(0)
    rows = [(8, 12, 90, 130), (0, 4, 90, 130), (52, 96, 90, 130)]
    maps = torch.randn(3, 5, 13, 17, generator=g)
    one = torch.cat([sample_dense(maps[i:i + 1], r, (6, 7)) for i, r in enumerate(rows)])
    assert torch.equal(sample_dense(maps, torch.tensor(rows), (6, 7)), one)
    rows[1] = (20, 8, 60, 44)
    listed = [maps[:1], torch.randn(1, 5, 8, 6, generator=g), maps[2:]]
    one = torch.cat([sample_dense(m, r, (6, 7)) for m, r in zip(listed, rows)])
    assert torch.equal(sample_dense(listed, torch.tensor(rows), (6, 7)), one)


def test_dense_refiner_batched_positions_equal_per_sample_calls(lite0):
    r = dense_refiner(lite0, "global+dense").eval()
    perturb_(r.net, 0.05)
    g = torch.Generator().manual_seed(0)
    low = torch.rand(3, 3, 32, 40, generator=g)
    prior = torch.nn.functional.normalize(torch.randn(3, r.net.prior_dim, generator=g), dim=1)
    rows = torch.tensor([[0, 0, 64, 80], [8, 12, 96, 68], [32, 40, 64, 80]])
    dense = [r.dense_features(torch.rand(1, 3, int(h), int(w), generator=g)) for _, _, h, w in rows.tolist()]
    with torch.no_grad():
        batched = r.net(low, low.sqrt(), prior, position=rows, dense=dense)
        single = torch.cat([r.net(low[i:i + 1], low[i:i + 1].sqrt(), prior[i:i + 1], position=tuple(rows[i].tolist()),
                                  dense=dense[i]) for i in range(3)])
        torch.testing.assert_close(batched, single, rtol=1e-5, atol=1e-5)
        same = torch.cat([dense[0], dense[0], dense[0]])  # one full size: a (B,C,h,w) tensor works as well
        rows[:, 2:] = torch.tensor([64, 80])
        torch.testing.assert_close(r.net(low, low.sqrt(), prior, position=rows, dense=same),
                                   r.net(low, low.sqrt(), prior, position=rows, dense=[dense[0]] * 3), rtol=0, atol=0)
    with pytest.raises(ValueError, match="given for 2 samples but low has batch size 3"):
        r.net(low, low.sqrt(), prior, position=rows, dense=dense[:2])


def test_dense_crop_forward_and_tiling_match_full_image(lite0):
    r = dense_refiner(lite0, "global+dense").eval()
    perturb_(r.net, 0.05)
    x = torch.rand(1, 3, 96, 136)
    with torch.no_grad():
        full = r(x)
        tiled = r.enhance(x, tile=48, overlap=8, precision="fp32")  # float32, as forward
    assert (tiled - full.clamp(0, 1)).abs().max() < 1e-5
    # the output depends on the maps: zero maps or another image's maps change it
    d = r.dense_features(x)
    with torch.no_grad():
        zero = r(x, dense_features=torch.zeros_like(d))
        other = r(x, dense_features=r.dense_features(torch.rand(1, 3, 96, 136)))
    assert (zero - full).abs().max() > 1e-3 and (other - full).abs().max() > 1e-3
    with pytest.raises(ValueError, match="dense"):
        r(x[..., :48, :48], position=(0, 0, 96, 136))  # a crop needs the full image's maps


def test_dense_mode_has_zero_g_and_restored_input(lite0):
    r = dense_refiner(lite0, "dense")
    x = torch.rand(1, 3, 40, 40)
    assert torch.equal(r.prior_features(x), torch.zeros(1, lite0.feature_dim))
    on_f = dense_refiner(lite0, "global", prior_input="restored")
    assert torch.equal(on_f.prior_features(x), lite0(gamma(x)))
    assert not torch.equal(on_f.prior_features(x), lite0(x))
    with pytest.raises(ValueError, match="prior_mode"):
        PTGRefiner(restorer=gamma, prior="none", prior_mode="sparse")


def test_save_load_keeps_the_dense_path(lite0, tmp_path):
    r = dense_refiner(lite0, "dense")
    perturb_(r.net)
    r.save_pretrained(tmp_path / "r")
    back = PTGRefiner.from_pretrained(tmp_path / "r", restorer=gamma, prior=lite0)
    assert back.prior_mode == "dense"
    x = torch.rand(1, 3, 40, 48)
    with torch.no_grad():
        assert torch.equal(back(x), r.eval()(x))


def test_export_refuses_dense(lite0, tmp_path):
    from ptg_refine.export import export_onnx

    with pytest.raises(NotImplementedError, match="dense"):
        export_onnx(dense_refiner(lite0), tmp_path / "r.onnx")


def _pairs(n=4, size=(40, 48)):
    g = torch.Generator().manual_seed(0)
    out = []
    for i in range(n):
        high = torch.randint(40, 255, (3, *size), generator=g, dtype=torch.uint8)
        out.append(Pair(f"photo{i // 2}_v{i % 2}", (high.float() * 0.3).round().byte(), high))
    return out


def test_cache_matches_refiner_and_training_keeps_F_and_G_frozen(lite0):
    r = dense_refiner(lite0, "global+dense", prior_input="restored")
    data = _pairs()
    cache = FeatureCache(gamma, lite0, "gamma", "lite0", prior_input="restored", dense=True)
    low = data[0].low.float()[None] / 255
    assert torch.equal(cache.dense_features(data[0].low)[None], r.dense_features(low))
    assert torch.allclose(cache.prior_features(data[0].low)[:1], r.prior_features(low), atol=1e-6)
    g_before = {k: v.clone() for k, v in lite0.state_dict().items()}
    tr = Trainer(r, data, TrainConfig(iterations=3, batch_size=2, crop_size=32, feature_loss=0.1), progress=False)
    head = r.net.dense_prior.head_in.weight.clone()
    for _ in range(3):
        stats = tr.train_step(tr.sample_batch())
    assert stats["loss"] > 0
    assert not torch.equal(head, r.net.dense_prior.head_in.weight)  # the SFT path learns
    assert all(torch.equal(v, lite0.state_dict()[k]) for k, v in g_before.items())  # BatchNorm stats included
    assert all(p.grad is None for p in lite0.parameters()) and not lite0.training
    assert all(p.grad is None for p in tr.feature_prior.parameters())


def test_feature_distance(lite0):
    x = torch.rand(2, 3, 32, 32)
    assert feature_distance(lite0, x, x).item() == 0.0
    y = x.clone().requires_grad_(True)
    d = feature_distance(lite0, y, (x + 0.2).clamp(0, 1))
    d.backward()
    assert d.item() > 0 and y.grad.abs().sum() > 0


def test_regularisers_of_g():
    data = _pairs()
    assert _variant_groups(data) == [[0, 1], [0, 1], [2, 3], [2, 3]]
    torch.manual_seed(0)
    r = PTGRefiner(restorer=gamma, prior=lambda x: x.mean(dim=(2, 3)) + torch.arange(3.0), prior_dim=3, **SMALL)
    tr = Trainer(r, data, TrainConfig(iterations=2, batch_size=8, crop_size=16, prior_other_variant=True,
                                      flips=False, position_jitter=8), progress=False)
    assert [tr._prior_source(i) for i in range(4)] == [1, 0, 3, 2]  # always the other variant of the photo
    own = {tuple(tr.cache.prior_features(p.low)[0].tolist()) for p in data}
    assert all(tuple(g.tolist()) in own for g in tr.sample_batch()["prior"])
    for top, left, h, w in tr.sample_batch()["positions"].tolist():
        assert top % 4 == 0 and left % 4 == 0 and 0 <= top <= h - 16 and 0 <= left <= w - 16
    drop = Trainer(r, data, TrainConfig(iterations=2, batch_size=4, crop_size=16, prior_drop=1.0), progress=False)
    assert torch.equal(drop.sample_batch()["prior"], torch.zeros(4, 3))


def test_prior_drop_zeroes_dense_maps_too(lite0):
    tr = Trainer(dense_refiner(lite0, "global+dense"), _pairs(),
                 TrainConfig(iterations=2, batch_size=6, crop_size=32, prior_drop=0.5, seed=3), progress=False)
    b = tr.sample_batch()
    dropped = [bool((g == 0).all()) for g in b["prior"]]
    assert 0 < sum(dropped) < 6  # some crops dropped, some not (seed 3)
    assert dropped == [bool((d == 0).all()) for d in b["dense"]]
    with pytest.raises(ValueError, match="position_jitter"):
        TrainConfig(position_jitter=6)


def test_save_pretrained_card_checksums_and_permissions(tmp_path):
    import os

    r = PTGRefiner(restorer=gamma, prior="none:8", width=8, num_blocks=1)
    r.save_pretrained(tmp_path / "r")
    card = (tmp_path / "r" / "README.md").read_text()
    assert "pushed to the Hub" not in card and "save_pretrained" in card
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(tmp_path / "r" / "model.safetensors").st_mode & 0o777 == 0o666 & ~umask
    weights = tmp_path / "r" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-4:] = b"\0\0\0\0"
    weights.write_bytes(bytes(data))
    with pytest.raises(Exception, match="corrupt"):
        PTGRefiner.from_pretrained(tmp_path / "r", restorer=gamma)


def test_random_prior_checkpoint_rebuilds_the_same_G(tmp_path):
    r = PTGRefiner(restorer=gamma, prior="efficientnet_lite0", prior_pretrained=None, prior_seed=5, **SMALL)
    perturb_(r.net)
    r.save_pretrained(tmp_path / "seeded")
    torch.manual_seed(123)  # the global RNG state must not matter
    back = PTGRefiner.from_pretrained(tmp_path / "seeded", restorer=gamma)
    x = torch.rand(1, 3, 48, 48)
    assert torch.equal(back.prior_features(x), r.prior_features(x))
    unseeded = PTGRefiner(restorer=gamma, prior="efficientnet_lite0", prior_pretrained=None, **SMALL)
    unseeded.save_pretrained(tmp_path / "unseeded")
    with pytest.raises(ValueError, match="seed was not recorded"):
        PTGRefiner.from_pretrained(tmp_path / "unseeded", restorer=gamma)


def test_wide_priors_are_projected_by_default(lite0):
    r = PTGRefiner(restorer=gamma, prior=lite0)
    assert isinstance(r.net.prior_proj, torch.nn.Linear) and r.net.prior_proj.out_features == 128
    assert sum(p.numel() for p in r.parameters()) == 626_076  # within the 0.7M budget (639,996 with upsample="shuffle")
    assert isinstance(PTGRefiner(restorer=gamma, prior="none:512", prior_layers=True).net.prior_proj,
                      torch.nn.Identity)
    with pytest.raises(ValueError, match="prior_proj_dim"):
        PTGRefiner(restorer=gamma, prior="none:8", prior_proj_dim="big")
