"""The tau^0 (quantum-metric) second-order conductivity, settled by matrix mode.

Chain of evidence (docs/quantum_metric.md):

1. the PETSc solver in matrix mode (the full Wigner matrix with interband coherence,
   relaxation towards f0(H0), ``tau`` and optionally ``tau_inter``) is run to its steady
   state in a weak uniform field at +-E; sigma1 and sigma2 come from symmetric differences;
2. they are compared with the exact steady-state response of the same equation computed in
   k space (:func:`moyal.matrix_response.response`, no expansion in tau), converging with
   the k grid;
3. that response's Laurent expansion in tau (:func:`moyal.matrix_response.laurent_response`)
   reproduces Drude, anomalous Hall, nonlinear Drude and Berry-curvature dipole exactly, and
   its tau^0 part equals the closed form of
   :func:`moyal.matrix_response.intrinsic_two_multiplet`;
4. the simulations are then confronted with the alternatives in which the tau^0 part is
   replaced by WPD, LKA, QK or the band-mode-derived form: the ones the simulation rules out
   are "differ" rows of the report.
"""

from __future__ import annotations

import numpy as np

from scripts.verification import Case, Check, field_sweep, save_figure

# Tilted Rice-Mele chain: broken inversion (delta) and time reversal (w), two bands, so
# nonlinear Drude and the intrinsic term both exist along x (no Berry curvature in 1D).
RICE_MELE = {"hamiltonian": "(t1 + t2*cos(kx))*sx + t2*sin(kx)*sy + delta*sz + w*sin(kx)*s0",
             "parameters": {"t1": 1.0, "t2": 0.6, "delta": 0.4, "w": 0.3}, "domain": "bz"}
QWZ = {"name": "qwz", "parameters": {"A": 1.0, "B": 1.0, "m": -1.5, "g": 0.4}}
FORMS = ("wpd", "lka", "qk")
RICHARDSON = (1.0, -1.0, 2.0, -2.0)
# band-mode-derived tau^0 forms (docs/formulas.md verdict 4): (a, b)
BAND_FORMS = {"band_fixed": (0.5, 0.5), "band_field_renormalised": (0.0, 0.5)}


def _model(table):
    from solvers.preflight import model_from_table

    return model_from_table(table)


def _geometry(model, degeneracy, nk):
    from moyal.geometry import band_geometry, k_grid

    grid = k_grid(model, nk)
    return grid, band_geometry(model, grid, degeneracy or "traced")


def simulated_response(ctx, label, model, nk, mu, temperature, tau, field,
                       tau_inter=None, mu_reference=None, kind="matrix", order=0,
                       scales=(1.0, -1.0)):
    """sigma1, sigma2 along ``field`` from matrix-mode (or band-mode) runs at +-field.

    The steady current of each run minus its initial current, symmetric differences over
    ``scales`` (Richardson-extrapolated with +-1, +-2); with ``mu_reference`` the
    same pair of runs at that chemical potential is subtracted (continuum boxes, see
    moyal/matrix_response.py). Returns (sigma1 (d,), sigma2 (d,)) in moyal's units.
    """
    field = np.asarray(field, dtype=float)
    sigma = []
    for chemical in [mu] + ([mu_reference] if mu_reference is not None else []):
        collisions = {"kind": "fixed", "tau": tau, "mu": chemical, "temperature": temperature}
        if tau_inter is not None:
            collisions["tau_inter"] = tau_inter
        sigma.append(field_sweep(
            ctx, f"{label}_mu{chemical:g}", scales, float(np.linalg.norm(field)), tau,
            model=model, mode={"kind": kind, "order": order},
            fields={"E": list(field), "ramp_time": min(2.0, tau)},
            grid={"nk": list(nk), **({} if model.get("domain", "bz") == "bz"
                                     else {"k_boundary": "outflow"})},
            initial={"kind": "equilibrium", "mu": chemical, "temperature": temperature},
            collisions=collisions,
            numerics={"limiter": "vanleer", "dt": tau / 20},
            run={"t_end": 14 * tau, "output_every": 5}))
    if mu_reference is not None:
        return sigma[0][0] - sigma[1][0], sigma[0][1] - sigma[1][1]
    return sigma[0]


