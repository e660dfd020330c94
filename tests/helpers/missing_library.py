"""A shared library that needs another this computer lacks, as Qt's xcb plugin does on a fresh Linux without
libxcb-icccm4: it is linked against a library that is deleted once linked (real ELF files, a real loader)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

ABSENT = "libmoss-absent.so.1"
"""The library the built one needs; Debian would name its package libmoss-absent1."""


def compiler() -> str | None:
    return shutil.which("cc") or shutil.which("gcc")


def write_library_needing_an_absent_one(path: Path) -> None:
    cc = compiler()
    if cc is None:
        raise RuntimeError("no C compiler (cc or gcc) to build a test library with")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        build = Path(folder)
        (build / "absent.c").write_text("int moss_absent(void) { return 1; }\n")
        (build / "needing.c").write_text("int moss_absent(void);\nint moss_needing(void) { return moss_absent(); }\n")
        absent = build / ABSENT
        soname = f"-Wl,-soname,{ABSENT}"
        subprocess.run([cc, "-shared", "-fPIC", soname, "-o", str(absent), str(build / "absent.c")], check=True)
        (build / "libmoss-absent.so").symlink_to(absent.name)
        link = [cc, "-shared", "-fPIC", "-o", str(path), str(build / "needing.c"), f"-L{build}", "-lmoss-absent"]
        subprocess.run(link, check=True)
