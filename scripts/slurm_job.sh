#!/usr/bin/env bash
# SLURM template for a moyal run. Submit from the repository root:
#     sbatch scripts/slurm_job.sh configs/default.toml [table.key=value ...] [-petsc_option ...]
# The job's log is <job-name>-<job-id>.out in the directory sbatch was called from (SLURM does
# not create the directory of --output: a log path into a missing folder loses the log).
#
# Stopping before the time limit. --signal=B:TERM@300 has SLURM send SIGTERM to this script
# about 300 s before --time ends (up to 60 s earlier); the script passes it on to the solver,
# which finishes its time step, writes a checkpoint and exits 3. Keep the lead time above one
# time step plus one checkpoint write. scancel sends SIGTERM to every process of the job, then
# SIGKILL after the cluster's KillWait (often 30 s). Alternatively set run.stop_wall_time
# (seconds) a little under --time, e.g. run.stop_wall_time=6900 for 02:00:00.
#
# Exit codes of solvers.run: 0 finished; 1 numerical failure (NaN/Inf; the last good
# checkpoint <output_dir>/<name>.chk.h5 is kept); 2 bad config or arguments (nothing computed);
# 3 stopped early (stop_wall_time or a signal) with a checkpoint written: resubmit with the
# same arguments plus run.restart=true to continue, on any number of ranks.
#SBATCH --job-name=moyal
#SBATCH --nodes=1
#SBATCH --ntasks=64
#SBATCH --time=02:00:00
#SBATCH --output=%x-%j.out
#SBATCH --signal=B:TERM@300
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-$(pwd)}"
if [[ $# -lt 1 ]]; then echo "usage: sbatch scripts/slurm_job.sh CONFIG.toml [overrides] [-petsc_options]" >&2; exit 2; fi

if [[ "${SLURM_RESTART_COUNT:-0}" -gt 0 ]]; then
    # A requeued job continues from its checkpoint: add run.restart=true (and drop a
    # run.overwrite=true, which conflicts) after the last override, before the PETSc options.
    args=("$1"); shift
    while [[ $# -gt 0 && "$1" != -* ]]; do args+=("$1"); shift; done
    set -- "${args[@]}" run.restart=true run.overwrite=false "$@"
fi

# Progress lines into the job's log (run.progress = "auto" prints to terminals only); an
# override of the user's, later on the line, still wins.
config=$1; shift
set -- "$config" run.progress=always "$@"

if [[ -n "${PETSC_DIR:-}" ]]; then
    # Installed against the cluster's PETSc and MPI: let SLURM launch the ranks.
    launch=(srun)
else
    # Installed with the mpich wheel: launch with the venv's Hydra mpirun.
    launch=(.venv/bin/mpirun -n "${SLURM_NTASKS:-1}")
fi
# The launcher runs in the background: bash runs a trap only between commands, and a signal
# interrupts `wait` at once. The trap passes SIGTERM on to the launcher (srun and mpirun
# pass it on to the ranks); the loop then waits again until the solver has written its
# checkpoint and exited, and keeps its exit code.
"${launch[@]}" .venv/bin/python -m solvers.run "$@" &
solver=$!
forwarded=false
trap 'forwarded=true; kill -TERM "$solver" 2>/dev/null || true' TERM INT
while true; do
    forwarded=false
    status=0
    wait "$solver" || status=$?
    # an interrupted wait returns 128 + the signal number while the solver still runs
    if ! $forwarded || [[ $status -le 128 ]]; then break; fi
done
trap - TERM INT

if [[ $status -eq 3 ]]; then
    echo "moyal stopped early with a checkpoint: resubmit with run.restart=true" >&2
    # Optional automatic continuation: uncomment to put this job back in the queue; the
    # requeued job adds run.restart=true by itself (SLURM_RESTART_COUNT > 0, see above).
    # Needs a cluster that allows requeueing (#SBATCH --requeue); bound the number of
    # requeues yourself, e.g. [[ ${SLURM_RESTART_COUNT:-0} -lt 10 ]] && scontrol requeue ...
    # scontrol requeue "$SLURM_JOB_ID"
fi
exit "$status"