def k_space_response(model_table, nk, mu, temperature, tau, field, tau_inter=None,
                     mu_reference=None):
    """The exact matrix-mode steady state in k space along ``field``: (sigma1, sigma2)."""
    from moyal import matrix_response as mr
    from moyal.geometry import k_grid

    model, _ = _model(model_table)
    exact = mr.response(model, k_grid(model, nk), mu, temperature, tau, tau_inter,
                        mu_reference)
    e = np.asarray(field, dtype=float) / np.linalg.norm(field)
    return exact.sigma1 @ e, np.einsum("abc,b,c->a", exact.sigma2, e, e)


def tau0_forms(model_table, nk, mu, temperature, ratios=(1.0,), mu_reference=None):
    """The tau^0 tensors (d, d, d): matrix mode (Laurent, per ratio), its closed form, the
    literature forms and the band-mode-derived forms, on one k grid."""
    from moyal import matrix_response as mr
    from moyal.response import fermi_dirac, integrand

    model, degeneracy = _model(model_table)
    grid, geometry = _geometry(model, degeneracy, nk)
    occupation = fermi_dirac(geometry.energy, mu, temperature)
    if mu_reference is not None:
        occupation = occupation - fermi_dirac(geometry.energy, mu_reference, temperature)
    weights = grid.weights[..., None] * occupation

    def sea(kernel):
        return np.tensordot(kernel, weights, axes=weights.ndim)

    # own = -int d_i Gq^{jl} f0 and pair = int (d_l Gq^{ij} + d_j Gq^{il}) f0, from the
    # (a, b) = (2, 1/2) and (1, 1/2) forms
    own = sea(integrand(geometry, "qm_lka", "sea") - integrand(geometry, "qm_wpd", "sea"))
    pair = 2 * (sea(integrand(geometry, "qm_wpd", "sea")) - own)
    result = {name: sea(integrand(geometry, f"qm_{name}", "sea")) for name in FORMS}
    for name, (a, b) in BAND_FORMS.items():
        result[name] = a * own + b * pair
    for ratio in ratios:
        laurent = mr.laurent_response(model, grid, mu, temperature, ratio, mu_reference)
        result[f"matrix_r{ratio:g}"] = laurent["sigma2"][0]
        result[f"closed_r{ratio:g}"] = mr.intrinsic_two_multiplet(geometry, grid,
                                                                  occupation, ratio)
        result[f"laurent_r{ratio:g}"] = laurent
    return result


def _component(tensor, field):
    e = np.asarray(field, dtype=float) / np.linalg.norm(field)
    return np.einsum("abc,b,c->a", tensor, e, e)


def _kspace_checks(case):
    """Laurent coefficients of the matrix-mode response vs the k-space formulas (QWZ)."""
    from moyal.geometry import band_geometry, k_grid
    from moyal.response import response_tensors

    model, _ = _model(QWZ)
    grid = k_grid(model, [64, 64])
    mu, temperature = 0.5, 0.2
    tensors = {q: v[0] for q, v in response_tensors(
        band_geometry(model, grid), grid, [mu], temperature,
        ["drude", "ahe", "nonlinear_drude", "bcd"]).items()}
    forms = tau0_forms(QWZ, [64, 64], mu, temperature, ratios=(1.0, 2.0))
    laurent = forms["laurent_r1"]
    checks = []
    for label, simulated, formula in (
            ("sigma1 tau^1 vs Drude", laurent["sigma1"][1], tensors["drude"]),
            ("sigma1 tau^0 vs anomalous Hall", laurent["sigma1"][0], tensors["ahe"]),
            ("sigma2 tau^2 vs nonlinear Drude", laurent["sigma2"][2],
             tensors["nonlinear_drude"]),
            ("sigma2 tau^1 vs Berry-curvature dipole", laurent["sigma2"][1], tensors["bcd"]),
            ("sigma2 tau^0 r=1 vs closed form", forms["matrix_r1"], forms["closed_r1"]),
            ("sigma2 tau^0 r=2 vs closed form", forms["matrix_r2"], forms["closed_r2"])):
        scale = np.max(np.abs(formula))
        checks.append(Check(case, f"QWZ 64^2 {label}: max over components / max |formula|",
                            0.0, float(np.max(np.abs(simulated - formula)) / scale), 1e-10,
                            relative=False))
    return checks


