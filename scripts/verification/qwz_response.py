"""Linear and quadratic DC response of the tilted Qi-Wu-Zhang model (issue 6.1).

Band mode of order 2 on the (kx, ky) Brillouin zone, relaxation to a fixed Fermi-Dirac target
(``collisions.kind = "fixed"``), a uniform field along the generic direction
e = (cos 30 deg, sin 30 deg) ramped on over 3 tau and held until the current is steady
(14 tau more: the deviation from the steady state decays exactly as exp(-t / tau), since the
transport term conserves every norm). Four runs at E x {1, -1, 2, -2} give sigma1 and sigma2
of both current components by Richardson-extrapolated symmetric differences
(:func:`solvers.observables.symmetric_differences`).

The model, H = sin kx sx + sin ky sy + (m + cos kx + cos ky) sz + g sin kx (m = -1.5,
g = 0.4, mu = 0.5 in the upper band, T = 0.2), breaks time reversal (mass term) and inversion
(tilt), so every mechanism is present and, along e, in both components:

    sigma1_a(tau) = A_a tau + B_a,              A: Drude, B: anomalous Hall (tau^0)
    sigma2_a(tau) = a_a tau^2 + b_a tau + c_a,  a: nonlinear Drude, b: Berry-curvature dipole,
                                                c: the tau^0 quantum-metric term that band
                                                   mode of order 2 implies for the fixed target

(c is the band-mode-derived term of docs/formulas.md, a = 1/2, b = 1/2, which order 2
contains; it is not the disputed physical tau^0 term). Fits of sigma1 (degree 1) and sigma2
(degree 2) over four relaxation times separate the mechanisms; each coefficient is compared
with its k-space formula (:func:`solvers.response.predicted`, moyal.response on the grid of
the finest simulation: the T > 0 integrands are smooth and periodic, so these sums converge
exponentially and are the continuum values to 1e-9 already on 64^2). The same fit is done on
every grid, and the errors against N show the convergence order of the solver.

The reconstruction is unlimited (``limiter = "none"``, Fromm's scheme), so the discrete
steady state is, order by order in E, exactly a polynomial in tau like the formulas: the fit
returns the discrete coefficients, each converging at the grid rate, instead of amplifying
point errors into the small tau^0 terms. A limiter switches at the extrema of f, which makes
the discrete steady state non-smooth in E: on 128^2 at tau = 5 van Leer gave sigma2_x off by
8.5e-3 at E = 0.01 and 1.7e-2 at E = 0.005 (unlimited: 4.9e-3, 8.5e-3). Even unlimited, the
upwind dissipation O(h^3 |E|) is even in E and enters sigma2 as h^3 / E. Measured on sigma2_x
at tau = 5 (128^2 and 256^2, tau E = 0.0125, 0.025, 0.05), its error is A h^2 + B h^3 / E
+ C (tau E)^4 with C (tau E)^4 = -8.5e-4 at tau E = 0.05 (the Richardson remainder, the same
on both grids) and, on 256^2, A h^2 = 7.4e-4 and B h^3 / E = 3.6e-4 at tau E = 0.05: hence
tau E = KAPPA = 0.025 for every tau (E = KAPPA / tau keeps the nonlinearity parameter
tau E v / T and so the remainder the same at every tau).

Cost: fast case (48, 96, 192) 75 s of CPU serial (35 s with the CFL step alone, before the
step resolved tau and the ramp); full case (64 ... 512) 5.3 min of CPU, 7.8 min wall on 2
ranks of a loaded 2-core machine, with the CFL step alone.
"""

from __future__ import annotations

import math

import numpy as np

from scripts.verification import Case, Check, field_sweep, save_figure

MODEL = {"name": "qwz", "parameters": {"A": 1.0, "B": 1.0, "m": -1.5, "g": 0.4}}  # eV
MU, TEMPERATURE = 0.5, 0.2                  # eV
DIRECTION = np.array([math.cos(math.pi / 6), math.sin(math.pi / 6)])
KAPPA = 0.025                               # tau E (hbar/e per nm): E = KAPPA / tau
SCALES = (1.0, -1.0, 2.0, -2.0)
TAUS = (1.25, 2.5, 3.75, 5.0)               # hbar/eV
RAMP = 3                                    # switch-on time / tau: ramp_time/pi ~ tau,
#                                             so the step (<= 0.2 x both) stays at 0.2 tau
SETTLE = 14                                 # relaxation times after the ramp
GRIDS = {False: (48, 96, 192), True: (64, 128, 256, 512)}
#: relative tolerance of each fit coefficient at the finest grid. Full (512^2): the issue's
#: contract. Fast (192^2): the worst coefficient (nonlinear Drude, x) converges as N^-2.7
#: (6.8e-2, 1.0e-2, 1.7e-3, 2.6e-4 on 64..512^2), i.e. 3.6e-3 on 192^2; 1e-2 still pins
#: every coefficient's sign and value
TOLERANCE = {False: 1e-2, True: 1e-3}
#: the observed order between the two finest grids must lie in this range: the worst
#: coefficient carries the O(h^2) error of Fromm's scheme and, through the symmetric
#: differences, its O(h^3 |E|) upwind dissipation (even in E) divided by E^2
ORDER_RANGE = (1.7, 3.3)

