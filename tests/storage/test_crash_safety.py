"""Durability on real files: a window killed with SIGKILL mid-reply, a damaged database, a newer one,
and migrations from every earlier schema version."""

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
from app.core.history import MessageStatus
from app.core.types import Role
from app.platform.paths import AppPaths
from app.storage import database, schema
from app.storage.database import open_database
from app.storage.history import HistoryStore

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
