"""Fault cases tried against the CLI and the API, and what happens (safety cases numbered "17.N").

Command (from the repository root; writes benchmarks/results/fault_cases.md, about half a minute on a CPU):

    python -m benchmarks faults

Every case runs in a fresh temporary folder (``T/`` in the table) with a tiny untrained refiner (F = gamma,
prior "none", so nothing is downloaded) and checks, besides the exit status and the message, that no data
was lost: inputs and earlier runs byte-identical, no half-written output. A case whose outcome differs from
the expected one is marked FAIL in the table and makes the script exit with status 1.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in here may reach a model hub
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

import ptg_refine  # noqa: E402
from ptg_refine import PTGRefiner  # noqa: E402
from ptg_refine.integrity import write_checksums  # noqa: E402
from ptg_refine.cli import main  # noqa: E402
from benchmarks._paths import REPO as ROOT, RESULTS  # noqa: E402

RESULT = RESULTS / "fault_cases.md"
COMMAND = "python -m benchmarks faults"
TINY = dict(prior="none:8", width=8, num_blocks=1, prior_hidden=16, embed_dim=8)
CASES = []


def case(item: str, fault: str):
    def register(fn):
        CASES.append((item, fault, fn))
        return fn
    return register


# -- helpers ----------------------------------------------------------------------------------------
class Ctx:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.refiner = tmp / "refiner"
        torch.manual_seed(0)
        PTGRefiner(restorer="gamma", **TINY).save_pretrained(self.refiner)
        write_checksums(self.refiner)
        self.commands: list[str] = []

    def images(self, folder, names, size=(32, 40), seed=0):
        folder = self.tmp / folder
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(seed)
        for n in names:
            Image.fromarray(rng.integers(10, 120, (*size, 3), dtype=np.uint8)).save(folder / n)
        return folder

    def pairs(self):
        root = self.tmp / "pairs"
        if not root.is_dir():
            g = torch.Generator().manual_seed(0)
            for i in range(3):
                high = torch.randint(40, 255, (20, 24, 3), generator=g, dtype=torch.uint8)
                for side, img in (("high", high), ("low", (high.float() * 0.3).round().byte())):
                    (root / side).mkdir(parents=True, exist_ok=True)
                    Image.fromarray(img.numpy()).save(root / side / f"p{i}.png")
        return root

    def cli(self, *argv) -> tuple[int, str, str]:
        argv = [str(a) for a in argv]
        self.commands.append("ptg-refine " + " ".join(argv))
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(argv)
        return rc, out.getvalue(), err.getvalue()

    def enhance(self, *argv):
        return self.cli("enhance", *argv, "--refiner", self.refiner, "--no-progress")

    def train(self, out, *extra, restorer="gamma", iterations=3):
        return self.cli("train", "--pairs", self.pairs(), "--out", out, "--restorer", restorer, "--prior", "none:8",
                        "--prior-proj-dim", "0", "--width", "8", "--num-blocks", "1", "--iterations", iterations,
                        "--batch-size", "1", "--crop-size", "16", "--no-progress", *extra)


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def message(out: str, err: str, prefer=("error:", "warning:")) -> str:
    lines = [line for line in err.splitlines() if line.startswith(prefer)]
    if not lines:
        lines = [line for line in (err + out).splitlines() if line.strip() and not line.startswith("skipped")][-1:]
    return " / ".join(lines)


def api(fn) -> str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fn()
    except Exception as e:  # noqa: BLE001
        return f"{type(e).__name__}: {e}"
    return "no error"


# -- the cases --------------------------------------------------------------------------------------
@case("1", "output folder = input folder")
def _(c: Ctx):
    d = c.images("d", ["photo.png"])
    before = snapshot(d)
    rc, out, err = c.enhance(d, "-o", d)
    return rc, message(out, err), snapshot(d) == before, 2


@case("1", "single input file, output folder = its folder")
def _(c: Ctx):
    d = c.images("d", ["photo.png"])
    before = snapshot(d)
    rc, out, err = c.enhance(d / "photo.png", "-o", d, "--overwrite")
    return rc, message(out, err), snapshot(d) == before, 2


@case("1", "outputs already exist")
def _(c: Ctx):
    c.images("in", ["a.png"])
    (c.tmp / "out").mkdir()
    (c.tmp / "out" / "a.png").write_bytes(b"earlier result")
    rc, out, err = c.enhance(c.tmp / "in", "-o", c.tmp / "out")
    return rc, message(out, err), (c.tmp / "out" / "a.png").read_bytes() == b"earlier result", 2


@case("1", "input a_compare.png next to a.png, --side-by-side")
def _(c: Ctx):
    c.images("in", ["a.png", "a_compare.png"])
    rc, out, err = c.enhance(c.tmp / "in", "-o", c.tmp / "out", "--side-by-side")
    return rc, message(out, err), not (c.tmp / "out").exists(), 2


@case("2", "train twice into the same --out")
def _(c: Ctx):
    c.train(c.tmp / "run")
    before = snapshot(c.tmp / "run")
    rc, out, err = c.train(c.tmp / "run")
    return rc, message(out, err), snapshot(c.tmp / "run") == before, 2


@case("2", "--resume of a finished run")
def _(c: Ctx):
    c.train(c.tmp / "run")
    before = snapshot(c.tmp / "run")
    rc, out, err = c.train(c.tmp / "run", "--resume")
    return rc, message(out, err), snapshot(c.tmp / "run") == before, 0


@case("3", "train --out is a file")
def _(c: Ctx):
    (c.tmp / "f").write_text("keep")
    rc, out, err = c.train(c.tmp / "f")
    return rc, message(out, err), (c.tmp / "f").read_text() == "keep", 2


@case("3", "enhance -o below a file; eval --out is a file; synth --out is a file")
def _(c: Ctx):
    (c.tmp / "f").write_text("keep")
    c.images("in", ["a.png"])
    results = [c.enhance(c.tmp / "in", "-o", c.tmp / "f" / "sub"),
               c.cli("eval", "--pairs", c.pairs(), "--restorer", "gamma", "--out", c.tmp / "f"),
               c.cli("synth", "--clean", c.tmp / "in", "--out", c.tmp / "f")]
    rc = max(r[0] for r in results)
    msg = " / ".join(message(*r[1:]) for r in results)
    return rc, msg, (c.tmp / "f").read_text() == "keep" and all(r[0] == 2 for r in results), 2


@case("4", "portrait JPEG, EXIF orientation 6 (stored 48x32)")
def _(c: Ctx):
    (c.tmp / "in").mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.full((32, 48, 3), 60, np.uint8)).save(c.tmp / "in" / "p.jpg", exif=exif)
    rc, out, err = c.enhance(c.tmp / "in", "-o", c.tmp / "out")
    written = Image.open(c.tmp / "out" / "p.jpg")  # the input's format, its EXIF kept (orientation now 1)
    w, h = written.size
    return rc, (f"output p.jpg {w}x{h} (W x H): upright, as viewers show the input; EXIF orientation "
                f"{written.getexif().get(0x0112)}"), (w, h) == (32, 48) and written.getexif().get(0x0112) == 1, 0


@case("5", "--resume --restorer identity on a gamma run")
def _(c: Ctx):
    c.train(c.tmp / "run", "--ckpt-every", "1", iterations=2)
    before = snapshot(c.tmp / "run")
    rc, out, err = c.train(c.tmp / "run", "--resume", restorer="identity", iterations=4)
    return rc, message(out, err), snapshot(c.tmp / "run") == before, 2


@case("6", "API: restored given in 0-255; zoo restorer on NaN input")
def _(c: Ctx):
    from ptg_refine._validation import check_restored
    from ptg_refine.restorers import create_restorer

    low = torch.rand(1, 3, 32, 32)
    a = api(lambda: check_restored(low * 255, low))
    b = api(lambda: create_restorer("sci")(torch.full_like(low, float("nan"))))
    self_check = a.startswith("ValueError") and b.startswith("ValueError")
    c.commands.append("check_restored(low * 255, low); create_restorer('sci')(nan)")
    return (2 if self_check else 0), f"{a} / {b}", True, 2


@case("7", "RGBA with colour under transparent pixels")
def _(c: Ctx):
    (c.tmp / "in").mkdir()
    rgba = np.full((32, 40, 4), 60, np.uint8)
    rgba[:, 20:] = (255, 0, 255, 0)
    Image.fromarray(rgba, "RGBA").save(c.tmp / "in" / "logo.png")
    rc, out, err = c.enhance(c.tmp / "in", "-o", c.tmp / "out")
    res = np.asarray(Image.open(c.tmp / "out" / "logo.png"))
    ok = res.shape[2] == 4 and np.array_equal(res[..., 3], rgba[..., 3])
    return rc, "output RGBA with the input's alpha; hidden colour composited on black before F, G, R", ok, 0


@case("7", "RGB 16-bit PNG")
def _(c: Ctx):
    import struct
    import zlib
    (c.tmp / "in").mkdir()
    raw = b"".join(b"\x00" + np.full((20, 3), 40000, ">u2").tobytes() for _ in range(20))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    (c.tmp / "in" / "deep.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 20, 20, 16, 2,
                                                                                          0, 0, 0))
                                            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    rc, out, err = c.enhance(c.tmp / "in", "-o", c.tmp / "out")
    return rc, message(out, err), not (c.tmp / "out").exists(), 1


@case("8", "zeroed bytes inside the refiner's model.safetensors")
def _(c: Ctx):
    c.images("in", ["a.png"])
    weights = c.refiner / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-80:-16] = bytes(64)
    weights.write_bytes(bytes(data))
    rc, out, err = c.enhance(c.tmp / "in", "-o", c.tmp / "out")
    return rc, message(out, err), not (c.tmp / "out").exists(), 2


@case("9", "corrupt newest training checkpoint, stale .tmp_step_* from a kill")
def _(c: Ctx):
    run = c.tmp / "run"
    c.train(run, "--ckpt-every", "1", iterations=2)
    weights = run / "checkpoints" / "step_0000002" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-80:-16] = bytes(64)
    weights.write_bytes(bytes(data))
    (run / "checkpoints" / ".tmp_step_0000003_4242").mkdir()
    rc, out, err = c.train(run, "--resume", iterations=3)
    ok = "resuming at step 1" in out and not (run / "checkpoints" / ".tmp_step_0000003_4242").exists()
    return rc, message(out, err) + " / " + out.splitlines()[0], ok, 0


@case("10", "config.json not JSON / a JSON list")
def _(c: Ctx):
    c.images("in", ["a.png"])
    (c.refiner / "config.json").write_text("{bad")
    r1 = c.enhance(c.tmp / "in", "-o", c.tmp / "out")
    (c.refiner / "config.json").write_text("[1, 2]")
    r2 = c.enhance(c.tmp / "in", "-o", c.tmp / "out")
    return max(r1[0], r2[0]), message(*r1[1:]) + " / " + message(*r2[1:]), not (c.tmp / "out").exists(), 2


@case("10", "a text file as restorer weights")
def _(c: Ctx):
    c.images("in", ["a.png"])
    (c.tmp / "notes.pth").write_text("not weights")
    rc, out, err = c.enhance(c.tmp / "in", "-o", c.tmp / "out", "--restorer", "sci", "--restorer-weights",
                             c.tmp / "notes.pth")
    return rc, message(out, err), True, 2


@case("10", "API: float64 / bfloat16 input to a zoo restorer")
def _(c: Ctx):
    from ptg_refine.restorers import create_restorer

    a = api(lambda: create_restorer("sci")(torch.rand(1, 3, 16, 16, dtype=torch.float64)))
    b = api(lambda: create_restorer("iat")(torch.rand(1, 3, 16, 16).bfloat16()))
    c.commands.append("create_restorer('sci')(x.double()); create_restorer('iat')(x.bfloat16())")
    return (2 if a.startswith("TypeError") and b.startswith("TypeError") else 0), f"{a} / {b}", True, 2


@case("11", "config.json num_blocks does not match the weights")
def _(c: Ctx):
    c.images("in", ["a.png"])
    config = json.loads((c.refiner / "config.json").read_text())
    (c.refiner / "config.json").write_text(json.dumps({**config, "num_blocks": 2}))
    rc, out, err = c.enhance(c.tmp / "in", "-o", c.tmp / "out")
    return rc, message(out, err)[:300] + " ...", len(err.strip().splitlines()) == 1, 2


@case("11", "image above Pillow's decompression-bomb limit")
def _(c: Ctx):
    c.images("in", ["huge.png", "ok.png"])
    (c.tmp / "in" / "ok.png").unlink()
    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = 300  # stands in for a 200-megapixel file
    try:
        rc, out, err = c.enhance(c.tmp / "in", "-o", c.tmp / "out")
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    return rc, message(out, err, prefer=("error:",)), not (c.tmp / "out").exists(), 1


@case("12", "missing relative refiner path with one slash (runs/final)")
def _(c: Ctx):
    c.images("in", ["a.png"])
    cwd = os.getcwd()
    os.chdir(c.tmp)
    try:
        rc, out, err = c.cli("enhance", "in", "-o", "out", "--refiner", "runs/final", "--no-progress")
    finally:
        os.chdir(cwd)
    return rc, message(out, err), True, 2


@case("13", "batch: unreadable file, .gif, subfolder")
def _(c: Ctx):
    d = c.images("in", ["a.png", "c.png"])
    (d / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(d / "anim.gif")
    c.images("in/sub", ["deep.png"])
    rc, out, err = c.enhance(d, "-o", c.tmp / "out")
    skipped = next(line for line in err.splitlines() if line.startswith("skipped"))
    ok = sorted(p.name for p in (c.tmp / "out").iterdir()) == ["a.png", "c.png"]
    return rc, f"{skipped} / {message(out, err)}", ok, 1


@case("13", "same batch with --fail-fast")
def _(c: Ctx):
    d = c.images("in", ["a.png", "c.png"])
    (d / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    rc, out, err = c.enhance(d, "-o", c.tmp / "out", "--fail-fast")
    return rc, message(out, err), sorted(p.name for p in (c.tmp / "out").iterdir()) == ["a.png"], 2


@case("13", "--recursive")
def _(c: Ctx):
    c.images("in", ["a.png"])
    c.images("in/sub", ["b.png"])
    rc, out, err = c.enhance(c.tmp / "in", "-o", c.tmp / "out", "--recursive")
    tree = sorted(snapshot(c.tmp / "out"))
    return rc, f"{message(out, err)}: {', '.join(tree)}", tree == ["a.png", "sub/b.png"], 0


@case("14", "an 8x8 image in a batch")
def _(c: Ctx):
    c.images("in", ["tiny.png"], size=(8, 8))
    rc, out, err = c.enhance(c.tmp / "in", "-o", c.tmp / "out")
    return rc, message(out, err, prefer=("error:",)), not (c.tmp / "out").exists(), 1


@case("14", "synth on clean images smaller than the training crop")
def _(c: Ctx):
    c.images("clean", ["small.png"])
    rc, out, err = c.cli("synth", "--clean", c.tmp / "clean", "--out", c.tmp / "syn", "--no-progress")
    return rc, message(out, err), not (c.tmp / "syn").exists(), 2


@case("14", "synth fails half-way (disk full)")
def _(c: Ctx):
    from ptg_refine.data import synth

    c.images("clean", ["a.png", "b.png"], size=(100, 120))
    real, calls = synth.degrade, []

    def flaky(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(*a, **k)

    synth.degrade = flaky
    try:
        rc, out, err = c.cli("synth", "--clean", c.tmp / "clean", "--out", c.tmp / "syn", "--no-progress")
    finally:
        synth.degrade = real
    left = sorted(p.name for p in c.tmp.iterdir() if p.name.startswith(".syn") or p.name == "syn")
    rc2, _, _ = c.cli("synth", "--clean", c.tmp / "clean", "--out", c.tmp / "syn", "--no-progress")
    msg = message(out, err) + f"; left behind: {left or 'nothing'}; the next run: exit {rc2}"
    return rc, msg, not left and rc2 == 0, 2


@case("15", "--tile 100 without --overlap; --tile-restorer")
def _(c: Ctx):
    c.images("in", ["a.png"], size=(72, 88))
    r1 = c.enhance(c.tmp / "in", "-o", c.tmp / "t", "--tile", "100")
    r2 = c.enhance(c.tmp / "in", "-o", c.tmp / "tr", "--tile", "32", "--tile-restorer")
    return max(r1[0], r2[0]), message(*r1[1:]) + " / " + message(*r2[1:]), True, 0


# -- safety: cases numbered "17.N" ------------------------------------------------------------------
class _Payload:
    """Unpickling this calls open(marker, "w"): the marker appears if the pickle is ever run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


