"""The ptg-refine command line: synth, eval, enhance (train is covered by test_training's torchrun test)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from ptg_refine import PTGRefiner, list_pretrained
from ptg_refine.cli import EXAMPLES_DIR, build_parser, main
from ptg_refine.restorers import create_restorer


def write_images(folder, names, size=(32, 40), seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for n in names:
        Image.fromarray(rng.integers(30, 255, (*size, 3), dtype=np.uint8)).save(folder / n)


@pytest.fixture
def tiny_refiner(tmp_path):
    torch.manual_seed(0)
    r = PTGRefiner(restorer="sci", prior="none:8", width=8, num_blocks=1)
    r.save_pretrained(tmp_path / "refiner")
    return str(tmp_path / "refiner")


def test_synth_then_eval(tmp_path, tiny_refiner, capsys):
    write_images(tmp_path / "clean", ["a.png", "b.png"])
    assert main(["synth", "--clean", str(tmp_path / "clean"), "--out", str(tmp_path / "pairs"),
                 "--variants", "2", "--seed", "1", "--min-size", "16"]) == 0
    assert "SYNTHETIC" in capsys.readouterr().out
    assert len(list((tmp_path / "pairs" / "low").iterdir())) == 4
    assert main(["eval", "--pairs", str(tmp_path / "pairs"), "--refiner", tiny_refiner,
                 "--out", str(tmp_path / "ev")]) == 0
    assert "F+R" in capsys.readouterr().out
    res = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert res["n"] == 4 and len(list((tmp_path / "ev" / "strips").glob("*.png"))) == 4
    assert res["mean"]["psnr_F+R"] == pytest.approx(res["mean"]["psnr_F"], abs=1e-3)  # untrained R = identity
    assert res["mean"]["psnr_F"] > res["mean"]["psnr_input"]  # SCI brightens the synthetic low-light input
    assert main(["eval", "--pairs", str(tmp_path / "pairs"), "--restorer", "sci", "--no-strips"]) == 0
    assert "F+R" not in capsys.readouterr().out


def test_enhance_folder_and_side_by_side(tmp_path, tiny_refiner):
    write_images(tmp_path / "in", ["x.png", "y.jpg"])
    assert main(["enhance", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--refiner", tiny_refiner,
                 "--side-by-side"]) == 0
    out = np.asarray(Image.open(tmp_path / "out" / "x.png"))
    assert out.shape == (32, 40, 3)
    low = torch.from_numpy(np.array(Image.open(tmp_path / "in" / "x.png"))).permute(2, 0, 1)[None].float() / 255
    f = create_restorer("sci")(low)[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()
    assert np.abs(out.astype(int) - f.astype(int)).max() <= 1  # untrained R returns F
    assert np.asarray(Image.open(tmp_path / "out" / "y_compare.png")).shape == (32 + 18, 3 * 40 + 2 * 4, 3)


def test_cli_errors(tmp_path, tiny_refiner, capsys):
    write_images(tmp_path / "a", ["same.png"])
    write_images(tmp_path / "b", ["same.png"])
    assert main(["enhance", str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(tmp_path / "o"),
                 "--refiner", tiny_refiner]) == 2
    assert "would both be written to" in capsys.readouterr().err and not (tmp_path / "o").exists()
    assert main(["eval", "--pairs", str(tmp_path)]) == 2
    assert "--restorer" in capsys.readouterr().err
    assert main(["eval", "--pairs", str(tmp_path / "nowhere"), "--restorer", "sci"]) == 2
    assert "low is missing" in capsys.readouterr().err


def test_shipped_default_enhances_bundled_examples(tmp_path):
    assert {"sci-none", "iat-lol"} <= set(list_pretrained())
    examples = sorted(p.name for p in EXAMPLES_DIR.iterdir() if p.suffix == ".png")
    assert len(examples) >= 3 and (EXAMPLES_DIR / "ATTRIBUTION.md").is_file()
    r = PTGRefiner.from_pretrained("sci-none")
    assert sum(p.numel() for p in r.parameters()) <= 700_000 and r.config["restorer"] == "sci"
    assert main(["enhance", "--examples", "-o", str(tmp_path / "out")]) == 0
    for name in examples:
        before = np.asarray(Image.open(EXAMPLES_DIR / name)).astype(float)
        after = np.asarray(Image.open(tmp_path / "out" / name)).astype(float)
        assert after.shape == before.shape and after.mean() > before.mean() + 20  # brightened


def test_help_and_version_do_not_import_torch():
    code = ("import sys, runpy; sys.argv = ['ptg-refine', '--version']\n"
            "try:\n    runpy.run_module('ptg_refine.cli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False" and "0.1.0" in out


def test_enhance_does_not_import_the_metric_libraries(tmp_path, tiny_refiner):
    """pytorch_msssim (and torchvision) belong to eval: enhance must not pay for them."""
    write_images(tmp_path / "in", ["a.png"])
    code = ("import sys; from ptg_refine.cli import main; "
            f"rc = main(['enhance', {str(tmp_path / 'in')!r}, '--refiner', {tiny_refiner!r}, '-o', "
            f"{str(tmp_path / 'out')!r}, '--no-progress', '--side-by-side']); "
            "print(rc, sorted(m for m in ('pytorch_msssim', 'torchvision') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.split("\n")[-2] == "0 []", out.stdout + out.stderr


def test_val_split_in_train_and_eval(tmp_path, capsys):
    """--val-split N: train holds out every N-th pair of --pairs (numeric name order) and validates on it; eval
    --val-split N scores exactly those pairs."""
    names = [f"{i}.png" for i in range(1, 13)]  # 1..12: every 4th in numeric order is 1, 5, 9
    write_images(tmp_path / "pairs" / "high", names)
    (tmp_path / "pairs" / "low").mkdir()
    for n in names:  # the low shots: the targets darkened
        high = np.asarray(Image.open(tmp_path / "pairs" / "high" / n))
        Image.fromarray((high * 0.3).astype(np.uint8)).save(tmp_path / "pairs" / "low" / n)
    assert main(["train", "--pairs", str(tmp_path / "pairs"), "--val-split", "4", "--out", str(tmp_path / "run"),
                 "--restorer", "sci", "--prior", "none:8", "--width", "8", "--num-blocks", "1", "--iterations", "2",
                 "--batch-size", "2", "--crop-size", "16", "--no-progress", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "training on 9 pairs" in out and "validating on 3" in out and "val PSNR F" in out
    assert main(["eval", "--pairs", str(tmp_path / "pairs"), "--val-split", "4", "--refiner",
                 str(tmp_path / "run" / "final"), "--out", str(tmp_path / "ev"), "--no-strips"]) == 0
    res = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert [r["name"] for r in res["images"]] == ["1", "5", "9"]
    assert main(["eval", "--pairs", str(tmp_path / "pairs"), "--restorer", "sci", "--val-split", "4", "--limit",
                 "2"]) != 0
    assert "--val-split and --limit exclude each other" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["eval", "--pairs", str(tmp_path / "pairs"), "--restorer", "sci", "--val-split", "1"])
    assert "expected an integer >= 2" in capsys.readouterr().err


# -- the CLI a photographer expects ----------------------------------------------------------------------------
def test_top_level_help_lists_enhance_first_and_the_demo(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()
              if line.startswith("    ") and line.split()[0] in ("enhance", "eval", "train", "synth", "demo")]
    assert listed == ["enhance", "eval", "train", "synth", "demo"]


def test_demo_is_imported_only_when_asked_for():
    """ptg_refine.demo (its own optional dependencies) is loaded by `ptg-refine demo` alone."""
    import importlib.util

    code = ("import sys; from ptg_refine.cli import build_parser; build_parser(only='enhance'); "
            "print('ptg_refine.demo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr
    if importlib.util.find_spec("ptg_refine.demo") is None:
        pytest.skip("ptg_refine.demo is not in this tree yet: only its listing in --help is checked")
    parser = build_parser(only="demo")
    assert parser.parse_args(["demo"]).func is not None


def test_enhance_messages_for_missing_inputs_empty_folders_and_typos(tmp_path, tiny_refiner, capsys):
    assert main(["enhance", str(tmp_path / "nope.jpg"), "-o", str(tmp_path / "out"), "--refiner", tiny_refiner]) == 2
    assert f"input {str(tmp_path / 'nope.jpg')!r} does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["enhance", str(tmp_path / "empty"), "-o", str(tmp_path / "out"), "--refiner", tiny_refiner]) == 2
    err = capsys.readouterr().err
    assert f"the folder {str(tmp_path / 'empty')!r} has no images" in err and "no input images given" not in err
    write_images(tmp_path / "in", ["a.png"])
    assert main(["enhance", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--refiner", "sci-nnoe"]) == 2
    assert capsys.readouterr().err.startswith("error: unknown refiner 'sci-nnoe'; did you mean 'sci-none'")


def _png(path):
    return torch.from_numpy(np.array(Image.open(path))).permute(2, 0, 1)[None].float() / 255


def test_enhance_exposure_and_tile_are_those_of_the_python_api(tmp_path):
    """--exposure takes exposure='s values, and --tile 64 gives what enhance(x, tile=64) gives."""
    from ptg_refine.data.io import to_uint8

    write_images(tmp_path / "in", ["a.png"], size=(72, 96))
    refiner = PTGRefiner.from_pretrained("sci-none")
    x = _png(tmp_path / "in" / "a.png")
    for flags, kwargs, name in ((["--exposure", "restorer"], {"exposure": "restorer"}, "restorer"),
                                (["--exposure", "0.3"], {"exposure": 0.3}, "lum"),
                                (["--tile", "64"], {"tile": 64}, "tile")):
        assert main(["enhance", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--suffix", f"_{name}",
                     "--precision", "fp32", "--no-progress", *flags]) == 0
        expected = to_uint8(refiner.enhance(x, precision="fp32", **kwargs)[0])
        assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / f"a_{name}.png")), expected), name
    with pytest.raises(SystemExit):
        main(["enhance", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--exposure", "bright"])


def test_quick_start_enhance_runs_twice(tmp_path, capsys):
    """README's first Quick-start command can be run again (its --overwrite replaces its own six outputs)."""
    command = ["enhance", "--examples", "-o", str(tmp_path / "out"), "--side-by-side", "--overwrite", "--no-progress"]
    assert main(command) == 0
    first = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    assert main(command) == 0 and "wrote 3 enhanced image(s)" in capsys.readouterr().out
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == first
    assert main(command[:-2]) == 2  # without --overwrite: refused, nothing replaced


def test_cli_loads_a_refiner_in_one_pass(tmp_path, tiny_refiner, monkeypatch):
    """--refiner: the source resolved once, the checksums verified once, config.json read once."""
    from collections import Counter

    from ptg_refine import _sources, integrity

    calls = Counter()

    def counted(module, name):
        real = getattr(module, name)

        def wrapper(*a, **k):
            calls[name] += 1
            return real(*a, **k)
        monkeypatch.setattr(module, name, wrapper)

    for module, name in ((_sources, "resolve_source"), (integrity, "read_config"), (integrity, "file_sha256")):
        counted(module, name)
    write_images(tmp_path / "in", ["a.png"])
    assert main(["enhance", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--refiner", tiny_refiner,
                 "--no-progress"]) == 0
    assert calls == {"resolve_source": 1, "read_config": 1, "file_sha256": 1}, calls
