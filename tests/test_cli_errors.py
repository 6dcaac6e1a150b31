"""Safety and errors through the command line: inputs and earlier runs are never overwritten,
every expected failure is one "error:" line naming the file, batches go on past a bad file, help and flags."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import helpers
from ptg_refine import PTGRefiner
from ptg_refine.integrity import write_checksums
from ptg_refine.cli import build_parser, main

TINY = dict(prior="none:8", width=8, num_blocks=1, prior_hidden=16, embed_dim=8)


def write_images(folder, names, size=(32, 40), seed=0):
    helpers.write_images(folder, names, size, seed, low=10, high=120)


def snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def error_lines(err):
    return [line for line in err.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def refiner_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ref") / "refiner"
    torch.manual_seed(0)
    PTGRefiner(restorer="gamma", **TINY).save_pretrained(folder)
    return folder


def enhance(*args, refiner):
    return main(["enhance", *map(str, args), "--refiner", str(refiner), "--no-progress"])


# -- never write over an input or an earlier output --------------------------------------------
def test_enhance_never_writes_over_its_inputs(tmp_path, refiner_dir, capsys):
    d = tmp_path / "d"
    write_images(d, ["photo.png", "other.jpg"])
    before = snapshot(d)
    assert enhance(d, "-o", d, refiner=refiner_dir) == 2
    err = capsys.readouterr().err
    assert "refusing to write over the input file" in err and "other.jpg" in err and len(error_lines(err)) == 1
    assert enhance(d / "photo.png", "-o", d, refiner=refiner_dir) == 2
    assert enhance(d / "photo.png", "-o", d, "--overwrite", refiner=refiner_dir) == 2  # not even with --overwrite
    assert enhance(d / "other.jpg", "-o", d, "--overwrite", refiner=refiner_dir) == 2  # a JPEG's output is a JPEG
    assert snapshot(d) == before
    assert enhance(d / "other.jpg", "-o", d, "--format", "png", refiner=refiner_dir) == 0  # no collision: allowed
    assert enhance(d / "photo.png", "-o", d, "--suffix", "_sci", refiner=refiner_dir) == 0
    assert set(snapshot(d)) == {"photo.png", "other.jpg", "other.png", "photo_sci.png"}


def test_existing_outputs_need_overwrite(tmp_path, refiner_dir, capsys):
    write_images(tmp_path / "in", ["a.png"])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.png").write_bytes(b"precious")
    assert enhance(tmp_path / "in", "-o", tmp_path / "out", refiner=refiner_dir) == 2
    assert "already exist" in capsys.readouterr().err and (tmp_path / "out" / "a.png").read_bytes() == b"precious"
    assert enhance(tmp_path / "in", "-o", tmp_path / "out", "--overwrite", refiner=refiner_dir) == 0
    assert Image.open(tmp_path / "out" / "a.png").size == (40, 32)


def test_comparison_strips_never_collide_with_outputs(tmp_path, refiner_dir, capsys):
    write_images(tmp_path / "in", ["a.png", "a_compare.png"])
    assert enhance(tmp_path / "in", "-o", tmp_path / "out", "--side-by-side", refiner=refiner_dir) == 2
    err = capsys.readouterr().err
    assert "comparison strip of" in err and "a_compare.png" in err and not (tmp_path / "out").exists()
    assert enhance(tmp_path / "in", "-o", tmp_path / "out", refiner=refiner_dir) == 0  # without strips: fine


# -- train never replaces an earlier run silently --------------------------------------------
@pytest.fixture(scope="module")
def train_pairs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    g = torch.Generator().manual_seed(0)
    for i in range(3):
        high = torch.randint(40, 255, (20, 24, 3), generator=g, dtype=torch.uint8)
        for side, img in (("high", high), ("low", (high.float() * 0.3).round().byte())):
            (root / side).mkdir(exist_ok=True)
            Image.fromarray(img.numpy()).save(root / side / f"p{i}.png")
    return root


def train(out, pairs, *extra, restorer="gamma", iterations=3):
    return main(["train", "--pairs", str(pairs), "--out", str(out), "--restorer", restorer, "--prior", "none:8",
                 "--prior-proj-dim", "0", "--width", "8", "--num-blocks", "1", "--iterations", str(iterations),
                 "--batch-size", "1", "--crop-size", "16", "--no-progress", "--threads", "1", *map(str, extra)])


def test_train_refuses_a_non_empty_out_and_knows_a_finished_run(tmp_path, train_pairs, capsys):
    run = tmp_path / "run"
    assert train(run, train_pairs) == 0
    first = snapshot(run)
    assert train(run, train_pairs) == 2
    err = capsys.readouterr().err
    assert "is not empty" in err and "--resume" in err and "--overwrite" in err
    assert snapshot(run) == first
    assert train(run, train_pairs, "--resume") == 0
    assert "already finished (3 of 3 iterations" in capsys.readouterr().out and snapshot(run) == first
    assert train(run, train_pairs, "--resume", "--overwrite") == 2
    assert train(run, train_pairs, "--overwrite", iterations=2) == 0
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["latest", "step_0000002"]
    assert json.loads((run / "history.json").read_text())["summary"]["iterations"] == 2


def test_train_resume_refuses_another_restorer(tmp_path, train_pairs, capsys):
    run = tmp_path / "run"
    assert train(run, train_pairs, "--ckpt-every", "1", iterations=2) == 0
    before = snapshot(run)
    assert train(run, train_pairs, "--resume", restorer="identity", iterations=4) == 2
    err = capsys.readouterr().err
    assert len(error_lines(err)) == 1 and "restorer F: 'gamma' (checkpoint) vs 'identity' (now)" in err
    assert snapshot(run) == before


def test_train_resume_skips_a_corrupt_newest_checkpoint(tmp_path, train_pairs, capsys):
    run = tmp_path / "run"
    assert train(run, train_pairs, "--ckpt-every", "1", iterations=2) == 0
    weights = run / "checkpoints" / "step_0000002" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-80:-16] = bytes(64)
    weights.write_bytes(bytes(data))
    assert train(run, train_pairs, "--resume", iterations=3) == 0
    captured = capsys.readouterr()
    assert "resuming at step 1" in captured.out
    assert "warning:" in captured.err and str(weights) in captured.err


# -- --out checked before any long work -------------------------------------------------------
def test_out_must_be_a_writable_folder_before_any_work(tmp_path, train_pairs, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    write_images(tmp_path / "in", ["a.png"])
    missing_refiner = tmp_path / "no-such-refiner"  # would fail later: the --out error must come first
    calls = [
        ["enhance", str(tmp_path / "in"), "-o", str(blocker), "--refiner", str(missing_refiner)],
        ["eval", "--pairs", str(train_pairs), "--refiner", str(missing_refiner), "--out", str(blocker / "ev")],
        ["synth", "--clean", str(tmp_path / "in"), "--out", str(blocker)],
        ["train", "--pairs", str(train_pairs), "--out", str(blocker / "run"), "--restorer", "no-such-restorer"],
    ]
    for argv in calls:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert len(error_lines(err)) == 1 and str(blocker) in err and "not a folder" in err, err
    assert blocker.read_text() == "x"


def test_no_empty_output_folder_when_nothing_was_written(tmp_path, refiner_dir, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    assert enhance(tmp_path / "in", "-o", tmp_path / "out", refiner=refiner_dir) == 1
    assert "broken.png" in capsys.readouterr().err and not (tmp_path / "out").exists()


# -- EXIF orientation and alpha end to end -------------------------------------------------
def test_enhance_writes_upright_outputs_and_keeps_alpha(tmp_path, refiner_dir):
    (tmp_path / "in").mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "TestCam"  # Make
    Image.fromarray(np.full((32, 48, 3), 60, np.uint8)).save(tmp_path / "in" / "portrait.jpg", exif=exif)
    rgba = np.full((32, 40, 4), 60, np.uint8)
    rgba[:, 20:, 3] = 0
    rgba[:, 20:, :3] = 255  # hidden white under transparent pixels
    Image.fromarray(rgba, "RGBA").save(tmp_path / "in" / "logo.png")
    assert enhance(tmp_path / "in", "-o", tmp_path / "out", refiner=refiner_dir) == 0
    portrait = Image.open(tmp_path / "out" / "portrait.jpg")  # the input's format by default
    assert portrait.format == "JPEG" and portrait.size == (32, 48)  # (W, H): upright, as viewers show it
    assert portrait.getexif()[0x010F] == "TestCam" and portrait.getexif()[0x0112] == 1  # EXIF kept, now upright
    logo = np.asarray(Image.open(tmp_path / "out" / "logo.png"))
    assert logo.shape == (32, 40, 4) and np.array_equal(logo[..., 3], rgba[..., 3])


def test_enhance_format_quality_and_icc_profile(tmp_path, refiner_dir, capsys):
    from PIL import ImageCms

    (tmp_path / "in").mkdir()
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    noisy = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(noisy).save(tmp_path / "in" / "a.png", icc_profile=icc)
    out = tmp_path / "out"
    assert enhance(tmp_path / "in", "-o", out, "--format", "webp", refiner=refiner_dir) == 0
    webp = Image.open(out / "a.webp")
    assert webp.format == "WEBP" and webp.info.get("icc_profile") == icc
    assert enhance(tmp_path / "in", "-o", out, "--format", "jpg", "--quality", "95", "--suffix", "_q95",
                   refiner=refiner_dir) == 0
    assert enhance(tmp_path / "in", "-o", out, "--format", "jpg", "--quality", "20", "--suffix", "_q20",
                   refiner=refiner_dir) == 0
    assert (out / "a_q95.jpg").stat().st_size > (out / "a_q20.jpg").stat().st_size
    assert Image.open(out / "a_q95.jpg").info.get("icc_profile") == icc
    capsys.readouterr()
    assert enhance(tmp_path / "in", "-o", out, "--format", "jpg", "--quality", "101", refiner=refiner_dir) == 2
    assert "--quality must lie in [1, 100]" in capsys.readouterr().err


# -- one error line naming the file -------------------------------------------------------
@pytest.fixture
def refiner_copy(tmp_path, refiner_dir):
    folder = tmp_path / "refiner"
    folder.mkdir()
    for p in refiner_dir.iterdir():
        (folder / p.name).write_bytes(p.read_bytes())
    return folder


@pytest.mark.parametrize("content,message", [("{bad", "is not valid JSON"), ("[1, 2]", "must hold a JSON object")])
def test_invalid_config_json(tmp_path, refiner_copy, capsys, content, message):
    write_images(tmp_path / "in", ["a.png"])
    (refiner_copy / "config.json").write_text(content)
    assert enhance(tmp_path / "in", "-o", tmp_path / "out", refiner=refiner_copy) == 2
    err = capsys.readouterr().err
    assert error_lines(err) == [line for line in err.splitlines() if line.strip()]  # nothing but the error line
    assert message in err and str(refiner_copy / "config.json") in err


def test_config_that_does_not_fit_the_weights(tmp_path, refiner_copy, capsys):
    write_images(tmp_path / "in", ["a.png"])
    config = json.loads((refiner_copy / "config.json").read_text())
    (refiner_copy / "config.json").write_text(json.dumps({**config, "num_blocks": 2}))
    assert enhance(tmp_path / "in", "-o", tmp_path / "out", refiner=refiner_copy) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(refiner_copy) in err and "Traceback" not in err


def test_corrupt_refiner_weights_are_caught_by_their_checksum(tmp_path, refiner_copy, capsys):
    write_images(tmp_path / "in", ["a.png"])
    write_checksums(refiner_copy)
    weights = refiner_copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-80:-16] = bytes(64)
    weights.write_bytes(bytes(data))
    assert enhance(tmp_path / "in", "-o", tmp_path / "out", refiner=refiner_copy) == 2
    err = capsys.readouterr().err
    assert f"{weights} is corrupt" in err and not (tmp_path / "out").exists()


def test_text_file_as_restorer_weights(tmp_path, refiner_dir, capsys):
    write_images(tmp_path / "in", ["a.png"])
    (tmp_path / "notes.pth").write_text("not weights\n")
    assert enhance(tmp_path / "in", "-o", tmp_path / "out", "--restorer", "sci", "--restorer-weights",
                   tmp_path / "notes.pth", refiner=refiner_dir) == 2
    err = capsys.readouterr().err
    assert len(error_lines(err)) == 1 and "notes.pth: not a PyTorch checkpoint" in err


def test_missing_relative_refiner_path_with_one_slash(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    write_images(tmp_path / "in", ["a.png"])
    assert main(["enhance", "in", "-o", "out", "--refiner", "runs/final"]) == 2
    err = capsys.readouterr().err
    assert "no local folder" in err and str(tmp_path / "runs" / "final") in err and "no hub repo" in err


def test_debug_shows_the_traceback(tmp_path, refiner_copy, capsys):
    write_images(tmp_path / "in", ["a.png"])
    (refiner_copy / "config.json").write_text("{bad")
    assert enhance(tmp_path / "in", "-o", tmp_path / "out", refiner=refiner_copy) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert main(["enhance", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--refiner", str(refiner_copy),
                 "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "JSONDecodeError" in err and "error: " in err


def test_permission_and_os_errors_are_one_line(tmp_path, refiner_dir, capsys, monkeypatch):
    write_images(tmp_path / "in", ["a.png"])
    import ptg_refine.refiner as refiner_module

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied", str(refiner_dir / "model.safetensors"))

    monkeypatch.setattr(refiner_module.PTGRefiner, "from_pretrained", classmethod(denied))
    assert enhance(tmp_path / "in", "-o", tmp_path / "out", refiner=refiner_dir) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"error: {refiner_dir / 'model.safetensors'}: Permission denied"


# -- batches go on, report skipped files, keep the tree --------------------------------
def test_batch_continues_past_bad_files_and_reports_them(tmp_path, refiner_dir, capsys, monkeypatch):
    d = tmp_path / "in"
    write_images(d, ["a.png", "c.png"])
    write_images(d, ["tiny.png"], size=(8, 8))
    (d / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    write_images(d / "sub", ["deep.png"])
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(d / "anim.gif")
    assert enhance(d, "-o", tmp_path / "out", refiner=refiner_dir) == 1
    err = capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "c.png"]  # c after the bad b
    errors = error_lines(err)
    assert len(errors) == 2 and "b.png" in errors[0] and "tiny.png" in errors[1] and "8x8" in errors[1]
    assert "anim.gif" in err and "sub" in err and "--recursive" in err and "wrote 2 of 4" in err
    assert enhance(d, "-o", tmp_path / "out2", "--fail-fast", refiner=refiner_dir) == 2
    err = capsys.readouterr().err
    assert "b.png" in err and "--fail-fast" in err
    assert sorted(p.name for p in (tmp_path / "out2").iterdir()) == ["a.png"]
    (d / "b.png").unlink()
    (d / "tiny.png").unlink()
    assert enhance(d, "-o", d / "enhanced", "--recursive", refiner=refiner_dir) == 0
    assert sorted(snapshot(d / "enhanced")) == ["a.png", "c.png", "sub/deep.png"]
    capsys.readouterr()
    assert enhance(d, "-o", d / "enhanced", "--recursive", "--overwrite", refiner=refiner_dir) == 0
    captured = capsys.readouterr()  # the output folder inside the input tree is not read as input
    assert "wrote 3 enhanced" in captured.out and "enhanced (the output folder)" in captured.err
    assert sorted(snapshot(d / "enhanced")) == ["a.png", "c.png", "sub/deep.png"]


def test_decompression_bomb_is_a_per_file_error(tmp_path, refiner_dir, capsys, monkeypatch):
    write_images(tmp_path / "in", ["huge.png"])
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    assert enhance(tmp_path / "in", "-o", tmp_path / "out", refiner=refiner_dir) == 1
    assert "huge.png" in error_lines(capsys.readouterr().err)[0]


def test_synth_refuses_small_images_and_names_them(tmp_path, capsys):
    write_images(tmp_path / "clean", ["small.png"])
    assert main(["synth", "--clean", str(tmp_path / "clean"), "--out", str(tmp_path / "pairs")]) == 2
    err = capsys.readouterr().err
    assert "small.png (32x40)" in err and "--min-size" in err and not (tmp_path / "pairs").exists()


# -- tiling flags ----------------------------------------------------------------
def test_tile_flags(tmp_path, refiner_dir, capsys):
    write_images(tmp_path / "in", ["a.png"], size=(72, 88))
    assert enhance(tmp_path / "in", "-o", tmp_path / "whole", refiner=refiner_dir) == 0
    assert enhance(tmp_path / "in", "-o", tmp_path / "t", "--tile", "100", refiner=refiner_dir) == 0  # overlap 32 -> 24
    assert enhance(tmp_path / "in", "-o", tmp_path / "tr", "--tile", "32", "--tile-restorer",
                   refiner=refiner_dir) == 0
    r = PTGRefiner.from_pretrained(refiner_dir)
    low = torch.from_numpy(np.array(Image.open(tmp_path / "in" / "a.png"))).permute(2, 0, 1)[None].float() / 255
    api = r.enhance(low, tile=32, overlap=8, tile_restorer=True)[0].mul(255).round().byte().permute(1, 2, 0).numpy()
    assert np.array_equal(np.asarray(Image.open(tmp_path / "tr" / "a.png")), api)
    for extra, message in ((["--tile", "30"], "multiple of 4"), (["--tile-restorer"], "needs --tile"),
                           (["--overlap", "8"], "needs --tile"), (["--tile", "64", "--overlap", "20"], "tile/4")):
        assert main(["enhance", str(tmp_path / "in"), "-o", str(tmp_path / "x"), "--refiner",
                     str(tmp_path / "missing"), *extra]) == 2  # checked before the refiner is loaded
        assert message in capsys.readouterr().err


# -- --prior-weights ---------------------------------------------------------------------------
def test_prior_weights_flag(tmp_path, refiner_dir, train_pairs, capsys, monkeypatch):
    write_images(tmp_path / "in", ["a.png"])
    assert enhance(tmp_path / "in", "-o", tmp_path / "out", "--prior-weights", tmp_path / "nope.pt",
                   refiner=refiner_dir) == 2
    err = capsys.readouterr().err
    assert "--prior-weights" in err and "nope.pt" in err and not (tmp_path / "out").exists()
    import ptg_refine.refiner as refiner_module

    seen = {}
    real_from, real_init = refiner_module.PTGRefiner.from_pretrained.__func__, refiner_module.PTGRefiner.__init__

    def spy_from(cls, name, **kwargs):
        seen["from_pretrained"] = kwargs.get("prior_pretrained")
        kwargs.pop("prior_pretrained")  # "none" has no weights to load
        return real_from(cls, name, **kwargs)

    def spy_init(self, *args, **kwargs):
        seen.setdefault("init", kwargs.get("prior_pretrained"))
        real_init(self, *args, **{**kwargs, "prior_pretrained": None})

    weights = tmp_path / "prior.safetensors"
    weights.write_bytes(b"x")
    monkeypatch.setattr(refiner_module.PTGRefiner, "from_pretrained", classmethod(spy_from))
    assert enhance(tmp_path / "in", "-o", tmp_path / "out", "--prior-weights", weights, refiner=refiner_dir) == 0
    assert seen["from_pretrained"] == str(weights)
    monkeypatch.setattr(refiner_module.PTGRefiner, "__init__", spy_init)
    assert train(tmp_path / "run", train_pairs, "--prior-weights", weights, iterations=1) == 0
    assert seen["init"] == str(weights)
    assert train(tmp_path / "run2", train_pairs, "--prior-weights", weights, "--prior-random") == 2


def test_prior_offline_is_one_line_with_the_cli_advice(tmp_path, train_pairs, capsys, monkeypatch):
    """A prior whose weights cannot be downloaded (HubUnavailableError): one ``error:`` line whose advice names
    the CLI's options, not Python arguments; --debug adds the traceback."""
    import ptg_refine.refiner as refiner_module
    from ptg_refine import _hub

    def offline(spec, pretrained=None):
        raise _hub._unavailable(f"prior {spec!r}", "hub repo 'someone/clip'", "HF_HUB_OFFLINE is set")

    monkeypatch.setattr(refiner_module, "create_prior", offline)
    assert train(tmp_path / "run", train_pairs, "--prior", "clip") == 2
    err = capsys.readouterr().err
    assert len(error_lines(err)) == 1 and err.count("\n") == 1 and "Traceback" not in err
    line = error_lines(err)[0]
    assert "HF_HUB_OFFLINE is set" in line and "--prior-weights FILE" in line and "prior='" not in line
    assert "(--debug for the full message)" not in line
    assert main(["--debug", "train", "--pairs", str(train_pairs), "--out", str(tmp_path / "run2"), "--restorer",
                 "gamma", "--prior", "clip", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "HubUnavailableError" in err and len(error_lines(err)) == 1


# -- help, version, fast start ---------------------------------------------------------------
def _all_actions():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, __import__("argparse")._SubParsersAction))
    return parser, sub.choices


