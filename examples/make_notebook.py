"""Write ``examples/tour.ipynb`` from the example scripts: per script, its docstring as a
markdown cell and the rest of the file as one code cell (tests/test_examples.py checks that
the notebook is this script's output). Run ``python examples/make_notebook.py`` after
editing an example."""

import ast
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ("conductivity_scan.py", "trapped_packet.py", "read_run.py")


def split(path: Path) -> tuple[str, str]:
    """``(docstring, code after it)`` of a script."""
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    return ast.get_docstring(tree), "".join(lines[tree.body[0].end_lineno:]).strip() + "\n"


def cell(kind: str, text: str) -> dict:
    source = text.splitlines(keepends=True)
    if kind == "markdown":
        return {"cell_type": "markdown", "metadata": {}, "source": source}
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
            "source": source}


def notebook() -> dict:
    cells = [cell("markdown", "# A tour of moyal\n\nThe three scripts of `examples/`, in "
                  "order; run the notebook from `examples/` or any working directory.")]
    for name in SCRIPTS:
        doc, code = split(HERE / name)
        cells += [cell("markdown", f"## `{name}`\n\n{doc}"), cell("code", code)]
    return {"cells": cells,
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                        "name": "python3"},
                         "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 4}


def text() -> str:
    return json.dumps(notebook(), indent=1, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    (HERE / "tour.ipynb").write_text(text(), encoding="utf-8")
