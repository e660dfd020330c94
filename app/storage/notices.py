"""Notices about the history that stay until the person says they have read them.

Damage found in the history (a file set aside, what was recovered from it, a damaged journal kept) used to be
told once, to whichever process opened the history first: a ``moss history`` command run by a script, say,
and then never again. Such notices are now kept beside the database (``history.db.notices``, one a line),
shown by every command and at every start of the window, until they are dismissed: ``moss history dismiss``
or the window's "Don't show again". Deleting all data deletes the file too.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def notices_file(path: Path) -> Path:
    return path.with_name(path.name + ".notices")


def remember(path: Path, notice: str) -> None:
    """Add ``notice`` (on one line) to those kept for the history at ``path``."""
    lines = [*remembered(path), " ".join(notice.split())]
    target = notices_file(path)
    temporary = target.with_name(target.name + ".tmp")
    try:
        temporary.write_text("\n".join(lines) + "\n", encoding="utf-8")
        temporary.replace(target)
    except OSError as exc:  # then it is shown this once, like before
        log.warning("could not keep the history notice in %s: %s", target, exc)
        temporary.unlink(missing_ok=True)


def remembered(path: Path) -> tuple[str, ...]:
    """The notices kept for the history at ``path``, oldest first."""
    try:
        text = notices_file(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ()
    return tuple(line for line in text.splitlines() if line.strip())


def forget(path: Path) -> None:
    """Dismiss the notices kept for the history at ``path``."""
    notices_file(path).unlink(missing_ok=True)