def test_help_describes_every_option_without_rst():
    parser, commands = _all_actions()
    for name, p in commands.items():
        for action in p._actions:
            assert action.help and action.help.strip(), f"{name} {action.option_strings or action.dest} has no help"
        text = p.format_help()
        assert "``" not in text, name
    assert "``" not in parser.format_help()
    train_help = commands["train"].format_help()
    assert "{auto,off,bf16,fp16}" in train_help and "(default: 1000)" in train_help
    assert "(default: sci-none)" in commands["enhance"].format_help()


def test_version_and_fast_top_level_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.startswith("ptg-refine ")
    code = ("import sys; from ptg_refine.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('TRAINING_IMPORTED' if 'ptg_refine.training' in sys.modules else 'LAZY')")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0 and "synth" in res.stdout and res.stdout.strip().endswith("LAZY"), res.stderr


# -- adapting a trained refiner: train --init-from -----------------------------------------------------
def _weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_train_init_from_starts_at_the_given_refiner(tmp_path, train_pairs, capsys):
    base = tmp_path / "base"
    assert train(base, train_pairs, "--seed", "1") == 0
    # a tiny lr: one step moves R by ~1e-12, so the adapted R must still be the init's R, not a fresh one
    tiny = ["--lr", "1e-12", "--min-lr", "0", "--iterations", "1", "--batch-size", "1", "--crop-size", "16",
            "--no-progress", "--threads", "1"]
    adapted = tmp_path / "adapted"
    assert main(["train", "--init-from", str(base / "final"), "--pairs", str(train_pairs), "--out", str(adapted),
                 *tiny]) == 0
    init, got = _weights(base / "final"), _weights(adapted / "final")
    assert init.keys() == got.keys()
    assert max(float((init[k] - got[k]).abs().max()) for k in init) < 1e-6
    # F, prior and size come with the init: the same config.json (exposure: --exposure, default R's own)
    assert json.loads((adapted / "final" / "config.json").read_text()) == \
        json.loads((base / "final" / "config.json").read_text())
    kept = tmp_path / "kept"
    assert main(["train", "--init-from", str(base / "final"), "--pairs", str(train_pairs), "--out", str(kept),
                 "--exposure", "0.4", *tiny]) == 0
    assert json.loads((kept / "final" / "config.json").read_text())["exposure"] == 0.4
    with pytest.raises(SystemExit) as stop:  # an argparse error: usage and one line, exit status 2
        main(["train", "--init-from", str(base / "final"), "--pairs", str(train_pairs), "--out",
              str(tmp_path / "bad"), "--exposure", "bright", *tiny])
    assert stop.value.code == 2 and "exposure must be 'refiner'" in capsys.readouterr().err
    # from scratch with the same seed, R is a different network
    scratch = tmp_path / "scratch"
    assert train(scratch, train_pairs, "--lr", "1e-12", "--min-lr", "0", iterations=1) == 0
    assert max(float((init[k] - _weights(scratch / "final")[k]).abs().max()) for k in init) > 1e-3
    capsys.readouterr()


