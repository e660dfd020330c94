"""Opening the history database: pragmas, schema migrations, and what to do with a file that cannot be used.

- WAL journal (readers never block the writer; a killed process loses nothing that was committed),
  foreign keys on, and a busy timeout so the CLI and the app can share the file.
- The schema version lives in ``PRAGMA user_version``. Migrations run in order, each in its own
  transaction, after a backup copy of the file (``history.db.v1-backup``) has been made.
- A database written by a newer Moss is refused (``HistoryError``): an older app must not rewrite it.
- A damaged file (SQLite says "corrupt" or "not a database") is moved aside (``history.corrupt-<time>.db``),
  never changed, and what SQLite can still read of it is recovered into a new history (app.storage.salvage).
  Damage is found when a statement reads a damaged page: at open (the tables read first; the window also
  runs SQLite's ``quick_check`` of the whole file at its start), or later by a command, which then calls
  :func:`replace_damaged` and runs again. The person is told every time until they dismiss it
  (app.storage.notices).
- A journal (``history.db-wal``) left by a crash is copied aside before SQLite reads it, and kept when SQLite
  had to leave committed changes out of it (app.storage.wal_guard).
- Another process holding the write lock is waited for (5 s, or longer where asked), then reported as a
  :class:`HistoryError` saying so; busy and damaged are never confused.
"""

from __future__ import annotations

import glob
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from app.core.errors import HistoryError
from app.storage import notices as kept_notices
from app.storage import wal_guard, writers
from app.storage.salvage import salvage
from app.storage.schema import MIGRATIONS

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
_SIDE_FILES = ("-wal", "-shm")
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26  # primary result codes (the low byte of an extended code)
_MALFORMED = "database disk image is malformed"
_FTS_TABLE = re.compile(r"CREATE VIRTUAL TABLE (\w+) USING fts5")
_LOCKED = (
    "Your history is locked by another program (another copy of Moss, or a `moss` command), so nothing was "
    "written. Try again when it has finished."
)


@dataclass(frozen=True, slots=True)
class OpenedDatabase:
    connection: sqlite3.Connection
    notices: tuple[str, ...]  # things the person should be told (damage found and recovered, an upgrade)
    lasting: bool = False  # some of them are shown until dismissed (app.storage.notices)


def connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """A connection with Moss's pragmas. Autocommit mode: transactions are explicit (``with transaction``)."""
    if read_only:
        connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, isolation_level=None)
    else:
        connection = sqlite3.connect(path, isolation_level=None)
    connection.text_factory = decode_text
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    connection.execute("PRAGMA foreign_keys = ON")
    if not read_only:
        # In WAL mode NORMAL syncs at checkpoints only: a killed process loses nothing committed, a power cut
        # at most the last commits; and a commit costs no fsync, which keeps saving a streaming reply cheap.
        connection.execute("PRAGMA synchronous = NORMAL")
    writers.register(connection)
    return connection


def decode_text(raw: bytes) -> str:
    """Text from SQLite as a str. Text that is not UTF-8 (written by another program, or read from a damaged
    page) has its odd bytes replaced: Python's default refuses the whole row, and so every command listing it."""
    return raw.decode("utf-8", "replace")


def open_database(path: Path, migrations: Sequence[str] = MIGRATIONS, *, full_check: bool = False) -> OpenedDatabase:
    """Open (or create) the history at ``path``, migrated to the newest schema in ``migrations``.

    ``full_check``: also read every page (SQLite's ``quick_check``, about 0.2 s for 130 MB), so that damage
    anywhere is found and recovered now; the window does it at its start."""
    path.parent.mkdir(parents=True, exist_ok=True)
    notices: list[str] = []
    held_log = wal_guard.hold(path)
    try:
        connection = _open_checked(path, full_check=full_check, migrations=migrations)
    except sqlite3.DatabaseError as exc:
        if held_log is not None:  # the journal goes aside with the damaged file, as it is
            held_log.unlink(missing_ok=True)
        if not is_damaged(exc):  # locked by another process, no permission: not a reason to move the file
            raise HistoryError(
                f"Moss could not open your history at {path}: {exc}. Close other copies of Moss and try again."
            ) from exc
        connection = replace_damaged(path, str(exc), migrations)
    else:
        try:
            if held_log is not None and (damaged_log := wal_guard.check(connection, path, held_log)):
                kept_notices.remember(path, damaged_log)
            _migrate(connection, path, migrations, notices)
        except sqlite3.DatabaseError as exc:  # damage met by an upgrade (its backup reads every page)
            connection.close()
            if not is_damaged(exc):
                raise
            connection = replace_damaged(path, str(exc), migrations)
        except BaseException:
            connection.close()
            raise
    lasting = kept_notices.remembered(path)
    return OpenedDatabase(connection, (*notices, *lasting), bool(lasting))


