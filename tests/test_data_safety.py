"""Data safety at the API level: what a read does to a file (EXIF, alpha, 16-bit, bombs), atomic writes, synth's
refusals and atomicity, input checks of F's output and of the zoo, checkpoint checksums, run fingerprints and
the fallback past a corrupt checkpoint."""
from __future__ import annotations

import json
import os
import struct
import warnings
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from ptg_refine import PTGRefiner
from ptg_refine._validation import check_dtype, check_output_dir, check_restored
from ptg_refine.integrity import (CheckpointWarning, CorruptCheckpointError, check_pretrained_folder, read_config,
                                    verify_checksums, write_checksums)
from ptg_refine.data import ImageFolder, PairedFolder, read_image, save_image, synthesize_pairs
from ptg_refine.data import synth as synth_module
from ptg_refine.data.io import image_size, read_uint8, read_uint8_alpha
from ptg_refine.restorers import create_restorer
from ptg_refine.restorers._common import read_state_dict
from ptg_refine.training import Trainer, TrainConfig
from ptg_refine._safe_state import save_state
from ptg_refine.training.resume import find_intact_checkpoint, fingerprint_differences, read_training_state
from helpers import dark_pairs

TINY = dict(prior="none:8", width=8, num_blocks=1, prior_hidden=16, embed_dim=8)


def noise(h, w, seed=0, lo=0, hi=255):
    return np.random.default_rng(seed).integers(lo, hi, (h, w, 3), dtype=np.uint8)


