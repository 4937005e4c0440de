"""scripts/slurm_job.sh: its #SBATCH lines, and its body run by bash outside SLURM.

SLURM itself is not needed: sbatch only reads the #SBATCH comments and then runs the script
with bash in the submit directory, with SLURM_* variables set; --signal=B:TERM@N sends
SIGTERM to that bash process alone. The tests play sbatch's part: they set the variables,
put stand-ins for mpirun/srun where the script looks for them, and signal the bash process.
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
SCRIPT = REPOSITORY / "scripts" / "slurm_job.sh"

# A launcher stand-in: records its arguments, then either exits 0 at once or (FAKE_WAIT set)
# runs until SIGTERM, which it answers like the solver: a note, then exit code 3. It gives up
# after 20 s so that a script that fails to forward the signal leaves no process behind.
FAKE_LAUNCHER = """#!/usr/bin/env bash
printf '%s\\n' "$@" > "$FAKE_LOG/args"
if [[ -z "${FAKE_WAIT:-}" ]]; then exit 0; fi
trap 'echo TERM > "$FAKE_LOG/got_term"; exit 3' TERM
touch "$FAKE_LOG/started"
for _ in $(seq 400); do sleep 0.05; done
exit 99
"""


def sbatch_options() -> dict:
    options = {}
    for line in SCRIPT.read_text().splitlines():
        match = re.match(r"#SBATCH\s+--([a-z-]+)=(\S+)", line)
        if match:
            options[match.group(1)] = match.group(2)
    return options


def seconds(limit: str) -> int:
    """A SLURM time limit [days-]hours:minutes:seconds in seconds."""
    days, _, clock = limit.rpartition("-")
    h, m, s = (int(v) for v in clock.split(":"))
    return int(days or 0) * 86400 + 3600 * h + 60 * m + s


def test_sbatch_lines_log_to_an_existing_directory_and_ask_for_a_signal():
    options = sbatch_options()
    # SLURM does not create the directory of --output: a relative path must have no folder
    # part (the submit directory exists), or name a folder every clone has
    output = options["output"]
    assert "/" not in output or (REPOSITORY / output).parent.is_dir(), output
    assert "%j" in output
    match = re.fullmatch(r"B:TERM@(\d+)", options["signal"])
    assert match, options["signal"]
    lead = int(match.group(1))
    # SLURM may signal up to 60 s early; the lead must leave time for a step and a checkpoint
    # but be a small part of the job
    assert 60 <= lead <= seconds(options["time"]) / 4, (lead, options["time"])


def fake_job(tmp_path, launcher: str, **env):
    """Submit directory with a stand-in launcher; returns (directory, environment)."""
    job = tmp_path / "job"
    (job / ".venv" / "bin").mkdir(parents=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    place = job / ".venv" / "bin" / "mpirun" if launcher == "mpirun" else bin_dir / "srun"
    place.write_text(FAKE_LAUNCHER)
    place.chmod(0o755)
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith("SLURM_") and k != "PETSC_DIR"}
    environment.update(SLURM_SUBMIT_DIR=str(job), SLURM_NTASKS="4", FAKE_LOG=str(tmp_path),
                       PATH=f"{bin_dir}{os.pathsep}{environment['PATH']}", **env)
    if launcher == "srun":
        environment["PETSC_DIR"] = "/nonexistent/petsc"
    return job, environment


def start(argv, env):
    """bash running the script, in a process group of its own (so that :func:`clean_up` can
    end whatever a script that failed to pass the signal on left running)."""
    return subprocess.Popen(["bash", str(SCRIPT), *argv], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def clean_up(process):
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def wait_for(path: Path, process, timeout=20.0):
    end = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.02)


@pytest.mark.parametrize("launcher", ["mpirun", "srun"])
def test_signal_to_the_batch_shell_reaches_the_solver_and_its_exit_code_is_kept(
        tmp_path, launcher):
    _, env = fake_job(tmp_path, launcher, FAKE_WAIT="1")
    process = start(["c.toml"], env)
    try:
        wait_for(tmp_path / "started", process)
        process.send_signal(signal.SIGTERM)  # what --signal=B:TERM does: bash alone
        _, err = process.communicate(timeout=20)
    finally:
        clean_up(process)
    assert (tmp_path / "got_term").exists(), err
    assert process.returncode == 3, err
    assert "resubmit with run.restart=true" in err


@pytest.mark.parametrize("restart_count, added", [
    ("0", []), ("2", ["run.restart=true", "run.overwrite=false"])])
def test_a_requeued_job_continues_from_its_checkpoint(tmp_path, restart_count, added):
    _, env = fake_job(tmp_path, "mpirun", SLURM_RESTART_COUNT=restart_count)
    result = subprocess.run(["bash", str(SCRIPT), "c.toml", "a.b=1", "-ts_monitor", "x=y"],
                            env=env, capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    args = (tmp_path / "args").read_text().splitlines()
    # progress lines go to the job log (run.progress=always, overridable by later keys)
    assert args == ["-n", "4", ".venv/bin/python", "-m", "solvers.run", "c.toml",
                    "run.progress=always", "a.b=1", *added, "-ts_monitor", "x=y"]


RUN = """
[model]
name = "chain"
[fields]
E = 0.5
[grid]
nk = [256]
[initial]
kind = "band_window"
k_center = [1.0]
[run]
name = "slurm"
t_end = 1e6
output_every = 1000000
progress_every = 1
stop_wall_time = 60.0   # a bound should the signal not arrive
"""


def test_the_real_solver_stops_with_a_checkpoint_on_the_batch_signal(tmp_path):
    """The script with the venv's mpirun and solver: SIGTERM to bash -> exit 3, checkpoint."""
    venv = REPOSITORY / ".venv" / "bin"
    if not (venv / "mpirun").is_file() or Path(sys.executable).parent != venv:
        pytest.fail(f"needs the project venv ({venv}), running {sys.executable}")
    config = tmp_path / "c.toml"
    config.write_text(RUN + f'output_dir = "{tmp_path}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")
           and k != "PETSC_DIR"}
    env.update(SLURM_SUBMIT_DIR=str(REPOSITORY), SLURM_NTASKS="1")
    process = start([str(config)], env)
    try:
        # the progress lines show that the ranks are stepping
        for line in process.stdout:
            if "t =" in line:
                break
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=90)
    finally:
        clean_up(process)
    assert process.returncode == 3, err
    assert "SIGTERM received" in err
    with h5py.File(tmp_path / "slurm.chk.h5", "r") as h5:
        assert 0 < h5.attrs["t"] < 1e6
