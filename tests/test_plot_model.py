"""scripts/plot_model.py: the plotted curves against independent computations.

Energies of the Qi-Wu-Zhang model against its closed form eps = g sin kx +- |d(k)|; the Berry
curvature against the gauge-invariant phase of the overlaps around a small plaquette
(Fukui-Hatsugai-Suzuki, J. Phys. Soc. Jpn. 74, 1674 (2005)); the metric trace against
1 - |<u(k)|u(k + h e_a)>|^2 = g^aa h^2 + O(h^4) (symmetric in +-h); the path corners by hand.
"""

import numpy as np
import pytest

from moyal.models import get_model
from scripts import plot_model

QWZ = {"A": 1.0, "B": 1.0, "m": -1.2, "g": 0.3}


def qwz_hamiltonian(k, A, B, m, g):
    kx, ky = k
    dx, dy, dz = A * np.sin(kx), A * np.sin(ky), m + B * (np.cos(kx) + np.cos(ky))
    return np.array([[dz + g * np.sin(kx), dx - 1j * dy], [dx + 1j * dy, -dz + g * np.sin(kx)]])


def eigenvectors(k):
    return np.linalg.eigh(qwz_hamiltonian(k, **QWZ))[1]


def plaquette_curvature(k, h=1e-4):
    """Omega^{xy}_n = -arg(prod of overlaps counter-clockwise) / h^2, from A = i <u|d u>."""
    corners = [k + np.array(d) * h for d in ((-.5, -.5), (.5, -.5), (.5, .5), (-.5, .5))]
    u = [eigenvectors(c) for c in corners]
    loop = np.ones(2, dtype=complex)
    for a, b in zip(u, u[1:] + u[:1]):
        loop *= np.einsum("in,in->n", a.conj(), b)
    return -np.angle(loop) / h ** 2


def overlap_metric_trace(k, h=1e-4):
    u = eigenvectors(k)
    total = np.zeros(2)
    for direction in np.eye(2):
        for sign in (1, -1):
            v = eigenvectors(k + sign * h * direction)
            total += 0.5 * (1 - np.abs(np.einsum("in,in->n", u.conj(), v)) ** 2) / h ** 2
    return total


@pytest.fixture(scope="module")
def qwz_figure():
    model = get_model("qwz", **QWZ)
    figure = plot_model.draw(model, {"energy": "eV", "length": "nm"}, points=120)
    yield model, figure
    import matplotlib.pyplot as plt

    plt.close(figure)


def path_points(distance):
    """k on Gamma (0,0) - X (pi,0) - M (pi,pi) - Gamma at arc length s, written out by hand."""
    k = []
    for s in distance:
        if s <= np.pi:
            k.append((s, 0.0))
        elif s <= 2 * np.pi:
            k.append((np.pi, s - np.pi))
        else:
            r = np.pi - (s - 2 * np.pi) / np.sqrt(2)
            k.append((r, r))
    return np.array(k)


def test_plotted_curves_equal_independent_values(qwz_figure):
    model, figure = qwz_figure
    energy_ax, curvature_ax, metric_ax = figure.axes
    lines = [[line for line in ax.get_lines() if line.get_label().startswith("band")]
             for ax in figure.axes]
    distance = lines[0][0].get_xdata()
    assert distance[-1] == pytest.approx(np.pi * (2 + np.sqrt(2)), rel=1e-14)
    k = path_points(distance)
    energies = np.array([np.linalg.eigvalsh(qwz_hamiltonian(p, **QWZ)) for p in k])
    kx, ky = k.T
    d = np.sqrt(np.sin(kx) ** 2 + np.sin(ky) ** 2 + (QWZ["m"] + np.cos(kx) + np.cos(ky)) ** 2)
    assert np.allclose(energies, 0.3 * np.sin(kx)[:, None] + np.outer(d, [-1, 1]), atol=1e-13)
    # rounding of a 2x2 eigenproblem of size ~3: a few 1e-16; the plotted energies are eigh's
    for n in range(2):
        assert np.allclose(lines[0][n].get_ydata(), energies[:, n], rtol=0, atol=1e-13)
    samples = range(0, len(distance), 7)
    curvature = np.array([plaquette_curvature(k[i]) for i in samples])
    metric = np.array([overlap_metric_trace(k[i]) for i in samples])
    # finite-difference truncation O(h^2) ~ 1e-8 and rounding eps/h^2 ~ 1e-8 of values <= 1
    for n in range(2):
        assert np.allclose(lines[1][n].get_ydata()[list(samples)], curvature[:, n], atol=1e-6)
        assert np.allclose(lines[2][n].get_ydata()[list(samples)], metric[:, n], atol=1e-6)
    assert np.max(np.abs(curvature)) > 0.5  # a Chern insulator: not a test of zeros


