"""Run lifecycle (issue 13): a run that cannot go on ends every rank with one line and never
leaves an unreadable or silently wrong file.

Output directory unusable, a NaN at a checkpoint step, damaged checkpoints, restarts with
other physics, two runs with one name, a full disk, bad PETSc options or restart files, and
unexpected exceptions. Runs are made in-process through ``main`` where possible and as real
processes (``mpirun -n 2`` included, always under a timeout) where the behaviour under test
is the process itself.
"""

import errno
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from petsc4py import PETSc
from test_reliability import BASE, ROOT, cli, one_line_error, poison_after, snapshot

from solvers import config
from solvers import output as output_module
from solvers import problem as problem_module
from solvers import run as run_module
from solvers.checkpoint import block_paths
from solvers.run import checkpoint_path, main, simulate

MPIRUN = Path(sys.executable).parent / "mpirun"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
# BASE (output out/r.h5) in ten steps, at a temperature the 16 k cells resolve (no warning):
# the chain's band changes by at most 2 t (2 pi / 16) = 0.79 per cell, 0.2 T
LIFE = BASE + """
[fields]
E = 0.3
[initial]
temperature = 4.0
[numerics]
dt = 0.05
"""


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A config dir with LIFE and no output yet."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text(LIFE)
    return tmp_path


def one_line_failure(code, stderr):
    """Exit code 1 and exactly one line from moyal-run, naming a traceback log."""
    assert code == 1, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("moyal-run")]
    assert len(lines) == 1 and lines[0].startswith("moyal-run: failed:"), stderr
    assert "Traceback" not in stderr, stderr
    return lines[0]


def no_locks(directory):
    return not list(Path(directory).glob("*.lock"))


def readable_writes(path):
    """The iterations of ``path``'s completed writes; every one of them is finite."""
    with h5py.File(path, "r") as h5:
        iterations = h5["scales/iteration"][:]
        assert np.all(np.isfinite(h5["tasks/f"][: len(iterations)]))
        return iterations


# ---------------------------------------------------------------- 9: unusable output dir
@pytest.mark.parametrize("output_dir", ["blocker", "blocker/sub", "/sys/kernel"])
def test_an_unusable_output_dir_is_one_line_exit_2(workdir, capsys, output_dir):
    """A file in the way, a directory under a file, an existing directory nobody (not even
    root) may create files in (sysfs)."""
    (workdir / "blocker").write_text("a file")
    line = one_line_error(main(["c.toml", f"run.output_dir={output_dir!r}"]),
                          capsys.readouterr().err)
    assert f"run.output_dir = {output_dir!r}" in line and "expected" in line, line
    assert (workdir / "blocker").read_text() == "a file"


def mpirun(args, cwd, script=None):
    """``mpirun -n 2`` of solvers.run (or of ``script``) under a timeout: a hang fails."""
    command = ["-c", script, *args] if script else ["-m", "solvers.run", *args]
    return subprocess.run([str(MPIRUN), "-n", "2", sys.executable, *command], cwd=cwd,
                          capture_output=True, text=True, env=ENV, timeout=120)


def test_an_unusable_output_dir_ends_both_mpi_ranks_in_one_line(workdir):
    (workdir / "blocker").write_text("a file")
    proc = mpirun(["c.toml", "run.output_dir='blocker'"], workdir)
    line = one_line_error(proc.returncode, proc.stderr)
    assert "run.output_dir = 'blocker'" in line