def _alternatives(case, label, exact, c_matrix, forms, measured, tolerance, field):
    """'differ' rows: the simulated sigma2 against the exact response with its tau^0 part
    replaced by each literature / band-mode form."""
    rows = []
    for name in FORMS + tuple(BAND_FORMS):
        alternative = exact + _component(forms[name] - c_matrix, field)
        index = int(np.argmax(np.abs(exact)))
        rows.append(Check(case, f"{label}: sigma2 if tau^0 were {name.upper()}",
                          float(alternative[index]), float(measured[index]), tolerance,
                          kind="differ"))
    return rows


def fast_case(ctx):
    """Rice-Mele chain, tau = 2: matrix mode (r = 1, 2) and band mode against k space."""
    case = "quantum_metric_fast"
    mu, temperature, tau, nk, field = 0.8, 0.1, 2.0, [512], [0.005]
    forms = tau0_forms(RICE_MELE, nk, mu, temperature, ratios=(1.0, 2.0))
    checks = _kspace_checks(case)
    for ratio in (1.0, 2.0):
        label = f"Rice-Mele {nk[0]}, tau={tau:g}, tau_inter={ratio * tau:g}"
        sim1, sim2 = simulated_response(ctx, f"rm_r{ratio:g}", RICE_MELE, nk, mu, temperature,
                                        tau, field, tau_inter=ratio * tau, scales=RICHARDSON)
        ex1, ex2 = k_space_response(RICE_MELE, nk, mu, temperature, tau, field, ratio * tau)
        checks += [Check(case, f"{label}: matrix-mode sigma1_x vs exact steady state",
                         float(ex1[0]), float(sim1[0]), 1e-3),
                   Check(case, f"{label}: matrix-mode sigma2_x vs exact steady state",
                         float(ex2[0]), float(sim2[0]), 2e-3)]
        if ratio == 1.0:
            checks += _alternatives(case, label, ex2, forms["matrix_r1"], forms, sim2, 5e-3,
                                    field)
    # band mode of order 2 integrates the band-mode-derived tau^0 form, not matrix mode's
    laurent = forms["laurent_r1"]
    band1, band2 = simulated_response(ctx, "rm_band", RICE_MELE, nk, mu, temperature, tau,
                                      field, kind="band", order=2, scales=RICHARDSON)
    band_prediction = _component(tau ** 2 * laurent["sigma2"][2] + tau * laurent["sigma2"][1]
                                 + forms["band_fixed"], field)
    ex1, ex2 = k_space_response(RICE_MELE, nk, mu, temperature, tau, field)
    checks += [Check(case, f"Rice-Mele {nk[0]}, tau={tau:g}: band mode order 2 sigma2_x vs "
                     "tau^2 NLD + band-derived tau^0", float(band_prediction[0]),
                     float(band2[0]), 2e-3),
               Check(case, f"Rice-Mele {nk[0]}, tau={tau:g}: band mode order 2 sigma2_x vs "
                     "matrix-mode exact steady state (tau^0 form and O(1/tau) interband terms)",
                     float(ex2[0]), float(band2[0]), 5e-3, kind="differ")]
    return checks


def _finish(ctx, figure, labels, filename):
    """Axis labels (x, y, title), legend, and save to the report's plot directory."""
    axis = figure.axes[0]
    axis.set_xlabel(labels[0])
    axis.set_ylabel(labels[1])
    axis.set_title(labels[2])
    axis.legend(fontsize=7)
    save_figure(ctx, figure, filename)