COEFFICIENTS = (  # (label, response, power of tau, formula key)
    ("Drude", "sigma1", 1, "drude"),
    ("anomalous Hall", "sigma1", 0, "ahe"),
    ("nonlinear Drude", "sigma2", 2, "nonlinear_drude"),
    ("Berry-curvature dipole", "sigma2", 1, "bcd"),
    ("tau^0 metric (band mode)", "sigma2", 0, "metric"),
)


def tables(n: int, tau: float, order: int = 2) -> dict:
    """Config tables of one run at field scale 1 (``config.from_dict`` layout)."""
    field = KAPPA / tau
    return {"model": MODEL,
            "mode": {"kind": "band", "order": order},
            "fields": {"E": [float(x) for x in field * DIRECTION], "ramp_time": RAMP * tau},
            "grid": {"nk": [n, n]},
            "initial": {"kind": "equilibrium", "mu": MU, "temperature": TEMPERATURE},
            "collisions": {"kind": "fixed", "tau": tau, "mu": MU,
                           "temperature": TEMPERATURE},
            "numerics": {"limiter": "none"},
            "run": {"t_end": (RAMP + SETTLE) * tau}}


def simulated_response(ctx, n: int, tau: float):
    """(sigma1, sigma2), each shape (2,) (x and y current along DIRECTION), from four runs."""
    # window 0: the final current (the transient is down by exp(-SETTLE)), minus j(t=0)
    return field_sweep(ctx, f"qwz_n{n}_tau{tau:g}", SCALES, KAPPA / tau, 0.0,
                       **tables(n, tau))


def formula_coefficients(n: int) -> dict:
    """k-space formulas along DIRECTION: {key: shape (2,)} for the keys of COEFFICIENTS.

    :func:`solvers.response.predicted` at tau = 1 and orders 0, 1, 2 gives the terms it adds
    order by order: Drude and nonlinear Drude (0), anomalous Hall and BCD (1), the tau^0
    metric term (2).
    """
    from solvers import config
    from solvers.response import predicted

    by_order = [predicted(config.from_dict(tables(n, 1.0, order)), DIRECTION)
                for order in (0, 1, 2)]
    return {"drude": by_order[0][0], "ahe": by_order[1][0] - by_order[0][0],
            "nonlinear_drude": by_order[0][1], "bcd": by_order[1][1] - by_order[0][1],
            "metric": by_order[2][1] - by_order[1][1]}


def tau_fit(sigma: np.ndarray, degree: int) -> np.ndarray:
    """Least-squares polynomial in tau through sigma(TAUS): shape (degree + 1, 2), row p the
    coefficient of tau^p."""
    return np.polynomial.polynomial.polyfit(np.array(TAUS), sigma, degree)


def observed_order(grids, errors) -> float:
    """Convergence order between the two finest grids (errors ~ N^-p)."""
    return math.log(errors[-2] / errors[-1]) / math.log(grids[-1] / grids[-2])