def replace_damaged(path: Path, problem: str, migrations: Sequence[str] = MIGRATIONS) -> sqlite3.Connection:
    """Move the damaged history at ``path`` aside, start a new one there holding what can still be read of the
    old one, and keep a notice saying so. Returns the new history's connection, migrated."""
    try:
        aside = set_aside(path)
    except OSError as exc:  # on Windows, another program holding the file open
        raise HistoryError(
            f"Your history at {path} is damaged ({problem}), and Moss could not move it aside to recover it "
            f"({exc.strerror or exc}). Close other copies of Moss and try again."
        ) from exc
    log.error("history database %s is damaged (%s); moved to %s", path, problem, aside)
    connection = _open_checked(path)
    try:
        _migrate(connection, path, migrations, [])
        found = salvage(aside, connection)
    except BaseException:
        connection.close()
        raise
    if found.conversations or found.messages:
        notice = (
            f"Your history file was damaged ({problem}). Moss recovered {found.describe()} into a new history. "
            f"The damaged file is kept, unchanged, at {aside}."
        )
    else:
        notice = (
            f"Your history file could not be read ({problem}), so Moss moved it to {aside} and started a new "
            "history. Nothing in the old file was changed."
        )
    kept_notices.remember(path, notice)
    return connection


def is_damaged(exc: sqlite3.Error) -> bool:
    """Whether SQLite says the file is not a database or is corrupt (as opposed to busy or unreadable); a
    full-text index that cannot be read ("invalid fts5 file format") is damage too."""
    code = getattr(exc, "sqlite_errorcode", None)
    text = str(exc)
    if "fts5" in text and ("file format" in text or "corrupt" in text):
        return True
    if code is not None:
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    return "not a database" in text or "malformed" in text


