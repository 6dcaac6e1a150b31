"""Safety: no code from a file ever runs, no result is ever lost, every config is checked."""
from __future__ import annotations

import builtins
import os
import contextlib
import io
import json

import numpy as np
import pytest
import torch

from ptg_refine import PTGRefiner
from ptg_refine._safe_state import load_state, save_state
from ptg_refine.integrity import CheckpointWarning, CorruptCheckpointError, write_checksums
from ptg_refine.cli import main
from ptg_refine.training import Trainer, TrainConfig
from ptg_refine.training.resume import read_training_state
from helpers import dark_pairs

TINY = dict(prior="none:8", width=8, num_blocks=1, prior_hidden=16, embed_dim=8)


def pairs(n=3, seed=0):
    return dark_pairs(n, seed=seed)


def trainer(out, iterations=6):
    torch.manual_seed(0)
    return Trainer(PTGRefiner(restorer="gamma", **TINY), pairs(),
                   TrainConfig(iterations=iterations, batch_size=1, crop_size=16, keep_checkpoints=3),
                   out_dir=out, progress=False)


def cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


class Payload:
    """Unpickling this calls open(marker, "w"): the marker file appears if the pickle is ever run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return builtins.open, (self.marker, "w")


def plant_pickle(folder, marker, keep_new_format=False):
    """Replace a checkpoint's training state by a pickle carrying a payload, and rewrite checksums.json so that
    the checksums agree (an attacker can)."""
    state = read_training_state(folder)
    state["history"] = [Payload(marker)]
    if not keep_new_format:
        for name in ("training_state.json", "training_state.safetensors"):
            (folder / name).unlink()
    torch.save(state, folder / "training_state.pt")
    write_checksums(folder)


# -- train --resume never unpickles ----------------------------------------------------------
def test_the_planted_payload_is_live(tmp_path):
    """The payload of the tests below does run when unpickled in full (so its marker is a real witness)."""
    torch.save({"x": Payload(tmp_path / "marker")}, tmp_path / "p.pt")
    torch.load(tmp_path / "p.pt", weights_only=False)
    assert (tmp_path / "marker").exists()


def test_resume_never_runs_a_planted_pickle(tmp_path):
    t = trainer(tmp_path / "run")
    for _ in range(2):
        t.train_step(t.sample_batch())
        t.save_checkpoint()
    root = tmp_path / "run" / "checkpoints"
    marker = tmp_path / "marker"
    # the newest checkpoint's state replaced by a pickle with a payload: refused by name, the previous one used
    plant_pickle(root / "step_0000002", marker)
    with pytest.warns(CheckpointWarning, match=r"step_0000002/training_state\.pt is refused: .*could run code"):
        assert trainer(tmp_path / "run").resume() == 1
    assert not marker.exists()
    # a pickle planted beside the JSON + safetensors state is never read
    plant_pickle(root / "step_0000001", marker, keep_new_format=True)
    assert trainer(tmp_path / "run").resume(root / "step_0000001") == 1
    assert not marker.exists()
    # every checkpoint carrying a payload: one clear error, nothing run
    plant_pickle(root / "step_0000001", marker)
    with pytest.raises(CorruptCheckpointError, match="no intact checkpoint"):
        trainer(tmp_path / "run").resume()
    assert not marker.exists()


def test_cli_resume_with_a_planted_pickle_exits_with_one_error_line(tmp_path):
    d = tmp_path / "pairs"
    from PIL import Image

    for p in pairs():
        for side, img in (("low", p.low), ("high", p.high)):
            (d / side).mkdir(parents=True, exist_ok=True)
            Image.fromarray(img.permute(1, 2, 0).numpy()).save(d / side / f"{p.name}.png")
    args = ["train", "--pairs", d, "--out", tmp_path / "run", "--restorer", "gamma", "--prior", "none:8",
            "--prior-proj-dim", "0", "--width", "8", "--num-blocks", "1", "--batch-size", "1", "--crop-size", "16",
            "--no-progress", "--threads", "1", "--ckpt-every", "1"]
    assert cli(*args, "--iterations", "1")[0] == 0
    marker = tmp_path / "marker"
    plant_pickle(tmp_path / "run" / "checkpoints" / "step_0000001", marker)
    rc, out, err = cli(*args, "--iterations", "2", "--resume")
    assert not marker.exists()
    assert rc == 2 and err.count("error:") == 1 and "training_state.pt is refused" in err, err


def test_a_pickled_state_is_never_loaded_even_of_plain_data(tmp_path):
    """A training_state.pt (the pickle of unreleased early versions) is refused by name, never unpickled, even when
    it holds plain data only; the previous intact checkpoint is used."""
    t = trainer(tmp_path / "run")
    t.train_step(t.sample_batch())
    t.save_checkpoint()
    folder = tmp_path / "run" / "checkpoints" / "step_0000001"
    state = read_training_state(folder)
    for name in ("training_state.json", "training_state.safetensors"):
        (folder / name).unlink()
    torch.save(state, folder / "training_state.pt")
    write_checksums(folder)
    with pytest.raises(CorruptCheckpointError, match=r"training_state\.pt is refused"):
        read_training_state(folder)
    with pytest.raises(CorruptCheckpointError, match="no intact checkpoint"):
        trainer(tmp_path / "run").resume()


def test_state_round_trip_is_exact_and_refuses_objects(tmp_path):
    state = {"step": 3, "betas": (0.9, 0.999), "lrs": [1e-3, 1.0000000000000002e-3], "flags": [True, None],
             "odd": {0: {"t": torch.randn(3, 2, dtype=torch.float64)}, "__x": 1.5},
             "rng": torch.get_rng_state(), "scalar": torch.tensor(7.0), "nan": float("nan"), "inf": float("-inf"),
             "nested": {"a": {"b": [torch.arange(4, dtype=torch.int16)]}}, "np": np.float32(0.1)}
    save_state(state, tmp_path, "s")
    back = load_state(tmp_path, "s")
    assert back["betas"] == (0.9, 0.999) and back["lrs"] == state["lrs"] and back["flags"] == [True, None]
    assert set(back["odd"]) == {0, "__x"} and torch.equal(back["odd"][0]["t"], state["odd"][0]["t"])
    assert torch.equal(back["rng"], state["rng"]) and back["rng"].dtype == torch.uint8
    assert back["scalar"].shape == () and back["nan"] != back["nan"] and back["inf"] == float("-inf")
    assert back["nested"]["a"]["b"][0].dtype == torch.int16 and back["np"] == float(np.float32(0.1))
    with pytest.raises(TypeError, match=r"\['x'\] \(a Payload\)"):
        save_state({"x": Payload(tmp_path / "m")}, tmp_path, "t")
    (tmp_path / "s.json").write_text(json.dumps({"format": "ptg-refine-state/1", "state": {"__reduce__": 1}}))
    with pytest.raises(ValueError, match="unknown entry '__reduce__'"):
        load_state(tmp_path, "s")


# -- a malicious --prior-weights file: one clear line ---------------------------------------
@pytest.mark.parametrize("spec", ["efficientnet_lite0", "timm:resnet18"])
def test_prior_weights_pickle_with_a_payload_is_refused_by_name(tmp_path, spec):
    from ptg_refine.priors import create_prior

    evil = tmp_path / "evil.pth"
    torch.save({"w": Payload(tmp_path / "marker")}, evil)
    with pytest.raises(ValueError, match=r"refusing to read prior weights .*evil\.pth: it is a pickle"):
        create_prior(spec, pretrained=str(evil))
    assert not (tmp_path / "marker").exists()


# -- eval never replaces an earlier evaluation unasked, and never leaves a truncated file --------
def paired_folder(root):
    from PIL import Image

    for p in pairs():
        for side, img in (("low", p.low), ("high", p.high)):
            (root / side).mkdir(parents=True, exist_ok=True)
            Image.fromarray(img.permute(1, 2, 0).numpy()).save(root / side / f"{p.name}.png")
    return root


def snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_eval_refuses_an_earlier_evaluation_unless_overwrite(tmp_path):
    d = paired_folder(tmp_path / "pairs")
    out = tmp_path / "ev"
    out.mkdir()
    (out / "notes.txt").write_text("mine")  # unrelated files do not count as an evaluation
    assert cli("eval", "--pairs", d, "--restorer", "gamma", "--out", out)[0] == 0
    assert {"metrics.json", "metrics.csv", "strips", "notes.txt"} <= {p.name for p in out.iterdir()}
    before = snapshot(out)
    rc, _, err = cli("eval", "--pairs", d, "--restorer", "identity", "--out", out)
    assert rc == 2 and err.count("error:") == 1
    assert "already holds results (metrics.json, metrics.csv, strips): pass --overwrite" in err
    assert snapshot(out) == before
    rc, _, err = cli("eval", "--pairs", d, "--restorer", "identity", "--out", out, "--overwrite")
    assert rc == 0, err
    assert json.loads((out / "metrics.json").read_text())["mean"]["psnr_F"] == pytest.approx(
        json.loads(before["metrics.json"])["mean"]["psnr_input"])  # F = identity now
    assert not [p for p in out.rglob(".*tmp*")]


def test_eval_on_a_full_disk_keeps_the_earlier_metrics_intact(tmp_path, monkeypatch):
    d = paired_folder(tmp_path / "pairs")
    out = tmp_path / "ev"
    assert cli("eval", "--pairs", d, "--restorer", "gamma", "--out", out, "--no-strips")[0] == 0
    before = snapshot(out)

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("ptg_refine._outputs.os.fsync", full)
    rc, _, err = cli("eval", "--pairs", d, "--restorer", "identity", "--out", out, "--no-strips", "--overwrite")
    assert rc == 2 and "No space left on device" in err
    assert snapshot(out) == before  # metrics.json still the earlier, valid one; no temporary file left
    json.loads((out / "metrics.json").read_text())


def test_atomic_writes_publish_whole_files_or_nothing(tmp_path):
    from ptg_refine._outputs import OutputExistsError, atomic_file, write_text_atomic

    target = tmp_path / "r.json"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError), atomic_file(target) as f:
        f.write("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["r.json"]
    with pytest.raises(OutputExistsError, match=r"r\.json already exists"):
        write_text_atomic(target, "new", overwrite=False)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["r.json"]
    write_text_atomic(target, "new")
    assert target.read_text() == "new"


# -- enhance never replaces an output unasked, even in a race; stale temporaries cleaned ---------
def test_enhance_never_replaces_a_file_created_by_another_run_meanwhile(tmp_path, monkeypatch):
    import ptg_refine.cli.enhance as cli_module
    from PIL import Image

    refiner = tmp_path / "refiner"
    torch.manual_seed(0)
    PTGRefiner(restorer="gamma", **TINY).save_pretrained(refiner)
    (tmp_path / "in").mkdir()
    for name in ("a.png", "b.png"):
        Image.new("RGB", (40, 32), (30, 40, 50)).save(tmp_path / "in" / name)
    out = tmp_path / "out"
    real_plan = cli_module.plan_outputs

    def plan_then_race(*a, **k):  # another enhance run writes a.png after this run's "already exist" check
        plan = real_plan(*a, **k)
        out.mkdir(exist_ok=True)
        (out / "a.png").write_bytes(b"the other run's result")
        return plan

    monkeypatch.setattr(cli_module, "plan_outputs", plan_then_race)
    args = ["enhance", tmp_path / "in", "-o", out, "--refiner", refiner, "--no-progress"]
    rc, _, err = cli(*args)
    assert (out / "a.png").read_bytes() == b"the other run's result"
    assert rc == 1 and "out/a.png already exists (written meanwhile by another run?) and was not replaced" in err
    assert (out / "b.png").is_file()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    (out / "b.png").unlink()
    assert cli(*args, "--overwrite")[0] == 0  # asked: replaced
    assert (out / "a.png").read_bytes() != b"the other run's result"


def test_enhance_removes_temporaries_of_a_killed_run_only(tmp_path):
    import subprocess
    import sys

    from PIL import Image

    refiner = tmp_path / "refiner"
    torch.manual_seed(0)
    PTGRefiner(restorer="gamma", **TINY).save_pretrained(refiner)
    (tmp_path / "in").mkdir()
    Image.new("RGB", (40, 32), (30, 40, 50)).save(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    (out / f".a.png.tmp-{dead}").write_bytes(b"half")  # a killed run's
    (out / f".a.png.tmp-{os.getppid()}").write_bytes(b"busy")  # a running process's: left alone
    (out / ".notes.tmp-1").write_bytes(b"not ours")
    rc, _, err = cli("enhance", tmp_path / "in", "-o", out, "--refiner", refiner, "--no-progress")
    assert rc == 0 and "removed 1 temporary file(s) left by an interrupted earlier run" in err
    assert sorted(p.name for p in out.iterdir()) == sorted(["a.png", f".a.png.tmp-{os.getppid()}", ".notes.tmp-1"])


# -- config.json checked, never guessed ----------------------------------------------------------
@pytest.fixture
def saved_refiner(tmp_path):
    torch.manual_seed(0)
    folder = tmp_path / "refiner"
    PTGRefiner(restorer="gamma", **TINY).save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())

    def with_config(**change):
        (folder / "config.json").write_text(json.dumps({**config, **change}))
        return folder

    return with_config


@pytest.mark.parametrize("change, match", [
    ({"num_blocks": 100_000_000}, r"num_blocks = 100000000 is out of bounds: it must lie in \[1, 32\]"),
    ({"width": 0}, r"width = 0 is out of bounds: it must lie in \[1, 256\]"),
    ({"prior_hidden": 10**9}, r"prior_hidden = 1000000000 is out of bounds"),
    ({"embed_dim": 5000}, r"embed_dim = 5000 is out of bounds"),
    ({"ffn_expansion": 1e6}, r"ffn_expansion = 1000000.0 is out of bounds"),
])
def test_config_sizes_are_bounded(saved_refiner, change, match):
    folder = saved_refiner(**change)
    with pytest.raises(ValueError, match=r"refiner/config\.json: " + match):
        PTGRefiner.from_pretrained(folder)


@pytest.mark.parametrize("key, suggestion", [("prior_inputs", "did you mean 'prior_input'"), ("foo", "available: ")])
def test_unknown_config_keys_are_refused_with_close_names(saved_refiner, key, suggestion):
    folder = saved_refiner(**{key: "low"})
    with pytest.raises(ValueError, match=rf"config\.json: unknown key {key!r}; {suggestion}"):
        PTGRefiner.from_pretrained(folder)


@pytest.mark.parametrize("change, message", [
    ({"width": "16"}, "width must be an integer, got '16' (str)"),
    ({"num_blocks": 2.5}, "num_blocks must be an integer, got 2.5 (float)"),
    ({"num_blocks": 1e8}, "num_blocks must be an integer, got 100000000.0 (float)"),
    ({"heads": True}, "heads must be an integer, got True (bool)"),
    ({"prior_mode": 3}, "prior_mode must be \"global\", \"dense\" or \"global+dense\", got 3 (int)"),
    ({"exposure": [0.5]}, "exposure must be \"refiner\", \"restorer\", \"scene\" or a number in (0, 1), got [0.5] (list)"),
])
def test_wrong_config_types_name_field_value_and_type(saved_refiner, change, message):
    folder = saved_refiner(**change)
    with pytest.raises(TypeError) as e:
        PTGRefiner.from_pretrained(folder)
    assert str(e.value) == f"{folder / 'config.json'}: {message}"


def test_valid_configs_still_load_and_the_cli_says_one_line(saved_refiner, tmp_path):
    for change in ({"exposure": "restorer"}, {"exposure": 0.4}, {"prior_seed": None}, {}):
        assert PTGRefiner.from_pretrained(saved_refiner(**change)).config["exposure"] == change.get("exposure",
                                                                                                    "refiner")
    from PIL import Image

    (tmp_path / "in").mkdir()
    Image.new("RGB", (40, 32)).save(tmp_path / "in" / "a.png")
    rc, _, err = cli("enhance", tmp_path / "in", "-o", tmp_path / "out", "--refiner",
                     saved_refiner(prior_inputs="low"), "--no-progress")
    assert rc == 2 and err.strip().count("\n") == 0 and "did you mean 'prior_input'" in err
    assert not (tmp_path / "out").exists()


# -- a refiner run around another F warns, and its config stays truthful ------------------------------
def test_other_restorer_warns_and_the_config_keeps_the_trained_one(saved_refiner, tmp_path):
    from ptg_refine.refiner import RestorerMismatchWarning
    from ptg_refine.restorers import create_restorer

    folder = saved_refiner()  # trained around gamma
    with pytest.warns(RestorerMismatchWarning, match=r"trained for restorer 'gamma' but runs on 'identity'"):
        model = PTGRefiner.from_pretrained(folder, restorer="identity")
    assert model.restorer.name == "identity" and model.config["restorer"] == "gamma"
    model.save_pretrained(tmp_path / "again")
    assert json.loads((tmp_path / "again" / "config.json").read_text())["restorer"] == "gamma"
    with pytest.warns(RestorerMismatchWarning, match="runs on 'identity'"):
        PTGRefiner.from_pretrained(folder, restorer=create_restorer("identity"))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = PTGRefiner.from_pretrained(folder, restorer=create_restorer("gamma"))  # the same F: silent
    assert same.config["restorer"] == "gamma"  # and recorded, though given as a module


# -- prior weights for a prior without weights are refused ---------------------------------------------
def test_prior_weights_with_a_none_prior_are_refused(saved_refiner, tmp_path):
    from PIL import Image

    (tmp_path / "w.pth").write_bytes(b"weights")
    with pytest.raises(ValueError, match=r"prior 'none' \(g = 0\) has no weights, so the prior weights .*w\.pth"):
        PTGRefiner.from_pretrained(saved_refiner(), prior_pretrained=str(tmp_path / "w.pth"))
    (tmp_path / "in").mkdir()
    Image.new("RGB", (40, 32)).save(tmp_path / "in" / "a.png")
    rc, _, err = cli("enhance", tmp_path / "in", "-o", tmp_path / "out", "--refiner", saved_refiner(),
                     "--prior-weights", tmp_path / "w.pth", "--no-progress")
    assert rc == 2 and "has no weights" in err and not (tmp_path / "out").exists()
    assert PTGRefiner.from_pretrained(saved_refiner()).prior.name == "none"  # its own setting: fine


# -- torch.hub's pretrained=False builds an untrained refiner ------------------------------------------
def test_hub_pretrained_false_builds_an_untrained_refiner():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("ptg_hubconf_safety", Path(__file__).parents[1] / "hubconf.py")
    hubconf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hubconf)
    x = torch.rand(1, 3, 32, 32)
    for pretrained in (False, None):
        refiner = hubconf.ptg_refiner(restorer="gamma", prior="none:8", pretrained=pretrained)
        assert torch.equal(refiner(x), refiner.restore(x))  # a new refiner returns F's output


# -- a folder without checksums.json warns that its integrity cannot be checked -----------------------
def test_a_folder_without_checksums_warns_once(saved_refiner, tmp_path):
    from PIL import Image

    folder = saved_refiner()
    (folder / "checksums.json").unlink()
    with pytest.warns(CheckpointWarning, match=r"refiner has no checksums\.json: damage to its weights .* cannot be "
                                               r"detected"):
        PTGRefiner.from_pretrained(folder)
    (tmp_path / "in").mkdir()
    Image.new("RGB", (40, 32)).save(tmp_path / "in" / "a.png")
    rc, _, err = cli("enhance", tmp_path / "in", "-o", tmp_path / "out", "--refiner", folder, "--no-progress")
    assert rc == 0 and err.count("has no checksums.json") == 1, err
    write_checksums(folder)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PTGRefiner.from_pretrained(folder)


# -- train on a full disk says so, naming the file, and leaves no partial checkpoint ------------------
def test_train_on_a_full_disk_names_the_file(tmp_path, monkeypatch):
    import ptg_refine._safe_state as safe_state
    from ptg_refine.testing import disk_full_on_call

    d = paired_folder(tmp_path / "pairs")
    monkeypatch.setattr(safe_state, "save_file", disk_full_on_call(safe_state.save_file, 2))
    rc, _, err = cli("train", "--pairs", d, "--out", tmp_path / "run", "--restorer", "gamma", "--prior", "none:8",
                     "--prior-proj-dim", "0", "--width", "8", "--num-blocks", "1", "--batch-size", "1",
                     "--crop-size", "16", "--no-progress", "--threads", "1", "--ckpt-every", "1", "--iterations", "3")
    assert rc == 2 and err.strip().count("\n") == 0, err
    assert "checkpoints/step_0000002/training_state.safetensors: No space left on device" in err
    root = tmp_path / "run" / "checkpoints"
    assert sorted(p.name for p in root.iterdir()) == ["latest", "step_0000001"]  # nothing partial
    assert read_training_state(root / "step_0000001")["step"] == 1


# -- animated images are refused, not cut to their first frame --------------------------------------
@pytest.mark.parametrize("name", ["anim.gif", "anim.png", "anim.webp"])
def test_animated_images_are_refused_by_name(tmp_path, name):
    import numpy as np
    from PIL import Image

    from ptg_refine.data import read_image

    frames = [Image.fromarray(np.full((32, 40, 3), v, np.uint8)) for v in (10, 80, 160)]
    frames[0].save(tmp_path / name, save_all=True, append_images=frames[1:], duration=100)
    with pytest.raises(ValueError, match=rf"{name}: an animated or multi-frame image \(3 frames\) is not supported"):
        read_image(tmp_path / name)
    frames[0].save(tmp_path / "still.png")
    assert read_image(tmp_path / "still.png").shape == (3, 32, 40)


# -- a symbolic link loop in an input folder is skipped, the rest processed ---------------------------
@pytest.mark.parametrize("recursive", [False, True])
def test_symlink_loops_are_skipped_and_the_batch_goes_on(saved_refiner, tmp_path, recursive):
    from PIL import Image

    d = tmp_path / "in"
    d.mkdir()
    Image.new("RGB", (40, 32)).save(d / "a.png")
    os.symlink("x.png", d / "y.png")
    os.symlink("y.png", d / "x.png")
    os.symlink("self", d / "self")
    os.symlink("missing.png", d / "gone.png")
    rc, out, err = cli("enhance", d, "-o", tmp_path / "out", "--refiner", saved_refiner(), "--no-progress",
                       *(["--recursive"] if recursive else []))
    assert rc == 0 and sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png"]
    assert "self (symbolic link loop)" in err and "x.png (symbolic link loop)" in err
    assert "gone.png (broken symbolic link)" in err


# -- a huge image fails at once with "--tile 512" instead of running out of memory --------------------
def test_an_image_too_large_for_memory_says_tile_before_any_work(saved_refiner, tmp_path, monkeypatch):
    from PIL import Image

    import ptg_refine._memory as memory

    (tmp_path / "in").mkdir()
    Image.new("RGB", (1000, 900)).save(tmp_path / "in" / "big.png")
    Image.new("RGB", (40, 32)).save(tmp_path / "in" / "small.png")
    # width-8 R: 900 x 1000 x (12 x 8 + 48) bytes = 124 MiB; pretend 64 MiB are free
    assert memory.untiled_bytes(PTGRefiner.from_pretrained(saved_refiner()), 900, 1000) == 900 * 1000 * 144
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: 64 * 2**20)
    args = ["enhance", tmp_path / "in", "-o", tmp_path / "out", "--refiner", saved_refiner(), "--no-progress"]
    rc, _, err = cli(*args)
    assert rc == 1 and "big.png: a 1000x900 image needs about 124 MB to enhance whole, but only 64 MB" in err
    assert "pass --tile 512" in err and sorted(p.name for p in (tmp_path / "out").iterdir()) == ["small.png"]
    (tmp_path / "out" / "small.png").unlink()
    assert cli(*args, "--tile", "512")[0] == 0  # tiled: no whole-image estimate needed
    assert (tmp_path / "out" / "big.png").is_file()


def test_sigterm_during_a_write_leaves_no_temporary(tmp_path, monkeypatch):
    import signal

    from ptg_refine._outputs import interrupt_on_terminate, save_atomic

    def write_then_get_killed(tmp):
        tmp.write_bytes(b"half an image")
        os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), interrupt_on_terminate():
        save_atomic(write_then_get_killed, tmp_path / "a.png")
    assert list(tmp_path.iterdir()) == [] and signal.getsignal(signal.SIGTERM) == before
