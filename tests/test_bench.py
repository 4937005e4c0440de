"""The benchmark machinery (`make bench`, scripts/bench.py): a tiny end-to-end run gives
well-formed output with every section, and its building blocks compute what they claim.
No timing is asserted: the numbers depend on the machine and its load."""

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from scripts import bench, bench_kspace

ROOT = Path(__file__).resolve().parents[1]


def test_quick_bench_writes_every_section(tmp_path):
    done = subprocess.run([sys.executable, "-m", "scripts.bench", "--out", str(tmp_path),
                           "--quick", "--no-wannierberri"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((tmp_path / "bench.json").read_text())
    for section in ("host", "triad", "backends", "kernels", "scaling", "profile", "kspace",
                    "kspace_vs_wannierberri", "summary"):
        assert section in result, section
    assert result["triad"]["bytes_per_second"] > 0
    assert {r["ranks"] for r in result["triad"]["mpi"].values()} == {1, 2}
    assert result["triad"]["two_rank_bandwidth_ratio"] > 0
    assert not [k for k in result["kernels"] if "error" in k], result["kernels"]
    measured = [k for k in result["kernels"] if "unavailable" not in k]
    assert {(k["mode"], k["backend"]) for k in measured} >= {("band", "numpy"),
                                                             ("matrix", "numpy")}
    for k in measured:
        assert k["cells"] == int(np.prod(k["sizes"]))
        assert len(k["rate_seconds"]) == 2 and len(k["step_seconds"]) == 2
        assert k["roofline_fraction"] > 0 and k["bytes_per_cell_dof"] > 0
    for backend, runs in result["scaling"]["runs"].items():
        assert runs["n1"]["ranks"] == 1 and runs["n2"]["ranks"] == 2, backend
        assert runs["speedup_step"] > 0
    profile = result["profile"]["numpy"]
    assert profile["cprofile"], "no cProfile rows"
    assert any(e["event"] == "TSStep" for e in profile["log_view"]["events"])
    assert result["kspace_vs_wannierberri"]["available"] is False
    assert set(result["summary"]) >= {f"{name} [numpy]" for name in bench.TARGETS
                                      if name != "kspace_speedup_vs_wannierberri"}
    markdown = (tmp_path / "bench.md").read_text()
    assert "## Targets" in markdown and "## Strong scaling" in markdown
    assert "TSStep" in (tmp_path / "bench_log_view_numpy.txt").read_text()


@pytest.mark.parametrize("variant", ["numpy", "c"])
def test_triad_computes_a_equals_b_plus_s_c(tmp_path, variant):
    rng = np.random.default_rng(3)
    n = 100_003  # not a multiple of the numpy block
    b, c, a = rng.random(n), rng.random(n), np.zeros(n)
    if variant == "c":
        compiled = bench.compiled_triad(tmp_path)
        # make install provides the venv's mpicc (it compiles the fused kernels too)
        assert compiled is not None, "no C compiler found for the triad"
        compiled[0](a, b, c, 2.5)
    else:
        bench.numpy_triad(a, b, c, 2.5, block=4096)
    np.testing.assert_array_equal(a, b + 2.5 * c)


def test_qwz_hoppings_match_the_analytic_tight_binding_form():
    """H(k) = A sin kx sx + A sin ky sy + (m + B(cos kx + cos ky)) sz + g sin kx: with
    sin k = (e^{ik} - e^{-ik}) / 2i and cos k = (e^{ik} + e^{-ik}) / 2, H(R = +x) =
    (A sx + g s0) / 2i + B sz / 2, H(+y) = A sy / 2i + B sz / 2, H(0) = m sz."""
    model = bench_kspace.bench_model()
    p = model.parameters
    s0, sx = np.eye(2), np.array([[0, 1], [1, 0]])
    sy, sz = np.array([[0, -1j], [1j, 0]]), np.diag([1.0, -1.0])
    expected = {(0, 0): p["m"] * sz,
                (1, 0): (p["A"] * sx + p["g"] * s0) / 2j + p["B"] * sz / 2,
                (0, 1): p["A"] * sy / 2j + p["B"] * sz / 2}
    expected[(-1, 0)] = expected[(1, 0)].conj().T
    expected[(0, -1)] = expected[(0, 1)].conj().T
    got = {tuple(int(r) for r in key.split(",")): np.array(v)[..., 0] + 1j * np.array(v)[..., 1]
           for key, v in bench_kspace.hoppings(model).items()}
    assert set(got) == set(expected)
    for r, matrix in expected.items():
        np.testing.assert_allclose(got[r], matrix, atol=1e-14)


def test_case_configs_are_valid_and_round_trip_through_toml():
    from solvers import config as cfgmod

    for spec in bench.kernel_cases(quick=False) + [bench.scaling_case(quick=False)]:
        raw = bench.case_config(spec["mode"], spec["order"], spec["grid"], spec["sizes"], None)
        assert tomllib.loads(bench.to_toml(raw)) == raw
        cfg = cfgmod.from_dict(raw)
        assert list(cfg.grid.nk) == spec["sizes"][-len(cfg.grid.nk):]
    scaling = bench.scaling_case(quick=False)
    assert np.prod(scaling["sizes"]) >= 4 * 2 ** 20


def test_parse_log_view_reads_the_event_table():
    text = """Event                Count      Time (sec)     Flop
                   Max Ratio  Max     Ratio   Max  Ratio  Mess   AvgLen  Reduct  %T %F %M %L %R  %T %F %M %L %R Mflop/s
------------------------------------------------------------------------------------------------------------------------

--- Event Stage 0: Main Stage

VecAXPY                6 1.0 5.6216e-05 1.0 1.97e+05 1.0 0.0e+00 0.0e+00 0.0e+00  0 55  0  0  0   0 55  0  0  0  3497
TSStep                 2 1.0 3.5116e-02 1.0 3.60e+05 1.0 0.0e+00 0.0e+00 0.0e+00  3 100  0  0  0   3 100  0  0  0    10
------------------------------------------------------------------------------------------------------------------------
"""
    rows = bench.parse_log_view(text)
    assert rows == [{"event": "VecAXPY", "count": 6, "seconds": 5.6216e-05, "percent_time": 0.0},
                    {"event": "TSStep", "count": 2, "seconds": 3.5116e-02, "percent_time": 3.0}]
