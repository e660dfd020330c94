"""Durability on real files: a window killed with SIGKILL mid-reply, a damaged database (at its start, and
past the first pages: recovered), a damaged journal left by a crash, a newer database, a write lock held by
another process, and migrations from every earlier schema version."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app.core.errors import HistoryError
from app.core.history import ImportedConversation, ImportedMessage, MessageStatus
from app.core.types import Role
from app.platform.paths import AppPaths
from app.storage import database, exchange, schema
from app.storage.database import open_database
from app.storage.exchange import import_conversations
from app.storage.history import HistoryStore
from app.storage.salvage import RECOVERED_TITLE, salvage

REPO = Path(__file__).resolve().parents[2]
STREAM_BEFORE_KILL_S = 2.5


def read_lines(stream: object, into: list[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.append(line.strip())


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_window_killed_mid_reply_leaves_the_partial_reply_marked_interrupted(tmp_path: Path, smollm2: Path) -> None:
    paths = AppPaths.resolve(tmp_path / "data")
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.streaming_child", str(tmp_path / "data"), str(smollm2)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    lines: list[str] = []
    reader = threading.Thread(target=read_lines, args=(child.stdout, lines), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        first_text = None
        while time.monotonic() < deadline:
            if first_text is None and lines:
                first_text = time.monotonic()
            if first_text is not None and time.monotonic() - first_text > STREAM_BEFORE_KILL_S:
                break
            assert child.poll() is None, "the window exited before it could be killed"
            time.sleep(0.05)
        assert first_text is not None, "no reply text within two minutes"
        assert "finished" not in lines, "the reply ended before the kill; it should be longer"
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        killed_at = time.time()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        reader.join(10)
        assert child.stdout is not None
        child.stdout.close()
    streamed = [(float(t), int(n)) for t, n in (line.split() for line in lines if line[:1].isdigit())]

    store = HistoryStore.open(paths.history_file)  # as the app opens it at its next start
    assert store.connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    [conversation] = store.list_conversations()
    question, reply = store.path(conversation.id)
    assert question.role == Role.USER and question.content.startswith("Write a very long story")
    assert reply.status == MessageStatus.INTERRUPTED and reply.content.strip()
    # How much was lost: the time from the first text that did not reach the file to the kill.
    unsaved_since = next((t for t, n in streamed if n > len(reply.content)), killed_at)
    lost_s = max(0.0, streamed[-1][0] - unsaved_since)
    print(f"saved {len(reply.content)} of {streamed[-1][1]} characters; lost {lost_s:.2f} s of text")
    assert lost_s < 2.0  # saved about every second (a busy CI machine gets some slack)


def test_a_damaged_database_is_set_aside_and_a_new_history_started(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    store = HistoryStore.open(path)
    store.create_conversation(title="precious")
    store.close()
    damaged = bytearray(path.read_bytes())
    damaged[:100] = b"\x00" * 100  # the header: no longer a database
    path.write_bytes(bytes(damaged))

    store = HistoryStore.open(path)
    assert store.list_conversations() == []
    [notice] = store.notices
    [aside] = tmp_path.glob("history.corrupt-*.db")
    assert str(aside) in notice and "could not be read" in notice
    assert aside.read_bytes() == bytes(damaged)  # kept as it was, not overwritten
    store.close()


def test_garbage_in_place_of_the_database_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    path.write_text("this is not a database, it is a note", encoding="utf-8")
    store = HistoryStore.open(path)
    assert store.notices and store.count_conversations() == 0
    assert next(tmp_path.glob("history.corrupt-*.db")).read_text(encoding="utf-8").startswith("this is not")


def test_a_locked_database_is_not_mistaken_for_a_damaged_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "history.db"
    HistoryStore.open(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode = DELETE")  # a rollback journal: an exclusive lock blocks readers
    holder.execute("BEGIN EXCLUSIVE")
    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", 100)  # wait less than the app would for the lock
    try:
        with pytest.raises(HistoryError, match="Close other copies of Moss"):
            HistoryStore.open(path)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert not list(tmp_path.glob("history.corrupt-*"))


def test_a_database_from_a_newer_moss_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    HistoryStore.open(path).close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    raw.close()
    before = path.read_bytes()
    with pytest.raises(HistoryError, match="newer version of Moss"):
        HistoryStore.open(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("version", range(1, schema.SCHEMA_VERSION + 1))
def test_every_earlier_schema_version_migrates_with_a_backup_and_keeps_its_data(tmp_path: Path, version: int) -> None:
    """A history made at ``version`` (data written with that version's tables), opened by this Moss."""
    path = tmp_path / "history.db"
    opened = open_database(path, schema.MIGRATIONS[:version])
    db = opened.connection
    db.execute(
        "INSERT INTO conversations (id, uid, title, created_at, updated_at, current_leaf_id) "
        "VALUES (1, 'u1', 'Old chat', 1.0, 2.0, 2)"
    )
    db.execute(
        "INSERT INTO messages (id, conversation_id, parent_id, role, content, created_at, selected_at) "
        "VALUES (1, 1, NULL, 'user', 'old question', 1.0, 1.0), (2, 1, 1, 'assistant', 'old answer', 2.0, 2.0)"
    )
    db.close()

    store = HistoryStore.open(path)
    assert store.connection.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    assert [m.content for m in store.path(1)] == ["old question", "old answer"]
    if version < schema.SCHEMA_VERSION:
        backup = path.with_name(f"history.db.v{version}-backup")
        assert backup.exists() and any(str(backup) in n for n in store.notices)


def test_a_failing_migration_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    HistoryStore.open(path).close()
    broken = (*schema.MIGRATIONS, "CREATE TABLE extra (x);\nINSERT INTO no_such_table VALUES (1);")
    with pytest.raises(sqlite3.OperationalError):
        open_database(path, broken)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    assert db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'extra'").fetchone()[0] == 0
    assert path.with_name(f"history.db.v{schema.SCHEMA_VERSION}-backup").exists()


# -- damage past the first pages, a damaged journal, a held lock (issue 16) --------------------------------


def chats(path: Path, count: int) -> None:
    """``count`` conversations of a question and a long answer: many pages, each holding a few messages."""
    store = HistoryStore.open(path)
    for n in range(count):
        chat = store.create_conversation().id
        question = store.add_message(chat, None, Role.USER, f"question {n} " + "words " * 300)
        store.add_message(chat, question.id, Role.ASSISTANT, f"answer {n} " + "more words " * 300)
    store.close()


def smash_a_leaf_of(path: Path, table: str) -> None:
    """Overwrite the header of one of ``table``'s leaf pages, in the middle of the file."""
    db = sqlite3.connect(path)
    pages = [row[0] for row in db.execute("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf'", (table,))]
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    data = bytearray(path.read_bytes())
    start = (pages[len(pages) // 2] - 1) * page_size
    data[start : start + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))


def test_the_apps_start_checks_every_page_and_recovers_what_can_be_read(tmp_path: Path) -> None:
    """Damage past the first pages used to pass the check at open and fail commands later, for good. The app's
    start now reads every page: the damaged file is set aside unchanged, what SQLite can read is recovered
    with its numbers, and the notice stays until dismissed."""
    path = tmp_path / "history.db"
    chats(path, 20)
    smash_a_leaf_of(path, "messages")
    damaged = path.read_bytes()

    store = HistoryStore.open(path)
    [aside] = tmp_path.glob("history.corrupt-*.db")
    assert aside.read_bytes() == damaged
    [notice] = store.notices
    assert store.lasting and "recovered 20 conversations" in notice and str(aside) in notice
    assert store.count_conversations() == 20
    assert store.connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    messages = [(c.id, m.content.split()[1]) for c in store.list_conversations() for m in store.path(c.id)]
    assert 36 <= len(messages) < 40  # the messages on the damaged page are gone, the rest are there
    assert all(number == str(conversation - 1) for conversation, number in messages)  # numbers kept
    store.close()

    again = HistoryStore.open(path)
    assert again.notices == (notice,)  # told at every start...
    again.dismiss_notices()
    again.close()
    assert HistoryStore.open(path).notices == ()  # ...until dismissed


def test_recovery_mends_what_no_longer_fits_together(tmp_path: Path) -> None:
    """Rows whose conversation or parent was lost are kept: in a conversation of their own, and as the start
    of a branch; a conversation whose current message was lost shows its newest."""
    damaged = tmp_path / "old.db"
    store = HistoryStore.open(damaged)
    kept = store.create_conversation(title="kept").id
    first = store.add_message(kept, None, Role.USER, "first")
    second = store.add_message(kept, first.id, Role.ASSISTANT, "second")
    third = store.add_message(kept, second.id, Role.USER, "third")
    lost = store.create_conversation(title="lost").id
    orphan = store.add_message(lost, None, Role.USER, "orphan")
    store.connection.execute("PRAGMA foreign_keys = OFF")
    store.connection.execute("DELETE FROM messages WHERE id = ?", (second.id,))  # as if on a damaged page
    store.connection.execute("DELETE FROM conversations WHERE id = ?", (lost,))
    store.connection.execute("UPDATE conversations SET current_leaf_id = 999 WHERE id = ?", (kept,))
    store.close()

    fresh = open_database(tmp_path / "history.db").connection
    found = salvage(damaged, fresh)
    fresh.close()
    assert (found.conversations, found.messages) == (2, 3)
    store = HistoryStore.open(tmp_path / "history.db")
    recovered = {c.title: c for c in store.list_conversations()}
    assert set(recovered) == {"kept", RECOVERED_TITLE}
    assert [m.content for m in store.path(recovered[RECOVERED_TITLE].id)] == ["orphan"]
    assert store.message(orphan.id).conversation_id == lost  # numbers kept
    assert [m.content for m in store.path(kept)] == ["third"]  # its parent lost: the start of a branch
    assert store.message(third.id).sibling_count == 2  # beside "first"
    store.close()


def test_a_damaged_journal_left_by_a_crash_is_kept_and_told(tmp_path: Path) -> None:
    """A crash-left journal with one bad byte used to lose every chat committed after it, silently, and the
    journal was deleted when the history closed. Now a copy of it is kept and the person told."""
    live = tmp_path / "live" / "history.db"
    store = HistoryStore.open(live)
    store.connection.execute("PRAGMA wal_autocheckpoint = 0")  # all of it stays in the journal, as before a crash
    for n in range(10):
        store.add_message(store.create_conversation().id, None, Role.USER, f"chat {n} " + "text " * 200)
    crashed = tmp_path / "crashed" / "history.db"
    crashed.parent.mkdir()
    for suffix in ("", "-wal"):  # the files as a crash leaves them: Moss is still running
        crashed.with_name(crashed.name + suffix).write_bytes(live.with_name(live.name + suffix).read_bytes())
    store.close()
    journal = crashed.with_name("history.db-wal")
    data = bytearray(journal.read_bytes())
    page_size = int.from_bytes(data[8:12], "big")
    frames = (len(data) - 32) // (24 + page_size)
    data[32 + (frames // 2) * (24 + page_size) + 24 + 100] ^= 0xFF  # one byte of a page in the middle
    journal.write_bytes(bytes(data))

    reopened = HistoryStore.open(crashed)
    survivors = reopened.count_conversations()
    reopened.close()
    assert 0 < survivors < 10  # what SQLite could replay
    [kept] = crashed.parent.glob("history.db-wal.damaged-*")
    assert kept.read_bytes() == bytes(data)
    again = HistoryStore.open(crashed)
    [notice] = again.notices
    assert again.lasting and str(kept) in notice and "journal" in notice
    again.close()
    assert not list(crashed.parent.glob("history.db-wal.checking-*"))


def test_a_sound_journal_is_not_kept(tmp_path: Path) -> None:
    """The journal of a history in use, or left by a crash without damage, is checked and its copy deleted."""
    live = tmp_path / "history.db"
    writer = HistoryStore.open(live)
    writer.connection.execute("PRAGMA wal_autocheckpoint = 0")
    writer.create_conversation(title="being written")
    reader = HistoryStore.open(live, recover=False)  # the journal is there, and sound
    assert reader.notices == () and reader.count_conversations() == 1
    reader.close()
    writer.close()
    assert [p.name for p in tmp_path.iterdir()] == ["history.db"]


def test_an_import_waits_for_a_lock_then_gives_up_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write lock held longer than an import waits: a HistoryError saying so (it used to be sqlite3's
    "database is locked" after 5 s, exit 1), and nothing written."""
    monkeypatch.setattr(exchange, "IMPORT_PATIENCE_S", 0.3)
    path = tmp_path / "history.db"
    store = HistoryStore.open(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    told: list[str] = []
    conversation = ImportedConversation("u1", "Imported", 1.0, 1.0, (ImportedMessage("1", None, Role.USER, "hi"),), "1")
    try:
        with pytest.raises(HistoryError, match="stayed locked by another program for 0 s"):
            import_conversations(store, [conversation], on_wait=told.append)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert len(told) == 1 and "waiting up to 0 s" in told[0]
    assert store.count_conversations() == 0
    assert import_conversations(store, [conversation]).added  # once it is free, the import goes through
    store.close()