@case("17.1", "train --resume on a checkpoint whose state is a pickle with a payload (checksums rewritten)")
def _(c: Ctx):
    from ptg_refine.training.resume import read_training_state

    run = c.tmp / "run"
    c.train(run, "--ckpt-every", "1", iterations=1)
    folder = run / "checkpoints" / "step_0000001"
    state = read_training_state(folder)
    state["history"] = [_Payload(c.tmp / "marker")]
    for name in ("training_state.json", "training_state.safetensors"):
        (folder / name).unlink()
    torch.save(state, folder / "training_state.pt")
    write_checksums(folder)
    rc, out, err = c.train(run, "--resume", iterations=2)
    return rc, message(out, err), not (c.tmp / "marker").exists(), 2


@case("17.2", "train --prior-weights: a pickle with a payload")
def _(c: Ctx):
    torch.save({"w": _Payload(c.tmp / "marker")}, c.tmp / "evil.pth")
    rc, out, err = c.train(c.tmp / "run", "--prior", "efficientnet_lite0", "--prior-weights", c.tmp / "evil.pth")
    return rc, message(out, err), not (c.tmp / "marker").exists() and err.count("\n") == 1, 2


@case("17.3", "eval --out into an earlier evaluation")
def _(c: Ctx):
    c.cli("eval", "--pairs", c.pairs(), "--restorer", "gamma", "--out", c.tmp / "ev")
    before = snapshot(c.tmp / "ev")
    rc, out, err = c.cli("eval", "--pairs", c.pairs(), "--restorer", "identity", "--out", c.tmp / "ev")
    return rc, message(out, err), snapshot(c.tmp / "ev") == before, 2


