"""Records: the model card `ptg-refine train` writes names the pairs R was trained on and its validation figures;
torch.hub's new refiner has the documented default prior (none), offline."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO_ROOT
from helpers import write_images
from ptg_refine import PTGRefiner
from ptg_refine.cli import main


def _pairs(folder, names):
    write_images(folder / "high", names)
    (folder / "low").mkdir()
    for n in names:
        high = np.asarray(Image.open(folder / "high" / n))
        Image.fromarray((high * 0.3).astype(np.uint8)).save(folder / "low" / n)


TINY_TRAIN = ["--restorer", "sci", "--prior", "none:8", "--width", "8", "--num-blocks", "1", "--iterations", "2",
              "--batch-size", "2", "--crop-size", "16", "--no-progress", "--threads", "1"]


def test_train_writes_the_pairs_and_validation_into_the_model_card(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _pairs(tmp_path / "mine" / "train", [f"{i}.png" for i in range(5)])
    _pairs(tmp_path / "mine" / "val", ["a.png", "b.png", "c.png"])
    assert main(["train", "--pairs", "mine/train", "--val-pairs", "mine/val", "--out", "run", *TINY_TRAIN]) == 0
    printed = re.search(r"val PSNR F (\d+\.\d\d) dB -> F\+R (\d+\.\d\d) dB", capsys.readouterr().out)
    assert printed, "train prints the validation figures"
    card = (tmp_path / "run" / "final" / "README.md").read_text()
    assert "not recorded here" not in card
    assert "- Training pairs: 5 from `mine/train`." in card
    assert "- Validation pairs: 3 from `mine/val`." in card
    # the figures train printed, in the card (validated once: the same numbers)
    m = re.search(r"Validation at iteration 2: PSNR F alone (\d+\.\d\d) dB, F \+ R (\d+\.\d\d) dB \(([+-]\d+\.\d\d) "
                  r"dB\); SSIM F \+ R (\d\.\d{4}); F \+ R below F on (\d) of 3 pairs\.", card)
    assert m, card
    assert m.group(1, 2) == printed.group(1, 2)
    assert abs(float(m.group(2)) - float(m.group(1)) - float(m.group(3))) <= 0.011
    assert "- Restorer F: `sci` (frozen); prior: `none:8`." in card
    assert "- Recipe: 2 iterations, batch size 2, crop 16, lr" in card
    # the card is still a valid Hugging Face model card (metadata block first)
    assert card.startswith("---\n") and "library_name: ptg-refine" in card


def test_model_card_without_validation_says_so(tmp_path):
    from helpers import dark_pairs
    from ptg_refine.training import Trainer, TrainConfig

    refiner = PTGRefiner(restorer="gamma", prior="none:8", width=8, num_blocks=1)
    cfg = TrainConfig(iterations=1, batch_size=2, crop_size=16)
    Trainer(refiner, dark_pairs(2, (36, 44)), cfg, out_dir=tmp_path, progress=False).fit()
    card = (tmp_path / "final" / "README.md").read_text()
    assert "- Training pairs: 2 given in memory (no folder recorded)." in card
    assert "- Validation: none (no validation pairs were given)." in card
    # a plain save_pretrained (no training record) keeps the reminder to add one
    refiner.save_pretrained(tmp_path / "plain")
    assert "not recorded here" in (tmp_path / "plain" / "README.md").read_text()


def test_torch_hub_default_is_the_documented_no_prior_refiner(monkeypatch):
    """Without pretrained= the hub entry point builds what README documents as the default (no prior), offline:
    building a CLIP prior would try the hub and fail here."""
    import ptg_refine.refiner as refiner_module

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    asked = []
    real = refiner_module.create_prior
    monkeypatch.setattr(refiner_module, "create_prior", lambda spec, *a, **k: asked.append(spec) or real(spec, *a, **k))
    refiner = torch.hub.load(str(REPO_ROOT), "ptg_refiner", source="local", restorer="sci", trust_repo=True)
    assert isinstance(refiner, PTGRefiner)
    assert refiner.config["prior"] == "none" and not any(s.startswith("clip") for s in asked)
    readme = (REPO_ROOT / "README.md").read_text()
    assert "default use no prior (`--prior none`)" in readme
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(refiner(x), refiner.restore(x))  # a new refiner returns F's output

