"""Parameter sweep: one solver run per point of a cartesian product of config values.

Usage::

    python -m scripts.sweep CONFIG.toml --set table.key=v1,v2,... [--set ...]
                            [--zip table.key,table.key[,...] ...] [-n RANKS] [--dry-run]
                            [-- -petsc_option ...]

Each ``--set`` gives one config key and its values (TOML values as in ``solvers.run``
overrides; commas inside ``[...]``, ``{...}`` or quotes do not split, so
``--set grid.nk=[32,32],[64,64]`` is two values). The points are the cartesian product of
the keys' values, except that the keys of one ``--zip`` group (keys given by ``--set``, with
equal numbers of values) vary together: point i of the group takes value i of each, e.g.
``--set initial.mu=0.2,0.5 --set collisions.mu=0.2,0.5 --zip initial.mu,collisions.mu`` is
two points, crossed with the other keys. Every point runs as its own
``mpirun -n RANKS python -m solvers.run CONFIG key=value ... run.name=NAME [-petsc_option ...]``
with ``mpirun`` and ``python`` from the running interpreter's directory, and
NAME = ``<run.name>_<key>=<value>_...`` over the keys, leaving out single-valued ``run.*``
keys (the leaf key, or table.key where two leaves clash; in a value, letters, digits and
``.+-`` are kept, so is a sign, and every other run of characters becomes ``-``, dropped at
the ends: ``[-1, 2]`` gives ``-1-2``).

All points are validated exactly as the solver would (config values, existing outputs) before
anything is launched; a bad invocation prints one line and exits 2. Runs continue past
failures. ``<output_dir>/<run.name>_sweep.csv`` gets one row per run, rewritten after each run:
the swept values, name, status (finished, failed, bad_input, stopped, not_run or
exit_<code>), exit code, result file, and the final write's time and x-averaged current
components (for a config with ``[response] scales``: the response file's sigma1, sigma2 and
predicted values instead). An existing CSV of that name is merged, by run name: rows of the
points run now replace theirs (unless the point did not run), the other rows are kept, so a
sweep repeated over a subset of its points keeps the rows of the rest.

SIGTERM or SIGINT (Ctrl-C) reaches the running solver as SIGTERM (it checkpoints and exits
3) and no further run is started (status not_run). Exit code: 0 if every run finished; 1 if
any failed (exit code 1, 2 or other); otherwise 3 if any stopped or did not run; 2 for a bad
invocation of the sweep itself. To continue a stopped sweep, repeat it
with ``--set run.restart=true`` (and ``--set run.overwrite=false`` if the config overwrites):
stopped runs continue from their checkpoints, finished ones stay as they are (their restart
is a no-op) and runs that never started start afresh.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import re
import shlex
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import h5py

from scripts.plot_run import DIRECTIONS, read_series

USAGE = ("usage: python -m scripts.sweep CONFIG.toml --set table.key=v1,v2,... [--set ...] "
         "[--zip table.key,table.key[,...] ...] [-n RANKS] [--dry-run] [-- -petsc_option ...]")
STATUS = {0: "finished", 1: "failed", 2: "bad_input", 3: "stopped"}
EXIT_FAILED, EXIT_BAD_INPUT, EXIT_STOPPED = 1, 2, 3
REPOSITORY = Path(__file__).resolve().parents[1]


class SweepError(ValueError):
    """A bad sweep invocation; ``str(err)`` is a one-line message."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (argparse prints the usage block by default)."""

    def error(self, message):
        raise SweepError(f"{message}; {USAGE}")


def split_values(text: str) -> list[str]:
    """Split ``v1,v2,...`` at commas outside brackets, braces and quotes."""
    values, depth, quote, start = [], 0, None, 0
    for i, char in enumerate(text):
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            values.append(text[start:i])
            start = i + 1
    values.append(text[start:])
    return [v.strip() for v in values]


def parse_set(item: str) -> tuple[str, list[str]]:
    """``"table.key=v1,v2"`` -> ``("table.key", ["v1", "v2"])``; raises SweepError."""
    key, sep, text = item.partition("=")
    table, dot, leaf = key.strip().partition(".")
    if not sep or not dot or not table or not leaf or "." in leaf:
        raise SweepError(f"--set {item!r}: expected table.key=v1,v2,..., e.g. grid.nx=64,128")
    values = split_values(text)
    if any(not v for v in values):
        raise SweepError(f"--set {item!r}: empty value; expected table.key=v1,v2,...")
    repeated = next((v for v in values if values.count(v) > 1), None)
    if repeated:
        raise SweepError(f"--set {item!r}: value {repeated!r} given twice")
    if key.strip() == "run.name":
        raise SweepError(f"--set {item!r}: run.name is set by the sweep (<run.name>_<key>="
                         "<value>...); set the base name in the config")
    return key.strip(), values