def tau_scan_case(ctx):
    """Rice-Mele chain: c_sim(tau) = sigma2_sim - tau^2 NLD, extrapolated to 1/tau -> 0."""
    import matplotlib.pyplot as plt

    case = "quantum_metric_tau_scan"
    mu, temperature, nk = 0.8, 0.1, [2048]
    taus = np.array([2.0, 3.0, 4.0, 6.0, 8.0])
    forms = tau0_forms(RICE_MELE, nk, mu, temperature)
    laurent = forms["laurent_r1"]
    drude2, bcd = laurent["sigma2"][2][0, 0, 0], laurent["sigma2"][1][0, 0, 0]
    simulated, exact = [], []
    for tau in taus:
        field = [0.01 / tau]  # E tau fixed: the same distance from the nonlinear regime
        ctx.log(f"  tau = {tau:g}")
        _, sim2 = simulated_response(ctx, f"rm_tau{tau:g}", RICE_MELE, nk, mu, temperature,
                                     tau, field, scales=RICHARDSON)
        _, ex2 = k_space_response(RICE_MELE, nk, mu, temperature, tau, field)
        simulated.append(sim2[0] - tau ** 2 * drude2 - tau * bcd)
        exact.append(ex2[0] - tau ** 2 * drude2 - tau * bcd)
    simulated, exact = np.array(simulated), np.array(exact)
    # c(tau) = c + d/tau + e/tau^2 + f/tau^3 + ... (Laurent tail of the exact response)
    design = np.vander(1.0 / taus, 4, increasing=True)
    c_sim = np.linalg.lstsq(design, simulated, rcond=None)[0][0]
    c_fit_exact = np.linalg.lstsq(design, exact, rcond=None)[0][0]
    c_matrix = forms["matrix_r1"][0, 0, 0]
    checks = [Check(case, "Rice-Mele: fit of the exact steady state over the same taus "
                    "(extrapolation error)", c_matrix, float(c_fit_exact), 0.05),
              Check(case, "Rice-Mele: tau^0 from the fit of the simulations vs matrix-mode "
                    "Laurent c", c_matrix, float(c_sim), 0.05)]
    for tau, s_value, e_value in zip(taus, simulated, exact):
        checks.append(Check(case, f"Rice-Mele tau={tau:g}: sigma2 - tau^2 NLD, simulation vs "
                            "exact (the error relative to sigma2 is smaller)",
                            float(e_value), float(s_value), 1e-3))
    for name in FORMS + tuple(BAND_FORMS):
        value = forms[name][0, 0, 0]
        checks.append(Check(case, f"Rice-Mele: simulated tau^0 vs {name.upper()} (absolute, "
                            "10% of c)", float(value), float(c_sim), 0.1 * abs(c_matrix),
                            relative=False, kind="differ"))
    figure, axis = plt.subplots(figsize=(6, 4))
    fine = np.linspace(1.5, 40, 60)
    curve = [k_space_response(RICE_MELE, nk, mu, temperature, t, [0.01 / t])[1][0]
             - t ** 2 * drude2 - t * bcd for t in fine]
    axis.plot(1 / fine, curve, "k-", lw=1, label="exact matrix-mode steady state (k space)")
    axis.plot(1 / taus, simulated, "o", color="C3", label="PETSc matrix-mode simulations")
    styles = {"wpd": "C0", "lka": "C1", "qk": "C2", "band_fixed": "C4",
              "band_field_renormalised": "C5"}
    for name, colour in styles.items():
        axis.axhline(forms[name][0, 0, 0], color=colour, ls="--", lw=1, label=name.upper())
    axis.axhline(c_matrix, color="k", ls=":", label="matrix mode tau^0 (closed form)")
    _finish(ctx, figure, ("1 / tau  (eV / hbar)",
                          "sigma2_xxx - tau^2 sigma_NLD  (e^3 nm^2 / (hbar eV))",
                          "tilted Rice-Mele chain, relaxation to f0(H0), tau_inter = tau"),
            "quantum_metric_tau_scan.png")
    return checks


TOY003 = {"name": "toy003", "parameters": {"t": 0.5}, "domain": [[-0.6, 0.6], [-0.6, 0.6]]}


