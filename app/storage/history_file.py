"""The history's file and its connection, under the conversations (app.storage.history builds on this).

What belongs to the file rather than to conversations: the notices about it (damage found and recovered,
shown until dismissed), write transactions that wait for another writer, replacing a file found damaged
while in use, and erasing everything.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from app.core.errors import HistoryError
from app.storage import notices as kept_notices
from app.storage.database import begin_write, delete_database_files, open_database, replace_damaged

log = logging.getLogger(__name__)


class HistoryFile:
    """One connection to the history at ``file``. Used from one thread (SQLite connections are not shared)."""

    def __init__(
        self, connection: sqlite3.Connection, path: Path, notices: Sequence[str] = (), *, lasting: bool = False
    ) -> None:
        self._db = connection
        self.file = path
        self.notices = tuple(notices)
        self.lasting = lasting  # some notices stay until :meth:`dismiss_notices`

    @property
    def connection(self) -> sqlite3.Connection:
        """The store's connection, for the storage modules that work on it (search, import and export)."""
        return self._db

    def close(self) -> None:
        self._db.close()

    def dismiss_notices(self) -> None:
        """The person has read the notices: stop showing them (here, in the window and on the command line)."""
        kept_notices.forget(self.file)
        self.notices = ()
        self.lasting = False

    def repair(self, problem: str) -> None:
        """The file was found damaged while in use (``problem``: SQLite's words): set it aside, continue on a new
        history holding what could still be read of it, and keep a notice saying so (app.storage.database)."""
        self._db.close()
        self._db = replace_damaged(self.file, problem)
        self.notices = kept_notices.remembered(self.file)
        self.lasting = True

    def erase_all(self) -> None:
        """Delete the whole history and start an empty one at the same path, in this object (so every holder of
        the store keeps working): the database with its WAL files, the copies made before upgrades
        (``history.db.vN-backup``), damaged files set aside (``history.corrupt-*.db``) and their notices.

        Deleting the files, rather than rows, is instant on a history of gigabytes and leaves none of the old
        text behind in free pages. Raises HistoryError naming what could not be deleted (another program
        holding the file, on Windows); the store is open again either way."""
        self._db.close()
        failed = delete_database_files(self.file)
        opened = open_database(self.file)
        self._db = opened.connection
        self.notices = ()
        self.lasting = False
        if failed:
            raise HistoryError(
                "Some history files could not be deleted: " + ", ".join(failed) + ". Close other copies of Moss "
                "and any `moss` commands, then try again."
            )

    @contextmanager
    def transaction(
        self, *, patience_s: float | None = None, on_wait: Callable[[str], None] | None = None
    ) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on any exception): all of it is written, or none of it.

        A write lock held by another process is waited for (app.storage.database.begin_write: 5 s, or
        ``patience_s`` with ``on_wait`` told first) and reported as a HistoryError."""
        begin_write(self._db, patience_s=patience_s, on_wait=on_wait)
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        # SQLite has already rolled back after some errors (a full disk, a damaged page): a second ROLLBACK
        # would fail and hide the error that matters.
        if self._db.in_transaction:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error as exc:
                log.warning("rollback failed: %s", exc)
