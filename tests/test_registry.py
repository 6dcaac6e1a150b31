"""One registry pattern: the generic Registry, the index of shipped refiners against the shipped folders
and the benchmark results, and the typed refiner config that save_pretrained / push_to_hub write."""
from __future__ import annotations

import dataclasses
import json
import statistics
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from ptg_refine import PTGRefiner, RefinerConfig, get_pretrained_config, list_pretrained
from ptg_refine._pretrained import INDEX_FILE, PRETRAINED_DIR, default_pretrained
from ptg_refine._registry import Registry
from conftest import REPO_ROOT

SHIP_RESULTS = REPO_ROOT / "benchmarks" / "results"


# -- the generic registry ---------------------------------------------------------------------------
@pytest.fixture
def reg() -> Registry:
    r = Registry("widget")
    r.register("alpha_small", {"size": 1})
    r.register("alpha_large", {"size": 3}, aliases=("alpha",))
    r.register("beta", {"size": 2})
    return r


def test_register_refuses_a_taken_name_or_alias_unless_overwrite(reg):
    with pytest.raises(ValueError, match="^widget 'beta' is already registered; pass overwrite=True to replace it"):
        reg.register("beta", {"size": 9})
    with pytest.raises(ValueError, match="'alpha' \\(an alias of 'alpha_large'\\) is already registered"):
        reg.register("gamma", {"size": 9}, aliases=("alpha",))
    with pytest.raises(ValueError, match="widget 'alpha' \\(an alias of 'alpha_large'\\) is already"):
        reg.register("alpha", {"size": 9})
    assert "gamma" not in reg and reg.get("beta") == {"size": 2}  # a refused registration changes nothing
    reg.register("beta", {"size": 9}, overwrite=True)
    assert reg.get("beta") == {"size": 9}
    reg.register("alpha_large", {"size": 4}, overwrite=True)  # new config, the alias stays
    assert reg.get("alpha") == {"size": 4}
    reg.register("gamma", {"size": 5}, aliases=("alpha", "beta"), overwrite=True)  # re-point; a name becomes alias
    assert reg.resolve("alpha") == "gamma" and reg.resolve("beta") == "gamma" and reg.list() == [
        "alpha_large", "alpha_small", "gamma"]
    with pytest.raises(TypeError, match="non-empty string"):
        reg.register("", {})


def test_aliases_resolve_and_are_listed_only_on_request(reg):
    assert reg.resolve("alpha") == "alpha_large" and reg.resolve("beta") == "beta"
    assert reg.get("alpha") is reg.get("alpha_large")
    assert "alpha" in reg and "alpha_medium" not in reg and len(reg) == 3
    assert reg.list() == ["alpha_large", "alpha_small", "beta"]
    assert reg.list(aliases=True) == ["alpha", "alpha_large", "alpha_small", "beta"]
    assert reg.aliases_of("alpha_large") == ["alpha"]
    reg.remove("alpha_large")  # a name goes with its aliases
    assert "alpha" not in reg and reg.list(aliases=True) == ["alpha_small", "beta"]


def test_list_with_a_pattern(reg):
    assert reg.list("alpha*") == ["alpha_large", "alpha_small"]
    assert reg.list("alpha*", aliases=True) == ["alpha", "alpha_large", "alpha_small"]
    assert reg.list("*_s*") == ["alpha_small"] and reg.list("zeta*") == []


def test_unknown_name_proposes_close_names(reg):
    with pytest.raises(ValueError) as info:
        reg.get("alpha_smal")
    assert str(info.value) == ("unknown widget 'alpha_smal'; did you mean 'alpha_small', 'alpha_large' or 'alpha'? "
                               "available: alpha_large, alpha_small, beta")
    with pytest.raises(ValueError) as info:
        reg.resolve("zzz")
    assert str(info.value) == "unknown widget 'zzz'; available: alpha_large, alpha_small, beta"


