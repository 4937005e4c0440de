"""``make verify``: run every regression case at full resolution and write the report.

    mpirun -n 2 python -m scripts.verify [--out output] [--only NAME ...] [--fast]

Writes ``OUT/verification.md`` (case, quantity, prediction, measured, error, tolerance,
pass), ``OUT/verification.json`` (the same rows) and the plots of each case under
``OUT/verification/``. Simulations run on all ranks of the communicator; the report is
written by rank 0. Exit code 0 when every check passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path


def table(checks) -> list[str]:
    rows = ["| case | quantity | prediction | measured | error | tolerance | pass |",
            "| --- | --- | ---: | ---: | ---: | ---: | --- |"]
    for c in checks:
        error = f"{c.error:.2e}" + (" rel" if c.relative else " abs")
        need = {"agree": "<= ", "differ": "> "}.get(c.kind, "measured >= prediction - ") \
            + f"{c.tolerance:.1e}"
        rows.append(f"| {c.case} | {c.quantity} | {c.prediction:.8g} | {c.measured:.8g} | "
                    f"{error} | {need} | {'yes' if c.passed else '**NO**'} |")
    return rows


def main(argv=None) -> int:
    import matplotlib

    matplotlib.use("Agg")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="output", help="report directory (default output)")
    parser.add_argument("--only", nargs="*", default=None, help="case names to run")
    parser.add_argument("--fast", action="store_true",
                        help="the make-test subset at its coarse resolution")
    args = parser.parse_args(argv)

    from petsc4py import PETSc

    from scripts.verification import Context, registry

    comm = PETSc.COMM_WORLD
    rank = comm.getRank()
    out = Path(args.out)
    plot_dir = out / "verification"
    if rank == 0:
        plot_dir.mkdir(parents=True, exist_ok=True)
    cases = [c for c in registry() if (args.only is None or c.name in args.only)
             and (c.fast or not args.fast)]
    if args.only is not None and len(cases) != len(set(args.only)):
        known = ", ".join(c.name for c in registry())
        print(f"--only {args.only}: expected case names among {known}", file=sys.stderr)
        return 2

    def log(line):
        if rank == 0:
            print(line, flush=True)

    checks, sections = [], []
    with tempfile.TemporaryDirectory(prefix="moyal-verify-") as scratch:
        shared = comm.tompi4py().bcast(scratch if rank == 0 else None, root=0)
        for case in cases:
            log(f"== {case.name}: {case.title}")
            work = Path(shared) / case.name
            if rank == 0:
                work.mkdir(parents=True, exist_ok=True)
            comm.tompi4py().Barrier()
            ctx = Context(work, comm, full=not args.fast, plot_dir=plot_dir, log=log)
            start = time.perf_counter()
            rows = case.run(ctx)
            seconds = time.perf_counter() - start
            checks.extend(rows)
            for line in table(rows)[2:]:
                log(line)
            sections.append((case, rows, seconds, list(ctx.plots)))
    if rank == 0:
        failed = [c for c in checks if not c.passed]
        lines = ["# Verification report", "",
                 f"`make verify` on {comm.getSize()} rank(s): {len(checks)} checks, "
                 f"{len(checks) - len(failed)} pass, {len(failed)} fail.",
                 "Errors are relative to the prediction unless marked abs; a `> tol` row "
                 "passes when the model must *not* reproduce the prediction; a `measured >= "
                 "prediction - tol` row is a lower bound (e.g. a convergence order).", ""]
        lines += table(checks)
        for case, rows, seconds, plots in sections:
            lines += ["", f"## {case.name}: {case.title}", "", f"{seconds:.0f} s."]
            lines += [f"![{p.name}](verification/{p.name})" for p in plots]
        (out / "verification.md").write_text("\n".join(lines) + "\n")
        (out / "verification.json").write_text(json.dumps(
            [{**c.__dict__, "error": c.error, "passed": c.passed} for c in checks], indent=1,
            default=lambda value: value.item()))  # numpy scalars
        print(f"wrote {out / 'verification.md'}: {len(checks) - len(failed)}/{len(checks)} "
              "checks pass")
    ok = all(c.passed for c in checks) and bool(checks)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