def plain_value(text: str) -> str:
    """A value for the CSV: a TOML string without its quotes, anything else as typed."""
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word, which the solver also reads as a string
    return value if isinstance(value, str) else text


def value_label(text: str) -> str:
    """A value as it appears in a run name: letters, digits and ``.+-`` (so a sign) kept,
    every other run of characters ``-``, dropped at the ends (``[-1, 2]`` -> ``-1-2``)."""
    other = r"[^A-Za-z0-9.+-]+"
    return re.sub(other, "-", re.sub(rf"^{other}|{other}$", "", text))


def zip_groups(items: list[str], sets: list[tuple[str, list[str]]]) -> list[tuple[str, ...]]:
    """``--zip`` arguments ``"a.b,c.d"`` -> key tuples; raises SweepError.

    Every key must have a ``--set``, the keys of a group equal numbers of values, and a key
    can be in one group only.
    """
    counts = {key: len(values) for key, values in sets}
    groups, seen = [], set()
    for item in items:
        keys = tuple(k.strip() for k in item.split(","))
        if len(keys) < 2:
            raise SweepError(f"--zip {item}: expected two or more keys given by --set, e.g. "
                             "--zip initial.mu,collisions.mu")
        for key in keys:
            if key not in counts:
                raise SweepError(f"--zip {item}: {key} has no --set; expected keys given by "
                                 "--set")
            if key in seen:
                raise SweepError(f"--zip {item}: {key} twice in --zip; expected each key in "
                                 "one group at most")
            seen.add(key)
        if len({counts[k] for k in keys}) > 1:
            raise SweepError(f"--zip {item}: " + ", ".join(
                f"{k} {counts[k]}" if i else f"{k} has {counts[k]} values"
                for i, k in enumerate(keys)) + "; expected equal-length lists")
        groups.append(keys)
    return groups


