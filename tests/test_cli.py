"""`python -m solvers.run`: bad invocations fail with one line and exit code 2; a good one
writes the HDF5 file and prints its path."""

import subprocess
import sys

import h5py
import pytest


def run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "solvers.run", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


@pytest.fixture
def workdir(tmp_path, request):
    return tmp_path


def one_line_error(proc):
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("moyal-run: error:"), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_missing_config_path(workdir):
    assert "missing config path" in one_line_error(run(cwd=workdir))


def test_nonexistent_config(workdir):
    assert "does not exist" in one_line_error(run("nope.toml", cwd=workdir))


def test_unreadable_config_directory(workdir):
    assert "is not a file" in one_line_error(run(".", cwd=workdir))


def test_invalid_toml(workdir):
    (workdir / "bad.toml").write_text("[grid\nnx = 3\n")
    assert "not valid TOML" in one_line_error(run("bad.toml", cwd=workdir))


def test_bad_value_writes_nothing(workdir):
    (workdir / "c.toml").write_text("[grid]\nnx = -1\n[run]\noutput_dir = 'out'\n")
    assert "grid.nx = -1" in one_line_error(run("c.toml", cwd=workdir))
    assert not (workdir / "out").exists()


def test_existing_output_is_not_overwritten(workdir):
    (workdir / "out").mkdir()
    (workdir / "out" / "x.h5").write_bytes(b"keep me")
    (workdir / "c.toml").write_text("[run]\noutput_dir = 'out'\nname = 'x'\n")
    assert "exists" in one_line_error(run("c.toml", cwd=workdir))
    assert (workdir / "out" / "x.h5").read_bytes() == b"keep me"


def test_small_run_prints_path_and_result(workdir):
    (workdir / "c.toml").write_text(
        "[grid]\nx = 'periodic'\nnx = 32\nnk = [16]\n[initial]\nkind = 'packet'\n"
        "[run]\nt_end = 1.0\noutput_dir = 'out'\nname = 'small'\n")
    proc = run("c.toml", "numerics.limiter=mc", "-ts_max_snes_failures", "1", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert "wrote out/small.h5" in proc.stdout
    with h5py.File(workdir / "out" / "small.h5", "r") as h5:
        assert h5["tasks/f"].shape[1:] == (1, 32, 16)
        assert "-ts_max_snes_failures 1" in h5.attrs["petsc_options"]
