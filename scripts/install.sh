#!/usr/bin/env bash
# Create .venv with everything moyal needs; build PETSc and petsc4py from their sdists.
#
# Idempotent: a stamp in .venv records a hash of the inputs (this script, requirements.txt,
# setup.cfg, PETSC_DIR/PETSC_ARCH); when it matches, nothing is done.
# Built PETSc/petsc4py wheels are cached in $MOYAL_WHEEL_CACHE (default ~/.cache/moyal/wheels),
# keyed by version, configure flags, Python, MPI and the venv location (the wheels carry an
# rpath into the venv's MPI library), so recreating .venv reuses them.
set -eEuo pipefail

PETSC_VERSION=3.26.1
# Minimal optimised PETSc: no Fortran, no CUDA, no X, no C++; system BLAS/LAPACK.
PETSC_FLAGS="--with-fc=0 --with-cxx=0 --with-cuda=0 --with-x=0 --with-debugging=0 COPTFLAGS=-O2"

top=$(cd "$(dirname "$0")/.." && pwd)
venv="$top/.venv"
py=${PYTHON:-python3}
cache=${MOYAL_WHEEL_CACHE:-$HOME/.cache/moyal/wheels}
log_dir="$cache/logs"

say() { printf '[install] %s\n' "$*"; }
die() { printf '[install] error: %s\n' "$*" >&2; exit 1; }
# No silent exit: a command that fails under `set -e` names itself and its line.
trap 'printf "[install] error: line %s: %s failed (exit %s)\n" "$LINENO" "$BASH_COMMAND" "$?" >&2' ERR

# The fused C band-mode kernel (numerics.backend = "c"): moyal/_generated/band_mode.c, printed by
# moyal.codegen, compiled with the venv's MPI compiler wrapper into build/kernels/. Runs on every
# `make install`, also when the venv is up to date, and rebuilds only when the source, flags
# or compiler changed. -march=native: the library is tuned to (and may only run on) this CPU
# type; set MOYAL_KERNEL_CFLAGS (e.g. "-O3") when building on a login node for other nodes.
# The fixed flags come from moyal.abi.COMPILE_FLAGS (-ffp-contract=off keeps a*b+c unfused, as
# numpy computes it, so both backends agree to rounding). The source's sha256 and the flags are
# compiled in: solvers.ckernels refuses a stale library or one built with other flags.
build_kernels() {
    local src="$top/moyal/_generated/band_mode.c" out_dir="$top/build/kernels"
    local lib="$out_dir/libmoyal_band.so" cc="$venv/bin/mpicc" fixed
    fixed=$(cd "$top" && "$venv/bin/python" -c 'from moyal.abi import COMPILE_FLAGS; print(COMPILE_FLAGS)') \
        || die "cannot read moyal.abi.COMPILE_FLAGS"
    local flags="${MOYAL_KERNEL_CFLAGS:--O3 -march=native} $fixed"
    [[ -x "$cc" ]] || cc=$(command -v mpicc) || die "no mpicc to build $src"
    local sha; sha=$(sha256sum "$src" | cut -c1-64)
    local compiler; compiler=$("$cc" --version 2>/dev/null | sed -n 1p)
    local key; key=$(printf '%s|%s|%s' "$sha" "$flags" "$compiler" | sha256sum | cut -c1-16)
    if [[ -f "$lib" && "$(cat "$lib.stamp" 2>/dev/null)" == "$key" ]]; then
        return
    fi
    mkdir -p "$out_dir"
    # build beside and rename: a process that has the old library mapped keeps its copy
    # shellcheck disable=SC2086
    "$cc" $flags -DMOYAL_SOURCE_SHA256="\"$sha\"" -DMOYAL_COMPILE_FLAGS="\"$flags\"" \
        -o "$lib.tmp.$$" "$src" -lm \
        || die "compiling $src failed"
    mv -f "$lib.tmp.$$" "$lib"
    echo "$key" > "$lib.stamp"
    say "built $lib ($flags)"
}