@case("17.4", "eval --overwrite over an earlier evaluation, disk full while writing")
def _(c: Ctx):
    from ptg_refine import _outputs

    c.cli("eval", "--pairs", c.pairs(), "--restorer", "gamma", "--out", c.tmp / "ev", "--no-strips")
    before = snapshot(c.tmp / "ev")

    def full(fd):
        raise OSError(28, "No space left on device")

    real, _outputs.os.fsync = _outputs.os.fsync, full
    try:
        rc, out, err = c.cli("eval", "--pairs", c.pairs(), "--restorer", "identity", "--out", c.tmp / "ev",
                             "--no-strips", "--overwrite")
    finally:
        _outputs.os.fsync = real
    json.loads((c.tmp / "ev" / "metrics.json").read_text())
    return rc, message(out, err) + "; metrics.json: the earlier one, intact", snapshot(c.tmp / "ev") == before, 2


@case("17.5", "two enhance runs into one folder: the other writes a.png after this run's check")
def _(c: Ctx):
    import ptg_refine.cli.enhance as cli_module

    c.images("in", ["a.png", "b.png"])
    real = cli_module.plan_outputs

    def plan_then_race(*a, **k):
        plan = real(*a, **k)
        (c.tmp / "out").mkdir(exist_ok=True)
        (c.tmp / "out" / "a.png").write_bytes(b"the other run's result")
        return plan

    cli_module.plan_outputs = plan_then_race
    try:
        rc, out, err = c.enhance(c.tmp / "in", "-o", c.tmp / "out")
    finally:
        cli_module.plan_outputs = real
    return rc, message(out, err, prefer=("error:",)), \
        (c.tmp / "out" / "a.png").read_bytes() == b"the other run's result", 1


