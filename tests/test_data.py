"""ptg_refine.data: synthetic pairs, paired folders, crops/flips with positions; data/ imports no network code."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from ptg_refine.data import (PairedFolder, apply_crop, degrade, match_pairs, sample_crop, split_every,
                             synthesize_pairs)
from ptg_refine.data.synth import linear_to_srgb, srgb_to_linear
from helpers import write_images




def read(path):
    return np.asarray(Image.open(path))


def test_srgb_round_trip_and_darkening():
    x = np.linspace(0, 1, 101)
    assert np.allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-12)
    clean = np.full((32, 32, 3), 200, np.uint8)
    low, p = degrade(clean, np.random.default_rng(0))
    assert low.dtype == np.uint8 and low.shape == clean.shape
    assert 0.03 <= p["exposure"] <= 0.3 and 0.85 <= p["gain_r"] <= 1.15 and 1e-4 <= p["shot"] <= 2e-3
    assert low.mean() < clean.mean() * 0.75  # under-exposed
    assert low.std() > 0  # noisy


def test_degrade_rejects_float_input():
    with pytest.raises(ValueError, match="uint8"):
        degrade(np.zeros((8, 8, 3), np.float32), np.random.default_rng(0))


def test_synth_is_deterministic_and_order_independent(tmp_path):
    write_images(tmp_path / "clean" / "sub", ["a.png", "b.png"])
    (tmp_path / "only_b" / "sub").mkdir(parents=True)
    shutil.copy(tmp_path / "clean" / "sub" / "b.png", tmp_path / "only_b" / "sub" / "b.png")
    s1 = synthesize_pairs([tmp_path / "clean"], tmp_path / "o1", variants=2, seed=3, progress=False, min_size=16)
    synthesize_pairs([tmp_path / "clean"], tmp_path / "o2", variants=2, seed=3, progress=False, min_size=16)
    synthesize_pairs([tmp_path / "only_b"], tmp_path / "o3", variants=2, seed=3, progress=False, min_size=16)
    synthesize_pairs([tmp_path / "clean"], tmp_path / "o4", variants=2, seed=4, progress=False, min_size=16)
    assert s1["pairs"] == 4 and s1["synthetic"] is True
    assert sorted(p.name for p in (tmp_path / "o1" / "low").iterdir()) == \
        ["sub_a_v0.png", "sub_a_v1.png", "sub_b_v0.png", "sub_b_v1.png"]
    f = "sub_b_v1.png"
    assert np.array_equal(read(tmp_path / "o1/low" / f), read(tmp_path / "o2/low" / f))
    assert np.array_equal(read(tmp_path / "o1/low" / f), read(tmp_path / "o3/low" / f))  # other files don't matter
    assert not np.array_equal(read(tmp_path / "o1/low" / f), read(tmp_path / "o4/low" / f))  # seed matters
    assert not np.array_equal(read(tmp_path / "o1/low/sub_b_v0.png"), read(tmp_path / "o1/low" / f))  # variants differ
    assert np.array_equal(read(tmp_path / "o1/high" / f), read(tmp_path / "clean/sub/b.png"))
    meta = json.loads((tmp_path / "o1" / "synthetic.json").read_text())
    assert meta["synthetic"] and len(meta["records"]) == 4


def test_synth_max_side_is_reported_and_refuses_non_empty_output(tmp_path):
    write_images(tmp_path / "clean", ["big.png"], size=(40, 80))
    s = synthesize_pairs(tmp_path / "clean", tmp_path / "o", max_side=40, progress=False, min_size=16)
    assert s["resized"] == ["big"] and read(tmp_path / "o/low/big_v0.png").shape == (20, 40, 3)
    with pytest.raises(FileExistsError, match="not empty"):
        synthesize_pairs(tmp_path / "clean", tmp_path / "o", progress=False)
    with pytest.raises(ValueError, match="variants"):
        synthesize_pairs(tmp_path / "clean", tmp_path / "o5", variants=0, progress=False)


def test_synth_val_fraction_holds_out_whole_photos(tmp_path):
    from ptg_refine.cli import main

    names = [f"p{i}.png" for i in range(10)]
    write_images(tmp_path / "clean", names)
    assert main(["synth", "--clean", str(tmp_path / "clean"), "--out", str(tmp_path / "o"), "--variants", "2",
                 "--val-fraction", "0.2", "--min-size", "16", "--no-progress"]) == 0
    val = sorted(p.name for p in (tmp_path / "o" / "val" / "low").iterdir())
    train = sorted(p.name for p in (tmp_path / "o" / "train" / "low").iterdir())
    photos = lambda files: {f.rsplit("_v", 1)[0] for f in files}  # noqa: E731
    assert len(val) == 4 and len(train) == 16 and not photos(val) & photos(train)  # 2 of 10 photos, both variants
    assert sorted(p.name for p in (tmp_path / "o" / "val" / "high").iterdir()) == val
    assert len(PairedFolder(tmp_path / "o" / "train")) == 16
    meta = json.loads((tmp_path / "o" / "synthetic.json").read_text())
    assert sorted(meta["val_images"]) == sorted(photos(val))
    # a photo's side depends on its name and the seed, not on the other photos: with more photos and as many
    # held out, an original photo held out now was held out before
    write_images(tmp_path / "more", names + ["q0.png", "q1.png"])
    s = synthesize_pairs(tmp_path / "more", tmp_path / "o2", val_fraction=0.2, progress=False, min_size=16)
    assert len(s["val_images"]) == 2 and set(s["val_images"]) - {"q0", "q1"} <= photos(val)
    with pytest.raises(ValueError, match="val_fraction must be in"):
        synthesize_pairs(tmp_path / "clean", tmp_path / "o3", val_fraction=1.0, progress=False, min_size=16)


def test_paired_folder_matching_and_errors(tmp_path):
    write_images(tmp_path / "p" / "low", ["1.png", "2.png"])
    write_images(tmp_path / "p" / "high", ["1.png", "2.jpg"])
    ds = PairedFolder(tmp_path / "p")
    assert [p.name for p in ds] == ["1", "2"] and ds[0].low.shape == (3, 40, 48) and ds[0].low.dtype == torch.uint8
    write_images(tmp_path / "p" / "low", ["3.png"])
    with pytest.raises(ValueError, match=r"in low/ only: \['3'\]"):
        match_pairs(tmp_path / "p")
    write_images(tmp_path / "q" / "low", ["1.png"])
    write_images(tmp_path / "q" / "high", ["1.png"], size=(40, 40))
    with pytest.raises(ValueError, match="same size"):
        PairedFolder(tmp_path / "q")
    with pytest.raises(FileNotFoundError, match="high"):
        PairedFolder(tmp_path / "clean_missing")


@pytest.mark.parametrize("seed", range(6))
def test_crop_is_a_grid_aligned_crop_of_the_flipped_image(seed):
    g = torch.Generator().manual_seed(seed)
    img = torch.arange(3 * 37 * 50).reshape(3, 37, 50)
    crop = sample_crop(37, 50, 16, g)
    top_f, left_f, h, w = crop.position
    assert (h, w) == (37, 50) and top_f % 4 == 0 and left_f % 4 == 0
    flipped = img.flip([d for d, f in ((-1, crop.hflip), (-2, crop.vflip)) if f] or [0][:0])
    assert torch.equal(apply_crop(img, crop), flipped[:, top_f:top_f + 16, left_f:left_f + 16])
    with pytest.raises(ValueError, match="smaller than the crop"):
        sample_crop(12, 50, 16, g)


def test_data_imports_no_network_code():
    """data/ is neutral: none of its modules imports modules/, priors/ or training/ (absolute or relative, at the
    top or inside a function); R's stride comes from ptg_refine._stride."""
    import ast
    from pathlib import Path

    import ptg_refine.data

    forbidden = tuple(f"ptg_refine.{name}" for name in ("modules", "priors", "training"))
    bad = []
    for path in sorted(Path(ptg_refine.data.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):  # resolve "from ..x import y" against ptg_refine.data
                base = ".".join(["ptg_refine", "data"][:3 - node.level] if node.level else [])
                module = ".".join(p for p in (base, node.module) if p)
                imported = [module] + [f"{module}.{a.name}" for a in node.names]
            else:
                continue
            bad += [f"{path.name}:{node.lineno} imports {m}" for m in imported
                    if any(m == f or m.startswith(f + ".") for f in forbidden)]
    assert not bad, bad


def test_split_every_on_a_made_up_lol_folder(tmp_path):
    """The fixed LOL split on a tiny folder laid out as our485: ids sorted numerically, every 10th (from the first)
    held out; train and val are disjoint and cover the folder."""
    ids = [1, 2, 3, 5, 9, 10, 11, 17, 20, 22, 36, 40, 48, 100, 101, 120, 150, 200, 300, 310, 400, 485]
    names = [f"{i}.png" for i in ids]
    write_images(tmp_path / "our485" / "low", names, size=(16, 16), low=0, high=40)
    write_images(tmp_path / "our485" / "high", names, size=(16, 16))
    train, val = split_every(PairedFolder(tmp_path / "our485").pairs, 10)
    assert [p.name for p in val] == ["1", "36", "400"]  # positions 1, 11, 21 of the numeric order
    assert len(train) == 19 and not {p.name for p in train} & {p.name for p in val}
    assert [p.name for p in train][:4] == ["2", "3", "5", "9"]  # numeric, not text order ("10" < "2")


def test_split_every_errors():
    with pytest.raises(ValueError, match="every must be an integer >= 2"):
        split_every(["1", "2"], 1, name=str)
    with pytest.raises(ValueError, match="same name"):
        split_every(["1", "1"], 2, name=str)
    # names that are not all numbers: numbers first (numerically), then the others in text order
    assert split_every(["b", "10", "a", "9"], 2, name=str) == (["10", "b"], ["9", "a"])