stamp_hash=$(cat "$0" "$top/requirements.txt" "$top/setup.cfg" 2>/dev/null | {
    cat; printf '%s|%s|%s' "${PETSC_DIR:-}" "${PETSC_ARCH:-}" "$($py -V 2>&1)"; } | sha256sum | cut -c1-16)
if [[ -f "$venv/.moyal-stamp" && "$(cat "$venv/.moyal-stamp")" == "$stamp_hash" ]]; then
    say ".venv is up to date ($stamp_hash)"
    build_kernels
    exit 0
fi

start=$(date +%s)
command -v "$py" >/dev/null || die "no '$py' on PATH; set PYTHON=/path/to/python3 (>= 3.11)"
"$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "$py is $($py -V 2>&1); moyal needs Python >= 3.11 (tomllib)"

have_lapack() {
    ldconfig -p 2>/dev/null | grep -qE 'lib(lapack|openblas|flexiblas|mkl_rt)\.so' \
        || compgen -G "/usr/lib*/**/liblapack.so" >/dev/null \
        || compgen -G "/usr/lib/*/liblapack.so" >/dev/null
}

if [[ -z "${PETSC_DIR:-}" ]] && ! have_lapack; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        say "no BLAS/LAPACK found: installing Debian's liblapack-dev (running as root)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq liblapack-dev >/dev/null
    else
        die "no BLAS/LAPACK development library found. Install one, e.g.
    sudo apt-get install liblapack-dev        (Debian/Ubuntu)
    sudo dnf install lapack-devel              (Fedora/RHEL)
    module load openblas                       (clusters)
or point to an existing PETSc with PETSC_DIR/PETSC_ARCH, then run 'make install' again."
    fi
fi

if [[ ! -x "$venv/bin/python" ]]; then
    say "creating $venv"
    "$py" -m venv "$venv"
fi
vpy="$venv/bin/python"
pip() { "$vpy" -m pip --disable-pip-version-check -q "$@"; }
export PATH="$venv/bin:$PATH"

say "installing Python dependencies (requirements.txt)"
if [[ -n "${PETSC_DIR:-}" ]]; then
    # A user PETSc brings its own MPI: build mpi4py against the mpicc on PATH, no mpich wheel.
    command -v mpicc >/dev/null || die "PETSC_DIR is set but no mpicc is on PATH; load the MPI that PETSc was built with"
    grep -vE '^(mpich|mpi4py)==' "$top/requirements.txt" > "$venv/requirements-user-mpi.txt"
    pip install -r "$venv/requirements-user-mpi.txt"
    pip install --no-binary mpi4py "$(grep -E '^mpi4py==' "$top/requirements.txt")"
else
    pip install -r "$top/requirements.txt"
fi

mpi_id=$("$vpy" -c 'from mpi4py import MPI; print(MPI.Get_library_version().splitlines()[0])')
key=$(printf '%s|%s|%s|%s|%s|%s' "$PETSC_VERSION" "$PETSC_FLAGS" "$("$vpy" -V)" "$mpi_id" \
      "${PETSC_DIR:-}" "${PETSC_ARCH:-}" | sha256sum | cut -c1-12)
wheels="$cache/petsc-$PETSC_VERSION-$key"
mkdir -p "$wheels" "$log_dir"

build_wheel() {  # name, cache dir, extra pip args...
    local name=$1 dir=$2; shift 2
    if compgen -G "$dir/${name}-${PETSC_VERSION}-*.whl" >/dev/null; then
        say "$name $PETSC_VERSION: cached wheel in $dir"
        return
    fi
    local log="$log_dir/$name-$PETSC_VERSION-$(basename "$dir").log" t0=$(date +%s)
    say "$name $PETSC_VERSION: building from sdist (log: $log)"
    rm -rf "$dir.tmp"
    if ! "$vpy" -m pip wheel --disable-pip-version-check --no-cache-dir -v --no-deps "$@" \
            --no-binary "$name" "$name==$PETSC_VERSION" -w "$dir.tmp" >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        die "building $name failed; full log in $log"
    fi
    # RUNPATHs into this venv (its MPI, the venv's PETSc) become $ORIGIN-relative, so the
    # cached wheel serves every clone; the build prefix is recorded for the text files
    # (petscvariables, pkg-config) that name it.
    mkdir -p "$dir"
    "$vpy" "$top/scripts/relocate_wheel.py" "$dir.tmp"/"$name"-*.whl "$venv" "$dir" \
        || die "relocating the $name wheel failed"
    echo "$venv" > "$dir/build-prefix"
    rm -rf "$dir.tmp"
    say "$name built in $(( $(date +%s) - t0 )) s"
}

