"""Every ```python block of README.md runs as written, each on its own (its imports included), in a working folder
holding what the snippets name: ``photo.jpg`` (a bundled photo), ``my_pairs/train`` and ``my_pairs/val`` (tiny
real-sized pairs) and ``path/to/checkout`` (this checkout). Training snippets keep their recipe except the number
of iterations, capped so that they train for a few steps in seconds."""
from __future__ import annotations

import re
import textwrap

import numpy as np
import pytest
from PIL import Image

import ptg_refine
from conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()
BLOCKS = re.findall(r"^```python\n(.*?)^```", README, re.S | re.M)
PHOTO = REPO_ROOT / "src" / "ptg_refine" / "examples_data" / "lol_1.png"
MAX_ITERATIONS = 3


def test_readme_has_python_blocks():
    assert len(BLOCKS) >= 4, "README's Python blocks were not found"
    assert any("from ptg_refine import PairedFolder, PTGRefiner, Trainer, TrainConfig" in b for b in BLOCKS)


def test_public_names_at_the_top_level():
    from ptg_refine import PairedFolder, Trainer, TrainConfig
    from ptg_refine.data import PairedFolder as Pf
    from ptg_refine.training import Trainer as Tr, TrainConfig as Tc

    assert (Trainer, TrainConfig, PairedFolder) == (Tr, Tc, Pf)
    assert {"Trainer", "TrainConfig", "PairedFolder"} <= set(ptg_refine.__all__) <= set(dir(ptg_refine))


def _pairs(folder, n, seed):
    rng = np.random.default_rng(seed)
    for side in ("low", "high"):
        (folder / side).mkdir(parents=True)
    for i in range(n):
        high = rng.integers(40, 255, (112, 128, 3), dtype=np.uint8)
        Image.fromarray(high).save(folder / "high" / f"{i}.png")
        Image.fromarray((high * 0.25).astype(np.uint8)).save(folder / "low" / f"{i}.png")


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    Image.open(PHOTO).convert("RGB").save(tmp_path / "photo.jpg", quality=92)
    _pairs(tmp_path / "my_pairs" / "train", 4, 0)
    _pairs(tmp_path / "my_pairs" / "val", 2, 1)
    (tmp_path / "path" / "to").mkdir(parents=True)
    (tmp_path / "path" / "to" / "checkout").symlink_to(REPO_ROOT, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    real = ptg_refine.TrainConfig

    def capped(**kw):
        return real(**{**kw, "iterations": min(kw.get("iterations", MAX_ITERATIONS), MAX_ITERATIONS)})

    monkeypatch.setattr(ptg_refine, "TrainConfig", capped)
    return tmp_path


@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=lambda i: f"block{i + 1}")
def test_readme_python_block_runs(workdir, index, capsys):
    code = textwrap.dedent(BLOCKS[index])
    namespace = {"__name__": "__readme__"}
    exec(compile(code, f"README.md python block {index + 1}", "exec"), namespace)  # noqa: S102
    if "refiner.enhance(\"photo.jpg\")" in code:
        out = Image.open(workdir / "photo_refined.png")
        assert out.size == Image.open(workdir / "photo.jpg").size
        assert namespace["out"].shape == namespace["low"].shape
    if "trainer.fit()" in code:
        trainer = namespace["trainer"]
        assert trainer.step == MAX_ITERATIONS
        card = (workdir / "runs" / "my-camera-py" / "final" / "README.md").read_text()
        assert "- Training pairs: 4 from `my_pairs/train`." in card
        assert "val_psnr_FR" in capsys.readouterr().out
    if "save_pretrained(\"my-refiner\")" in code:
        assert (workdir / "my-refiner" / "model.safetensors").is_file()
        assert namespace["refiner"].config["restorer"] == "sci"  # the hub's pretrained=True: sci-none
