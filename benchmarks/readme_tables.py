"""Copy result tables from benchmarks/results/ into README.md and docs/*.md, between include markers.

A block in README.md of the form

    <!-- include benchmarks/results/paper_protocol.md "## The pre-trained prior in the paper's setting (LOL val)" -->
    ...generated text...
    <!-- /include -->

is replaced by that section of the results file (from its heading line up to the next heading of the same or a
higher level; the whole file without its title when no heading is given). tests/test_readme_tables.py fails when
README.md or a page of docs/ and the results files disagree, so every number in those blocks comes from a committed
results file.

Command (after a benchmark has rewritten its results file):

    python -m benchmarks readme          # rewrite README.md and docs/*.md
    python -m benchmarks readme --check  # exit 1 if one of them is stale
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from benchmarks._paths import REPO
BLOCK = re.compile(r'(<!-- include (\S+)(?: "([^"]*)")? -->\n)(.*?)(<!-- /include -->)', re.S)


def section(text: str, heading: str | None) -> str:
    lines = text.splitlines()
    if not heading:
        body = lines[1:] if lines and lines[0].startswith("# ") else lines
        return "\n".join(body).strip("\n") + "\n"
    try:
        start = lines.index(heading)
    except ValueError:
        raise ValueError(f"results file has no heading {heading!r}") from None
    level = len(heading) - len(heading.lstrip("#"))
    end = next((i for i in range(start + 1, len(lines))
                if lines[i].startswith("#") and len(lines[i]) - len(lines[i].lstrip("#")) <= level), len(lines))
    return "\n".join(lines[start + 1:end]).strip("\n") + "\n"


def render(readme: str, root: Path = REPO) -> str:
    def sub(m):
        path = root / m.group(2)
        if not path.is_file():
            raise FileNotFoundError(f"README includes {m.group(2)}, which does not exist")
        return m.group(1) + section(path.read_text(), m.group(3)) + m.group(5)

    return BLOCK.sub(sub, readme)


def pages(root: Path = REPO) -> list[Path]:
    """The documents with include blocks: README.md and every page of docs/."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    stale = []
    for path in pages():
        old = path.read_text()
        new = render(old)
        if new != old:
            stale.append(path.relative_to(REPO))
            if not args.check:
                path.write_text(new)
    if args.check and stale:
        print(f"stale: {', '.join(map(str, stale))}: run python -m benchmarks readme", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