def test_labels_carry_unit_names_and_corners(qwz_figure):
    _, figure = qwz_figure
    energy_ax, curvature_ax, metric_ax = figure.axes
    assert "(eV)" in energy_ax.get_ylabel()
    assert "(nm^2)" in curvature_ax.get_ylabel() and "(nm^2)" in metric_ax.get_ylabel()
    assert "1/nm" in metric_ax.get_xlabel()
    assert [t.get_text() for t in metric_ax.get_xticklabels()] == ["\N{GREEK CAPITAL LETTER GAMMA}",
                                                                   "X", "M", "\N{GREEK CAPITAL LETTER GAMMA}"]


def test_curvature_of_a_pt_symmetric_model_is_shown_as_roundoff(tmp_path, capsys):
    # toy003 (Qiang et al.) is PT-symmetric: Omega = 0 identically, traced over the pairs
    out = tmp_path / "toy003.png"
    assert plot_model.main(["toy003", "--points", "60", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    model = get_model("toy003")
    figure = plot_model.draw(model, model.units, points=60)
    texts = [t.get_text() for t in figure.axes[1].texts]
    assert any(t.startswith("0 (round-off)") for t in texts), texts
    assert all(np.all(line.get_ydata() == 0) for line in figure.axes[1].get_lines()
               if line.get_label().startswith("band"))
    assert "(eV)" in figure.axes[0].get_ylabel() and "1/nm" in figure.axes[2].get_xlabel()


def test_continuum_path_stays_inside_the_cutoff():
    model = get_model("tilted_dirac")  # box [-3, 3]^2 cut to |k| < 3
    path = plot_model.high_symmetry_path(model, 50)
    assert np.max(np.linalg.norm(path.k, axis=0)) < model.domain.cutoff
    assert path.labels == ["X'", "\N{GREEK CAPITAL LETTER GAMMA}", "X", "M",
                           "\N{GREEK CAPITAL LETTER GAMMA}"]
    assert path.k[:, 0] == pytest.approx([-3.0, 0.0], rel=1e-8)


def test_one_dimensional_model_from_a_config_file(tmp_path, capsys):
    config = tmp_path / "ssh.toml"
    config.write_text('[model]\nname = "ssh"\nparameters = {t2 = 0.8}\n'
                      '[units]\nenergy = "meV"\nlength = "A"\n')
    model, _, units = plot_model.model_and_units(str(config), {})
    assert model.parameters["t2"] == 0.8 and units == {"energy": "meV", "length": "A"}
    figure = plot_model.draw(model, units, points=40)
    assert len(figure.axes) == 2  # energy and metric: no Berry curvature in 1D
    assert "(meV)" in figure.axes[0].get_ylabel() and "1/A" in figure.axes[1].get_xlabel()
    distance = figure.axes[0].get_lines()[0].get_xdata()
    assert distance[-1] == pytest.approx(2 * np.pi, rel=1e-14)
    out = tmp_path / "ssh.png"
    assert plot_model.main([str(config), "--out", str(out)]) == 0 and out.stat().st_size > 10000


@pytest.mark.parametrize("args, message", [
    (["nonsense"], "unknown"),
    (["qwz", "-p", "m"], "expected NAME=number"),
    (["qwz", "-p", "zz=1"], "zz"),
    (["qwz", "-p", "m=-2"], "degenera"),  # the gap closes at Gamma: Omega is singular there
])
def test_bad_input_is_one_line(tmp_path, capsys, args, message):
    assert plot_model.main([*args, "--points", "40", "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("plot_model: error:") and message in err[0], err
    assert not (tmp_path / "x.png").exists()
