"""Security (issue 13): config text is parsed, never executed, and outputs stay where asked.

The user Hamiltonian string is read by a whitelist parser (moyal.expression): every attack
below tries to run a shell command that writes a file ``PWNED`` in the working directory; it
must be refused with a one-line error naming ``model.hamiltonian`` and leave no file, through
the model layer, ``moyal-conductivity`` and a ``solvers.run`` command-line override. The work
a string can ask for is bounded before it is done. ``run.name`` must be one file-name
component that collides with no file of another run.
"""

import pytest
from test_reliability import one_line_error, workdir  # noqa: F401 (workdir: fixture)

from moyal import expression
from moyal.models import ModelError, hamiltonian_from_string, model_from_config
from scripts import conductivity
from solvers.run import main

# sympy's functions re-parse a string argument with Python's eval; the escapes hide the
# underscores and the dot from any filter on the raw text
HIDDEN = r'\x5f\x5fimport\x5f\x5f("os")\x2esystem("id > PWNED")'
ATTACKS = {
    "string argument": f"sin('{HIDDEN}')*sx",
    "string argument, other function": f"s0*exp('{HIDDEN}')",
    "string in Matrix": f"Matrix([['{HIDDEN}']])",
    "Symbol of a string": f"Symbol('{HIDDEN}')*sx",
    "dunder call": "__import__('os').system('id > PWNED')",
    "attribute access": "sx.applyfunc(lambda e: __import__('os').system('id > PWNED'))",
    "lambda": "(lambda: __import__('os').system('id > PWNED'))()*sx",
    "comprehension": "[__import__('os').system('id > PWNED') for _ in [0]]",
    "builtins": "__builtins__['exec']('import os; os.system(\"id > PWNED\")')",
    "getattr": "getattr(getattr(sx, 'applyfunc'), '__globals__')",
    "exec": "exec('import os; os.system(\"id > PWNED\")')",
    "import": "import os",
}
NAMES = sorted(ATTACKS)


def balanced_sum(n):
    """kx + kx + ... (n terms) as a balanced tree: many nodes, shallow."""
    return "kx" if n == 1 else f"({balanced_sum(n // 2)} + {balanced_sum(n - n // 2)})"


def refused(text):
    with pytest.raises(ModelError) as err:
        hamiltonian_from_string(text, {"m": 1.0})
    message = str(err.value)
    assert message.startswith("model.hamiltonian") and "\n" not in message, message
    return message


@pytest.mark.parametrize("name", NAMES)
def test_attack_through_the_model_layer_is_refused(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    message = refused(ATTACKS[name])
    assert "expected" in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["string argument", "dunder call", "builtins"])