@case("17.6", "hidden .a.png.tmp-PID left in the output folder by a killed enhance")
def _(c: Ctx):
    import subprocess

    c.images("in", ["a.png"])
    (c.tmp / "out").mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    (c.tmp / "out" / f".a.png.tmp-{dead}").write_bytes(b"half an image")
    rc, out, err = c.enhance(c.tmp / "in", "-o", c.tmp / "out")
    left = sorted(p.name for p in (c.tmp / "out").iterdir())
    msg = " / ".join(err.strip().splitlines()[-1:] + out.strip().splitlines()[-1:]).replace(f"tmp-{dead}", "tmp-PID")
    return rc, msg, left == ["a.png"], 0


def _config_case(c: Ctx, **change):
    c.images("in", ["a.png"])
    config = json.loads((c.refiner / "config.json").read_text())
    (c.refiner / "config.json").write_text(json.dumps({**config, **change}))
    rc, out, err = c.enhance(c.tmp / "in", "-o", c.tmp / "out")
    return rc, message(out, err), not (c.tmp / "out").exists() and len(err.strip().splitlines()) == 1, 2


@case("17.7", "config.json num_blocks: 100000000 (would build a network of many GB)")
def _(c: Ctx):
    return _config_case(c, num_blocks=100_000_000)


@case("17.8", "config.json with a misspelt key prior_inputs")
def _(c: Ctx):
    return _config_case(c, prior_inputs="low")


