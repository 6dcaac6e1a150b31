"""The demo's module without a browser (tests/test_demo_browser.py drives it in Chromium): importing it costs
nothing (the CLI imports it to build `ptg-refine demo`), its options, its refusals, app.py for a Space."""
from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from conftest import REPO_ROOT


def test_importing_the_demo_module_loads_neither_gradio_nor_torch():
    code = ("import sys, argparse, ptg_refine.demo as d; d.add_arguments(argparse.ArgumentParser()); "
            "print(sorted(m for m in ('gradio', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_options_and_bad_refiner(capsys):
    from ptg_refine import demo

    args = demo.add_arguments(argparse.ArgumentParser()).parse_args([])
    assert (args.host, args.port, args.refiner, args.device) == (None, None, None, None)
    args = demo.add_arguments(argparse.ArgumentParser()).parse_args(["--refiner", "sci-nnoe"])
    assert demo.run(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --refiner ") and "did you mean 'sci-none'" in err[0]


def test_enhance_file_refuses_what_it_cannot_use(tmp_path):
    from ptg_refine.demo import Refiners, enhance_file, parse_demo_exposure

    fake = tmp_path / "x.png"
    fake.write_bytes(b"\x89PNG but not really")
    with pytest.raises(ValueError, match=r"^scan.png is not an image ptg-refine can read: expected a photo file "
                                         r"\(PNG, JPEG, WebP, TIFF or BMP\)"):
        enhance_file(Refiners(), str(fake), "scan.png", "sci-none", "as trained", tmp_path)
    with pytest.raises(ValueError, match="^no photo: upload one or pick a bundled example$"):
        enhance_file(Refiners(), None, "", "sci-none", "as trained", tmp_path)
    with pytest.raises(ValueError, match="did you mean 'sci-none'"):
        enhance_file(Refiners(), str(fake), "x.png", "sci-nnoe", "as trained", tmp_path)
    assert parse_demo_exposure("as trained") is None and parse_demo_exposure(" 0.45 ") == 0.45
    assert parse_demo_exposure("restorer") == "restorer"
    with pytest.raises(ValueError, match=r"^exposure 'bright': expected as trained, scene, restorer, refiner or a "
                                         r"target mean luminance in \(0, 1\)"):
        parse_demo_exposure("bright")


def test_enhance_file_gives_enhance_s_result(tmp_path):
    import numpy as np
    from PIL import Image

    from ptg_refine import PTGRefiner
    from ptg_refine.demo import Refiners, enhance_file

    photo = REPO_ROOT / "src" / "ptg_refine" / "examples_data" / "lol_1.png"
    res = enhance_file(Refiners(), str(photo), "lol_1.png", "sci-lol", "restorer", tmp_path)
    expected = PTGRefiner.from_pretrained("sci-lol").enhance(str(photo), exposure="restorer")
    assert res["file"].name == "lol_1_sci-lol.png" and res["file"].parent.parent == tmp_path
    assert np.array_equal(np.asarray(Image.open(res["file"])), np.asarray(expected))
    assert res["before"].size == res["after"].size == res["restored"].size == expected.size
    assert res["seconds"] > 0 and res["exposure"] == "restorer" and not res["tiled"]


def test_app_py_builds_the_demo_for_a_space():
    gr = pytest.importorskip("gradio", reason="gradio is not installed (pip install -e '.[dev]')")
    import importlib.util

    spec = importlib.util.spec_from_file_location("ptg_space_app", REPO_ROOT / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)  # builds, does not launch (launch only under __main__)
    assert isinstance(app.demo, gr.Blocks)
    names = {getattr(b, "elem_id", None) for b in app.demo.blocks.values()}
    assert {"photo", "refiner", "exposure", "enhance", "slider", "restored", "timing", "download"} <= names


def test_python_m_demo_help():
    out = subprocess.run([sys.executable, "-m", "ptg_refine.demo", "--help"], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert "--host" in out and "127.0.0.1" in out and "--port" in out and "--refiner" in out


def test_large_photos_report_progress_and_run_in_tiles(tmp_path, monkeypatch):
    """Over TILE_ABOVE_PIXELS the demo runs R in tiles (bounded memory; the untiled result up to float rounding)
    and says so in the progress it reports (Gradio shows it as a progress bar)."""
    import numpy as np
    from PIL import Image

    from ptg_refine import demo

    photo = REPO_ROOT / "src" / "ptg_refine" / "examples_data" / "lol_111.png"
    monkeypatch.setattr(demo, "TILE_ABOVE_PIXELS", 100_000)  # the 600x400 photo counts as large
    monkeypatch.setattr(demo, "TILE", 256)
    steps = []
    res = demo.enhance_file(demo.Refiners(), str(photo), "lol_111.png", "sci-none", "restorer", tmp_path,
                            progress=lambda fraction, desc: steps.append((fraction, desc)))
    assert res["tiled"]
    fractions = [f for f, _ in steps]
    assert fractions == sorted(fractions) and fractions[0] < 0.1 and fractions[-1] >= 0.9
    assert "R on 600x400 in 256-px tiles" in [d for _, d in steps]
    untiled = demo.enhance_file(demo.Refiners(), str(photo), "lol_111.png", "sci-none", "restorer", tmp_path)
    a, b = (np.asarray(Image.open(r["file"]), dtype=np.int16) for r in (res, untiled))
    assert np.abs(a - b).max() <= 1
