"""Nonuniform cell edges: exact range, refinement ratio, equidistribution, periodic seam."""

import numpy as np
import pytest
from scipy.integrate import quad

from solvers.meshing import crossing_points, explicit_edges, stretched_edges

LO, HI = -np.pi, np.pi


def neighbour_ratios(edges, periodic=True):
    """w_{j+1} / w_j for all neighbouring cells, with the seam pair (w_0 / w_{n-1}) last."""
    w = np.diff(edges)
    ratios = w[1:] / w[:-1]
    return np.append(ratios, w[0] / w[-1]) if periodic else ratios


@pytest.mark.parametrize("kwargs", [
    dict(focus=(0.5,), width=0.2, ratio=4.0),
    dict(focus=(LO, -1.0, HI), width=0.3, ratio=10.0),
    dict(focus=(2.0,), width=0.1, ratio=3.0, periodic=False),
    dict(),
])
def test_edges_hit_range_ends_exactly_and_increase(kwargs):
    edges = stretched_edges(LO, HI, 101, **kwargs)
    assert edges.shape == (102,)
    assert edges[0] == LO and edges[-1] == HI
    assert np.all(np.diff(edges) > 0)


def test_without_refinement_cells_are_uniform():
    assert np.allclose(stretched_edges(0.0, 3.0, 30, focus=(1.0,), ratio=1.0),
                       np.linspace(0.0, 3.0, 31), rtol=0, atol=1e-14)
    assert np.allclose(stretched_edges(0.0, 3.0, 30), np.linspace(0.0, 3.0, 31),
                       rtol=0, atol=1e-14)


def test_every_cell_holds_the_same_integral_of_the_density():
    # independent check of the defining property with adaptive quadrature of the density
    focus, width, ratio = (0.5, -2.5), 0.25, 5.0
    edges = stretched_edges(LO, HI, 40, focus=focus, width=width, ratio=ratio)

    def density(s):
        d = (s - np.array(focus) + np.pi) % (2 * np.pi) - np.pi  # nearest image suffices here
        return 1 + (ratio - 1) * np.sum(np.exp(-0.5 * (d / width) ** 2))

    content = np.array([quad(density, a, b, epsabs=1e-13, epsrel=1e-13)[0]
                        for a, b in zip(edges[:-1], edges[1:])])
    assert np.allclose(content, content.mean(), rtol=1e-10, atol=0)


@pytest.mark.parametrize("ratio", [3.0, 8.0])
def test_cells_near_focus_are_ratio_times_smaller(ratio):
    focus = 0.7
    edges = stretched_edges(LO, HI, 400, focus=(focus,), width=0.15, ratio=ratio)
    widths = np.diff(edges)
    near = widths[np.searchsorted(edges, focus) - 1]
    far = widths[np.searchsorted(edges, focus - np.pi) - 1]  # antipode on the torus
    assert abs(far / near / ratio - 1) < 0.1, far / near


def test_seam_is_smooth_when_focus_is_far_from_it():
    edges = stretched_edges(LO, HI, 200, focus=(0.3,), width=0.2, ratio=4.0)
    assert abs(neighbour_ratios(edges)[-1] - 1) < 1e-6


def test_widths_vary_smoothly_across_the_seam_near_a_focus():
    # focus 0.05 inside the seam: the density is periodic, so the seam pair behaves like any
    # other pair and the largest jump between neighbours shrinks like 1/n
    focus = dict(focus=(LO + 0.05,), width=0.2, ratio=4.0)
    jumps, seam = [], []
    for n in (100, 200, 400, 800):
        ratios = neighbour_ratios(stretched_edges(LO, HI, n, **focus))
        jumps.append(np.max(np.abs(ratios - 1)))
        seam.append(abs(ratios[-1] - 1))
    assert np.all(np.array(seam) <= np.array(jumps))
    assert np.all(np.log2(np.array(jumps[:-1]) / jumps[1:]) > 0.9), jumps
    # without periodic distances the seam pair jumps by ~ratio, however fine the grid
    aperiodic = stretched_edges(LO, HI, 800, periodic=False, **focus)
    assert abs(neighbour_ratios(aperiodic)[-1] - 1) > 0.5