def is_busy(exc: sqlite3.Error) -> bool:
    """Whether SQLite says another connection holds a lock that was not released in time."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    return "database is locked" in str(exc)


def begin_write(
    connection: sqlite3.Connection, *, patience_s: float | None = None, on_wait: Callable[[str], None] | None = None
) -> None:
    """``BEGIN IMMEDIATE``: take the write lock, waiting for another writer to finish.

    Without ``patience_s``, the usual wait (:data:`BUSY_TIMEOUT_MS`). With it (an import, which nobody sees
    happen and which is worth the wait), a lock held by another process is waited for up to ``patience_s``,
    ``on_wait`` being told so first. A lock still held after that is a :class:`HistoryError` saying so."""
    if patience_s is None:
        _begin(connection, BUSY_TIMEOUT_MS)
        return
    try:
        _begin(connection, 0)
        return
    except HistoryError:
        pass
    if on_wait is not None:
        on_wait(f"Another copy of Moss is writing to your history; waiting up to {patience_s:.0f} s for it…")
    try:
        _begin(connection, int(patience_s * 1000))
    except HistoryError:
        raise HistoryError(
            f"Your history stayed locked by another program for {patience_s:.0f} s, so nothing was written. "
            "Close other copies of Moss (or wait for a `moss` command to finish) and try again."
        ) from None


def _begin(connection: sqlite3.Connection, timeout_ms: int) -> None:
    connection.execute(f"PRAGMA busy_timeout = {timeout_ms}")
    try:
        connection.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if is_busy(exc):
            raise HistoryError(_LOCKED) from exc
        raise
    finally:
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


def _open_checked(
    path: Path, *, full_check: bool = False, migrations: Sequence[str] = MIGRATIONS
) -> sqlite3.Connection:
    """Connect and prove the file is a database (reading the schema fails on garbage or a damaged header), with
    the tables and columns of its version (a damaged schema page can drop some); ``full_check``: every page."""
    try:
        connection = connect(path)
    except UnicodeDecodeError as exc:  # SQLite's complaint quotes the damaged schema, which is not UTF-8
        raise sqlite3.DatabaseError(f"{_MALFORMED} (its list of tables cannot be read)") from exc
    try:
        connection.execute("PRAGMA journal_mode = WAL").fetchone()
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version:
            # The tables the app reads first: damage there shows now, not in the middle of a session.
            connection.execute("SELECT count(*) FROM conversations").fetchone()
        known = migrations[:version] if version <= len(migrations) else None  # a newer one is refused later
        problem = schema_problem(connection, known) if known and version == len(migrations) else None
        if problem is None and full_check and version:
            problem = find_damage(connection, known)
        if problem is not None:
            raise sqlite3.DatabaseError(problem)
    except UnicodeDecodeError as exc:
        connection.close()
        raise sqlite3.DatabaseError(f"{_MALFORMED} (its list of tables cannot be read)") from exc
    except BaseException:
        connection.close()
        raise
    return connection


def find_damage(connection: sqlite3.Connection, migrations: Sequence[str] | None = MIGRATIONS) -> str | None:
    """What is damaged in the open history, in SQLite's words, or None: the tables and columns (those that
    ``migrations`` make, when given), every page (``quick_check``, about 0.2 s for 130 MB) and the full-text
    indexes' own tables (a query of each)."""
    try:
        problem = schema_problem(connection, migrations) if migrations else None
        if problem is not None:
            return problem
        rows = connection.execute("PRAGMA quick_check").fetchall()
        if rows != [("ok",)]:
            log.error("quick_check of the history: %s", "; ".join(str(row[0]) for row in rows[:5]))
            return _MALFORMED
        for index in _full_text_indexes(tuple(migrations) if migrations else None, connection):
            connection.execute(f"SELECT rowid FROM {index} WHERE {index} MATCH 'moss' LIMIT 1").fetchall()
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
        return str(exc) if isinstance(exc, sqlite3.DatabaseError) and is_damaged(exc) else _MALFORMED
    return None


def _full_text_indexes(migrations: tuple[str, ...] | None, connection: sqlite3.Connection) -> list[str]:
    """The FTS5 tables of the history: those ``migrations`` make (an older file lacks later ones), else those
    its schema lists."""
    if migrations is None:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL TABLE%fts5%'")
        return [str(row[0]) for row in rows]
    return [name for migration in migrations for name in _FTS_TABLE.findall(migration)]


def schema_problem(connection: sqlite3.Connection, migrations: Sequence[str] = MIGRATIONS) -> str | None:
    """A column the history's tables should have (at the version of ``migrations``) and lack, in words."""
    for table, columns in _expected_columns(tuple(migrations)).items():
        present = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
        missing = [column for column in columns if column not in present]
        if missing:
            return f"{_MALFORMED} (its {table} table lacks the column {missing[0]})"
    return None


@cache
def _expected_columns(migrations: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """The columns of the history's tables that ``migrations`` make (built once, in memory)."""
    memory = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for migration in migrations:
            for statement in _statements(migration):
                memory.execute(statement)
        return {
            table: tuple(row[1] for row in memory.execute(f"PRAGMA table_info({table})"))
            for table in ("conversations", "messages")
        }
    finally:
        memory.close()


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
    before upgrades (:func:`backup_copy`), damaged files set aside (:func:`set_aside`), damaged journals
    kept and the notices about them. Returns the files
    that could not be deleted, with why (another program holding one, on Windows)."""
    doomed = [path, *(path.with_name(path.name + side) for side in _SIDE_FILES), kept_notices.notices_file(path)]
    doomed += sorted(path.parent.glob(f"{glob.escape(path.name)}.v*-backup"))
    doomed += sorted(path.parent.glob(f"{glob.escape(path.name)}-wal.*"))  # journals kept by wal_guard
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
