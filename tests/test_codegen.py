"""Acceptance item 5: generated kernels (moyal/_generated) vs lambdify, determinism, check."""
import importlib
import shutil
import subprocess
import sys

import numpy as np
import sympy as sp

from moyal import abi, codegen

MODULES = codegen.kernel_modules()
RNG = np.random.default_rng(20240605)


def generated(module):
    return importlib.import_module(f"moyal._generated.{module.name}")


def test_generated_expression_kernels_equal_lambdify():
    for module in MODULES:
        kernels = generated(module)
        hbar = sp.Symbol("hbar", positive=True)
        for function in module.functions:
            if function.structure != "expression":
                continue
            inputs = {str(a): RNG.normal(size=7) for a in function.arguments}
            reference = sp.lambdify((*function.arguments, hbar), function.expression, "numpy")
            expected = reference(*inputs.values(), 0.7)
            np.testing.assert_allclose(getattr(kernels, function.name)(**inputs, hbar=0.7),
                                       expected, rtol=1e-12, atol=1e-12)


def test_generated_matrix_kernels_equal_sympy_products():
    module = codegen.matrix_mode_module()
    kernels = generated(module)
    hbar = sp.Symbol("hbar", positive=True)
    for function in module.functions:
        field = RNG.normal(size=(2, 2)) if function.structure != "scalar" else RNG.normal()
        distribution = RNG.normal(size=(2, 2)) + 1j * RNG.normal(size=(2, 2))
        a = sp.Matrix(field) if function.structure != "scalar" else sp.Float(field) * sp.eye(2)
        b = sp.Matrix(distribution)
        sign = -1 if function.structure == "commutator" else 1
        product = a * b + sign * b * a if function.structure != "scalar" else a * b
        expected = np.array((function.expression * product).subs(hbar, 0.7).evalf(), dtype=complex)
        result = getattr(kernels, function.name)(np.asarray(field), distribution, hbar=0.7)
        np.testing.assert_allclose(result, expected, rtol=1e-12, atol=1e-12)


def test_committed_kernels_are_up_to_date():
    assert codegen.check() == []


def test_regenerating_twice_is_byte_identical(tmp_path):
    # separate interpreters: hash randomisation must not leak into the output
    outputs = []
    for run, seed in enumerate(("1", "2")):
        directory = tmp_path / f"run{run}"
        subprocess.run([sys.executable, "-m", "moyal.codegen", "write", "--directory",
                        str(directory)], check=True, capture_output=True,
                       env={"PYTHONHASHSEED": seed, "PATH": ""}, cwd=codegen.Path(
                           codegen.__file__).parents[1])
        outputs.append({p.name: p.read_bytes() for p in sorted(directory.iterdir())})
    assert outputs[0] == outputs[1]


def test_check_catches_an_edited_kernel(tmp_path):
    directory = tmp_path / "_generated"
    shutil.copytree(codegen.GENERATED_DIRECTORY, directory)
    assert codegen.main(["check", "--directory", str(directory)]) == 0
    target = directory / "band_mode_1d.py"
    target.write_text(target.read_text().replace("0.5", "0.55", 1))
    problems = codegen.check(directory)
    assert len(problems) == 1 and "band_mode_1d.py" in problems[0] and "edited" in problems[0]
    assert codegen.main(["check", "--directory", str(directory)]) == 1


def test_check_catches_a_stale_kernel(tmp_path):
    directory = tmp_path / "_generated"
    shutil.copytree(codegen.GENERATED_DIRECTORY, directory)
    target = directory / "scalar_wigner_1d.py"
    lines = target.read_text().splitlines(keepends=True)
    lines[1] = "# signature: sha256:" + "0" * 64 + "\n"
    target.write_text("".join(lines))
    problems = codegen.check(directory)
    assert len(problems) == 1 and "scalar_wigner_1d.py" in problems[0] and "stale" in problems[0]


def test_check_catches_an_edited_c_kernel(tmp_path):
    directory = tmp_path / "_generated"
    shutil.copytree(codegen.GENERATED_DIRECTORY, directory)
    target = directory / codegen.C_FILE
    target.write_text(target.read_text().replace("2 * prod", "3 * prod", 1))
    problems = codegen.check(directory)
    assert len(problems) == 1 and codegen.C_FILE in problems[0] and "edited" in problems[0]


def test_c_kernel_prints_every_plain_flux_term():
    """Each generated C velocity sums exactly the plain terms of its grid axis and order."""
    source = codegen.c_kernel_source()
    assert source.startswith(codegen.C_HEADER + "\n/* signature: sha256:")
    for layout in abi.LAYOUTS:
        module = codegen.band_mode_module(len([d for d in layout if d != "x"]))
        for order in abi.ORDERS:
            name = abi.function_name(layout, order)
            for axis, direction in enumerate(layout):
                expected = [k.name for k in module.kernels if k.direction == direction
                            and k.kind == "plain" and k.order <= order]
                head = f"/* {name}, axis {axis} ({direction}): face velocity = sum of "
                assert head + (", ".join(expected) or "no terms") + "." in source, head


def test_c_struct_is_printed_from_the_abi():
    """The C typedef and the ctypes mirror come from the one list moyal.abi.FIELDS."""
    assert abi.c_struct() in codegen.c_kernel_source()
    assert [name for name, *_ in abi.ctypes_structure()._fields_] == \
        [name for name, *_ in abi.FIELDS]