def run(ctx) -> list:
    """Tau fits on every grid of GRIDS[ctx.full]; checks at the finest grid (module doc)."""
    grids = GRIDS[ctx.full]
    formulas = None
    if ctx.rank == 0:
        formulas = formula_coefficients(grids[-1])
    formulas = ctx.comm.tompi4py().bcast(formulas, root=0)
    fits, samples = {}, {}
    for n in grids:
        values = [simulated_response(ctx, n, tau) for tau in TAUS]
        sigma1 = np.array([v[0] for v in values])
        sigma2 = np.array([v[1] for v in values])
        samples[n] = (sigma1, sigma2)
        fits[n] = {"sigma1": tau_fit(sigma1, 1), "sigma2": tau_fit(sigma2, 2)}
        residual = max(np.max(np.abs(sigma - np.vander(TAUS, len(fit), increasing=True) @ fit))
                       / np.max(np.abs(sigma)) for sigma, fit in
                       ((sigma1, fits[n]["sigma1"]), (sigma2, fits[n]["sigma2"])))
        ctx.log(f"  {n}^2: " + "; ".join(
            f"{label} {fits[n][response][power].round(7).tolist()}"
            for label, response, power, _ in COEFFICIENTS)
            + f"; largest fit residual {residual:.1e} of max |sigma|")
    errors = {(label, a): [abs(fits[n][response][power][a] / formulas[key][a] - 1)
                           for n in grids]
              for label, response, power, key in COEFFICIENTS for a in range(2)}
    for (label, a), values in errors.items():
        ctx.log(f"  relative error, {label} ({'xy'[a]}): "
                + ", ".join(f"{n}^2 {e:.2e}" for n, e in zip(grids, values)))
    finest = grids[-1]
    checks = []
    for label, response, power, key in COEFFICIENTS:
        for a, axis in enumerate("xy"):
            checks.append(Check(
                "qwz_response", f"{label}: tau^{power} coefficient of {response}_{axis}, "
                f"{finest}^2", float(formulas[key][a]),
                float(fits[finest][response][power][a]), TOLERANCE[ctx.full],
                note=f"fit over tau = {list(TAUS)}"))
    # the largest coefficient error per grid, and its order between the two finest grids
    worst = np.max(np.array(list(errors.values())), axis=0)
    order = observed_order(grids, worst)
    ctx.log("  grid convergence, max relative coefficient error: " + ", ".join(
        f"{n}^2 {e:.2e}" for n, e in zip(grids, worst)) + f"; order {order:.2f}")
    middle = 0.5 * sum(ORDER_RANGE)
    checks.append(Check(
        "qwz_response", f"convergence order of the worst coefficient, {grids[-2]}^2 -> "
        f"{finest}^2", middle, order, 0.5 * (ORDER_RANGE[1] - ORDER_RANGE[0]), relative=False,
        note="h^2 and h^3 / E pieces: between 2 and 3"))
    if ctx.plot_dir is not None and ctx.rank == 0:
        plot(ctx, grids, errors, samples[finest], fits[finest], formulas)
    return checks


def plot(ctx, grids, errors, finest_samples, finest_fit, formulas) -> None:
    """Error of each coefficient against N (log-log) and sigma(tau) with fit and formula."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4.5))
    for (label, a), values in errors.items():
        axes.loglog(grids, values, "o-" if a == 0 else "s--", label=f"{label}, {'xy'[a]}")
    reference = np.array(grids, dtype=float)
    top = max(v[0] for v in errors.values())
    for power, style in ((2, "k:"), (3, "k-.")):
        axes.loglog(reference, top * (reference[0] / reference) ** power, style,
                    label=f"N^-{power}")
    axes.set_xticks(grids, [str(n) for n in grids])
    axes.minorticks_off()
    axes.set_xlabel("cells per k direction N")
    axes.set_ylabel("relative error of the tau-fit coefficient")
    axes.set_title("tilted QWZ, band mode order 2: grid convergence")
    axes.legend(fontsize=6, ncol=2)
    save_figure(ctx, figure, "qwz_response_convergence.png")

    taus = np.array(TAUS)
    fine = np.linspace(0.0, 1.1 * taus[-1], 200)
    figure, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    for row, (response, simulated) in enumerate(zip(("sigma1", "sigma2"), finest_samples)):
        terms = [(label, power, key) for label, r, power, key in COEFFICIENTS if r == response]
        for a, panel in enumerate(axes[row]):
            panel.plot(taus, simulated[:, a], "ko", label="simulated")
            panel.plot(fine, np.polynomial.polynomial.polyval(fine, finest_fit[response][:, a]),
                       "k-", lw=1, label="fit")
            for i, (label, power, key) in enumerate(terms):
                panel.plot(fine, finest_fit[response][power, a] * fine ** power, "-",
                           color=f"C{i}", label=f"fit: {label}")
                panel.plot(fine, formulas[key][a] * fine ** power, ":", color="k", lw=1.5,
                           label="k-space formulas" if i == 0 else None)
            panel.axhline(0.0, color="0.8", lw=0.5)
            panel.set_title(f"{response}_{'xy'[a]}")
            panel.legend(fontsize=6)
    for panel in axes[1]:
        panel.set_xlabel("tau (hbar/eV)")
    figure.suptitle(f"tilted QWZ, field along (cos 30, sin 30): tau fit on {grids[-1]}^2 "
                    "separates the mechanisms")
    save_figure(ctx, figure, "qwz_response_tau_fit.png")


CASES = [Case("qwz_response", "tilted QWZ: Drude, AHE, nonlinear Drude, BCD and the tau^0 "
              "term from the band-mode steady state by a tau fit, with grid convergence",
              run)]
