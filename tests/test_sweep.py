"""scripts/sweep.py: run names keep signs, linked (--zip) keys, the CSV kept across sweeps,
and a restart that leaves finished points finished.

Expected names, points and rows are written out by hand from the documented rules.
"""

import csv
import shlex

import h5py
import pytest

from scripts import sweep

CHAIN = """
[model]
name = "chain"
[fields]
E = 0.5
[grid]
nk = [16]
[initial]
mu = -0.5
temperature = 0.3
[collisions]
kind = "fixed"
tau = 1.0
mu = -0.5
temperature = 0.3
[run]
name = "chain"
t_end = 1.0
output_every = 4
progress_every = 100000
"""
QWZ = """
[model]
name = "qwz"
parameters = {m = -1.5, g = 0.4}
[fields]
E = [0.02, 0.0]
[grid]
nk = [8, 8]
[initial]
mu = 0.5
temperature = 1.2
[collisions]
kind = "fixed"
tau = 1.0
mu = 0.5
temperature = 1.2
[response]
scales = [1, -1]
average_window = 0.5
[run]
name = "qwz"
t_end = 1.0
output_every = 2
progress_every = 100000
"""


def config(directory, text, name="config"):
    path = directory / f"{name}.toml"
    path.write_text(text + f'output_dir = "{directory}"\n')
    return str(path)


def dry_run(argv, capsys):
    """(exit code, [solver argv after the config], stderr) of a dry run."""
    code = sweep.main([*argv, "--dry-run"])
    captured = capsys.readouterr()
    commands = [shlex.split(line) for line in captured.out.strip().splitlines()[:-1]]
    return code, [c[c.index("solvers.run") + 2:] for c in commands], captured.err


def read_csv(path):
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


# ------------------------------------------------------------------------------ run names

def test_run_names_keep_the_sign_of_a_value():
    sets = [("fields.E", ["-0.5", "0.5"]), ("grid.nk", ["[-1, 2]"])]
    points = [("-0.5", "[-1, 2]"), ("0.5", "[-1, 2]")]
    assert sweep.run_names("b", sets, points) == ["b_E=-0.5_nk=-1-2", "b_E=0.5_nk=-1-2"]
    assert sweep.value_label('"-x y"') == "-x-y"
    assert sweep.value_label("{m = -1, g = 0.4}") == "m--1-g-0.4"


def test_sweep_over_opposite_values_gives_two_runs(tmp_path, capsys):
    code, argvs, err = dry_run([config(tmp_path, CHAIN), "--set", "fields.E=-0.5,0.5"], capsys)
    assert code == 0, err
    assert [a[-1] for a in argvs] == ['run.name="chain_E=-0.5"', 'run.name="chain_E=0.5"']


# ---------------------------------------------------------------------------- linked keys

def test_zip_links_keys_and_crosses_them_with_the_others(tmp_path, capsys):
    code, argvs, err = dry_run(
        [config(tmp_path, CHAIN), "--set", "initial.mu=-0.5,0.5", "--set", "fields.E=1,2",
         "--set", "collisions.mu=-0.5,0.5", "--zip", "initial.mu,collisions.mu"], capsys)
    assert code == 0, err
    expected = [(mu, e) for mu in ("-0.5", "0.5") for e in ("1", "2")]
    assert len(argvs) == 4
    for argv, (mu, e) in zip(argvs, expected):
        assert argv == [f"initial.mu={mu}", f"fields.E={e}", f"collisions.mu={mu}",
                        f'run.name="chain_initial.mu={mu}_E={e}_collisions.mu={mu}"']


@pytest.mark.parametrize("zips, message", [
    (["initial.mu,collisions.mu"], "initial.mu has 2 values, collisions.mu 3"),
    (["initial.mu,fields.E"], "--zip initial.mu,fields.E: fields.E has no --set"),
    (["initial.mu"], "expected two or more keys"),
    (["initial.mu,collisions.mu", "collisions.mu,initial.mu"], "twice in --zip"),
    (["initial.mu,initial.mu"], "twice in --zip"),
])
def test_bad_zip_is_refused_with_one_line(tmp_path, capsys, zips, message):
    argv = [config(tmp_path, CHAIN), "--set", "initial.mu=-0.5,0.5",
            "--set", "collisions.mu=-0.5,0.5,0.7"
            if "3" in message else "collisions.mu=-0.5,0.5"]
    for group in zips:
        argv += ["--zip", group]
    assert sweep.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sweep: error:") and message in err[0], err


