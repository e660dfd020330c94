"""Recovering what SQLite can still read from a damaged history, into a new one.

SQLite reports damage ("database disk image is malformed") only when a statement reads a damaged page, so one
bad page fails every statement that passes through it, while the rest of the file reads fine. Python's
``sqlite3`` offers no recovery (the ``.recover`` command lives in the ``sqlite3`` shell, which Windows lacks),
so Moss recovers row by row through SQLite itself:

- the row ids of each table are gathered from every place that lists them: the table walked in id order
  (skipping past a damaged stretch by seeking further and further on), its indexes, and the full-text
  index's own table of rows;
- each row is then read on its own, by id: a row on a damaged page fails alone (and a row whose record is
  damaged towards its end gives the columns that can still be read, one by one);
- rows are written into the new history with their ids, so conversations keep their numbers, and every
  value is brought into its kind and range (app.storage.bounds). What no longer fits together is mended
  rather than dropped: a message whose parent was lost starts a branch of its own, messages whose
  conversation was lost are gathered in a conversation titled "Recovered messages", and a conversation whose
  current message was lost shows its newest one.

The damaged file is only read (read-only), never changed: the caller keeps it beside the new history.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from app.storage.bounds import MAX_ROW_ID, sane_count, sane_rate, stored_id, stored_text, stored_time

log = logging.getLogger(__name__)

RECOVERED_TITLE = "Recovered messages"
_CHUNK = 500  # ids read per step of a table walk
_GUESSES = 4096  # a skipped stretch up to this long has each of its ids tried directly
_ROLES = ("system", "user", "assistant")
# What reading a damaged file raises: SQLite's errors, and text that is not UTF-8 in one of them (SQLite
# quotes the damaged schema when it complains about it).
_UNREADABLE = (sqlite3.DatabaseError, UnicodeDecodeError)


@dataclass(frozen=True, slots=True)
class Salvaged:
    """What a recovery brought back, and how many listed rows could not be read."""

    conversations: int
    messages: int
    lost_conversations: int  # listed in the damaged file, but unreadable
    lost_messages: int

    def describe(self) -> str:
        """What was recovered, in words: "12 conversations (80 messages); 3 messages could not be read"."""
        text = f"{_count(self.conversations, 'conversation')} ({_count(self.messages, 'message')})"
        lost = [
            _count(n, what)
            for n, what in ((self.lost_conversations, "conversation"), (self.lost_messages, "message"))
            if n
        ]
        return text + (f"; {' and '.join(lost)} could not be read" if lost else "")


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _text(value: object) -> str:
    return stored_text(value)


def _optional_text(value: object) -> str | None:
    return None if value is None else stored_text(value)


def _flag(value: object) -> int:
    return int(bool(value)) if isinstance(value, int | float) else 0


def _optional_time(value: object) -> float | None:
    return None if value is None else stored_time(value)


# The columns recovered, each with how a value read from a damaged file is made fit to write (the target's
# NOT NULL and CHECK constraints must hold, whatever the damaged page held).
_CONVERSATION: dict[str, Callable[[object], object]] = {
    "id": stored_id,
    "uid": _text,
    "title": _text,
    "title_by_user": _flag,
    "created_at": stored_time,
    "updated_at": stored_time,
    "model": _text,
    "reasoning_effort": lambda v: v if v in ("low", "medium", "high") else "medium",
    "system_prompt": _text,
    "sampling": lambda v: v if isinstance(v, str) else "{}",
    "pinned": _flag,
    "current_leaf_id": stored_id,
    "deleted_at": _optional_time,
    "source": lambda v: _text(v) or "moss",
}
_MESSAGE: dict[str, Callable[[object], object]] = {
    "id": stored_id,
    "conversation_id": stored_id,
    "parent_id": stored_id,
    "role": lambda v: v if v in _ROLES else None,
    "content": _text,
    "reasoning": _optional_text,
    "model": _text,
    "prompt_tokens": sane_count,
    "completion_tokens": sane_count,
    "tokens_per_second": sane_rate,
    "ttft_s": sane_rate,
    "finish_reason": _optional_text,
    "status": lambda v: v if v in ("complete", "interrupted") else "interrupted",  # nobody writes it now
    "created_at": stored_time,
    "selected_at": stored_time,
    "dropped_messages": lambda v: sane_count(v) or 0,
    "tool_calls": lambda v: v if isinstance(v, str) else "[]",
    # Kept as text even when damaged: it then reads as no steps (app.storage.rows.steps_of) and is indexed as
    # none (app.storage.schema V4), and the text stays there for whoever wants to look at it.
    "tool_steps": lambda v: v if isinstance(v, str) else "[]",
}
_REQUIRED = {"id", "role"}  # a message row without these cannot be placed


def salvage(damaged: Path, target: sqlite3.Connection) -> Salvaged:
    """Copy every readable conversation and message of the history at ``damaged`` into ``target`` (an empty
    history with Moss's schema), in one transaction."""
    try:
        source = sqlite3.connect(f"{damaged.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
        source.text_factory = lambda raw: raw.decode("utf-8", "replace")  # a damaged page holds any bytes
    except sqlite3.Error as exc:
        log.error("cannot open %s to recover it: %s", damaged, exc)
        return Salvaged(0, 0, 0, 0)
    try:
        return _salvage(source, target)
    finally:
        source.close()


def _salvage(source: sqlite3.Connection, target: sqlite3.Connection) -> Salvaged:
    conversations, lost_conversations = _read_table(
        source, "conversations", _CONVERSATION, ("sqlite_autoindex_conversations_1",), "titles_fts_docsize"
    )
    messages, lost_messages = _read_table(source, "messages", _MESSAGE, ("messages_children",), "messages_fts_docsize")
    target.execute("PRAGMA foreign_keys = OFF")  # rows arrive in id order; links are mended before the commit
    target.execute("BEGIN IMMEDIATE")
    try:
        uids: set[str] = set()
        for row in conversations:
            if not row["uid"] or row["uid"] in uids:  # lost, or a damaged copy of another's
                row["uid"] = uuid.uuid4().hex
            uids.add(str(row["uid"]))
            _insert(target, "conversations", row)
        kept = [row for row in messages if all(row.get(name) is not None for name in _REQUIRED)]
        _place(kept, [row["id"] for row in conversations])
        for row in kept:
            _insert(target, "messages", row)
        _mend(target)
        target.execute("COMMIT")
    except BaseException:
        target.execute("ROLLBACK")
        raise
    finally:
        target.execute("PRAGMA foreign_keys = ON")
    counted = target.execute("SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages)")
    n_conversations, n_messages = counted.fetchone()
    unplaced = len(messages) - len(kept)
    found = Salvaged(int(n_conversations), int(n_messages), lost_conversations, lost_messages + unplaced)
    log.info("recovered %s", found.describe())
    return found


def _place(messages: list[dict[str, object]], conversation_ids: list[object]) -> None:
    """Give a message whose conversation number was damaged its parent's conversation, or else a conversation
    of its own for all such messages (made by :func:`_mend`, titled "Recovered messages")."""
    conversation_of = {row["id"]: row["conversation_id"] for row in messages if row["conversation_id"] is not None}
    numbers = [n for n in (*conversation_ids, *conversation_of.values()) if isinstance(n, int)]
    recovered = min(max(numbers, default=0) + 1, MAX_ROW_ID)
    for row in messages:
        if row["conversation_id"] is None:
            row["conversation_id"] = conversation_of.get(row.get("parent_id")) or recovered


def _insert(db: sqlite3.Connection, table: str, row: dict[str, object]) -> None:
    names = [name for name, value in row.items() if value is not None]
    db.execute(
        f"INSERT OR IGNORE INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
        [row[name] for name in names],
    )


def _mend(db: sqlite3.Connection) -> None:
    """Make the recovered rows one consistent history again (see the module's docstring)."""
    db.execute(
        "INSERT INTO conversations (id, uid, title, title_by_user, created_at, updated_at) "
        "SELECT conversation_id, lower(hex(randomblob(16))), ?, 1, min(created_at), max(created_at) "
        "FROM messages WHERE conversation_id NOT IN (SELECT id FROM conversations) GROUP BY conversation_id",
        (RECOVERED_TITLE,),
    )
    # A parent is always older than its child (ids only grow), so a later or missing parent is damage; the
    # rule also rules out loops of parents, which no walk of the tree could finish.
    db.execute(
        "UPDATE messages SET parent_id = NULL WHERE parent_id IS NOT NULL AND (parent_id >= id OR NOT EXISTS ("
        "SELECT 1 FROM messages p WHERE p.id = messages.parent_id AND p.conversation_id = messages.conversation_id))"
    )
    db.execute(
        "UPDATE conversations SET current_leaf_id = (SELECT m.id FROM messages m WHERE m.conversation_id = "
        "conversations.id ORDER BY m.created_at DESC, m.id DESC LIMIT 1) WHERE current_leaf_id IS NULL OR NOT EXISTS ("
        "SELECT 1 FROM messages m WHERE m.id = conversations.current_leaf_id AND m.conversation_id = conversations.id)"
    )


def _read_table(
    db: sqlite3.Connection,
    table: str,
    columns: dict[str, Callable[[object], object]],
    indexes: Iterable[str],
    shadow: str | None = None,
) -> tuple[list[dict[str, object]], int]:
    """Every row of ``table`` that can be read, fitted, and how many listed rows could not be read."""
    try:
        present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
    except _UNREADABLE as exc:
        log.error("the damaged history's table %s cannot be read: %s", table, exc)
        return [], 0
    names = [name for name in columns if name in present]
    if "id" not in names:
        return [], 0
    listed, guessed = _row_ids(db, table, indexes, shadow)
    rows: list[dict[str, object]] = []
    unreadable = 0
    for rowid in sorted(listed | guessed):
        try:
            values = db.execute(f"SELECT {', '.join(names)} FROM {table} WHERE id = ?", (rowid,)).fetchone()
        except _UNREADABLE:
            values = _column_by_column(db, table, names, rowid)
            if values is None:
                unreadable += rowid in listed
                continue
        if values is not None:
            rows.append({name: columns[name](value) for name, value in zip(names, values, strict=True)})
    return rows, unreadable


def _column_by_column(db: sqlite3.Connection, table: str, names: list[str], rowid: int) -> tuple[object, ...] | None:
    """A row whose record is damaged towards its end: the columns that can still be read one by one (the text
    comes early in a record), None for the others; None when not even its id can be read."""
    values: list[object] = []
    for name in names:
        try:
            row = db.execute(f"SELECT {name} FROM {table} WHERE id = ?", (rowid,)).fetchone()
        except _UNREADABLE:
            row = (None,)
        if row is None:
            return None
        values.append(row[0])
    return tuple(values) if values[0] is not None else None


def _row_ids(
    db: sqlite3.Connection, table: str, indexes: Iterable[str], shadow: str | None
) -> tuple[set[int], set[int]]:
    """The ids ``table`` lists (walked in id order, and from its indexes and full-text shadow table), and ids
    inside damaged stretches of the walk that are worth trying one by one."""
    listed: set[int] = set()
    guessed: set[int] = set()
    _walk(db, table, listed, guessed)
    if shadow is not None:
        _walk(db, shadow, listed, set())
    for index in indexes:
        try:
            for (rowid,) in db.execute(f"SELECT id FROM {table} INDEXED BY {index}"):
                listed.add(rowid)
        except _UNREADABLE:  # a damaged index: what it gave so far is kept
            continue
    return {i for i in listed if isinstance(i, int) and 0 < i <= MAX_ROW_ID}, guessed - listed


def _walk(db: sqlite3.Connection, table: str, listed: set[int], guessed: set[int]) -> None:
    after = 0
    while after < MAX_ROW_ID:
        try:
            ids = db.execute(f"SELECT id FROM {table} WHERE id > ? ORDER BY id LIMIT {_CHUNK}", (after,)).fetchall()
        except _UNREADABLE:
            after = _past_damage(db, table, after, guessed)
            continue
        if not ids:
            return
        listed.update(rowid for (rowid,) in ids)
        biggest = max(rowid for (rowid,) in ids)
        # A damaged page can hold its rows out of order: the walk must still move on, or it would never end.
        after = biggest if biggest > after else _past_damage(db, table, after, guessed)


def _past_damage(db: sqlite3.Connection, table: str, after: int, guessed: set[int]) -> int:
    """Where a walk of ``table`` can go on past a damaged stretch after id ``after``: seek 1, 2, 4… ids further
    until a seek succeeds. The ids skipped, when few, are tried one by one later."""
    step = 1
    while after + step < MAX_ROW_ID:
        try:
            db.execute(f"SELECT id FROM {table} WHERE id > ? ORDER BY id LIMIT 1", (after + step,)).fetchall()
        except _UNREADABLE:
            step *= 2
            continue
        if step <= _GUESSES:
            guessed.update(range(after + 1, after + step + 1))
        return after + step
    return MAX_ROW_ID
