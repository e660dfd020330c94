"""Opening the history database: pragmas, schema migrations, and what to do with a file that cannot be used.

- WAL journal (readers never block the writer; a killed process loses nothing that was committed),
  foreign keys on, and a busy timeout so the CLI and the app can share the file.
- The schema version lives in ``PRAGMA user_version``. Migrations run in order, each in its own
  transaction, after a backup copy of the file (``history.db.v1-backup``) has been made.
- A database written by a newer Moss is refused (``HistoryError``): an older app must not rewrite it.
- A file that is not a readable SQLite database is moved aside (``history.corrupt-<time>.db``), never
  overwritten, and a new empty history is started; the caller is told where the old file went.
"""

from __future__ import annotations

import glob
import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app.core.errors import HistoryError
from app.storage.schema import MIGRATIONS

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
_SIDE_FILES = ("-wal", "-shm")
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26  # primary result codes (the low byte of an extended code)


@dataclass(frozen=True, slots=True)
class OpenedDatabase:
    connection: sqlite3.Connection
    notices: tuple[str, ...]  # things the person should be told (a damaged file set aside, an upgrade)


def connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """A connection with Moss's pragmas. Autocommit mode: transactions are explicit (``with transaction``)."""
    if read_only:
        connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, isolation_level=None)
    else:
        connection = sqlite3.connect(path, isolation_level=None)
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    connection.execute("PRAGMA foreign_keys = ON")
    if not read_only:
        # In WAL mode NORMAL syncs at checkpoints only: a killed process loses nothing committed, a power cut
        # at most the last commits; and a commit costs no fsync, which keeps saving a streaming reply cheap.
        connection.execute("PRAGMA synchronous = NORMAL")
    return connection


def open_database(path: Path, migrations: Sequence[str] = MIGRATIONS) -> OpenedDatabase:
    """Open (or create) the history at ``path``, migrated to the newest schema in ``migrations``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    notices: list[str] = []
    try:
        connection = _open_checked(path)
    except sqlite3.DatabaseError as exc:
        if not is_damaged(exc):  # locked by another process, no permission: not a reason to move the file
            raise HistoryError(
                f"Moss could not open your history at {path}: {exc}. Close other copies of Moss and try again."
            ) from exc
        aside = set_aside(path)
        log.error("history database %s is unreadable (%s); moved to %s", path, exc, aside)
        notices.append(
            f"Your history file could not be read ({exc}), so Moss moved it to {aside} and started a new "
            "history. Nothing in the old file was changed."
        )
        connection = _open_checked(path)
    try:
        _migrate(connection, path, migrations, notices)
    except BaseException:
        connection.close()
        raise
    return OpenedDatabase(connection, tuple(notices))


def is_damaged(exc: sqlite3.DatabaseError) -> bool:
    """Whether SQLite says the file is not a database or is corrupt (as opposed to busy or unreadable)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(exc)
    return "not a database" in text or "malformed" in text


def _open_checked(path: Path) -> sqlite3.Connection:
    """Connect and prove the file is a database (reading the schema fails on garbage or a damaged header)."""
    connection = connect(path)
    try:
        connection.execute("PRAGMA journal_mode = WAL").fetchone()
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version:
            # The tables the app reads first: damage there shows now, not in the middle of a session.
            connection.execute("SELECT count(*) FROM conversations").fetchone()
    except BaseException:
        connection.close()
        raise
    return connection


def set_aside(path: Path) -> Path:
    """Move a damaged database (and its WAL files) to a new name beside it; returns the new path."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.stem}.corrupt-{stamp}{path.suffix}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.stem}.corrupt-{stamp}-{n}{path.suffix}")
    path.rename(aside)
    for suffix in _SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.rename(aside.with_name(aside.name + suffix))
    return aside


def _migrate(connection: sqlite3.Connection, path: Path, migrations: Sequence[str], notices: list[str]) -> None:
    version = int(connection.execute("PRAGMA user_version").fetchone()[0])
    newest = len(migrations)
    if version > newest:
        raise HistoryError(
            f"The history at {path} was written by a newer version of Moss (history format {version}; this "
            f"Moss reads up to {newest}). Update Moss to open it; it was left as it is."
        )
    if version == newest:
        return
    if version > 0:
        backup = backup_copy(connection, path, version)
        notices.append(f"Moss updated your history to a new format; a copy of the old one is at {backup}.")
    for target in range(version + 1, newest + 1):
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(migrations[target - 1]):
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {target}")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        log.info("history database migrated to version %d", target)


def delete_database_files(path: Path) -> list[str]:
    """Delete the database at ``path`` and every file that belongs to it: its WAL files, the copies made
    before upgrades (:func:`backup_copy`) and damaged files set aside (:func:`set_aside`). Returns the files
    that could not be deleted, with why (another program holding one, on Windows)."""
    doomed = [path, *(path.with_name(path.name + side) for side in _SIDE_FILES)]
    doomed += sorted(path.parent.glob(f"{glob.escape(path.name)}.v*-backup"))
    doomed += sorted(path.parent.glob(f"{glob.escape(path.stem)}.corrupt-*"))
    failed: list[str] = []
    for file in doomed:
        try:
            file.unlink(missing_ok=True)
        except OSError as exc:
            failed.append(f"{file.name} ({exc.strerror or exc})")
    return failed


def backup_copy(connection: sqlite3.Connection, path: Path, version: int) -> Path:
    """A consistent copy of the database (SQLite's online backup) beside it, named for its version."""
    backup = path.with_name(f"{path.name}.v{version}-backup")
    target = sqlite3.connect(backup)
    try:
        connection.backup(target)
    finally:
        target.close()
    return backup


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (``executescript`` would commit the open transaction)."""
    statements: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    if current.strip():
        raise ValueError(f"incomplete SQL statement in a migration: {current.strip()[:60]}")
    return statements
