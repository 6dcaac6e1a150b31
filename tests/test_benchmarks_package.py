"""The studies beside the library: ``benchmarks`` is a package run from the repository root, every results file
names the command that wrote it, and a result names the commit it ran on (an uncommitted tree is refused)."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import _runs
from benchmarks.__main__ import COMMANDS, REPORTS, main as bench_main

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
COMMAND = re.compile(r"python -m (benchmarks ([\w-]+)|tools\.ship)\b")


def test_runner_lists_every_command_from_the_repository_root():
    proc = subprocess.run([sys.executable, "-m", "benchmarks"], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    listed = re.findall(r"^  ([\w-]+)  ", proc.stdout, re.M)
    assert listed == list(COMMANDS)


def test_unknown_command_is_one_line_with_a_suggestion(capsys):
    assert bench_main(["fewshots"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "did you mean 'fewshot'?" in err


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_module_imports_as_part_of_the_package(name):
    import importlib

    module = importlib.import_module(f"benchmarks.{COMMANDS[name][0]}")
    assert callable(getattr(module, COMMANDS[name][1]))
    assert module.__name__.startswith("benchmarks.")


def test_report_commands_are_commands():
    assert REPORTS <= set(COMMANDS)


def results_files():
    return sorted(p for p in RESULTS.iterdir() if p.suffix == ".md")


@pytest.mark.parametrize("path", results_files(), ids=lambda p: p.name)
def test_every_results_file_names_the_command_that_writes_it(path):
    found = COMMAND.findall(path.read_text())
    assert found, f"{path.name}: no `python -m benchmarks <command>` / `python -m tools.ship` in it"
    for whole, command in found:
        assert whole == "tools.ship" or command in COMMANDS, f"{path.name}: unknown command {whole!r}"


def test_data_files_of_results_belong_to_a_markdown_result():
    """Every .json / .jsonl in results/ is the data of a .md result written by the same command."""
    mds = {p.stem for p in results_files()}
    for p in RESULTS.iterdir():
        if p.suffix in (".json", ".jsonl"):
            stem = p.stem.removesuffix("_runs")
            assert stem in mds or p.name == "output_digests.json", p.name


def test_no_result_comes_from_an_uncommitted_tree():
    dirty = sorted(p.name for p in RESULTS.iterdir() if "-dirty" in p.read_text())
    assert not dirty, f"results from an uncommitted tree (re-run them from a commit): {dirty}"


def git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def scratch_repo(tmp_path, monkeypatch):
    """A git checkout with src/, benchmarks/ and benchmarks/results/, standing in for the repository."""
    for d in ("src", "benchmarks/results", "tools"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "src" / "lib.py").write_text("x = 1\n")
    (tmp_path / "benchmarks" / "study.py").write_text("y = 1\n")
    (tmp_path / "benchmarks" / "results" / "r.md").write_text("# r\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    monkeypatch.setattr(_runs, "REPO", tmp_path)
    monkeypatch.delenv(_runs.ALLOW_DIRTY, raising=False)
    _runs.code_version.cache_clear()
    yield tmp_path
    _runs.code_version.cache_clear()


def test_code_version_of_a_clean_tree_is_its_commit(scratch_repo):
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=scratch_repo, capture_output=True,
                          text=True).stdout.strip()
    (scratch_repo / "benchmarks" / "results" / "r.md").write_text("# new figures\n")  # results may change
    assert _runs.code_version() == head


@pytest.mark.parametrize("changed", ["src/lib.py", "benchmarks/study.py", "tools/new.py"])
def test_an_uncommitted_change_stops_a_run_with_the_fix(scratch_repo, changed):
    (scratch_repo / changed).write_text("z = 2\n")
    with pytest.raises(SystemExit) as err:
        _runs.code_version()
    msg = str(err.value)
    assert changed in msg and "commit first" in msg and _runs.ALLOW_DIRTY in msg and "\n" not in msg


def test_allowing_a_dirty_tree_marks_the_version(scratch_repo, monkeypatch):
    (scratch_repo / "src" / "lib.py").write_text("x = 2\n")
    monkeypatch.setenv(_runs.ALLOW_DIRTY, "1")
    assert _runs.code_version().endswith("-dirty")


def test_a_measuring_command_is_refused_before_its_work_on_a_dirty_tree(scratch_repo, monkeypatch):
    (scratch_repo / "src" / "lib.py").write_text("x = 2\n")
    started = []
    monkeypatch.setattr("benchmarks.train_step_time.main", lambda: started.append(1))
    with pytest.raises(SystemExit, match="commit first"):
        bench_main(["step-time"])
    assert started == []


def test_output_digests_cover_every_shipped_refiner_with_todays_command():
    """results/output_digests.json pins the outputs of every refiner the package ships, written by the command its
    header names today (so `--compare` after a refactor checks them all)."""
    import json

    from ptg_refine import list_pretrained

    record = json.loads((RESULTS / "output_digests.json").read_text())
    assert record["command"].startswith("python -m benchmarks digests"), record["command"]
    assert "-dirty" not in record["commit"]
    covered = {key.split("/")[0] for key in record["digests"]}
    assert set(list_pretrained()) <= covered, sorted(set(list_pretrained()) - covered)


def _keep_setup(tmp_path, monkeypatch, recorded_psnr, rerun_psnr):
    """benchmarks.fast_r with its runs file in tmp_path, one recorded run, and a training that returns rerun_psnr."""
    from benchmarks import fast_r

    runs = tmp_path / "fast_r_runs.jsonl"
    monkeypatch.setattr(fast_r, "RUNS", runs)
    data = {"lol": (["a", "b"], ["c"])}
    monkeypatch.setattr(fast_r, "run_config", lambda *a, **k: {"same": "configuration"})
    run = "lol/sci/light/seed0"
    _runs.record_run(runs, {"run": run, "config_hash": _runs.config_hash({"same": "configuration"}),
                            "psnr_F+R": recorded_psnr})

    def train(run, d, f, arch, cfg, data, work, save_dir):
        save_dir.mkdir(parents=True)
        (save_dir / "model.safetensors").write_bytes(b"weights")
        return {"psnr_F+R": rerun_psnr}

    monkeypatch.setattr(fast_r, "_train", train)
    return fast_r, run, data


def test_keep_keeps_a_run_that_reproduces_its_recorded_row(tmp_path, monkeypatch):
    fast_r, run, data = _keep_setup(tmp_path, monkeypatch, [20.0, 21.0], [20.0, 21.005])
    fast_r.keep([run], data, tmp_path)
    assert (tmp_path / "models" / "lol__sci__light__seed0" / "model.safetensors").read_bytes() == b"weights"
    assert not (tmp_path / "models" / "lol__sci__light__seed0.rerun").exists()


def test_keep_refuses_a_run_that_does_not_reproduce_or_was_never_recorded(tmp_path, monkeypatch):
    fast_r, run, data = _keep_setup(tmp_path, monkeypatch, [20.0, 21.0], [20.0, 21.5])
    with pytest.raises(SystemExit, match=r"differs from its recorded row by up to 0\.500 dB"):
        fast_r.keep([run], data, tmp_path)
    assert not (tmp_path / "models" / "lol__sci__light__seed0").exists()
    assert (tmp_path / "models" / "lol__sci__light__seed0.rerun" / "model.safetensors").is_file()
    with pytest.raises(SystemExit, match="no recorded row"):
        fast_r.keep(["lol/iat/light/seed1"], data, tmp_path)


def test_paper_protocol_plan_takes_the_prior_conditions_asked():
    from benchmarks.paper_protocol import plan

    runs = plan(["sci"], ("global",))
    assert {c for _, c, _ in runs} == {"none", "global"}
    assert [(f, c, s) for f, c, s in runs if c == "global"] == [("sci", "global", 0), ("sci", "global", 1),
                                                              ("sci", "global", 2)]
    assert {c for _, c, _ in plan(["sci"], ())} == {"none"}


@pytest.mark.parametrize("condition, iterations, expected", [
    ("none", None, {f"iat/1500/none/bilinear/seed{s}" for s in range(3)}),  # the protocol's budget, no recipe probe
    ("global", 750, {f"iat/750/global/bilinear/seed{s}" for s in range(3)}),
    ("dense", 1500, set()),
])
def test_ship_candidates_of_the_paper_protocol_are_one_condition_at_one_budget(condition, iterations, expected):
    """tools.ship iat-lol competes the recorded runs of one prior condition and budget (committed results file)."""
    import argparse

    from tools.ship import study_candidates

    args = argparse.Namespace(study="paper-protocol", condition=condition, iterations=iterations, work=None,
                              name="iat-lol")
    rows, _, own, _ = study_candidates(args, "iat")
    assert {r["run"] for r in rows} == expected and own == "lol"
    assert all(r["condition"] == condition and r["iterations"] == (iterations or 1500) and r["restorer"] == "iat"
               and "shuffle" not in r["run"] and "-b" not in r["run"] for r in rows)


def test_real_pairs_unpaired_table_reports_the_black_level_of_f_and_f_plus_r():
    """The unpaired table of `python -m benchmarks real` on the 9 LIME photos, F = SCI and the shipped sci-none."""
    from benchmarks.real_pairs import BLACK_LIFT, unpaired

    lines, data = unpaired({"sci": ["sci-none"]}, sets=("lime",))
    rows = [line for line in lines if line.startswith("| lime (9)")]
    assert len(rows) == 2 and all(line.count("|") == 8 for line in rows)  # 7 cells: the black-level columns included
    f, r = data["lime"]["sci"]["F"]["black"], data["lime"]["sci"]["sci-none"]["black"]
    assert len(f) == len(r) == 9 and all(0 <= b < 1 for b in f + r)
    cells = [c.strip() for c in rows[1].split("|")[1:-1]]
    assert float(cells[4]) == pytest.approx(sum(r) / 9, abs=5e-4)
    assert int(cells[5]) == sum(b - a > BLACK_LIFT for a, b in zip(f, r))