RANK_ONE_FAILS = """
import sys
from mpi4py import MPI
import solvers.problem as p
observe = p.BandProblem.observables
def failing(self, u, t):
    if MPI.COMM_WORLD.Get_rank() == 1 and t > 0.2:
        raise RuntimeError("injected failure on rank 1")
    return observe(self, u, t)
p.BandProblem.observables = failing
from solvers.run import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_failure_on_one_mpi_rank_ends_every_rank_in_one_line(workdir):
    """Rank 1 fails in the middle of the run while rank 0 waits for it in a collective
    write: both end (MPI_Abort), one line names the failure, the traceback is logged."""
    proc = mpirun(["c.toml", "run.output_every=1"], workdir, script=RANK_ONE_FAILS)
    line = one_line_failure(proc.returncode, proc.stderr)
    assert "RuntimeError: injected failure on rank 1" in line, line
    assert "injected failure" in (workdir / "out" / "r.error.log").read_text()
    assert no_locks(workdir / "out")  # released by rank 1 for rank 0


# ------------------------------------------------------ 10: NaN at a checkpoint step
def test_a_nan_at_a_checkpoint_step_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    """dt = 0.05, rates poisoned for t > 0.97: step 20 (t = 1.0) is the first bad one and a
    multiple of checkpoint_every = 5, so the checkpoint must stay at step 15."""
    poison_after(monkeypatch, 0.97)
    cfg = config.from_dict({"grid": {"nk": [32]}, "fields": {"E": 0.3},
                            "initial": {"kind": "band_window"}, "numerics": {"dt": 0.05},
                            "run": {"output_every": 1, "progress_every": 100000,
                                    "checkpoint_every": 5, "t_end": 2.0,
                                    "output_dir": str(tmp_path), "name": "n"}})
    summary, _ = simulate(cfg, tmp_path / "n.h5", PETSc.COMM_SELF, stream=None)
    assert summary["status"] == "failed" and summary["steps"] == 20
    with h5py.File(checkpoint_path(tmp_path / "n.h5"), "r") as h5:
        assert h5.attrs["step"] == 15 and np.all(np.isfinite(h5["state"][()]))


# ------------------------------------------------------------ 11: damaged checkpoint
def flip_bytes(path, dataset, count=16):
    """Invert ``count`` bytes in the middle of a contiguous dataset's storage."""
    with h5py.File(path, "r") as h5:
        start = h5[dataset].id.get_offset() + h5[dataset].id.get_storage_size() // 2
    with open(path, "r+b") as stream:
        stream.seek(start)
        data = stream.read(count)
        stream.seek(start)
        stream.write(bytes(b ^ 0xFF for b in data))


def test_a_damaged_checkpoint_is_refused_in_one_line(workdir, capsys):
    assert main(["c.toml", "run.t_end=0.25"]) == 0
    flip_bytes(block_paths(checkpoint_path(workdir / "out" / "r.h5"))[0], "state")
    before = snapshot(workdir / "out")
    line = one_line_error(main(["c.toml", "run.restart=true"]), capsys.readouterr().err)
    assert "r.chk.h5 is damaged" in line and "sha256" in line, line
    assert snapshot(workdir / "out") == before


# ---------------------------------------------------------- 12: restart, other physics
def test_a_restart_with_other_physics_is_refused_naming_old_and_new(workdir, capsys):
    assert main(["c.toml", "run.t_end=0.25"]) == 0
    before = snapshot(workdir / "out")
    code = main(["c.toml", "run.restart=true", "model.name=chain", "model.parameters={t=2.0}",
                 "collisions.kind=fixed"])
    line = one_line_error(code, capsys.readouterr().err)
    assert 'collisions.kind = "none" -> "fixed"' in line, line
    assert "model.parameters.t = (absent) -> 2.0" in line, line
    listed = line.split("other settings: ")[1].split("; expected")[0]
    assert "run." not in listed, line  # run.* keys (run.restart here) may change
    assert snapshot(workdir / "out") == before


def test_a_restart_may_change_run_keys_and_is_recorded_in_the_output(workdir):
    assert main(["c.toml", "run.t_end=0.25"]) == 0
    with h5py.File(checkpoint_path(workdir / "out" / "r.h5"), "r") as h5:
        t0, step0 = float(h5.attrs["t"]), int(h5.attrs["step"])
    assert main(["c.toml", "run.restart=true", "run.t_end=0.5", "run.output_every=7"]) == 0
    with h5py.File(workdir / "out" / "r.h5", "r") as h5:
        restarts = json.loads(h5.attrs["restarts"])
        assert h5["scales/t"][-1] == 0.5
    assert len(restarts) == 1
    assert restarts[0]["t"] == t0 and restarts[0]["step"] == step0 > 0
    assert restarts[0]["changed"] == {"run.t_end": [0.25, 0.5], "run.output_every": [50, 7]}


# ------------------------------------------------------------ 13: one run per name
def write_lock(path, pid):
    """The lock ``<output>.lock`` as a run with ``pid`` on this host holds it."""
    lock = path.with_name(path.name + ".lock")
    lock.write_text(json.dumps({"pid": pid, "host": socket.gethostname()}))


def test_a_run_holding_the_lock_keeps_a_second_one_out(workdir, capsys):
    (workdir / "out").mkdir()
    write_lock(workdir / "out" / "r.h5", os.getpid())  # this test process: alive
    before = snapshot(workdir / "out")
    line = one_line_error(main(["c.toml"]), capsys.readouterr().err)
    assert f"process {os.getpid()} on {socket.gethostname()}" in line and "r.h5.lock" in line
    assert snapshot(workdir / "out") == before