def sweep_points(sets: list[tuple[str, list[str]]],
                 groups: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Value texts of every point, in the order of ``sets``.

    The cartesian product over the keys, where the keys of a ``--zip`` group are one factor
    (choice i takes value i of each); factors and values vary in the order given, the first
    slowest.
    """
    keys = [key for key, _ in sets]
    factors, placed = [], set()  # factors: indices of keys that vary together
    for key in keys:
        if key not in placed:
            group = next((g for g in groups if key in g), (key,))
            factors.append([keys.index(k) for k in group])
            placed.update(group)
    points = []
    for choice in itertools.product(*(range(len(sets[f[0]][1])) for f in factors)):
        point = [""] * len(sets)
        for factor, j in zip(factors, choice):
            for i in factor:
                point[i] = sets[i][1][j]
        points.append(tuple(point))
    return points


def run_names(base: str, sets: list[tuple[str, list[str]]],
              points: list[tuple[str, ...]]) -> list[str]:
    """``<base>_<key>=<value>...`` per point.

    Every key enters the name except single-valued keys of the [run] table, which say where
    and how to run (output_dir, restart, stop_wall_time ...), not what; so a sweep repeated
    with ``--set run.restart=true`` finds its runs. The leaf key is used unless two named
    leaves are equal.
    """
    named = [i for i, (key, values) in enumerate(sets)
             if len(values) > 1 or not key.startswith("run.")]
    keys = [sets[i][0] for i in named]
    leaves = [k.split(".")[1] for k in keys]
    labels = [leaf if leaves.count(leaf) == 1 else key for key, leaf in zip(keys, leaves)]
    return [base + "".join(f"_{label}={value_label(point[i])}"
                           for label, i in zip(labels, named)) for point in points]


def plan(config: str, sets: list[tuple[str, list[str]]], petsc_args: list[str],
         zips: list[str] = ()) -> tuple[str, list[dict]]:
    """Validate every point as the solver would (``zips``: the ``--zip`` arguments).

    Returns the config's run.name (the base of every run name) and one dict per run with
    ``params`` (key -> value text), ``name``, ``argv`` (solver arguments), ``cfg``
    (solvers.config.Config) and ``paths`` (solvers.run.output_paths). With run.restart = true
    a point that has no output yet (a sweep stopped before it) starts afresh. Raises
    SweepError with the first problem found.
    """
    from solvers import config as cfgmod
    from solvers.run import checkpoint_path, output_paths, parse_and_load

    keys = [key for key, _ in sets]
    duplicate = next((k for k in keys if keys.count(k) > 1), None)
    if duplicate:
        raise SweepError(f"--set {duplicate}: given twice; expected one --set per key")
    groups = zip_groups(list(zips), sets)
    if petsc_args and not petsc_args[0].startswith("-"):
        raise SweepError(f"PETSc option {petsc_args[0]!r} after --: expected an option "
                         "starting with '-'")
    try:
        base = cfgmod.load(config).run.name
    except cfgmod.ConfigError as err:
        raise SweepError(str(err)) from None
    points = sweep_points(sets, groups)
    names = run_names(base, sets, points)
    clash = next((n for n in names if names.count(n) > 1), None)
    if clash:
        raise SweepError(f"two points give the run name {clash!r}; expected values that "
                         "differ in letters, digits or '.+-'")
    runs = []
    for point, name in zip(points, names):
        overrides = [f"{k}={v}" for k, v in zip(keys, point)]
        overrides.append(f'run.name="{name}"')
        try:
            cfg = cfgmod.load(config, overrides)
            started = [path for _, out in output_paths(cfg)["runs"]
                       for path in (out, checkpoint_path(out)) if path.exists()]
            if cfg.run.restart and not started:
                overrides.append("run.restart=false")
            argv = [config, *overrides, *petsc_args]
            cfg, paths, _ = parse_and_load(argv)
        except cfgmod.ConfigError as err:
            raise SweepError(f"run {name}: {err}") from None
        runs.append({"params": dict(zip(keys, point)), "name": name, "argv": argv, "cfg": cfg,
                     "paths": paths})
    directories = {r["cfg"].run.output_dir for r in runs}
    if len(directories) > 1:
        raise SweepError(f"run.output_dir takes {len(directories)} values; expected one "
                         "(the sweep's CSV goes there)")
    return base, runs


def command(ranks: int, solver_argv: list[str]) -> list[str]:
    """The process of one run: the interpreter's mpirun launching its python."""
    bin_dir = Path(sys.executable).parent
    return [str(bin_dir / "mpirun"), "-n", str(ranks), sys.executable, "-m", "solvers.run",
            *solver_argv]


def result_file(run: dict) -> Path:
    """The file the results are read from: the run file, or the response file of a sweep."""
    paths = run["paths"]
    return paths["response"] if paths["response"] is not None else paths["runs"][0][1]


def final_values(run: dict) -> dict:
    """Result columns of a run from its HDF5 file ({} if it cannot be read).

    A run file gives ``t_final`` (hbar/energy) and ``current_<r>`` (x-averaged, at the last
    complete write); a response file gives ``sigma1_<r>``, ``sigma2_<r>`` and, if present,
    ``predicted_sigma1_<r>``, ``predicted_sigma2_<r>``.
    """
    path = result_file(run)
    try:
        if run["paths"]["response"] is not None:
            with h5py.File(path, "r", locking=False) as h5:
                return {f"{name}_{DIRECTIONS[a]}": float(value)
                        for name in ("sigma1", "sigma2", "predicted_sigma1", "predicted_sigma2")
                        if name in h5 for a, value in enumerate(h5[name][()])}
        series = read_series(path)
    except (OSError, KeyError):
        return {}
    if series["t"].size == 0:
        return {}
    final = series["current"][-1]
    return {"t_final": float(series["t"][-1]),
            **{f"current_{DIRECTIONS[a]}": float(j) for a, j in enumerate(final)}}


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    """Swept keys (the columns before ``name``) and rows of an earlier sweep's CSV.

    ``([], [])`` if there is no file; raises SweepError if it is not a sweep CSV.
    """
    if not path.exists():
        return [], []
    try:
        with open(path, newline="", encoding="utf-8") as stream:
            reader = csv.DictReader(stream)
            rows, columns = list(reader), reader.fieldnames or []
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise SweepError(f"{path}: unreadable ({err}); expected the CSV of an earlier sweep "
                         "(rows are merged by run name), or no file") from None
    if "name" not in columns:
        raise SweepError(f"{path}: no name column; expected the CSV of an earlier sweep "
                         "(rows are merged by run name), or no file")
    return columns[:columns.index("name")], rows


def merge_rows(earlier: list[dict], current: list[dict]) -> list[dict]:
    """An earlier CSV's rows with this sweep's: a row replaces the earlier row of its run
    name in place unless its status is not_run (that run was not touched), rows of other
    names are kept, rows of new names come last."""
    replacing = {row["name"]: row for row in current if row["status"] != "not_run"}
    known = {row["name"] for row in earlier}
    return [replacing.get(row["name"], row) for row in earlier] \
        + [row for row in current if row["name"] not in known]


def write_csv(path: Path, keys: list[str], rows: list[dict]):
    """``rows`` under the columns ``keys``, name, status, exit_code, path and the result
    columns: the union over rows, in order of appearance."""
    fixed = keys + ["name", "status", "exit_code", "path"]
    results = list(dict.fromkeys(c for row in rows for c in row if c not in fixed))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fixed + results, restval="")
        writer.writeheader()
        writer.writerows(rows)