# -- the index of shipped refiners --------------------------------------------------------------------
def _folders() -> list[str]:
    return sorted(p.name for p in PRETRAINED_DIR.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def test_index_and_shipped_folders_agree():
    assert list_pretrained() == _folders() and {"sci-none", "iat-lol"} <= set(list_pretrained())
    for name in list_pretrained():
        folder = PRETRAINED_DIR / name
        assert {"config.json", "model.safetensors", "checksums.json"} <= {p.name for p in folder.iterdir()}, name
        config = json.loads((folder / "config.json").read_text())
        entry = get_pretrained_config(name)
        assert (entry.restorer, entry.prior, entry.prior_mode) == (
            config["restorer"], config["prior"], config.get("prior_mode", "global")), name
        assert {"R", "F", "prior"} <= set(entry.licence) and entry.iterations > 0, name


def test_index_metrics_are_those_of_the_ship_results():
    for name in list_pretrained():
        run = json.loads((SHIP_RESULTS / f"ship_{name}.json").read_text())
        val = get_pretrained_config(name).validation
        # refiners selected on real pairs name them (run["val_data"]); the older ones were judged on synthetic pairs
        assert val["data"] == run.get("val_data", val["data"]) and val["n"] == len(run["val"]["name"]), name
        assert val["data"].startswith("REAL" if "val_data" in run else "SYNTHETIC"), name
        for key in ("psnr_F", "psnr_F+R", "ssim_F", "ssim_F+R"):
            assert val[key] == round(statistics.mean(run["val"][key]), 4), (name, key)
        assert (run["restorer"], run["refiner"]["prior"], run["train"]["iterations"]) == (
            get_pretrained_config(name).restorer, get_pretrained_config(name).prior,
            get_pretrained_config(name).iterations), name


def test_one_default_shipped_refiner_used_by_the_cli():
    from ptg_refine.cli import build_parser

    index = json.loads(INDEX_FILE.read_text())["refiners"]
    assert [n for n, e in index.items() if e["default"]] == [default_pretrained()] == ["sci-none"]
    args = build_parser().parse_args(["enhance", "--examples", "-o", "out"])
    assert args.refiner == default_pretrained()


def test_pretrained_patterns_and_unknown_names():
    assert list_pretrained("sci*") == ["sci-irrgb", "sci-lol", "sci-none"]
    assert list_pretrained("iat*") == ["iat-lol"]
    with pytest.raises(ValueError, match="unknown shipped refiner 'sci-nne'; did you mean 'sci-none'\\?"):
        get_pretrained_config("sci-nne")
    with pytest.raises(FileNotFoundError,
                       match="did you mean 'sci-none'\\? available: iat-lol, sci-irrgb, sci-lol, sci-none"):
        PTGRefiner.from_pretrained("sci-nne")


# -- the typed refiner config -----------------------------------------------------------------------
def test_typed_config_round_trip_writes_the_shipped_config_keys(tmp_path):
    shipped = json.loads((PRETRAINED_DIR / "sci-none" / "config.json").read_text())
    torch.manual_seed(0)
    refiner = PTGRefiner(restorer="sci", prior="none:1280", prior_proj_dim=128, exposure="scene")
    assert isinstance(refiner.refiner_config, RefinerConfig) and refiner.config == shipped
    refiner.save_pretrained(tmp_path / "r")
    written = (tmp_path / "r" / "config.json").read_text()
    assert written == (PRETRAINED_DIR / "sci-none" / "config.json").read_text()  # same keys, values, layout
    loaded = PTGRefiner.from_pretrained(tmp_path / "r")
    assert loaded.refiner_config == refiner.refiner_config
    # the shipped files load into the same typed config
    assert dataclasses.asdict(PTGRefiner.from_pretrained("sci-none").refiner_config) == shipped


def test_typed_config_describes_what_was_built(tmp_path):
    refiner = PTGRefiner(restorer=lambda x: x, prior=lambda x: x.mean((2, 3)), prior_proj_dim=None, width=8,
                         num_blocks=1, prior_pretrained=tmp_path / "unused.pth")
    cfg = refiner.refiner_config
    assert cfg.restorer is None and cfg.prior is None and cfg.prior_dim == 3  # modules: passed again at load time
    assert cfg.prior_pretrained == str(tmp_path / "unused.pth")  # a path is recorded as its string
    from ptg_refine import create_restorer
    from ptg_refine.restorers.registry import WEIGHTS_DIR

    refiner = PTGRefiner(restorer=create_restorer("identity"), prior="none:8", width=8, num_blocks=1)
    assert refiner.config["restorer"] == "identity"  # F built by the caller from a zoo name: its name recorded
    for built in (create_restorer("gamma", target=0.4), create_restorer("sci", weights=WEIGHTS_DIR / "sci_medium.safetensors")):
        assert PTGRefiner(restorer=built, prior="none:8", width=8, num_blocks=1).config["restorer"] is None
    refiner.save_pretrained(tmp_path / "r")
    assert json.loads((tmp_path / "r" / "config.json").read_text())["restorer"] == "identity"
    assert PTGRefiner.from_pretrained(tmp_path / "r").restorer.name == "identity"


def test_refiner_settings_are_declared_once():
    """PTGRefiner.__init__ takes exactly RefinerConfig's fields, in order, with RefinerConfig's defaults."""
    import inspect

    params = list(inspect.signature(PTGRefiner.__init__).parameters.values())[1:]
    fields = dataclasses.fields(RefinerConfig)
    assert [p.name for p in params] == [f.name for f in fields]
    assert [p.default for p in params] == [f.default for f in fields]
    assert RefinerConfig().prior == "clip" and RefinerConfig().prior_proj_dim == "auto"


def test_from_config_builds_what_the_config_says(tmp_path):
    shipped = json.loads((PRETRAINED_DIR / "sci-none" / "config.json").read_text())
    refiner = PTGRefiner.from_config(shipped)
    assert refiner.config == shipped and sum(p.numel() for p in refiner.parameters()) == sum(
        p.numel() for p in PTGRefiner.from_pretrained("sci-none").parameters())
    x = torch.rand(1, 3, 24, 24)
    assert torch.equal(refiner(x), refiner.restore(x))  # R at its identity initialisation
    typed = PTGRefiner(restorer="identity", prior="none:8", width=8, num_blocks=1, prior_dropout=0.1).refiner_config
    assert PTGRefiner.from_config(typed).refiner_config == typed
    own = PTGRefiner.from_config(RefinerConfig(prior="none:8", width=8), restorer=lambda y: y.sqrt())
    assert own.config["restorer"] is None and torch.equal(own(x), x.sqrt())
    with pytest.raises(ValueError, match="from_config: unknown key 'widht'; did you mean 'width'"):
        PTGRefiner.from_config({**shipped, "widht": 8})


def test_push_to_hub_uploads_the_typed_config(monkeypatch, tmp_path):
    """push_to_hub writes config.json from refiner_config (no network: the hub API is replaced)."""
    from huggingface_hub import hub_mixin

    uploaded = {}

    class FakeApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, **kwargs):
            return SimpleNamespace(repo_id=repo_id)

        def upload_folder(self, folder_path, **kwargs):
            uploaded.update({p.name: p.read_bytes() for p in Path(folder_path).iterdir()})
            return "commit-url"

    monkeypatch.setattr(hub_mixin, "HfApi", FakeApi)
    refiner = PTGRefiner(restorer=torch.nn.Identity(), prior="none:8", width=8, num_blocks=1)
    refiner.refiner_config.restorer = "identity"
    assert refiner.push_to_hub("me/tiny") == "commit-url"
    assert json.loads(uploaded["config.json"]) == refiner.config and refiner.config["restorer"] == "identity"
    assert {"model.safetensors", "checksums.json", "README.md"} <= set(uploaded)
