"""Progress lines of solvers.run: step n/N with percentage and ETA, run k of n of a sweep with
the sweep's ETA, a line during set-up; printed to terminals only unless run.progress = "always"."""

import io
import re

import pytest
from petsc4py import PETSc

from solvers.run import parse_and_load, run_all, setup_line
from solvers.stepper import Progress, progress_stream

CONFIG = """
[model]
name = "qwz"
parameters = {m = -1.5, g = 0.4}
[fields]
E = [0.02, 0.0]
[grid]
nk = [16, 16]
[initial]
mu = 0.5
temperature = 0.5
[collisions]
kind = "fixed"
tau = 1.0
mu = 0.5
temperature = 0.5
[response]
scales = [1, -1]
[run]
name = "p"
t_end = 2.0
output_every = 5
progress_every = 4
"""


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_line_counts_steps_and_estimates_the_sweep():
    progress = Progress(t_end=4.0, every=1, rank=0, stream=None, label="[run 1 of 3] ",
                        total=200, runs_after=2)
    progress(0, 0.0, 0.02)  # the first call marks the start (t = 0)
    # 10 s for t = 0 -> 1 of 4: 30 s left in this run; two more runs of 40 s each
    line = progress.line(50, 1.0, 0.02, 10.0)
    assert line.startswith("[run 1 of 3] step      50/200 ( 25.0%)  t = 1  dt = 0.02")
    assert line.endswith("ETA 30.0 s, sweep 110.0 s")
    single = Progress(t_end=4.0, every=1, rank=0, stream=None, total=200)
    single(0, 0.0, 0.02)
    assert single.line(50, 1.0, 0.02, 10.0).endswith("ETA 30.0 s")


def test_progress_goes_to_terminals_only_unless_asked():
    assert progress_stream(io.StringIO()) is None and progress_stream(None) is None
    stream = Terminal()
    assert progress_stream(stream) is stream
    log = io.StringIO()
    assert progress_stream(log, "always") is log  # run.progress = "always": batch logs
    assert progress_stream(stream, "never") is None


@pytest.mark.parametrize("stream, printed", [(Terminal(), True), (io.StringIO(), False)])
def test_sweep_prints_setup_and_run_k_of_n_on_a_terminal(tmp_path, stream, printed):
    path = tmp_path / "p.toml"
    path.write_text(CONFIG)
    cfg, paths, _ = parse_and_load([str(path), f"run.output_dir='{tmp_path}'"])
    summaries, _ = run_all(cfg, paths, PETSc.COMM_SELF, stream=stream)
    lines = stream.getvalue().splitlines()
    if not printed:
        assert lines == []
        return
    assert setup_line(cfg) == ("setting up: band geometry on 256 k cells (grid.nk = [16, 16])"
                               "...")
    n = summaries[0]["nsteps"]
    assert lines[0] == f"[run 1 of 2, E x +1] {setup_line(cfg)}"
    steps = [line for line in lines if " step " in line]
    assert steps and all(re.search(rf"step +\d+/{n} \( *\d+\.\d%\)", s) for s in steps), steps
    first = [s for s in steps if s.startswith("[run 1 of 2, E x +1]")]
    assert first and all(", sweep " in s for s in first)  # the sweep's ETA while runs remain
    assert f"[run 2 of 2, E x -1] {setup_line(cfg)}" in lines