@case("17.9", "config.json width: \"16\" (a string)")
def _(c: Ctx):
    return _config_case(c, width="16")


@case("17.9", "config.json num_blocks: 2.5")
def _(c: Ctx):
    return _config_case(c, num_blocks=2.5)


@case("17.10", "API: from_pretrained(restorer=\"identity\") on a refiner trained around gamma, then save")
def _(c: Ctx):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = PTGRefiner.from_pretrained(c.refiner, restorer="identity")
    model.save_pretrained(c.tmp / "again")
    saved = json.loads((c.tmp / "again" / "config.json").read_text())["restorer"]
    c.commands.append("PTGRefiner.from_pretrained(T/refiner, restorer='identity').save_pretrained(T/again)")
    msg = " / ".join(f"{w.category.__name__}: {w.message}" for w in caught) + f"; saved config: restorer {saved!r}"
    return (2 if caught else 0), msg, saved == "gamma", 2


@case("17.11", "enhance --prior-weights with a refiner whose prior is none")
def _(c: Ctx):
    c.images("in", ["a.png"])
    (c.tmp / "w.pth").write_bytes(b"weights")
    rc, out, err = c.enhance(c.tmp / "in", "-o", c.tmp / "out", "--prior-weights", c.tmp / "w.pth")
    return rc, message(out, err), not (c.tmp / "out").exists(), 2


