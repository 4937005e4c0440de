"""Cached PETSc wheels serve every clone: RUNPATHs into the build venv become $ORIGIN-relative.

A wheel whose library links a library of the build venv (as libpetsc links the mpich wheel's
libmpi in ``<venv>/lib``) is relocated, installed into a *different* prefix, the build prefix
deleted, and the library must still load and call into its dependency.
"""

import ctypes
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from scripts.relocate_wheel import relocate, relocated_runpath


def compiler() -> str:
    # the system compiler: the venv's mpicc would add an RUNPATH of its own
    found = shutil.which("cc") or shutil.which("gcc")
    assert found, "no C compiler on PATH (PETSc's build needs one too)"
    return found


def build_wheel(tmp: Path, prefix: Path) -> Path:
    """A wheel ``demo`` whose ``demo/lib/libmain.so`` needs ``libdep.so`` from prefix/lib."""
    (prefix / "lib").mkdir(parents=True)
    (tmp / "dep.c").write_text("int dep(void) { return 42; }\n")
    (tmp / "main.c").write_text("int dep(void);\nint twice_dep(void) { return 2 * dep(); }\n")
    subprocess.run([compiler(), "-shared", "-fPIC", "-o", str(prefix / "lib" / "libdep.so"),
                    str(tmp / "dep.c")], check=True)
    root = tmp / "demo-1.0"
    (root / "demo" / "lib").mkdir(parents=True)
    subprocess.run([compiler(), "-shared", "-fPIC", "-o", str(root / "demo/lib/libmain.so"),
                    str(tmp / "main.c"), f"-L{prefix}/lib", "-ldep",
                    f"-Wl,-rpath,{prefix}/lib:/usr/lib/elsewhere", "-Wl,--enable-new-dtags"],
                   check=True)
    info = root / "demo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
    (info / "WHEEL").write_text("Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\n"
                                "Tag: py3-none-linux_x86_64\n")
    (info / "RECORD").write_text("")
    (tmp / "built").mkdir()
    subprocess.run([sys.executable, "-m", "wheel", "pack", "-d", str(tmp / "built"),
                    str(root)], check=True, capture_output=True)
    return next((tmp / "built").glob("*.whl"))


def test_relocated_wheel_loads_from_another_prefix_after_the_build_prefix_is_gone(tmp_path):
    first, second = tmp_path / "clone1" / ".venv", tmp_path / "clone2" / ".venv"
    wheel = build_wheel(tmp_path, first)
    out = tmp_path / "cache"
    out.mkdir()
    changes = relocate(wheel, first, out)
    assert [c[0] for c in changes] == ["demo/lib/libmain.so"]
    assert changes[0][2] == "$ORIGIN/../../../..:/usr/lib/elsewhere"  # system entry kept
    # install into the second prefix (its own copy of the dependency), remove the first
    site = Path(sysconfig.get_path("platlib", vars={"base": str(second),
                                                     "platbase": str(second)}))
    with zipfile.ZipFile(next(out.glob("*.whl"))) as archive:
        archive.extractall(site)
        assert "demo/lib/libmain.so" in archive.read("demo-1.0.dist-info/RECORD").decode()
    (second / "lib").mkdir(parents=True, exist_ok=True)
    shutil.copy(first / "lib" / "libdep.so", second / "lib" / "libdep.so")
    shutil.rmtree(tmp_path / "clone1")
    library = ctypes.CDLL(str(site / "demo" / "lib" / "libmain.so"))
    assert library.twice_dep() == 84


def test_runpath_entries_outside_the_prefix_are_kept():
    prefix = Path("/a/venv")
    origin = prefix / "lib/python3.11/site-packages/petsc4py/lib"
    assert relocated_runpath("/a/venv/lib/python3.11/site-packages/petsc/lib:/a/venv/lib:"
                             "/usr/lib/x86_64-linux-gnu:/a/venv2/lib", origin, prefix) \
        == "$ORIGIN/../../petsc/lib:$ORIGIN/../../../..:/usr/lib/x86_64-linux-gnu:/a/venv2/lib"


def test_repoint_rewrites_text_files_and_leaves_binaries_whatever_their_order(tmp_path):
    """The installed PETSc's configuration names the venv it was built in. Its text files are
    re-pointed; binaries holding the string (libpetsc.so, .pyc) are untouched, and a binary
    listed last does not make the step fail (a shell loop over ``grep -l`` ended in a failing
    ``grep -qI`` on the last, binary, file and stopped the install with exit 1 and no message).
    """
    old, new = "/build/clone1/.venv", "/home/u/clone2/.venv"
    lib = tmp_path / "lib"
    (lib / "petsc" / "conf").mkdir(parents=True)
    (lib / "pkgconfig").mkdir()
    (lib / "zz_cache").mkdir()
    variables = lib / "petsc" / "conf" / "petscvariables"
    variables.write_text(f"PETSC_DIR = {old}/lib/petsc\nMPICC = {old}/bin/mpicc\n")
    pc = lib / "pkgconfig" / "petsc.pc"
    pc.write_text(f"prefix={old}/lib/python3.11/site-packages/petsc\n")
    binaries = {lib / "libpetsc.so": b"\x7fELF\0\0" + old.encode() + b"\0",
                lib / "zz_cache" / "z.pyc": b"\xa7\r\r\n\0\0" + old.encode()}
    for path, data in binaries.items():
        path.write_bytes(data)
    unrelated = lib / "zz_cache" / "notes.txt"
    unrelated.write_text("nothing to change\n")

    done = subprocess.run([sys.executable, str(Path(__file__).parents[1] / "scripts" /
                                                "relocate_wheel.py"), "--repoint", old, new,
                           str(lib)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert variables.read_text() == f"PETSC_DIR = {new}/lib/petsc\nMPICC = {new}/bin/mpicc\n"
    assert pc.read_text() == f"prefix={new}/lib/python3.11/site-packages/petsc\n"
    assert unrelated.read_text() == "nothing to change\n"
    for path, data in binaries.items():
        assert path.read_bytes() == data
    assert sorted(done.stdout.splitlines()) == sorted(
        f"[install] {path}: {old} -> {new}" for path in (variables, pc))
