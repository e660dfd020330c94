"""How a reply went (its ReplyFacts) is kept with it: through reopening, an upgrade from a version-1 history, and a
Moss JSON export and import; finish reasons this Moss does not know are read as none instead of failing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from app.core.history import MessageStatus, ReplyFacts
from app.core.types import FinishReason, Role
from app.storage import schema
from app.storage.database import open_database
from app.storage.exchange import JSON, import_conversations, read_import_file, save_export
from app.storage.history import HistoryStore
from app.storage.rows import FACTS_COLUMNS

FACTS = ReplyFacts(
    prompt_tokens=900,
    completion_tokens=12,
    tokens_per_second=40.0,
    ttft_s=0.3,
    finish_reason=FinishReason.STOP,
    dropped_messages=6,
    tool_calls=('functions.get_weather({"city":"Paris"})', "browser.search({})"),
)


def reply_with(store: HistoryStore, facts: ReplyFacts) -> int:
    conversation = store.create_conversation().id
    question = store.add_message(conversation, None, Role.USER, "Weather?")
    reply = store.add_message(conversation, question.id, Role.ASSISTANT, status=MessageStatus.STREAMING)
    store.finish_message(reply.id, "Let me look.", None, facts)
    return reply.id


def test_a_failed_reply_is_stored_with_the_error_ending(tmp_path: Path) -> None:
    store = HistoryStore.open(tmp_path / "history.db")
    reply = reply_with(store, ReplyFacts(finish_reason=FinishReason.ERROR))
    stored = store.message(reply)
    assert stored.facts.finish_reason is FinishReason.ERROR and stored.facts.tool_calls == ()
    assert store.connection.execute("SELECT finish_reason FROM messages WHERE id = ?", (reply,)).fetchone() == (
        "error",
    )


def test_a_version_1_history_upgrades_with_empty_facts_and_keeps_its_endings(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    db = open_database(path, schema.MIGRATIONS[:1]).connection
    db.execute(
        "INSERT INTO conversations (id, uid, title, created_at, updated_at, current_leaf_id) "
        "VALUES (1, 'u', 't', 1, 1, 4)"
    )
    rows = [
        (1, None, "user", None, "complete"),
        (2, 1, "assistant", "error", "complete"),  # what Moss before FinishReason.ERROR wrote for a failed reply
        (3, 2, "assistant", "exploded", "complete"),  # an ending no Moss writes (a hand-edited file)
        (4, 3, "assistant", "stop", "paused"),  # a status this Moss does not know
    ]
    db.executemany(
        "INSERT INTO messages (id, conversation_id, parent_id, role, content, finish_reason, status, created_at, "
        "selected_at) VALUES (?, 1, ?, ?, 'x', ?, ?, 1, 1)",
        rows,
    )
    db.close()

    store = HistoryStore.open(path)
    path_messages = store.path(1)
    assert [m.facts.finish_reason for m in path_messages] == [None, FinishReason.ERROR, None, FinishReason.STOP]
    assert all(m.facts.dropped_messages == 0 and m.facts.tool_calls == () for m in path_messages)
    assert path_messages[-1].status == MessageStatus.COMPLETE
    # The new columns are written from now on.
    assert store.message(reply_with(store, FACTS)).facts == FACTS


def test_damaged_tool_calls_read_as_none(tmp_path: Path) -> None:
    store = HistoryStore.open(tmp_path / "history.db")
    reply = reply_with(store, FACTS)
    for damaged in ("not json", '{"a": 1}'):
        store.connection.execute("UPDATE messages SET tool_calls = ? WHERE id = ?", (damaged, reply))
        assert store.message(reply).facts.tool_calls == ()


def export_one_reply(folder: Path) -> tuple[Path, dict[str, Any]]:
    """A history holding one reply with FACTS, exported as Moss JSON: the file and its document."""
    source = HistoryStore.open(folder / "source.db")
    reply_with(source, FACTS)
    exported = folder / "export.json"
    save_export(source, [c.id for c in source.list_conversations()], JSON, exported)
    source.close()
    return exported, json.loads(exported.read_text(encoding="utf-8"))


def test_facts_survive_a_moss_json_export_and_import(tmp_path: Path) -> None:
    exported, document = export_one_reply(tmp_path)
    assert document["conversations"][0]["messages"][1]["tool_calls"] == list(FACTS.tool_calls)

    target = HistoryStore.open(tmp_path / "target.db")
    import_conversations(target, read_import_file(exported))
    [conversation] = target.list_conversations()
    assert target.path(conversation.id)[-1].facts == FACTS


def test_an_unknown_finish_reason_in_an_export_is_imported_as_none(tmp_path: Path) -> None:
    exported, document = export_one_reply(tmp_path)
    document["conversations"][0]["messages"][1]["finish_reason"] = "teleported"  # from some later Moss
    exported.write_text(json.dumps(document), encoding="utf-8")

    [conversation] = read_import_file(exported)
    assert conversation.messages[1].facts.finish_reason is None
    assert conversation.messages[1].facts.dropped_messages == FACTS.dropped_messages


def test_finish_reason_read_accepts_only_known_text() -> None:
    assert FinishReason.read("cancelled") is FinishReason.CANCELLED
    assert [FinishReason.read(value) for value in (None, "", "Stop", 3, b"stop")] == [None] * 5


def test_every_fact_has_a_column() -> None:
    """A fact added to ReplyFacts needs its column (a migration) and its place in the store's row mapping."""
    db = sqlite3.connect(":memory:")
    for migration in schema.MIGRATIONS:
        db.executescript(migration)
    columns = {row[1] for row in db.execute("PRAGMA table_info(messages)")}
    assert tuple(ReplyFacts.__dataclass_fields__) == FACTS_COLUMNS
    assert set(FACTS_COLUMNS) <= columns