@case("17.12", "API: hubconf.ptg_refiner(pretrained=False) (torch.hub.load's usual flag)")
def _(c: Ctx):
    import importlib.util

    spec = importlib.util.spec_from_file_location("ptg_hubconf_faults", ROOT / "hubconf.py")
    hubconf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hubconf)
    refiner = None

    def build():
        nonlocal refiner
        refiner = hubconf.ptg_refiner(restorer="gamma", prior="none:8", pretrained=False)

    outcome = api(build)
    x = torch.rand(1, 3, 32, 32)
    ok = refiner is not None and torch.equal(refiner(x), refiner.restore(x))
    c.commands.append("torch.hub.load(..., 'ptg_refiner', restorer='gamma', prior='none:8', pretrained=False)")
    return (0 if outcome == "no error" else 2), f"{outcome}: an untrained refiner (returns F's output)", ok, 0


@case("17.13", "zeroed bytes inside model.safetensors of a folder without checksums.json")
def _(c: Ctx):
    c.images("in", ["a.png"])
    (c.refiner / "checksums.json").unlink()
    weights = c.refiner / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-80:-16] = bytes(64)
    weights.write_bytes(bytes(data))
    rc, out, err = c.enhance(c.tmp / "in", "-o", c.tmp / "out")
    return rc, message(out, err), "cannot be detected" in err, 0


@case("17.14", "train: disk full while writing the second checkpoint")
def _(c: Ctx):
    import ptg_refine._safe_state as safe_state
    from ptg_refine.testing import disk_full_on_call

    real = safe_state.save_file
    safe_state.save_file = disk_full_on_call(real, 2)
    try:
        rc, out, err = c.train(c.tmp / "run", "--ckpt-every", "1")
    finally:
        safe_state.save_file = real
    left = sorted(p.name for p in (c.tmp / "run" / "checkpoints").iterdir())
    return rc, message(out, err) + f"; checkpoints/: {', '.join(left)}", left == ["latest", "step_0000001"], 2