def parse_args(argv: list[str]):
    """``(args, petsc_args)``; everything after ``--`` goes to PETSc."""
    cut = argv.index("--") if "--" in argv else len(argv)
    parser = Parser(description=__doc__.splitlines()[0], usage=USAGE[len("usage: "):])
    parser.add_argument("config")
    parser.add_argument("--set", dest="sets", action="append", default=[],
                        metavar="table.key=v1,v2,...")
    parser.add_argument("--zip", dest="zips", action="append", default=[],
                        metavar="table.key,table.key[,...]")
    parser.add_argument("-n", dest="ranks", type=int, default=1, metavar="RANKS")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv[:cut])
    if not args.sets:
        raise SweepError(f"no --set given; {USAGE}")
    if args.ranks < 1:
        raise SweepError(f"-n {args.ranks}: expected a number of ranks >= 1")
    return args, argv[cut + 1:]


def execute(runs: list[dict], keys: list[str], ranks: int, csv_path: Path,
            earlier: list[dict]) -> int:
    """Run every point in turn, writing the CSV (``earlier`` rows merged, ``keys`` the
    parameter columns) after each; returns the sweep's exit code."""
    env = dict(os.environ)
    # the solver package must import whatever the working directory is
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPOSITORY), env.get("PYTHONPATH")]))
    running, stop = {"process": None}, {"signal": None}

    def forward(signum, frame):
        stop["signal"] = signum
        if running["process"] is not None:
            # SIGTERM either way: a Ctrl-C already reached mpirun through the process group,
            # and Hydra's mpirun aborts the ranks at a second SIGINT
            running["process"].send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    rows = []
    try:
        for i, run in enumerate(runs, 1):
            row = {**{k: plain_value(v) for k, v in run["params"].items()}, "name": run["name"],
                   "path": str(result_file(run))}
            if stop["signal"] is not None:
                rows.append({**row, "status": "not_run", "exit_code": ""})
                continue
            print(f"sweep: [{i}/{len(runs)}] {run['name']}", flush=True)
            running["process"] = subprocess.Popen(command(ranks, run["argv"]), env=env)
            code = running["process"].wait()
            running["process"] = None
            status = STATUS.get(code, f"exit_{code}")
            print(f"sweep: [{i}/{len(runs)}] {run['name']}: {status} (exit {code})", flush=True)
            rows.append({**row, "status": status, "exit_code": code, **final_values(run)})
            write_csv(csv_path, keys, merge_rows(earlier, rows))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    write_csv(csv_path, keys, merge_rows(earlier, rows))
    statuses = [row["status"] for row in rows]
    done = statuses.count("finished")
    print(f"sweep: {done} of {len(rows)} runs finished; wrote {csv_path}")
    if any(s not in ("finished", "stopped", "not_run") for s in statuses):
        return EXIT_FAILED
    return EXIT_STOPPED if done < len(rows) else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["-h"], ["--help"]):
        print(f"{USAGE}\n\n{__doc__}")
        return 0
    try:
        args, petsc_args = parse_args(argv)
        sets = [parse_set(item) for item in args.sets]
        base, runs = plan(args.config, sets, petsc_args, args.zips)
        mpirun = Path(command(args.ranks, [])[0])
        if not args.dry_run and not mpirun.is_file():
            raise SweepError(f"no {mpirun}: expected mpirun next to the python interpreter")
        csv_path = Path(runs[0]["cfg"].run.output_dir) / f"{base}_sweep.csv"
        earlier_keys, earlier = read_csv(csv_path)
    except SweepError as err:
        print(f"sweep: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.dry_run:
        for run in runs:
            print(shlex.join(command(args.ranks, run["argv"])))
        print(f"would write {csv_path} ({len(runs)} runs)")
        return 0
    keys = [key for key, _ in sets]
    return execute(runs, keys + [k for k in earlier_keys if k not in keys], args.ranks,
                   csv_path, earlier)


if __name__ == "__main__":
    sys.exit(main())
