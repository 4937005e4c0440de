"""The fast regression subset (``make test``): every fast case of scripts/verification.

Each case compares simulations with independent predictions (analytic results, k-space
formulas, exact quantum evolution) at its stated tolerance; ``make verify`` runs the same
cases at full resolution and writes output/verification.md.
"""

import pytest
from petsc4py import PETSc

from scripts.verification import Context, registry
from scripts.verify import table

FAST = [case for case in registry() if case.fast]


def test_every_acceptance_area_has_a_fast_case():
    modules = {case.run.__module__.rsplit(".", 1)[-1] for case in FAST}
    from scripts.verification import MODULES

    assert modules == set(MODULES), sorted(set(MODULES) - modules)


@pytest.mark.parametrize("case", FAST, ids=[case.name for case in FAST])
def test_regression_case(case, tmp_path):
    checks = case.run(Context(tmp_path, PETSc.COMM_SELF, full=False))
    assert checks, f"case {case.name} returned no checks"
    failed = [c for c in checks if not c.passed]
    assert not failed, "\n".join(table(failed))