def test_train_init_from_refuses_architecture_options(tmp_path, train_pairs, capsys):
    base = tmp_path / "base"
    assert train(base, train_pairs) == 0
    capsys.readouterr()
    rc = main(["train", "--init-from", str(base / "final"), "--pairs", str(train_pairs), "--out",
               str(tmp_path / "a"), "--width", "8", "--prior", "none:8"])
    err = capsys.readouterr().err
    assert rc == 2 and len(error_lines(err)) == 1
    assert "--prior, --width: R's architecture and prior come from --init-from" in err
    assert not (tmp_path / "a").exists()
    rc = main(["train", "--pairs", str(train_pairs), "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert rc == 2 and "train needs --restorer NAME" in err and "--init-from" in err


def test_adapting_in_python_trains_only_r_of_a_loaded_refiner(tmp_path, train_pairs):
    from ptg_refine.data import PairedFolder
    from ptg_refine.training import TrainConfig, Trainer

    base = tmp_path / "base"
    assert train(base, train_pairs) == 0
    refiner = PTGRefiner.from_pretrained(str(base / "final"))
    before = {k: v.clone() for k, v in refiner.state_dict().items()}
    cfg = TrainConfig(iterations=2, batch_size=1, crop_size=16, lr=1e-2, log_every=1)
    Trainer(refiner, PairedFolder(train_pairs).pairs, cfg, progress=False).fit()
    after = refiner.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("net.") for k in changed), sorted(changed)[:5]


# -- train's R options come from RefinerConfig -----------------------------------------------------------
def test_train_r_options_have_the_librarys_defaults_but_the_declared_ones():
    from dataclasses import fields

    from ptg_refine.cli.train import refiner_flags
    from ptg_refine.refiner import RefinerConfig

    args = build_parser(only="train").parse_args(["train", "--pairs", "p", "--out", "o"])
    library = RefinerConfig()
    flags = [f.name for f in refiner_flags()]
    differ = {name: getattr(args, name) for name in flags if getattr(args, name) != getattr(library, name)}
    assert differ == {f.name: f.metadata["train_default"] for f in fields(RefinerConfig)
                      if "train_default" in f.metadata} == {"prior": "none", "prior_proj_dim": 128}
    assert args.exposure == library.exposure
    # every setting of R's size and prior path is a flag; the others come from their own options
    assert set(flags) == {f.name for f in fields(RefinerConfig)} - {
        "restorer", "prior_pretrained", "prior_dim", "prior_seed", "prior_layers"}  # prior_layers: from the prior


def test_a_new_refiner_setting_needs_no_other_edit(tmp_path, monkeypatch):
    """A field added to RefinerConfig alone becomes an __init__ argument, a checked value, a train flag (typed, in
    the research group) and a key of config.json."""
    import dataclasses

    from ptg_refine import refiner as refiner_module
    from ptg_refine.refiner import PTGRefiner, RefinerConfig

    extended = dataclasses.make_dataclass("RefinerConfig", [("speed_knob", int, dataclasses.field(default=3))],
                                          bases=(RefinerConfig,))
    extended.__module__ = RefinerConfig.__module__
    monkeypatch.setattr(refiner_module, "RefinerConfig", extended)
    args = build_parser(only="train").parse_args(["train", "--pairs", "p", "--out", "o", "--speed-knob", "5"])
    assert args.speed_knob == 5
    with pytest.raises(SystemExit):
        build_parser(only="train").parse_args(["train", "--pairs", "p", "--out", "o", "--speed-knob", "fast"])
    built = PTGRefiner(restorer="identity", prior="none:8", width=8, num_blocks=1, speed_knob=7)
    assert built.config["speed_knob"] == 7
    with pytest.raises(TypeError, match="speed_knob must be an integer"):
        PTGRefiner(restorer="identity", prior="none:8", speed_knob="7")
    built.save_pretrained(tmp_path / "r")
    assert json.loads((tmp_path / "r" / "config.json").read_text())["speed_knob"] == 7
    assert refiner_module._init_signature().parameters["speed_knob"].default == 3  # PTGRefiner.__init__'s


def test_train_r_options_reach_the_refiner(tmp_path, train_pairs):
    assert train(tmp_path / "r", train_pairs, "--heads", "2", "--kernel-size", "5", "--embed-dim", "16",
                 "--prior-proj-dim", "auto", iterations=1) == 0
    config = json.loads((tmp_path / "r" / "final" / "config.json").read_text())
    assert (config["heads"], config["kernel_size"], config["embed_dim"], config["prior_proj_dim"]) == (2, 5, 16, "auto")
    assert config["width"] == 8 and config["prior"] == "none:8"
