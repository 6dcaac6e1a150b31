"""Where a refiner comes from: ``hf-hub:user/name``, ``local-dir:PATH`` or an existing path, a shipped name, and a
bare ``user/name`` only where no local folder could be meant; the same resolver behind from_pretrained, the CLI's
--refiner and hubconf."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

from conftest import REPO_ROOT
from helpers import perturb_, write_images
from ptg_refine import PTGRefiner
from ptg_refine._pretrained import PRETRAINED_DIR
from ptg_refine._sources import RefinerSource, resolve_source
from ptg_refine.cli import main

SHA = "0" * 40


@pytest.fixture
def saved(tmp_path):
    refiner = perturb_(PTGRefiner(restorer="identity", prior="none:8", width=8, num_blocks=1))
    refiner.save_pretrained(tmp_path / "saved")
    return refiner, tmp_path / "saved"


def _hub_cache(cache, repo, folder):
    """``folder``'s files as the hub cache holds repo ``repo`` at revision main."""
    root = cache / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(SHA)
    shutil.copytree(folder, root / "snapshots" / SHA)


def test_each_prefix_resolves_to_its_kind(saved, tmp_path, monkeypatch):
    _, folder = saved
    monkeypatch.chdir(tmp_path)
    assert resolve_source("hf-hub:user/name") == RefinerSource("hf-hub", "user/name", implied=False)
    assert resolve_source(f"local-dir:{folder}") == RefinerSource("local-dir", str(folder))
    assert resolve_source(folder) == RefinerSource("local-dir", str(folder))
    assert resolve_source("saved") == RefinerSource("local-dir", "saved")  # a relative existing path
    assert resolve_source("sci-none") == RefinerSource("shipped", str(PRETRAINED_DIR / "sci-none"))
    assert resolve_source("user/name") == RefinerSource("hf-hub", "user/name", implied=True)


def test_hf_hub_prefix_loads_from_the_hub_cache_offline(saved, tmp_path, monkeypatch):
    refiner, folder = saved
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _hub_cache(tmp_path / "hub", "me/tiny", folder)
    x = torch.rand(1, 3, 20, 20)
    loaded = PTGRefiner.from_pretrained("hf-hub:me/tiny", cache_dir=str(tmp_path / "hub"))
    assert torch.equal(loaded(x), refiner(x)) and loaded.config == refiner.config


def test_hf_hub_prefix_never_reads_a_same_named_local_folder(saved, tmp_path, monkeypatch):
    _, folder = saved
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    shutil.copytree(folder, tmp_path / "me" / "tiny")
    assert PTGRefiner.from_pretrained("me/tiny").config["width"] == 8  # the existing path
    with pytest.raises(OSError, match="Offline\\?.*local folder"):
        PTGRefiner.from_pretrained("hf-hub:me/tiny", cache_dir=str(tmp_path / "empty-cache"))


def test_local_dir_prefix(saved, tmp_path):
    refiner, folder = saved
    x = torch.rand(1, 3, 20, 20)
    assert torch.equal(PTGRefiner.from_pretrained(f"local-dir:{folder}")(x), refiner(x))
    with pytest.raises(FileNotFoundError, match=f"there is no folder '{tmp_path / 'nothing'}'"):
        PTGRefiner.from_pretrained(f"local-dir:{tmp_path / 'nothing'}")
    with pytest.raises(NotADirectoryError, match="is a file; give a refiner folder"):
        PTGRefiner.from_pretrained(f"local-dir:{folder / 'config.json'}")


def test_shipped_name_loads_the_packaged_folder():
    loaded = PTGRefiner.from_pretrained("sci-none")
    assert loaded.config == json.loads((PRETRAINED_DIR / "sci-none" / "config.json").read_text())


def test_missing_and_malformed_sources(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="^unknown refiner 'sci-nne'; did you mean 'sci-none'.*neither a local folder "
                                                "nor a hub repo id"):
        resolve_source("sci-nne")
    with pytest.raises(ValueError, match="a hub repo id is 'hf-hub:user/name'"):
        resolve_source("hf-hub:just-a-name")
    with pytest.raises(ValueError, match="a hub repo id is 'hf-hub:user/name'"):
        resolve_source("hf-hub:a/b/c")
    (tmp_path / "runs").mkdir()  # "runs/final" may now be a mistyped local path: no guess
    with pytest.raises(FileNotFoundError, match="say which you mean: 'local-dir:runs/final' or 'hf-hub:runs/final'"):
        resolve_source("runs/final")


def test_cli_refiner_takes_the_prefixes(saved, tmp_path, monkeypatch, capsys):
    _, folder = saved
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    write_images(tmp_path / "in", ["a.png"])
    assert main(["enhance", "in", "-o", "out", "--refiner", f"local-dir:{folder}", "--no-progress"]) == 0
    assert (tmp_path / "out" / "a.png").is_file()
    assert main(["enhance", "in", "-o", "out2", "--refiner", "hf-hub:me/none", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "hub repo 'me/none'" in err and "HF_HUB_OFFLINE is set" in err
    (tmp_path / "runs").mkdir()
    assert main(["enhance", "in", "-o", "out3", "--refiner", "runs/final", "--no-progress"]) == 2
    assert "'local-dir:runs/final' or 'hf-hub:runs/final'" in capsys.readouterr().err


def test_torch_hub_takes_the_prefixes(saved):
    refiner, folder = saved
    loaded = torch.hub.load(str(REPO_ROOT), "ptg_refiner", source="local", pretrained=f"local-dir:{folder}",
                            trust_repo=True)
    x = torch.rand(1, 3, 20, 20)
    assert torch.equal(loaded(x), refiner(x))
