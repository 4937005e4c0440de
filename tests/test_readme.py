"""Every ```bash and ```python block of README.md runs, in order, as a newcomer would run it:
from a working directory that looks like the repository root (``.venv`` and ``configs``
linked in, nothing else), bash blocks with ``set -euo pipefail``, python blocks as new
processes. The lines that are not run are listed in EXCLUDED with the reason; each of them
must still be in a README block, so the list cannot grow silently or go stale."""

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCK = re.compile(r"^```(bash|python)\n(.*?)^```$", re.MULTILINE | re.DOTALL)

# line of a bash block (exactly as written) -> why it is not run here
EXCLUDED = {
    "make install":
        "builds PETSc and petsc4py (15 min on a first clone); the tests run in its result, "
        "and tests/test_install.py covers the installer",
    "make run     # installs on first use, then: mpirun -n 2 python -m solvers.run "
    "configs/default.toml":
        "the default sweep (22 s on 2 ranks); tests/test_configs.py runs configs/default.toml",
    "make test    # installs on first use, then the serial tests and the MPI tests under "
    "mpirun -n 2":
        "the whole test suite, this file included",
    "mpirun -n 4 .venv/bin/python -m solvers.run CONFIG.toml [table.key=value ...] "
    "[-petsc_option ...]":
        "a template: CONFIG.toml and the brackets are placeholders",
    ".venv/bin/moyal-run CONFIG.toml grid.nk=[512] -ts_monitor -log_view":
        "a template: CONFIG.toml is a placeholder",
    ".venv/bin/moyal-conductivity configs/conductivity_qwz.toml --json   # one JSON object "
    "on stdout":
        "the computation of the line before it again, printed as JSON; "
        "tests/test_conductivity_cli.py checks the JSON",
}


def blocks() -> list[tuple[str, str]]:
    """``(language, code)`` of every bash and python block, in README order."""
    return BLOCK.findall(README.read_text(encoding="utf-8"))


def test_every_exclusion_is_a_line_of_a_readme_bash_block():
    lines = {line.strip() for language, code in blocks() if language == "bash"
             for line in code.splitlines()}
    assert [line for line in EXCLUDED if line not in lines] == []


@pytest.fixture
def newcomer(tmp_path):
    """A working directory with the repository's ``.venv`` and ``configs``."""
    for name in (".venv", "configs"):
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


def test_every_readme_block_runs(newcomer):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    outputs, excluded = [], 0
    for language, code in blocks():
        if language == "bash":
            kept = [line for line in code.splitlines() if line.strip() not in EXCLUDED]
            excluded += len(code.splitlines()) - len(kept)
            if not any(line.strip() for line in kept):
                continue
            command = ["bash", "-c", "set -euo pipefail\n" + "\n".join(kept)]
        else:
            command = [sys.executable, "-c", code]
        proc = subprocess.run(command, cwd=newcomer, env=env, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, f"{language} block\n{code}\nfailed:\n{proc.stderr}"
        outputs.append(proc.stdout)
    assert excluded == len(EXCLUDED)
    text = "\n".join(outputs)
    # the newcomer path: run, plot, read, change a key
    assert "wrote output/trap.h5" in text
    assert (newcomer / "output" / "trap.png").stat().st_size > 10_000
    number = r"(-?\d+\.\d+)"
    match = re.search(rf"<x> = {number} nm at t = 0, {number} nm at t = {number} hbar/eV", text)
    start, end, t = map(float, match.groups())
    # x0 cos(omega t), x0 = 3 nm, omega = 0.5 eV/hbar (configs/harmonic.toml); the bound of
    # tests/test_examples.py for this grid
    assert abs(start - 3.0) < 0.05 and abs(end - 3.0 * math.cos(0.5 * t)) < 0.05
    assert re.search(r"^finished output/trap_x2\.h5 12\.566", text, re.MULTILINE)
    assert (newcomer / "output" / "conductivity_qwz.h5").is_file()