# ---------------------------------------------------------------------------------- the CSV

def test_merge_keeps_rows_not_rerun_and_replaces_rerun_ones():
    earlier = [{"a": "1", "name": "n1", "status": "finished", "x": "10"},
               {"a": "2", "name": "n2", "status": "failed", "x": ""},
               {"a": "3", "name": "n3", "status": "finished", "x": "30"}]
    current = [{"a": "2", "name": "n2", "status": "finished", "x": "20"},
               {"a": "3", "name": "n3", "status": "not_run"},
               {"a": "4", "name": "n4", "status": "not_run"}]
    assert sweep.merge_rows(earlier, current) == [earlier[0], current[0], earlier[2],
                                                  current[2]]


def test_rerunning_a_subset_keeps_the_other_rows_of_the_csv(tmp_path):
    path = config(tmp_path, CHAIN)
    csv_path = tmp_path / "chain_sweep.csv"
    # an earlier sweep over E and nk: the point E = 2 is not rerun, E = 0.5 (failed) is
    csv_path.write_text("fields.E,grid.nk,name,status,exit_code,path,t_final,current_x,note\n"
                        "0.5,[16],chain_E=0.5,failed,1,old.h5,,,first try\n"
                        "2,[16],chain_E=2,finished,0,e2.h5,1.0,0.125,kept\n")
    assert sweep.main([path, "--set", "fields.E=0.5"]) == 0
    rows = read_csv(csv_path)
    assert [r["name"] for r in rows] == ["chain_E=0.5", "chain_E=2"]
    rerun, kept = rows
    assert (rerun["status"], rerun["exit_code"], rerun["grid.nk"], rerun["note"]) == \
        ("finished", "0", "", "")
    assert float(rerun["t_final"]) == pytest.approx(1.0)
    assert kept == {"fields.E": "2", "grid.nk": "[16]", "name": "chain_E=2",
                    "status": "finished", "exit_code": "0", "path": "e2.h5", "t_final": "1.0",
                    "current_x": "0.125", "note": "kept"}


def test_a_csv_that_is_not_a_sweep_table_is_refused_before_running(tmp_path, capsys):
    path = config(tmp_path, CHAIN)
    (tmp_path / "chain_sweep.csv").write_text("something,else\n1,2\n")
    assert sweep.main([path, "--set", "fields.E=0.5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "chain_sweep.csv" in err[0] and "name" in err[0], err
    assert not (tmp_path / "chain_E=0.5.h5").exists()


# ----------------------------------------------------------------------------- restarts

@pytest.mark.parametrize("text", [CHAIN, QWZ], ids=["run", "field_sweep"])
def test_restarting_a_finished_sweep_keeps_its_points_finished(tmp_path, text):
    path = config(tmp_path, text)
    base = "chain" if text is CHAIN else "qwz"
    assert sweep.main([path, "--set", "fields.E=0.5" if text is CHAIN
                       else "fields.E=[0.02,0.0]"]) == 0
    first = read_csv(tmp_path / f"{base}_sweep.csv")
    assert sweep.main([path, "--set", "fields.E=0.5" if text is CHAIN
                       else "fields.E=[0.02,0.0]", "--set", "run.restart=true"]) == 0
    (row,) = read_csv(tmp_path / f"{base}_sweep.csv")
    assert (row["status"], row["exit_code"]) == ("finished", "0")
    results = [c for c in row if c.startswith(("t_final", "current_", "sigma"))]
    assert results and all(row[c] == first[0][c] for c in results)
    if text is QWZ:
        with h5py.File(row["path"], "r") as h5:
            assert h5["sigma1"].shape == (2,)
