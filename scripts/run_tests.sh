#!/usr/bin/env bash
# `make test`: serial tests, then the MPI tests under the venv's `mpirun -n 2`.
# Both suites always run. pytest's exit code 5 ("no tests collected") counts as a failure.
# The closing line adds up both runs ("total: N passed, M failed"); exit is non-zero on any
# failure. Per-rank logs and JUnit XML are in build/test-logs/.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
py=.venv/bin/python
logs=build/test-logs
rm -rf "$logs" && mkdir -p "$logs"

echo "== make check-kernels =="
make --no-print-directory check-kernels
kernels=$?

echo "== serial tests =="
"$py" -m pytest -m "not mpi and not slow" --junitxml="$logs/serial.xml"
serial=$?

echo "== MPI tests (mpirun -n 2) =="
timeout 1200 .venv/bin/mpirun -n 2 "$py" -m scripts.mpi_pytest -m mpi tests/mpi
parallel=$?
if [[ $parallel -ne 0 && -f "$logs/mpi-rank1.log" ]]; then
    echo "-- rank 1 log --"; tail -n 40 "$logs/mpi-rank1.log"
fi

status=0
if [[ $kernels -ne 0 || $serial -ne 0 || $parallel -ne 0 ]]; then
    echo "make test: FAILED (check-kernels exit $kernels, serial exit $serial, mpi exit $parallel)"
    status=1
fi
"$py" - "$logs" <<'PY'
import sys, pathlib, xml.etree.ElementTree as ET
passed = failed = skipped = 0
# MPI tests run on every rank: count them once (rank 0), but count failures on any rank.
for xml in sorted(pathlib.Path(sys.argv[1]).glob("*.xml")):
    reporting = not xml.name.startswith("mpi-rank") or xml.name == "mpi-rank0.xml"
    for suite in ET.parse(xml).getroot().iter("testsuite"):
        n, f, e, s = (int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
        failed += f + e
        if reporting:
            passed += n - f - e - s; skipped += s
print(f"total: {passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