@case("17.15", "animated GIF and APNG given as files")
def _(c: Ctx):
    (c.tmp / "in").mkdir()
    frames = [Image.fromarray(np.full((32, 40, 3), v, np.uint8)) for v in (10, 80, 160)]
    frames[0].save(c.tmp / "in" / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    frames[0].save(c.tmp / "in" / "apng.png", save_all=True, append_images=frames[1:], duration=100)
    rc, out, err = c.enhance(c.tmp / "in" / "anim.gif", c.tmp / "in" / "apng.png", "-o", c.tmp / "out")
    return rc, message(out, err, prefer=("error:",)), not (c.tmp / "out").exists(), 1


@case("17.16", "symbolic link loops (self, x.png <-> y.png) in an input folder")
def _(c: Ctx):
    d = c.images("in", ["a.png"])
    os.symlink("self", d / "self")
    os.symlink("x.png", d / "y.png")
    os.symlink("y.png", d / "x.png")
    rc, out, err = c.enhance(d, "-o", c.tmp / "out")
    return rc, " / ".join((err + out).strip().splitlines()), sorted(p.name for p in (c.tmp / "out").iterdir()) == [
        "a.png"], 0


@case("17.17", "a 10000x9000 image (stood in for: a 1000x900 image with 64 MB of memory free)")
def _(c: Ctx):
    import ptg_refine._memory as memory

    c.images("in", ["big.png"], size=(900, 1000))
    real, memory.available_bytes = memory.available_bytes, lambda device=None: 64 * 2**20
    try:
        rc, out, err = c.enhance(c.tmp / "in", "-o", c.tmp / "out")
    finally:
        memory.available_bytes = real
    return rc, message(out, err, prefer=("error:",)), "--tile 512" in err and not (c.tmp / "out").exists(), 1


# -- driver -----------------------------------------------------------------------------------------
def _clean(text: str, tmp: Path) -> str:
    text = text.replace(str(tmp.resolve()), "T").replace(str(tmp), "T").replace(os.getcwd() + os.sep, "")
    return text.replace("|", "\\|").replace("\n", " ")


def run() -> tuple[list[dict], bool]:
    rows, all_ok = [], True
    for item, fault, fn in CASES:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            ctx = Ctx(tmp)
            rc, msg, intact, expected = fn(ctx)
            command = ctx.commands[-1] if ctx.commands else ""
            ok = rc == expected and intact
            all_ok &= ok
            rows.append({"item": item, "fault": fault, "command": _clean(command, tmp), "exit": rc,
                         "outcome": _clean(msg, tmp), "safe": "yes" if intact else "NO", "ok": ok})
    return rows, all_ok


def write(rows, seconds: float) -> None:
    lines = [
        "# Fault cases: what happens to bad input and faults",
        "",
        f"Regenerate: `{COMMAND}` (every case in a fresh temporary folder, shown as `T/`; a tiny untrained refiner "
        "with F = gamma and prior `none`; nothing is downloaded). Cases numbered N are input and output faults, "
        "\"17.N\" safety faults. Exit status: "
        "0 success, 1 some images of a batch failed (listed), 2 the command stopped with one `error:` line (API "
        "cases: 2 when the call raised, or for 17.10 warned). "
        "\"Data safe\": inputs and earlier runs byte-identical, no half-written output, as checked by the script. "
        "\"As expected\": exit status and data safety as the script expects them.",
        "",
        f"ptg-refine {ptg_refine.__version__}, torch {torch.__version__}, Pillow {Image.__version__}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.machine()}; {len(rows)} cases in "
        f"{seconds:.0f} s.",
        "",
        "| # | Fault | Command (last one of the case) | Exit | Outcome (message) | Data safe | As expected |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['item']} | {r['fault']} | `{r['command']}` | {r['exit']} | {r['outcome']} | {r['safe']} | "
                     f"{'yes' if r['ok'] else 'FAIL'} |")
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text("\n".join(lines) + "\n")


def main_() -> int:
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    rows, ok = run()
    write(rows, time.perf_counter() - t0)
    print(f"{len(rows)} fault cases, {'all as expected' if ok else 'SOME NOT AS EXPECTED'}; table in "
          f"{RESULT.relative_to(ROOT)}")
    for r in rows:
        if not r["ok"]:
            print(f"  FAIL item {r['item']}: {r['fault']}: exit {r['exit']}, {r['outcome']}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main_())
