#!/usr/bin/env bash
# SLURM template for a moyal run. Submit from the repository root:
#     sbatch scripts/slurm_job.sh configs/default.toml [table.key=value ...] [-petsc_option ...]
# Adjust the resources below. run.stop_wall_time should be a little under --time.
#SBATCH --job-name=moyal
#SBATCH --nodes=1
#SBATCH --ntasks=64
#SBATCH --time=02:00:00
#SBATCH --output=output/slurm-%j.out
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-$(pwd)}"
mkdir -p output
if [[ $# -lt 1 ]]; then echo "usage: sbatch scripts/slurm_job.sh CONFIG.toml [overrides] [-petsc_options]" >&2; exit 2; fi

if [[ -n "${PETSC_DIR:-}" ]]; then
    # Installed against the cluster's PETSc and MPI: let SLURM launch the ranks.
    srun .venv/bin/python -m solvers.run "$@"
else
    # Installed with the mpich wheel: launch with the venv's Hydra mpirun.
    .venv/bin/mpirun -n "${SLURM_NTASKS:-1}" .venv/bin/python -m solvers.run "$@"
fi