def test_a_stale_lock_of_a_dead_process_is_taken_over_with_a_note(workdir, capsys):
    (workdir / "out").mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    write_lock(workdir / "out" / "r.h5", dead.pid)
    assert main(["c.toml"]) == 0
    assert f"note: took over the lock {Path('out/r.h5.lock')} of process {dead.pid}" \
        in capsys.readouterr().err
    assert readable_writes(workdir / "out" / "r.h5")[-1] > 0
    assert no_locks(workdir / "out")


def test_a_stale_lock_another_run_took_over_first_is_left_to_it(tmp_path, monkeypatch):
    """Two runs find the same stale lock; the other one replaces it with its own lock just
    after this one has judged it stale: this one must not remove the fresh lock."""
    out = tmp_path / "r.h5"
    write_lock(out, pid=2**22 + 1)  # above Linux's pid_max: no such process
    lock = out.with_name("r.h5.lock")
    fresh = json.dumps({"pid": os.getppid(), "host": socket.gethostname()})

    def other_run_takes_over(pid):
        lock.write_text(fresh)
        return False  # the pid that was asked about is dead

    monkeypatch.setattr(output_module, "_alive", other_run_takes_over)
    with pytest.raises(FileExistsError, match=f"process {os.getppid()} on "):
        output_module.acquire_lock(out)
    assert lock.read_text() == fresh and [p.name for p in tmp_path.iterdir()] == ["r.h5.lock"]


def test_an_output_another_run_finished_after_the_check_is_not_replaced(workdir, monkeypatch,
                                                                          capsys):
    """The other run completes between this run's existence check and its start."""
    load = run_module.parse_and_load

    def other_run_finishes_meanwhile(argv):
        loaded = load(argv)
        (workdir / "out").mkdir()
        (workdir / "out" / "r.h5").write_bytes(b"the other run's result")
        return loaded

    monkeypatch.setattr(run_module, "parse_and_load", other_run_finishes_meanwhile)
    line = one_line_error(main(["c.toml"]), capsys.readouterr().err)
    assert "exists" in line
    assert (workdir / "out" / "r.h5").read_bytes() == b"the other run's result"
    assert no_locks(workdir / "out")


def test_two_runs_started_together_one_runs_one_is_refused(workdir):
    runs = [cli(["c.toml", "run.t_end=2.0"], workdir) for _ in range(2)]
    results = [(run.communicate(timeout=120)[1], run.returncode)[::-1] for run in runs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    one_line_error(2, refused)
    assert readable_writes(workdir / "out" / "r.h5")[-1] > 0
    assert no_locks(workdir / "out")


# ------------------------------------------------------------------ 14: disk full
def failing_writes(monkeypatch, after, code):
    """The output's writes fail with ``code`` from write number ``after`` on."""
    append, calls = output_module._append, []

    def failing(h5, *args):
        calls.append(1)
        if len(calls) > after:
            raise OSError(code, os.strerror(code))
        append(h5, *args)

    monkeypatch.setattr(output_module, "_append", failing)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS], ids=["ENOSPC", "EROFS"])
def test_a_failing_output_write_is_one_line_exit_1_earlier_writes_kept(workdir, monkeypatch,
                                                                         capsys, code):
    failing_writes(monkeypatch, 3, code)
    line = one_line_failure(main(["c.toml", "run.output_every=1"]), capsys.readouterr().err)
    assert f"cannot write {Path('out/r.h5')} (write 3" in line and os.strerror(code) in line
    assert "traceback in out/r.error.log" in line.replace(os.sep, "/")
    assert list(readable_writes(workdir / "out" / "r.h5")) == [0, 1, 2]
    assert no_locks(workdir / "out")


def test_a_full_disk_stops_the_run_before_the_write(workdir, monkeypatch, capsys):
    """The file system of out/ reports only the 1 MiB margin free from the fourth write on."""
    statvfs, calls = os.statvfs, []

    def filling(path):
        stats = statvfs(path)
        if Path(path).resolve() == (workdir / "out").resolve():
            calls.append(1)
            if len(calls) > 3:
                return os.statvfs_result((stats.f_bsize, 1, stats.f_blocks, 2**20, 2**20,
                                          *tuple(stats)[5:]))
        return stats

    monkeypatch.setattr(output_module.os, "statvfs", filling)
    line = one_line_failure(main(["c.toml", "run.output_every=1"]), capsys.readouterr().err)
    assert f"cannot write {Path('out/r.h5')} (write 3" in line, line
    assert f"No space left on device ({2**20} bytes free, the next write needs" in line, line
    assert list(readable_writes(workdir / "out" / "r.h5")) == [0, 1, 2]


# 64 x 64 k cells, two bands: 64 KiB per phase-space write.
BIG = ["model.name=qwz", "grid.nk=[64, 64]", "fields.E=[0.1, 0.0]", "run.t_end=1.2",
       "run.output_every=1", "run.progress_every=100000"]


