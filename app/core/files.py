"""Writing files so that a crash, a kill or a full disk never leaves half a file in place of a good one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from app.core.errors import UserError


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, flush it to disk, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_file(path: Path, text: str, failure: str) -> None:
    """Write ``text`` as UTF-8 with :func:`write_atomically`; a failure (a full disk, no permission) is a UserError
    that begins with ``failure`` ("Could not save settings to …") and says what to do."""
    try:
        write_atomically(path, text.encode("utf-8"))
    except OSError as exc:
        raise UserError(f"{failure}: {exc.strerror or exc}. Check free disk space and permissions.") from exc
