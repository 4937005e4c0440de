#!/usr/bin/env bash
# SLURM template for a moyal run. Submit from the repository root:
#     sbatch scripts/slurm_job.sh configs/default.toml [table.key=value ...] [-petsc_option ...]
# Adjust the resources below. Set run.stop_wall_time (seconds) a little under --time, e.g.
# run.stop_wall_time=6900 for 02:00:00: the run then stops cleanly, writes a checkpoint and
# flushes its output before SLURM kills the job. SIGTERM (scancel, or the end of --time with
# --signal) does the same.
#
# Exit codes of solvers.run: 0 finished; 1 numerical failure (NaN/Inf; the last good
# checkpoint <output_dir>/<name>.chk.h5 is kept); 2 bad config or arguments (nothing computed);
# 3 stopped early (stop_wall_time or a signal) with a checkpoint written: resubmit with the
# same arguments plus run.restart=true to continue, on any number of ranks.
#SBATCH --job-name=moyal
#SBATCH --nodes=1
#SBATCH --ntasks=64
#SBATCH --time=02:00:00
#SBATCH --output=output/slurm-%j.out
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-$(pwd)}"
mkdir -p output
if [[ $# -lt 1 ]]; then echo "usage: sbatch scripts/slurm_job.sh CONFIG.toml [overrides] [-petsc_options]" >&2; exit 2; fi

if [[ "${SLURM_RESTART_COUNT:-0}" -gt 0 ]]; then
    # A requeued job continues from its checkpoint: add run.restart=true (and drop a
    # run.overwrite=true, which conflicts) after the last override, before the PETSc options.
    args=("$1"); shift
    while [[ $# -gt 0 && "$1" != -* ]]; do args+=("$1"); shift; done
    set -- "${args[@]}" run.restart=true run.overwrite=false "$@"
fi

status=0
if [[ -n "${PETSC_DIR:-}" ]]; then
    # Installed against the cluster's PETSc and MPI: let SLURM launch the ranks.
    srun .venv/bin/python -m solvers.run "$@" || status=$?
else
    # Installed with the mpich wheel: launch with the venv's Hydra mpirun.
    .venv/bin/mpirun -n "${SLURM_NTASKS:-1}" .venv/bin/python -m solvers.run "$@" || status=$?
fi

if [[ $status -eq 3 ]]; then
    echo "moyal stopped early with a checkpoint: resubmit with run.restart=true" >&2
    # Optional automatic continuation: uncomment to put this job back in the queue; the
    # requeued job adds run.restart=true by itself (SLURM_RESTART_COUNT > 0, see above).
    # Needs a cluster that allows requeueing (#SBATCH --requeue); bound the number of
    # requeues yourself, e.g. [[ ${SLURM_RESTART_COUNT:-0} -lt 10 ]] && scontrol requeue ...
    # scontrol requeue "$SLURM_JOB_ID"
fi
exit "$status"
