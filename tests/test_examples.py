"""examples/: every script runs as a new process in an empty working directory and prints a
result that is checked here against an independent reference; the notebook examples/tour.ipynb
holds the scripts' code, cell for cell."""

import ast
import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NUMBER = r"(-?\d+\.\d+)"


def run_example(name: str, cwd: Path) -> str:
    proc = subprocess.run([sys.executable, str(EXAMPLES / name)], cwd=cwd, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def rows(text: str, columns: int) -> list[tuple[float, ...]]:
    """The lines of ``text`` that are ``columns`` numbers and nothing else."""
    pattern = re.compile(r"^\s*" + r"\s+".join([NUMBER] * columns) + r"\s*$")
    return [tuple(map(float, m.groups())) for m in map(pattern.match, text.splitlines()) if m]


def test_conductivity_scan_hall_quantised_in_the_gap(tmp_path):
    """Qi-Wu-Zhang, m = -1: bands in [-3, -1] and [1, 3], Chern number +-1. In the gap
    |sigma_xy| = 1/(2 pi) e^2/hbar (Thouless, Kohmoto, Nightingale, den Nijs, PRL 49, 405
    (1982)) and sigma_xx = 0; outside both bands all zero. Printed to 6 decimals: the
    tolerance is two units of the last digit."""
    table = rows(run_example("conductivity_scan.py", tmp_path), 3)
    assert len(table) == 7
    gap = [(xx, xy) for mu, xx, xy in table if abs(mu) < 1]
    outside = [(xx, xy) for mu, xx, xy in table if abs(mu) > 3]
    assert len(gap) == 3 and len(outside) == 2
    for xx, xy in gap:
        assert abs(abs(xy) - 1 / (2 * math.pi)) < 2e-6 and abs(xx) < 2e-6
    assert all(abs(value) < 2e-6 for pair in outside for value in pair)


@pytest.fixture(scope="module")
def trap(tmp_path_factory):
    """examples/trapped_packet.py run once: (working directory, stdout)."""
    cwd = tmp_path_factory.mktemp("examples")
    return cwd, run_example("trapped_packet.py", cwd)


X0, OMEGA, MASS = 3.0, 0.5, 1.0  # configs/harmonic.toml: x_center, sqrt(stiffness / mass)
# The packet's mean position against x0 cos(omega t) (exact for a quadratic Hamiltonian), at
# the example's 48 x 48 cells: measured 0.035 nm (0.081 at 32^2, 0.020 at 64^2: the
# second-order scheme's numerical error); the bound allows the measured value and no more
# than about half as much again.
POSITION_ERROR = 0.05  # nm


def test_trapped_packet_follows_the_classical_orbit(trap):
    _, out = trap
    table = rows(out, 3)
    assert len(table) == 5
    assert table[0][0] == 0.0 and abs(table[-1][0] - 2 * math.pi / OMEGA) < 1e-3
    for t, mean_x, _ in table:
        assert abs(mean_x - X0 * math.cos(OMEGA * t)) < POSITION_ERROR, (t, mean_x)
    assert (Path(trap[0]) / "output" / "examples" / "trap.h5").is_file()


def test_read_run_measures_the_period_and_the_momentum(trap):
    """The run file read back: the period from the zero crossings of <x>(t) is 2 pi/omega
    to within the crossing times' error (POSITION_ERROR / (x0 omega) each, two crossings),
    <k> at a quarter period is -m omega x0 sin(omega t) within the same phase error."""
    cwd, _ = trap
    out = run_example("read_run.py", cwd)
    period = float(re.search(rf"zero crossings of <x>\(t\): {NUMBER}", out).group(1))
    phase_error = POSITION_ERROR / (X0 * OMEGA)  # hbar/eV per crossing
    assert abs(period - 2 * math.pi / OMEGA) < 2 * 2 * phase_error
    t, k = map(float, re.search(rf"<k> at t = {NUMBER}: {NUMBER}", out).groups())
    assert abs(k + MASS * OMEGA * X0 * math.sin(OMEGA * t)) < MASS * OMEGA * POSITION_ERROR
    assert (cwd / "output" / "examples" / "trap_phase_space.png").stat().st_size > 10_000


def _make_notebook():
    spec = importlib.util.spec_from_file_location("make_notebook", EXAMPLES / "make_notebook.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_notebook_cells_are_the_example_scripts():
    """Every code cell parses, the code cells are the scripts' code in order, and the
    notebook is what examples/make_notebook.py writes (not edited by hand, not stale)."""
    make = _make_notebook()
    notebook = json.loads((EXAMPLES / "tour.ipynb").read_text(encoding="utf-8"))
    code = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    for source in code:
        ast.parse(source)
    assert code == [make.split(EXAMPLES / name)[1] for name in make.SCRIPTS]
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(
        [*make.SCRIPTS, "make_notebook.py"])
    assert (EXAMPLES / "tour.ipynb").read_text(encoding="utf-8") == make.text()


def test_notebook_executes(tmp_path):
    """The notebook's code cells run in order in one namespace, as a kernel runs them
    (jupyter is not a dependency of moyal, so no kernel is started; output is the cells'
    printed text)."""
    shutil.copy(EXAMPLES / "tour.ipynb", tmp_path)
    driver = ("import json\n"
              "cells = json.load(open('tour.ipynb', encoding='utf-8'))['cells']\n"
              "namespace = {'__name__': '__main__'}\n"
              "for i, cell in enumerate(c for c in cells if c['cell_type'] == 'code'):\n"
              "    exec(compile(''.join(cell['source']), f'<cell {i}>', 'exec'), namespace)\n")
    proc = subprocess.run([sys.executable, "-c", driver], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = proc.stdout
    assert "zero crossings of <x>(t)" in text
