"""Priors from a model hub without network: one clear, fast error; cached weights used offline;
only real network failures reported as such. CLIP: the tag's own activation, the image tower alone."""
from __future__ import annotations

import json
import socket
import time

import pytest
import torch

from ptg_refine import PTGRefiner, create_prior
from ptg_refine import _hub
from ptg_refine._hub import HubUnavailableError
from ptg_refine.priors import clip as clip_prior

TINY_CLIP = {"embed_dim": 32,
             "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
             "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 32, "heads": 2, "layers": 1}}
FAST = 5.0  # seconds: "within a few seconds" (measured: < 0.1 s once the prior modules are imported)


@pytest.fixture(autouse=True)
def _fresh_probe():
    _hub._probe.cache_clear()
    yield
    _hub._probe.cache_clear()


@pytest.fixture
def tiny_clip(tmp_path):
    """A tiny open_clip architecture with a pretrained tag 'tiny' (QuickGELU, like 'openai') on a hub repo."""
    import open_clip
    from open_clip import pretrained

    (tmp_path / "ptg-tiny-clip2.json").write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(tmp_path / "ptg-tiny-clip2.json")
    pretrained._PRETRAINED["ptg-tiny-clip2"] = {"tiny": {"hf_hub": "ptg-test/tiny-clip/", "quick_gelu": True,
                                                          "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25)}}
    yield "ptg-tiny-clip2"
    open_clip.factory._MODEL_CONFIGS.pop("ptg-tiny-clip2", None)
    pretrained._PRETRAINED.pop("ptg-tiny-clip2", None)


def _offline_message_ok(msg: str):
    assert "prior='efficientnet_lite0'" in msg and "prior='none'" in msg and "pretrained='/path/to/" in msg


def _timed_error(fn, error=HubUnavailableError):
    start = time.perf_counter()
    with pytest.raises(error) as info:
        fn()
    return time.perf_counter() - start, str(info.value)


def test_clip_offline_fails_fast_with_one_clear_message(monkeypatch, recwarn):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import open_clip  # noqa: F401  (imports outside the timing)

    seconds, msg = _timed_error(lambda: create_prior("clip"))
    assert seconds < FAST, seconds
    _offline_message_ok(msg)
    assert "ViT-B-32" in msg and "'openai'" in msg and "timm/vit_base_patch32_clip_224.openai" in msg
    assert "HF_HUB_OFFLINE" in msg
    # the refiner's default prior: same error, no retry warnings
    seconds, msg = _timed_error(lambda: PTGRefiner(restorer=lambda x: x, prior="clip"))
    assert seconds < FAST
    _offline_message_ok(msg)
    assert not [w for w in recwarn if "etry" in str(w.message)]
    # also a RuntimeError / ConnectionError for callers that catch those
    assert issubclass(HubUnavailableError, RuntimeError) and issubclass(HubUnavailableError, ConnectionError)


def test_timm_pretrained_offline_fails_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    seconds, msg = _timed_error(lambda: create_prior("timm:resnet18", pretrained=True))
    assert seconds < FAST
    _offline_message_ok(msg)
    assert "timm/resnet18" in msg
    # a typo is not "offline"
    with pytest.raises(ValueError, match="unknown timm model"):
        create_prior("timm:resnet_eighteen")


def _silent_server():
    """A local TCP port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    return server


@pytest.mark.parametrize("kind", ["refused", "silent"])
def test_unreachable_hub_detected_by_one_short_probe(monkeypatch, kind):
    """Without HF_HUB_OFFLINE, an endpoint that refuses or never answers is detected in about the probe
    timeout, once per process."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(_hub, "PROBE_TIMEOUT", 0.5)
    server = _silent_server()
    port = server.getsockname()[1]
    if kind == "refused":
        server.close()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    try:
        seconds, msg = _timed_error(lambda: create_prior("timm:resnet18", pretrained=True))
        assert seconds < 2.0, seconds
        assert f"127.0.0.1:{port}" in msg and ("unreachable" in msg or "no answer" in msg)
        _offline_message_ok(msg)
        seconds, _ = _timed_error(lambda: create_prior("clip"))  # decided once: no second probe
        assert seconds < 0.5
        assert _hub._probe.cache_info().misses == 1
    finally:
        server.close()


def test_other_failures_keep_their_own_error(monkeypatch):
    """A reachable hub that refuses for another reason (here a permission error) is not reported as offline."""
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(_hub, "unreachable", lambda url=None: None)

    def denied(*args, **kwargs):
        raise PermissionError("cache folder is read-only")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", denied)
    with pytest.raises(PermissionError, match="read-only"):
        create_prior("timm:resnet18", pretrained=True)
    with pytest.raises(PermissionError, match="read-only"):
        create_prior("clip")


def _put_in_hub_cache(cache, repo: str, filename: str, write) -> None:
    folder = cache / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text("0" * 40)
    (folder / "snapshots" / ("0" * 40)).mkdir(parents=True)
    write(folder / "snapshots" / ("0" * 40) / filename)


def test_cached_weights_work_offline(tiny_clip, tmp_path, monkeypatch):
    """Weights already in the hub cache load offline; CLIP reads the tag's activation and normalisation."""
    import open_clip
    import timm
    from huggingface_hub import constants
    from safetensors.torch import save_file

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    torch.manual_seed(1)
    full = open_clip.create_model(tiny_clip, pretrained=None, force_quick_gelu=True)
    _put_in_hub_cache(tmp_path / "hub", "ptg-test/tiny-clip", "open_clip_model.safetensors",
                      lambda p: save_file({k: v.contiguous() for k, v in full.state_dict().items()}, str(p)))
    prior = create_prior(f"clip:{tiny_clip}/tiny")
    assert prior.name == f"clip:{tiny_clip}/tiny"
    torch.testing.assert_close(prior.mean.flatten(), torch.full((3,), 0.5))
    x = torch.rand(2, 3, 40, 50)
    with torch.no_grad():
        expected = torch.nn.functional.normalize(full.encode_image(prior.preprocess(x)), dim=1)
    torch.testing.assert_close(prior(x), expected)
    assert any(isinstance(m, open_clip.transformer.QuickGELU) for m in prior.modules())

    model = timm.create_model("test_resnet", num_classes=0)
    _put_in_hub_cache(tmp_path / "hub", "timm/test_resnet.r160_in1k", "model.safetensors",
                      lambda p: save_file(model.state_dict(), str(p)))
    loaded = create_prior("timm:test_resnet", pretrained=True)
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.backbone.state_dict()[k], v)


def _activations(module):
    import open_clip

    return {type(m) for m in module.modules() if isinstance(m, (open_clip.transformer.QuickGELU, torch.nn.GELU))}


def test_every_default_model_tag_builds_its_own_activation():
    """For every pretrained tag open_clip has for the default model (ViT-B-32; 'openai' by default), the
    image tower is built with the activation of that tag's config (QuickGELU where quick_gelu=True),
    not open_clip 3.x's nn.GELU default. Tiny widths keep it fast; the flags are the real ones."""
    import open_clip

    tags = [t for m, t in open_clip.list_pretrained() if m == clip_prior.DEFAULT_MODEL]
    assert clip_prior.DEFAULT_TAG in tags and len(tags) > 5
    quick = 0
    for tag in tags:
        want = bool(open_clip.get_pretrained_cfg(clip_prior.DEFAULT_MODEL, tag).get("quick_gelu", False))
        visual = clip_prior.build_visual(clip_prior.DEFAULT_MODEL, tag, width=64, layers=1, head_width=32)
        assert _activations(visual) == {open_clip.transformer.QuickGELU if want else torch.nn.GELU}, tag
        quick += want
    assert 0 < quick < len(tags)  # both kinds occur (openai, laion400m_*, metaclip_* are QuickGELU)


def test_default_clip_prior_is_the_image_tower_with_quickgelu():
    """create_prior("clip", pretrained=None): the real ViT-B-32 image tower only (87,849,216 parameters;
    the whole CLIP has 151,277,313), QuickGELU as the 'openai' weights need."""
    import open_clip

    prior = create_prior("clip", pretrained=None)
    assert _activations(prior) == {open_clip.transformer.QuickGELU}
    assert sum(p.numel() for p in prior.parameters()) == 87_849_216
    assert prior.feature_dim == 512 and prior.input_size == (224, 224)


def test_hub_file_for_any_repo(tmp_path, monkeypatch):
    """The helper a hub checkpoint download can use (e.g. PTGRefiner.from_pretrained("user/repo")): the cached
    file offline, else a fast HubUnavailableError."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    seconds, msg = _timed_error(lambda: _hub.hub_file("me/my-refiner", ["config.json"], "refiner 'me/my-refiner'"))
    assert seconds < 1.0 and "hub repo 'me/my-refiner'" in msg
    _put_in_hub_cache(tmp_path / "hub", "me/my-refiner", "config.json", lambda p: p.write_text("{}"))
    assert _hub.hub_file("me/my-refiner", ["config.json"], "refiner").endswith("config.json")