def write_png16(path, array16):
    """An RGB 16-bit PNG (Pillow cannot write one)."""
    h, w, _ = array16.shape
    raw = b"".join(b"\x00" + array16[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


# -- reading -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_exif_orientation_is_applied(tmp_path, suffix):
    stored = np.zeros((20, 30, 3), np.uint8)
    stored[:, :10] = 255  # bright left third as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display" (a portrait phone photo)
    path = tmp_path / f"p{suffix}"
    Image.fromarray(stored).save(path, exif=exif, **({"quality": 100} if suffix == ".jpg" else {}))
    upright = read_uint8(path)
    assert upright.shape == (30, 20, 3) and image_size(path) == (30, 20)
    assert upright[:10].mean() > 200 and upright[-10:].mean() < 50  # the stored left side is now on top
    assert read_image(path).shape == (3, 30, 20)


def test_transparent_pixels_are_composited_on_black_and_alpha_is_returned(tmp_path):
    rgba = np.zeros((16, 20, 4), np.uint8)
    rgba[..., :3] = (255, 0, 255)  # loud colour under transparent pixels
    rgba[:, :10, 3] = 255          # left half opaque
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    rgb, alpha = read_uint8_alpha(tmp_path / "a.png")
    assert np.array_equal(alpha, rgba[..., 3])
    assert (rgb[:, 10:] == 0).all() and (rgb[:, :10] == (255, 0, 255)).all()
    rgba[..., 3] = 255  # fully opaque RGBA: plain RGB, no alpha
    Image.fromarray(rgba, "RGBA").save(tmp_path / "b.png")
    rgb, alpha = read_uint8_alpha(tmp_path / "b.png")
    assert alpha is None and (rgb == (255, 0, 255)).all()
    pal = Image.fromarray(np.zeros((16, 16), np.uint8), "P")
    pal.putpalette([200, 10, 10] * 256)
    pal.info["transparency"] = 0
    pal.save(tmp_path / "c.png", transparency=0)
    rgb, alpha = read_uint8_alpha(tmp_path / "c.png")
    assert (alpha == 0).all() and (rgb == 0).all()


def test_16_bit_images_are_rejected_with_the_promised_message(tmp_path):
    write_png16(tmp_path / "rgb16.png", np.full((16, 16, 3), 40000, np.uint16))
    with pytest.raises(ValueError, match=r"rgb16\.png: 16-bit .* convert to 8-bit RGB"):
        read_uint8(tmp_path / "rgb16.png")
    Image.new("I;16", (16, 16)).save(tmp_path / "grey16.png")
    with pytest.raises(ValueError, match=r"grey16\.png: I;16 \(16/32-bit\)"):
        read_uint8(tmp_path / "grey16.png")


def test_decompression_bomb_names_the_file(tmp_path, monkeypatch):
    Image.fromarray(noise(40, 40)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(ValueError, match=r"big\.png.*decompression-bomb"):
        read_uint8(tmp_path / "big.png")


def test_save_image_is_atomic_and_keeps_alpha(tmp_path):
    alpha = np.tile(np.arange(20, dtype=np.uint8) * 12, (16, 1))
    save_image(torch.rand(3, 16, 20), tmp_path / "sub" / "x.png", alpha=alpha)
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["x.png"]  # no temporary left behind
    assert np.array_equal(np.asarray(Image.open(tmp_path / "sub" / "x.png"))[..., 3], alpha)

    class Boom(Exception):
        pass

    def fail(*a, **k):
        raise Boom

    before = (tmp_path / "sub" / "x.png").read_bytes()
    with pytest.MonkeyPatch.context() as m:
        m.setattr(Image.Image, "save", fail)
        with pytest.raises(Boom):
            save_image(torch.rand(3, 16, 20), tmp_path / "sub" / "x.png")
    assert (tmp_path / "sub" / "x.png").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["x.png"]


def test_image_folder_reports_skipped_entries_and_keeps_the_tree(tmp_path):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    Image.fromarray(noise(16, 16)).save(tmp_path / "in" / "a.png")
    Image.fromarray(noise(16, 16)).save(tmp_path / "in" / "sub" / "a.png")
    Image.fromarray(noise(16, 16)).save(tmp_path / "in" / "anim.gif")
    (tmp_path / "in" / "notes.txt").write_text("x")
    flat = ImageFolder(tmp_path / "in")
    assert flat.names == ["a"]
    assert sorted((p.name, why.split(" ")[0]) for p, why in flat.skipped) == \
        [("anim.gif", "not"), ("notes.txt", "not"), ("sub", "subfolder")]
    deep = ImageFolder([tmp_path / "in", tmp_path / "in" / "a.png"], recursive=True)
    assert deep.names == ["a", "sub/a"]  # the same file given twice is kept once
    assert {p.name for p, _ in deep.skipped} == {"anim.gif", "notes.txt"}


def test_paired_folder_names_a_too_small_file(tmp_path):
    for side in ("low", "high"):
        (tmp_path / side).mkdir()
        Image.fromarray(noise(12, 30)).save(tmp_path / side / "tiny.png")
    with pytest.raises(ValueError, match=r"low/tiny\.png is 12x30 pixels"):
        PairedFolder(tmp_path)


# -- synth -----------------------------------------------------------------------------------------------
def test_synth_refuses_small_clean_images_before_writing(tmp_path):
    (tmp_path / "clean").mkdir()
    Image.fromarray(noise(120, 100)).save(tmp_path / "clean" / "big.png")
    Image.fromarray(noise(40, 100)).save(tmp_path / "clean" / "small.png")
    with pytest.raises(ValueError, match=r"small\.png \(40x100\)") as e:
        synthesize_pairs(tmp_path / "clean", tmp_path / "out", progress=False)
    assert "big.png" not in str(e.value) and not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match=r"big\.png \(48x40 after --max-side\)"):
        synthesize_pairs(tmp_path / "clean", tmp_path / "out", max_side=48, min_size=48, progress=False)
    assert synthesize_pairs(tmp_path / "clean", tmp_path / "out", min_size=40, progress=False)["pairs"] == 2


def test_synth_writes_atomically(tmp_path, monkeypatch):
    (tmp_path / "clean").mkdir()
    for n in ("a", "b", "c"):
        Image.fromarray(noise(20, 24)).save(tmp_path / "clean" / f"{n}.png")
    real, calls = synth_module.degrade, []

    def flaky(clean, rng, config):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(clean, rng, config)

    monkeypatch.setattr(synth_module, "degrade", flaky)
    with pytest.raises(OSError, match="disk full"):
        synthesize_pairs(tmp_path / "clean", tmp_path / "out", min_size=16, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean"]  # no half-written folder, no temporary
    # a temporary folder of a killed run (its process is gone) is cleaned up by the next run
    stale = tmp_path / ".out.synth-tmp-999999999"
    (stale / "low").mkdir(parents=True)
    monkeypatch.setattr(synth_module, "degrade", real)
    s = synthesize_pairs(tmp_path / "clean", tmp_path / "out", min_size=16, progress=False)
    assert s["pairs"] == 3 and not stale.exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["high", "low", "synthetic.json"]


# -- F's output and the zoo ---------------------------------------------------------------------------
def test_restored_is_range_checked_with_a_tolerance():
    low = torch.rand(1, 3, 16, 16)
    check_restored(low * 1.4, low)  # a restorer may overshoot a little
    with pytest.raises(ValueError, match="0-255.*divide by 255"):
        check_restored(low * 255, low)
    with pytest.raises(ValueError, match="restored contains NaN"):
        check_restored(torch.full_like(low, float("nan")), low)
    with pytest.raises(ValueError, match="shape of low"):
        check_restored(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 16))
    with pytest.raises(TypeError, match=r"float64 but the model's weights are torch\.float32.*\.to\(torch\.float32\)"):
        check_dtype(low.double(), torch.float32)


@pytest.mark.parametrize("name", ["sci", "iat", "gamma", "identity"])
def test_zoo_restorers_validate_their_input(name):
    f = create_restorer(name)
    x = torch.rand(1, 3, 16, 16)
    with pytest.raises(ValueError, match="NaN or Inf"):
        f(x.index_fill(2, torch.tensor([3]), float("nan")))
    with pytest.raises(ValueError, match=r"\[0,1\].*divided by 255"):
        f(x * 255)


def test_zoo_dtype_mismatch_is_explained():
    with pytest.raises(TypeError, match=r"float64 but restorer sci's weights are torch\.float32"):
        create_restorer("sci")(torch.rand(1, 3, 16, 16, dtype=torch.float64))
    with pytest.raises(TypeError, match="bfloat16"):
        create_restorer("iat")(torch.rand(1, 3, 16, 16).bfloat16())
    assert create_restorer("sci").double()(torch.rand(1, 3, 16, 16, dtype=torch.float64)).dtype == torch.float64


def test_bad_restorer_weight_files_are_named(tmp_path):
    (tmp_path / "notes.pth").write_text("these are not weights\n")
    with pytest.raises(ValueError, match=r"notes\.pth: not a PyTorch checkpoint"):
        read_state_dict(tmp_path / "notes.pth")
    torch.save({"w": torch.zeros(3)}, tmp_path / "ok.pth")
    data = (tmp_path / "ok.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.pth: not a PyTorch checkpoint"):
        read_state_dict(tmp_path / "cut.pth")
    (tmp_path / "x.safetensors").write_text("{}")
    with pytest.raises(ValueError, match=r"x\.safetensors: not a valid \.safetensors"):
        read_state_dict(tmp_path / "x.safetensors")
    with pytest.raises(ValueError, match=r"ok\.pth does not hold weights of restorer 'sci'"):
        create_restorer("sci", weights=tmp_path / "ok.pth")


# -- output folders ----------------------------------------------------------------------------------
def test_check_output_dir(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="exists and is not a folder"):
        check_output_dir(tmp_path / "file")
    with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
        check_output_dir(tmp_path / "file" / "sub")
    assert check_output_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing made

    def read_only(*a, **k):
        raise PermissionError(13, "Permission denied")

    import tempfile
    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    with pytest.raises(PermissionError, match="is not writable.*Permission denied"):
        check_output_dir(tmp_path / "new", "-o")


# -- checksums and configs ---------------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path):
    r = PTGRefiner(restorer="gamma", **TINY)
    r.save_pretrained(tmp_path / "ref")
    write_checksums(tmp_path / "ref")
    return tmp_path / "ref"


def zero_bytes_inside(path, count=64):
    data = bytearray(path.read_bytes())
    data[-count - 16:-16] = bytes(count)  # inside the tensor data: the header stays valid
    path.write_bytes(bytes(data))


def test_checksums_detect_silent_corruption(saved):
    assert verify_checksums(saved) is True
    listed = json.loads((saved / "checksums.json").read_text())["files"]
    assert set(listed) == {"model.safetensors"}
    zero_bytes_inside(saved / "model.safetensors")
    with pytest.raises(CorruptCheckpointError, match=r"model\.safetensors is corrupt"):
        verify_checksums(saved)
    with pytest.raises(CorruptCheckpointError, match=r"model\.safetensors is corrupt"):
        PTGRefiner.from_pretrained(saved)  # from_pretrained verifies before loading
    (saved / "checksums.json").unlink()
    assert verify_checksums(saved) is False  # nothing recorded: nothing to check


def test_invalid_config_json_is_named(saved):
    assert check_pretrained_folder(saved)["prior"] == "none:8"
    (saved / "config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"config\.json must hold a JSON object.*JSON list"):
        read_config(saved)
    (saved / "config.json").write_text("{bad")
    with pytest.raises(ValueError, match=r"config\.json is not valid JSON"):
        check_pretrained_folder(saved)


# -- training checkpoints ----------------------------------------------------------------------------
def pairs(n=3, seed=0):
    return dark_pairs(n, seed=seed)


def trainer(out, restorer="gamma", data=None, **kw):
    torch.manual_seed(0)
    r = PTGRefiner(restorer=restorer, **{**TINY, **kw})
    return Trainer(r, data or pairs(), TrainConfig(iterations=6, batch_size=1, crop_size=16, keep_checkpoints=3),
                   out_dir=out, progress=False)


def run_steps(t, n):
    for _ in range(n):
        t.train_step(t.sample_batch())
        t.save_checkpoint()


def test_checkpoints_carry_checksums_and_a_fingerprint(tmp_path):
    t = trainer(tmp_path)
    run_steps(t, 1)
    ckpt = tmp_path / "checkpoints" / "step_0000001"
    assert set(json.loads((ckpt / "checksums.json").read_text())["files"]) == {
        "model.safetensors", "training_state.json", "training_state.safetensors"}
    assert not (ckpt / "training_state.pt").exists()  # no pickle
    fp = read_training_state(ckpt)["fingerprint"]
    assert fp["restorer"] == "gamma" and fp["prior"] == "none:8" and fp["training_pairs"] == 3


def test_corrupt_newest_checkpoint_falls_back_with_a_message(tmp_path):
    t = trainer(tmp_path)
    run_steps(t, 3)
    root = tmp_path / "checkpoints"
    zero_bytes_inside(root / "step_0000003" / "model.safetensors")
    (root / ".tmp_step_0000004_12345").mkdir()  # a kill during a write
    again = trainer(tmp_path)
    with pytest.warns(CheckpointWarning, match=r"step_0000003/model\.safetensors is corrupt.*step_0000002"):
        assert again.resume() == 2
    assert not (root / ".tmp_step_0000004_12345").exists()
    ref = trainer(tmp_path / "ref")
    run_steps(ref, 2)
    for k, v in ref.refiner.net.state_dict().items():
        assert torch.equal(v, again.refiner.net.state_dict()[k]), k
    # unreadable state (truncated JSON, no checksum to tell): also skipped, by name
    (root / "step_0000002" / "checksums.json").unlink()
    (root / "step_0000002" / "training_state.json").write_bytes(b"")
    with pytest.warns(CheckpointWarning, match=r"step_0000002/training_state\.\* is unreadable"):
        assert trainer(tmp_path).resume() == 1
    # every checkpoint damaged: one error listing them
    zero_bytes_inside(root / "step_0000001" / "training_state.safetensors")
    with pytest.raises(CorruptCheckpointError, match=r"no intact checkpoint.*step_0000003.*step_0000002.*step_0000001"):
        trainer(tmp_path).resume()
    # an explicit checkpoint is not replaced by another one
    with pytest.raises(CorruptCheckpointError, match=r"step_0000003/model\.safetensors"):
        trainer(tmp_path).resume(root / "step_0000003")


def test_latest_pointing_at_a_missing_folder(tmp_path):
    t = trainer(tmp_path)
    run_steps(t, 2)
    (tmp_path / "checkpoints" / "latest").write_text("step_0000009")
    with pytest.warns(CheckpointWarning, match="does not exist"):
        assert trainer(tmp_path).resume() == 2
    assert find_intact_checkpoint(tmp_path / "nothing") is None


def test_resume_refuses_another_restorer_prior_or_data(tmp_path):
    t = trainer(tmp_path)
    run_steps(t, 1)
    with pytest.raises(ValueError, match=r"restorer F: 'gamma' \(checkpoint\) vs 'identity' \(now\)"):
        trainer(tmp_path, restorer="identity").resume()
    with pytest.raises(ValueError, match=r"training pairs \(sha256\)"):
        trainer(tmp_path, data=pairs(seed=1)).resume()
    with pytest.raises(ValueError, match=r"number of training pairs: 3 \(checkpoint\) vs 2 \(now\)"):
        trainer(tmp_path, data=pairs()[:2]).resume()
    with pytest.raises(ValueError, match=r"prior: 'none:8' \(checkpoint\) vs 'none:12' \(now\)"):
        trainer(tmp_path, prior="none:12").resume()
    # a checkpoint without a fingerprint (older version) resumes with a warning
    ckpt = tmp_path / "checkpoints" / "step_0000001"
    state = read_training_state(ckpt)
    del state["fingerprint"]
    write_checksums(ckpt, also=[f.name for f in save_state(state, ckpt, "training_state")])
    with pytest.warns(CheckpointWarning, match="no run fingerprint"):
        assert trainer(tmp_path).resume() == 1


def test_fingerprint_differences_lists_refiner_settings():
    base = {"restorer": "sci", "refiner_config": {"width": 16, "num_blocks": 4}}
    other = {"restorer": "sci", "refiner_config": {"width": 16, "num_blocks": 2}}
    assert fingerprint_differences(base, other) == ["refiner num_blocks: 4 (checkpoint) vs 2 (now)"]
    assert fingerprint_differences(base, base) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fingerprint_differences({"restorer_weights": None}, {"restorer_weights": "ab" * 32}) == []


def test_temporaries_have_usual_permissions(tmp_path):
    save_image(torch.rand(3, 16, 16), tmp_path / "x.png")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "x.png").stat().st_mode & 0o777 == 0o666 & ~umask
