import json
import os

import pytest
import torch
from safetensors.torch import load_file

from ptg_refine import PTGRefiner
from conftest import REPO_ROOT
from helpers import TinyRestorer, perturb_


def test_save_and_load_round_trip(tmp_path):
    restorer = TinyRestorer().eval()
    refiner = perturb_(PTGRefiner(restorer=restorer, prior="none:16", width=8, num_blocks=2))
    refiner.save_pretrained(tmp_path / "ckpt")
    files = set(os.listdir(tmp_path / "ckpt"))
    assert {"config.json", "model.safetensors"} <= files
    config = json.loads((tmp_path / "ckpt/config.json").read_text())
    assert config["prior"] == "none:16" and config["prior_dim"] == 16 and config["width"] == 8
    assert config["restorer"] is None  # a module is not serialisable: F is passed again at load time
    weights = load_file(tmp_path / "ckpt/model.safetensors")
    assert set(weights) == set(refiner.net.state_dict())  # only R: no F, no prior
    assert not any(k.startswith(("conv", "bn")) for k in weights)

    loaded = PTGRefiner.from_pretrained(tmp_path / "ckpt", restorer=restorer)
    x = torch.rand(2, 3, 29, 41)
    assert torch.equal(loaded(x), refiner(x))
    assert not loaded.training


def test_load_with_named_restorer_from_config(tmp_path):
    refiner = perturb_(PTGRefiner(restorer="identity", prior="none:8", width=8, num_blocks=1))
    refiner.save_pretrained(tmp_path)
    loaded = PTGRefiner.from_pretrained(tmp_path)
    x = torch.rand(1, 3, 20, 20)
    assert torch.equal(loaded(x), refiner(x))


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a local folder"):
        PTGRefiner.from_pretrained(tmp_path / "missing" / "deeper")
    with pytest.raises(OSError, match="Offline\\?.*local folder"):
        PTGRefiner.from_pretrained("ptg-refine/does-not-exist")
    PTGRefiner(prior="none:8", width=8, num_blocks=1).save_pretrained(tmp_path / "a")
    with pytest.raises(ValueError, match="12-d features but this refiner expects prior_dim=8"):
        PTGRefiner.from_pretrained(tmp_path / "a", prior="none:12")
    (tmp_path / "a/model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(OSError, match="model.safetensors"):
        PTGRefiner.from_pretrained(tmp_path / "a")


def test_hub_repo_offline_fails_fast(monkeypatch, tmp_path):
    """Offline, a hub repo id fails within seconds with one message that proposes a local folder; only an
    unreachable hub is reported as "Offline?" (see _hub.hub_file)."""
    import time

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(OSError, match="Offline\\?.*local folder") as info:
        PTGRefiner.from_pretrained("user/repo", cache_dir=str(tmp_path))
    assert time.perf_counter() - start < 3
    assert "HF_HUB_OFFLINE is set" in str(info.value)
    with pytest.raises(OSError, match="Offline\\?.*local folder"):  # and when the files are asked for locally only
        PTGRefiner.from_pretrained("user/repo", cache_dir=str(tmp_path), local_files_only=True)


def test_hub_repo_other_failures_keep_their_own_error(monkeypatch, tmp_path):
    import huggingface_hub

    from ptg_refine import _hub

    monkeypatch.setattr(_hub, "unreachable", lambda url=None: None)

    def denied(*args, **kwargs):
        raise PermissionError("cache folder is read-only")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", denied)
    with pytest.raises(PermissionError, match="read-only"):
        PTGRefiner.from_pretrained("user/repo", cache_dir=str(tmp_path))


def test_torch_hub_local(tmp_path):
    refiner = torch.hub.load(str(REPO_ROOT), "ptg_refiner", source="local", restorer="identity", prior="none",
                             trust_repo=True)
    assert isinstance(refiner, PTGRefiner)
    x = torch.rand(1, 3, 20, 20)
    assert torch.equal(refiner(x), x)
    # a trained checkpoint through the hub entry point
    perturb_(refiner).save_pretrained(tmp_path)
    loaded = torch.hub.load(str(REPO_ROOT), "ptg_refiner", source="local", pretrained=str(tmp_path), trust_repo=True)
    assert torch.equal(loaded(x), refiner(x))


def _load_hubconf():
    import importlib.util

    spec = importlib.util.spec_from_file_location("ptg_hubconf", REPO_ROOT / "hubconf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_torch_hub_keeps_an_explicit_prior_with_pretrained(tmp_path, monkeypatch):
    """hubconf.ptg_refiner(prior="clip", pretrained=...) passes prior="clip" on, although "clip" is also the
    default; without prior= the checkpoint's own prior is used."""
    hubconf = _load_hubconf()
    PTGRefiner(restorer="identity", prior="none:8", width=8, num_blocks=1).save_pretrained(tmp_path)
    seen = []
    real = PTGRefiner.from_pretrained.__func__
    monkeypatch.setattr(hubconf.PTGRefiner, "from_pretrained",
                        classmethod(lambda cls, name, **kw: seen.append(kw) or real(cls, name, **kw)))
    hubconf.ptg_refiner(pretrained=str(tmp_path))
    assert "prior" not in seen[-1]
    # an explicit prior="clip" reaches from_pretrained: here a random ViT-B-32 (512-d) cannot drive the
    # checkpoint's 8-d R, so loading fails; before the fix it silently loaded with the checkpoint's prior
    with pytest.raises(ValueError, match="512-d features but this refiner expects prior_dim=8"):
        hubconf.ptg_refiner(pretrained=str(tmp_path), prior="clip", prior_pretrained=None, prior_seed=0)
    assert seen[-1]["prior"] == "clip"
    hubconf.ptg_refiner(pretrained=str(tmp_path), prior="none:8")
    assert seen[-1]["prior"] == "none:8"
    # a new refiner defaults to no prior (the documented default; tests/test_records.py), prior="clip" on request
    assert hubconf.ptg_refiner(restorer="identity").config["prior"] == "none"
    assert hubconf.ptg_refiner(restorer="identity", prior="clip", prior_pretrained=None).config["prior"] == "clip"


def test_torch_hub_pretrained_true_is_the_default_shipped_refiner():
    from ptg_refine._pretrained import PRETRAINED_DIR, default_pretrained

    refiner = _load_hubconf().ptg_refiner(pretrained=True)
    shipped = json.loads((PRETRAINED_DIR / default_pretrained() / "config.json").read_text())
    assert refiner.config == shipped and not refiner.training
    x = torch.rand(1, 3, 24, 24)
    assert torch.equal(refiner(x), PTGRefiner.from_pretrained(default_pretrained())(x))