def test_attack_through_moyal_conductivity_is_refused(tmp_path, monkeypatch, capsys, name):
    monkeypatch.chdir(tmp_path)
    # a TOML literal string: backslashes and quotes reach the parser unchanged
    (tmp_path / "c.toml").write_text(f"[model]\nhamiltonian = '''{ATTACKS[name]}'''\n"
                                     "[response]\nmu = [0.0]\ngrid = [16]\n")
    assert conductivity.main(["c.toml", "--out", "r.h5"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "model.hamiltonian" in err and "expected" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]


@pytest.mark.parametrize("name", ["string argument", "lambda", "getattr"])
def test_attack_through_a_solver_override_is_refused(workdir, capsys, name):  # noqa: F811
    before = sorted(p.name for p in workdir.rglob("*"))
    line = one_line_error(main(["c.toml", f"model.hamiltonian={ATTACKS[name]}"]),
                          capsys.readouterr().err)
    assert "model.hamiltonian" in line and "expected" in line, line
    assert sorted(p.name for p in workdir.rglob("*")) == before  # no PWNED, no output


@pytest.mark.parametrize("text, bound", [
    ("9**9**9*sx", "the exponent must be a number"),  # 9**(9**9): refused, never computed
    ("kx**9*sx", f"|p| <= {expression.MAX_EXPONENT}"),
    ("((kx**8)**8)**8*sx", f"above the limit {expression.MAX_DEGREE}"),
    ("kron(" + ", ".join(["sx"] * 11) + ")", "a 2048x2048 matrix, above the limit 16x16"),
    ("kron(kron(kron(kron(sx, sx), sx), sx), sx)", "a 32x32 matrix, above the limit 16x16"),
    ("*".join(["(kx*sx + ky*sy)"] * 40), f"above the limit {expression.MAX_SIZE}"),
    (f"{balanced_sum(1024)}*sx", f"more than {expression.MAX_NODES} syntax nodes"),
    ("-" * 300 + "kx*sx", f"nested deeper than {expression.MAX_DEPTH} levels"),
    ("kx*sx" + " " * expression.MAX_LENGTH, f"above the limit {expression.MAX_LENGTH}"),
    ("1" * 16 + "*sx", f"more than {expression.MAX_LITERAL_DIGITS} digits"),
    ("*".join(["(999999999999999**4)**4"] * 100) + "*sx",
     f"above the limit {expression.MAX_RESULT_DIGITS}"),
])
def test_expensive_expressions_are_refused_naming_the_bound(text, bound):
    """Each is refused by a bound checked before the sympy work (no timing needed: the
    message names the bound that stopped it)."""
    assert bound in refused(text)


@pytest.mark.parametrize("text, shape", [
    ("A*sin(kx)*sx + A*sin(ky)*sy + (m + B*cos(kx) + B*cos(ky))*sz + g*sin(kx)*s0", (2, 2)),
    ("-2*t*cos(kx)*s0 + (D/2)*(cos(kx + b*sin(kx))*sx + sin(kx + b*sin(kx))*sy)", (2, 2)),
    ("(2 + cos(kx))*kron(sz, s0) + 0.7*kron(s0, sz)", (4, 4)),
    ("kx**2/(2*m)*s0 + Rational(1, 3)*sqrt(2)*kx*sz + pi*Abs(m)*sx + 1e-3*I*sx*sy", (2, 2)),
    ("Matrix([[m, kx - I*ky], [kx + I*ky, -m]])", (2, 2)),
    ("kron(sx, sx, sx, sx)*kx", (16, 16)),
])
def test_legitimate_expressions_still_parse(text, shape):
    params = {name: 1.0 for name in ("A", "B", "m", "g", "t", "D", "b")}
    matrix, _ = hamiltonian_from_string(text, params)
    assert matrix.shape == shape


# ------------------------------------------------------------------------------ run.name
BAD_NAMES = {
    "parent directory": "../x",
    "separator": "a/b",
    "empty": "",
    "hidden": ".x",
    "NUL": "a\x00b",
    "checkpoint of x": "x.chk",
    "too long": "x" * 201,
}


@pytest.mark.parametrize("case", sorted(BAD_NAMES))
def test_unsafe_run_name_is_refused_and_nothing_written(workdir, capsys, case):  # noqa: F811
    before = {p: p.stat().st_mtime_ns for p in workdir.rglob("*")}
    name = BAD_NAMES[case]
    line = one_line_error(main(["c.toml", f"run.name={name}"]), capsys.readouterr().err)
    assert f"run.name = {name!r}: expected one file-name component" in line, line
    after = {p: p.stat().st_mtime_ns for p in workdir.rglob("*")}
    assert after == before


def test_run_names_of_letters_digits_and_sweep_labels_are_accepted(workdir):  # noqa: F811
    """Including a name that equals a sweep's file name (qwz_tau1.25_s+1): the two runs then
    share one output, which the existing-output check guards (test_reliability)."""
    from solvers import config

    for name in ("run_1", "sweep_E=0.5_tau=2", "a.b+c-d", "x.chk2", "qwz_tau1.25_s+1"):
        assert config.load("c.toml", [f"run.name={name}"]).run.name == name


def test_registered_model_refuses_non_finite_parameters():
    for value in (float("nan"), float("inf")):
        with pytest.raises(ModelError, match=r"model.parameters.m = (nan|inf): expected a "
                                             "finite real number"):
            model_from_config({"name": "qwz", "parameters": {"m": value}})
