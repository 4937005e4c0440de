"""The repository is self-contained: docs cite papers (docs/references.md), never a spec file
or source numbering outside the repository, and every relative link in the docs resolves."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("README.md", "Makefile", "docs", "configs", "moyal", "solvers", "scripts", "tests",
           "examples")
TEXT_SUFFIXES = {".md", ".py", ".toml", ".c", ".h", ".txt", ".sh", ".ipynb", ""}
# assembled from parts so that this file does not match itself
OUTSIDE = re.compile("physics" + r"\.md|\bseed ?0\d\d|seed" + r"0\d\d", re.IGNORECASE)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _text_files():
    for name in SCANNED:
        path = ROOT / name
        candidates = [path] if path.is_file() else sorted(path.rglob("*")) if path.is_dir() \
            else []
        for f in candidates:
            if f.is_file() and f.suffix in TEXT_SUFFIXES and "__pycache__" not in f.parts:
                yield f


def test_no_reference_to_files_or_numbering_outside_the_repository():
    hits = [f"{f.relative_to(ROOT)}:{n}: {line.strip()}"
            for f in _text_files()
            for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1)
            if OUTSIDE.search(line)]
    assert hits == [], "cite papers by author and title (docs/references.md):\n" + \
        "\n".join(hits)


@pytest.mark.parametrize("page", [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))],
                         ids=lambda p: p.name)
def test_relative_links_resolve(page):
    broken = [target for target in (m.group(1).split("#")[0]
                                    for m in LINK.finditer(page.read_text()))
              if target and "://" not in target and not (page.parent / target).exists()]
    assert broken == []


def test_equations_and_references_are_linked_from_the_readme():
    readme = (ROOT / "README.md").read_text()
    for page in ("equations.md", "references.md"):
        assert (ROOT / "docs" / page).is_file()
        assert page in readme