# --force-reinstall: a petsc of the same version from elsewhere (another build, another
# cache) must not survive in the venv, or petsc4py would be built against it.
if [[ -z "${PETSC_DIR:-}" ]]; then
    say "PETSc configure flags: $PETSC_FLAGS"
    MPICC="$venv/bin/mpicc" PETSC_CONFIGURE_OPTIONS="$PETSC_FLAGS" build_wheel petsc "$wheels"
    petsc_wheel=$(compgen -G "$wheels/petsc-$PETSC_VERSION-*.whl" | head -n 1)
    pip install --force-reinstall --no-deps "$petsc_wheel"
    # PETSc's build configuration names the venv it was built in; point it at this one
    built_in=$(cat "$wheels/build-prefix" 2>/dev/null || echo "$venv")
    if [[ "$built_in" != "$venv" ]]; then
        petsc_lib=$("$vpy" -c 'import petsc, os; print(os.path.join(petsc.get_petsc_dir(), "lib"))')
        "$vpy" "$top/scripts/relocate_wheel.py" --repoint "$built_in" "$venv" "$petsc_lib" \
            || die "pointing PETSc's configuration files at $venv failed"
    fi
    petsc_id=$(sha256sum "$petsc_wheel" | cut -c1-12)
    PETSC_DIR=$("$vpy" -c 'import petsc; print(petsc.get_petsc_dir())')
    PETSC_ARCH=""
    user_petsc=0
else
    [[ -f "$PETSC_DIR/${PETSC_ARCH:-}/lib/petsc/conf/petscvariables" ]] \
        || die "PETSC_DIR=$PETSC_DIR PETSC_ARCH=${PETSC_ARCH:-} has no lib/petsc/conf/petscvariables"
    say "using existing PETSc: PETSC_DIR=$PETSC_DIR PETSC_ARCH=${PETSC_ARCH:-}"
    petsc_id=$(sha256sum "$PETSC_DIR/${PETSC_ARCH:-}/lib/petsc/conf/petscvariables" | cut -c1-12)
    user_petsc=1
fi
# petsc4py is keyed by the exact PETSc it was compiled against.
PETSC_DIR="$PETSC_DIR" PETSC_ARCH="${PETSC_ARCH:-}" \
    build_wheel petsc4py "$wheels/petsc4py-for-$petsc_id" --no-build-isolation
pip install --force-reinstall --no-deps "$(compgen -G "$wheels/petsc4py-for-$petsc_id/petsc4py-$PETSC_VERSION-*.whl" | head -n 1)"

say "installing moyal (editable)"
pip install --no-deps --no-build-isolation -e "$top"

"$vpy" - <<'PY'
from mpi4py import MPI
from petsc4py import PETSc
import h5py, sympy, scipy
# PETSc must run on the very MPI that mpi4py loaded: a PETSc built without MPI, or against
# another MPI, fails here instead of in the first parallel run.
assert PETSc.COMM_WORLD.tompi4py().Get_size() == MPI.COMM_WORLD.Get_size()
print(f"[install] check: PETSc {'.'.join(map(str, PETSc.Sys.getVersion()))}, "
      f"{MPI.Get_library_version().splitlines()[0].strip()}, h5py {h5py.__version__}")
PY
build_kernels
echo "$stamp_hash" > "$venv/.moyal-stamp"
say "done in $(( $(date +%s) - start )) s (user PETSc: $user_petsc)"