@pytest.mark.parametrize("args, kwargs, message", [
    ((LO, HI, 50), dict(ratio=0.5), r"ratio = 0.5, expected >= 1"),
    ((LO, HI, 50), dict(width=0.0), r"width = 0.0, expected > 0"),
    ((LO, HI, 50), dict(width=-1.0), r"width = -1.0, expected > 0"),
    ((LO, HI, 50), dict(focus=(0.0, 4.0)), r"focus = 4.0, expected inside \[lo, hi\]"),
    ((LO, HI, 2), {}, r"n = 2, expected an integer >= 3"),
    ((LO, HI, 10.5), {}, r"n = 10.5, expected an integer >= 3"),
    ((1.0, 1.0, 10), {}, r"lo = 1.0, hi = 1.0, expected finite lo < hi"),
])
def test_stretched_edges_rejects_bad_arguments(args, kwargs, message):
    with pytest.raises(ValueError, match="stretched_edges: " + message):
        stretched_edges(*args, **kwargs)


def test_explicit_edges_validates_and_pins_the_range():
    edges = explicit_edges([-3.141592653589792, -1.0, 0.5, 3.141592653589793], lo=LO, hi=HI)
    assert edges[0] == LO and edges[-1] == HI and edges[1] == -1.0
    with pytest.raises(ValueError, match=r"edges\[3\] = 1.0 <= edges\[2\] = 2.0, expected "
                                         "strictly increasing"):
        explicit_edges([0.0, 1.0, 2.0, 1.0, 0.5])
    with pytest.raises(ValueError, match=r"edges\[0\] = -3.0, expected lo = -3.14159"):
        explicit_edges([-3.0, 0.0, 3.0], lo=LO)
    with pytest.raises(ValueError, match=r"edges\[2\] = nan, expected finite"):
        explicit_edges([0.0, 1.0, np.nan, 3.0])
    with pytest.raises(ValueError, match="expected a 1D list of >= 3 edges"):
        explicit_edges([0.0, 1.0])


def torus_distance(a, b, period=2 * np.pi):
    return np.abs((np.asarray(a) - b + period / 2) % period - period / 2)


def uniform_centres(n):
    return LO + (np.arange(n) + 0.5) * (HI - LO) / n


def test_cosine_band_crosses_zero_at_half_the_zone():
    k = uniform_centres(256)
    points = crossing_points(k, -2 * np.cos(k), 0.0)
    assert np.allclose(points, [-np.pi / 2, np.pi / 2], rtol=0, atol=1e-3)


def test_crossings_of_several_bands_and_targets():
    # -2 cos k = 1 at +-2 pi/3, 2 cos k = 1 at +-pi/3; -2cos = -1 at +-pi/3, 2cos = -1 at +-2pi/3
    k = uniform_centres(300)
    bands = np.stack([-2 * np.cos(k), 2 * np.cos(k)])
    points = crossing_points(k, bands, [1.0])
    assert np.allclose(points, np.array([-2, -1, 1, 2]) * np.pi / 3, rtol=0, atol=1e-4)
    assert np.allclose(crossing_points(k, bands, [-1.0, 1.0]), points, rtol=0, atol=1e-12)


def test_crossings_inside_the_seam_segment_are_found_and_wrapped():
    # nonuniform samples; the seam segment runs from the last centre (~ pi - 0.016) to the
    # first one + 2 pi; sin(k -/+ 0.003) = 0 at k = pi +/- 0.003 lies inside it, once beyond
    # hi (reported wrapped, at 0.003 - pi) and once before it
    edges = stretched_edges(LO, HI, 200, focus=(1.0,), width=0.3, ratio=3.0)
    k = 0.5 * (edges[1:] + edges[:-1])
    assert k[-1] < np.pi - 0.01 and k[0] > -np.pi + 0.01
    for shift in (0.003, -0.003):
        points = crossing_points(k, np.sin(k - shift), 0.0, lo=LO, hi=HI)
        assert np.all((points >= LO) & (points < HI))
        assert np.allclose(points, np.sort([shift, shift - np.sign(shift) * np.pi]),
                           rtol=0, atol=1e-4), (shift, points)