# The limit is set once MPI is up (its shared-memory segments are files too).
LIMITED_RUN = """
import resource, signal, sys
from mpi4py import MPI
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write beyond the limit returns EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]),) * 2)
from solvers.run import main
sys.exit(main(sys.argv[2:]))
"""


def test_a_file_size_limit_in_a_real_process_stops_before_the_file_breaks(workdir):
    """``ulimit -f`` 1.5 MiB: a real limit of the operating system on the output's growth
    (like a full disk, but available without privileges). The run stops in one line with
    exit 1 before the write that would not fit; every write before it reads back bitwise
    equal to an unlimited run's."""
    reference = subprocess.run([sys.executable, "-m", "solvers.run", "c.toml", *BIG,
                                "run.name=ref"], cwd=workdir, capture_output=True, text=True,
                               env=ENV, timeout=120)
    assert reference.returncode == 0, reference.stderr
    limit = 3 * 2**19
    assert (workdir / "out" / "ref.h5").stat().st_size > limit  # the limit bites
    limited = subprocess.run([sys.executable, "-c", LIMITED_RUN, str(limit), "c.toml", *BIG],
                             cwd=workdir, capture_output=True, text=True, env=ENV,
                             timeout=120)
    line = one_line_failure(limited.returncode, limited.stderr)
    assert f"File too large (file-size limit {limit} bytes" in line, line
    iterations = readable_writes(workdir / "out" / "r.h5")
    with h5py.File(workdir / "out" / "r.h5", "r") as got, \
            h5py.File(workdir / "out" / "ref.h5", "r") as ref:
        assert len(ref["scales/iteration"]) > len(iterations) > 4
        assert np.array_equal(got["tasks/f"][: len(iterations)],
                              ref["tasks/f"][: len(iterations)])
    assert no_locks(workdir / "out")


# ------------------------------------------------ 16: PETSc options and restart files
def test_bad_petsc_options_fail_before_any_output_is_opened(workdir):
    proc = cli(["c.toml", "-ts_type", "nonsense"], workdir)
    stderr = proc.communicate(timeout=120)[1]
    line = one_line_error(proc.returncode, stderr)
    assert "PETSc options '-ts_type nonsense'" in line, line
    assert not (workdir / "out" / "r.h5").exists() and no_locks(workdir / "out")


def test_bad_petsc_options_leave_the_output_to_be_overwritten_intact(workdir):
    assert main(["c.toml"]) == 0
    before = snapshot(workdir / "out")
    proc = cli(["c.toml", "run.overwrite=true", "-ts_type", "nonsense"], workdir)
    stderr = proc.communicate(timeout=120)[1]
    one_line_error(proc.returncode, stderr)
    assert snapshot(workdir / "out") == before


@pytest.mark.parametrize("damage", ["truncated", "empty", "other grid"])
def test_a_bad_restart_file_is_one_line_exit_2(workdir, capsys, damage):
    assert main(["c.toml", "run.t_end=0.25"]) == 0
    chk = checkpoint_path(workdir / "out" / "r.h5")
    if damage == "truncated":
        chk.write_bytes(chk.read_bytes()[: chk.stat().st_size // 2])
    elif damage == "empty":
        chk.write_bytes(b"")
    else:
        assert main(["c.toml", "run.t_end=0.25", "run.name=coarse", "grid.nk=[8]"]) == 0
        chk.write_bytes(checkpoint_path(workdir / "out" / "coarse.h5").read_bytes())
    capsys.readouterr()
    before = snapshot(workdir / "out")
    line = one_line_error(main(["c.toml", "run.restart=true"]), capsys.readouterr().err)
    expected = "is for another grid" if damage == "other grid" else "unreadable"
    assert "r.chk.h5" in line and expected in line, line
    assert snapshot(workdir / "out") == before


# ---------------------------------------------------------- 17: unexpected exceptions
def test_an_unexpected_error_is_one_line_and_a_logged_traceback(workdir, monkeypatch, capsys):
    observe = problem_module.BandProblem.observables

    def failing(self, u, t):
        if t > 0.2:
            raise KeyError("injected")
        return observe(self, u, t)

    monkeypatch.setattr(problem_module.BandProblem, "observables", failing)
    line = one_line_failure(main(["c.toml", "run.output_every=1"]), capsys.readouterr().err)
    assert "KeyError: 'injected'" in line, line
    log = (workdir / "out" / "r.error.log").read_text()
    assert "Traceback" in log and "in failing" in log and "KeyError: 'injected'" in log
    assert readable_writes(workdir / "out" / "r.h5")[-1] > 0
    assert no_locks(workdir / "out")