def models_case(ctx):
    """QWZ and the toy model of X.-B. Qiang, T. Liu, Z.-X. Gao, H.-Z. Lu, X. C. Xie, "A
    Clarification on Quantum-Metric-Induced Nonlinear Transport": 2D matrix-mode simulations
    vs k space; the forms."""
    import matplotlib.pyplot as plt

    case = "quantum_metric_2d"
    checks = []
    tau = 2.0
    # (label, model, mu, T, mu_reference, field, grids); the 4x4 toy model is 4x the cost
    runs = (("QWZ", QWZ, 0.5, 0.2, None, [0.005, 0.0], (64, 128)),
            ("toy003 t/v=0.5", TOY003, 0.15, 0.05, 0.0, [0.0, 0.002], (64,)))
    for label, model, mu, temperature, reference, field, grids in runs:
        errors = []
        for n in grids:
            ctx.log(f"  {label} {n}^2")
            sim1, sim2 = simulated_response(ctx, f"{label.split()[0]}{n}", model, [n, n], mu,
                                            temperature, tau, field, mu_reference=reference)
            ex1, ex2 = k_space_response(model, [n, n], mu, temperature, tau, field,
                                        mu_reference=reference)
            index = int(np.argmax(np.abs(ex2)))
            name = "xy"[index]
            errors.append(abs(sim2[index] - ex2[index]) / abs(ex2[index]))
            ctx.log(f"    sigma1 {sim1} vs {ex1}; sigma2 {sim2} vs {ex2}")
        linear = int(np.argmax(np.abs(ex1)))  # E along y in the toy model: sigma1_x = 0
        checks += [Check(case, f"{label} {n}^2, tau={tau:g}: matrix-mode sigma1_{'xy'[linear]} "
                         "vs exact", float(ex1[linear]), float(sim1[linear]), 2e-3),
                   Check(case, f"{label} {n}^2, tau={tau:g}: matrix-mode sigma2_{name} vs exact",
                         float(ex2[index]), float(sim2[index]), 0.1)]
        if len(grids) > 1:
            checks.append(Check(case, f"{label}: observed order of the sigma2_{name} error, "
                                f"{grids[0]}^2 -> {grids[1]}^2 (MUSCL, second order)", 2.0,
                                float(np.log2(errors[0] / errors[1])), 0.3, relative=False,
                                kind="at_least"))
    # the toy model's sigma_xyy (sigma^qm_xy of Qiang et al.) for every form, T = 0.01
    ratios = (0.5, 1.0, 2.0)
    names = FORMS + tuple(BAND_FORMS) + tuple(f"matrix_r{r:g}" for r in ratios)
    values = {name: [] for name in names}
    tilts = (0.0, 0.25, 0.5, 0.9)
    for tilt in tilts:
        model = {**TOY003, "parameters": {"t": tilt}}
        forms = tau0_forms(model, [400, 400], 0.15, 0.01, ratios=ratios, mu_reference=0.0)
        for name in names:
            values[name].append(forms[name][0, 1, 1])
        checks.append(Check(case, f"toy003 t/v={tilt:g}: tau^0 sigma_xyy, Laurent vs closed "
                            "form", float(forms["closed_r1"][0, 1, 1]),
                            float(forms["matrix_r1"][0, 1, 1]), 1e-6,
                            relative=tilt != 0.0))
    for name in names:
        ctx.log(f"  toy003 tau^0 sigma_xyy {name:>24}: "
                + " ".join(f"{v: .5f}" for v in values[name]) + f"  (t/v = {tilts})")
    figure, axis = plt.subplots(figsize=(6, 4))
    for name in names:
        axis.plot(tilts, values[name], "o-" if name.startswith("matrix") else "s--",
                  label=name.upper() if not name.startswith("matrix") else
                  f"matrix mode, tau_inter = {name[8:]} tau")
    _finish(ctx, figure, ("t / v", "tau^0 sigma_xyy  (e^3 / (hbar eV))",
                          "Qiang et al. toy model, mu = 0.15 eV, T = 0.01 eV"),
            "quantum_metric_toy003.png")
    return checks


CASES = [Case("quantum_metric_fast",
              "tau^0 term: matrix-mode and band-mode simulations vs k-space references",
              fast_case),
         Case("quantum_metric_tau_scan",
              "tau^0 term extracted from matrix-mode simulations over tau (Rice-Mele)",
              tau_scan_case, fast=False),
         Case("quantum_metric_2d",
              "tau^0 term: matrix mode on QWZ and the Qiang et al. toy model; the forms compared",
              models_case, fast=False)]
