"""README's result tables are copies of benchmarks/results/ files (benchmarks/readme_tables.py)."""
from pathlib import Path

import pytest

from benchmarks.readme_tables import pages, render, section

ROOT = Path(__file__).resolve().parent.parent


def test_readme_and_docs_tables_match_results_files():
    docs = pages()
    assert docs[0].name == "README.md" and len(docs) > 1
    assert any("<!-- include " in p.read_text() for p in docs)
    for page in docs:
        text = page.read_text()
        assert render(text) == text, f"{page.name} is stale: run python -m benchmarks readme"


def test_section_and_stale_block(tmp_path):
    (tmp_path / "r.md").write_text("# T\n\n## A\n| x |\n### A1\nmore\n## B\nb\n")
    assert section((tmp_path / "r.md").read_text(), "## A") == "| x |\n### A1\nmore\n"
    assert section((tmp_path / "r.md").read_text(), None) == "## A\n| x |\n### A1\nmore\n## B\nb\n"
    stale = '<!-- include r.md "## B" -->\nold\n<!-- /include -->'
    assert render(stale, tmp_path) == '<!-- include r.md "## B" -->\nb\n<!-- /include -->'
    with pytest.raises(ValueError, match="no heading"):
        render('<!-- include r.md "## C" -->\n<!-- /include -->', tmp_path)
