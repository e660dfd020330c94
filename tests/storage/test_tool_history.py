"""Tool chains in the history (issue 18, item 7), on real SQLite files: a reply's steps saved one by one and
read back everywhere (after a kill too), an upgrade from a version-3 history, search in tools' names,
arguments and results, the Markdown and Moss JSON exports, the chain fed back to the model, and damaged
steps read as none."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.core.errors import ImportFormatError
from app.core.history import MessageStatus, ReplyFacts
from app.core.tool_steps import ToolDecision, ToolStep, turn_messages
from app.core.types import FinishReason, Message, Role, ToolCall
from app.platform.paths import AppPaths
from app.storage import schema
from app.storage.database import open_database
from app.storage.exchange import JSON, MARKDOWN, export_text, import_conversations, read_import_file, save_export
from app.storage.history import HistoryStore
from app.storage.salvage import salvage
from app.storage.search import search

REPO = Path(__file__).resolve().parents[2]
QUESTION = "What is the weather like there? Then mail my friend."
WEATHER = ToolStep(
    ToolCall("functions.get_weather", '{"city": "Paris"}'),
    "Sunny, 21 °C, light breeze",
    seconds=0.42,
    decision=ToolDecision.ALWAYS,
    preamble="Let me check the forecast.",
    reasoning="The person wants the weather in Paris.",
)
MAIL = ToolStep(
    ToolCall("functions.send_mail", '{"to": "bob@example.com", "body": "Bring an umbrella"}'),
    "The person did not allow this call.",
    ok=False,
    decision=ToolDecision.DENIED,
)
PYTHON = ToolStep(
    ToolCall("python", "print(6 * 7)", channel="analysis", content_type="code", constrained=False),
    "42",
    seconds=1.0,
)


def chain(store: HistoryStore, steps: tuple[ToolStep, ...] = (WEATHER, MAIL), answer: str = "It is sunny.") -> int:
    """A conversation whose reply ran ``steps`` (saved as each ended) and then answered; returns the reply."""
    conversation = store.create_conversation().id
    question = store.add_message(conversation, None, Role.USER, QUESTION)
    reply = store.add_message(conversation, question.id, Role.ASSISTANT, status=MessageStatus.STREAMING)
    for step in steps:
        store.append_step(reply.id, step)
    store.finish_message(
        reply.id, answer, "Sunny, and the mail was refused.", ReplyFacts(finish_reason=FinishReason.STOP)
    )
    return reply.id


def fts_sound(store: HistoryStore) -> None:
    """FTS5's own check of the tools index against the messages it was built from."""
    store.connection.execute("INSERT INTO tools_fts (tools_fts, rank) VALUES ('integrity-check', 0)")


# -- stored and read back -----------------------------------------------------------------------------------


def test_steps_are_saved_one_by_one_and_come_back_wherever_messages_are_read(tmp_path: Path) -> None:
    store = HistoryStore.open(tmp_path / "history.db")
    reply = chain(store)
    conversation = store.message(reply).conversation_id
    assert store.message(reply).steps == (WEATHER, MAIL)
    assert store.path(conversation)[-1].steps == (WEATHER, MAIL)
    assert store.path(conversation, last=1)[0].steps == (WEATHER, MAIL)
    assert next(m for m in store.all_messages(conversation) if m.id == reply).steps == (WEATHER, MAIL)
    assert store.path(conversation)[0].steps == ()  # the question
    store.close()
    assert HistoryStore.open(tmp_path / "history.db").message(reply).steps == (WEATHER, MAIL)


def test_the_model_is_fed_a_reopened_chain_as_it_saw_it(tmp_path: Path) -> None:
    store = HistoryStore.open(tmp_path / "history.db")
    reply = chain(store)
    snapshot = store.snapshot(store.message(reply).conversation_id)
    assert snapshot == (
        Message(Role.USER, QUESTION),
        *turn_messages((WEATHER, MAIL), "It is sunny.", "Sunny, and the mail was refused."),
    )
    assert [m.role for m in snapshot[1:]] == [Role.ASSISTANT, Role.TOOL, Role.ASSISTANT, Role.TOOL, Role.ASSISTANT]
    assert snapshot[1].tool_calls == (WEATHER.call,) and snapshot[1].reasoning == WEATHER.reasoning
    assert snapshot[2].content == WEATHER.result and snapshot[2].tool_name == "functions.get_weather"


def test_a_chain_stopped_before_its_answer_ends_with_its_last_result(tmp_path: Path) -> None:
    store = HistoryStore.open(tmp_path / "history.db")
    reply = chain(store, (WEATHER,), answer="")
    conversation = store.message(reply).conversation_id
    follow_up = store.add_message(conversation, reply, Role.USER, "And tomorrow?")
    snapshot = store.snapshot(conversation, through=follow_up.id)
    assert [m.role for m in snapshot] == [Role.USER, Role.ASSISTANT, Role.TOOL, Role.USER]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_steps_saved_before_a_kill_mid_chain_are_all_there(tmp_path: Path) -> None:
    """A process that saved two steps of a chain and is killed (no close, no checkpoint: the steps are only in
    the journal) loses neither; the reply reads as interrupted, with its steps."""
    path = tmp_path / "history.db"
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from app.core.history import MessageStatus
        from app.core.types import Role
        from app.storage.history import HistoryStore
        from tests.storage.test_tool_history import WEATHER, PYTHON
        store = HistoryStore.open(Path({str(path)!r}))
        chat = store.create_conversation().id
        question = store.add_message(chat, None, Role.USER, "Weather, then compute.")
        reply = store.add_message(chat, question.id, Role.ASSISTANT, status=MessageStatus.STREAMING)
        store.save_partial(reply.id, "", "thinking")
        store.append_step(reply.id, WEATHER)
        store.append_step(reply.id, PYTHON)
        print(reply.id, flush=True)
        time.sleep(600)
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        assert child.stdout is not None
        reply = int(child.stdout.readline())
        assert path.with_name("history.db-wal").stat().st_size > 0
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        assert child.stdout is not None
        child.stdout.close()

    store = HistoryStore.open(path)  # as the app opens it at its next start
    stored = store.message(reply)
    assert stored.status == MessageStatus.INTERRUPTED and stored.steps == (WEATHER, PYTHON)
    assert [hit.message_id for hit in search(store.connection, "print")] == [reply]


# -- the upgrade from version 3 -----------------------------------------------------------------------------


def test_a_version_3_history_upgrades_keeping_a_copy_and_its_old_tool_calls(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    db = open_database(path, schema.MIGRATIONS[:3]).connection
    db.execute(
        "INSERT INTO conversations (id, uid, title, created_at, updated_at, current_leaf_id) "
        "VALUES (1, 'u1', 'Weather', 1.0, 2.0, 2)"
    )
    db.execute(
        "INSERT INTO messages (id, conversation_id, parent_id, role, content, created_at, selected_at, tool_calls) "
        "VALUES (1, 1, NULL, 'user', 'Weather in Paris?', 1.0, 1.0, '[]'), "
        """(2, 1, 1, 'assistant', 'I cannot look it up.', 2.0, 2.0, '["functions.get_weather({})"]')"""
    )
    db.close()

    store = HistoryStore.open(path)
    assert store.connection.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION == 4
    backup = path.with_name("history.db.v3-backup")
    assert any(str(backup) in notice for notice in store.notices)
    old = sqlite3.connect(backup)
    assert old.execute("PRAGMA user_version").fetchone()[0] == 3
    assert old.execute("SELECT content FROM messages ORDER BY id").fetchall() == [
        ("Weather in Paris?",),
        ("I cannot look it up.",),
    ]
    old.close()
    _question, reply = store.path(1)
    assert reply.steps == () and reply.facts.tool_calls == ("functions.get_weather({})",)  # still readable
    assert [hit.message_id for hit in search(store.connection, "look")] == [2]  # the old index still serves

    store.append_step(2, WEATHER)  # older replies take steps too (a chain continued later)
    assert store.message(2).steps == (WEATHER,)
    assert [hit.field for hit in search(store.connection, "breeze")] == ["tools"]
    fts_sound(store)


# -- search -------------------------------------------------------------------------------------------------


def test_a_tools_name_arguments_and_result_are_found_and_open_the_reply(tmp_path: Path) -> None:
    store = HistoryStore.open(tmp_path / "history.db")
    reply = chain(store)
    other = store.create_conversation(title="Unrelated").id
    store.add_message(other, None, Role.USER, "Tell me about umbrellas in general")
    for query, snippet_word in (
        ("get_weather", "get_weather"),  # the tool's name
        ("Paris", "Paris"),  # in the arguments (the question says Paris too; the reply's steps hold it)
        ("breeze", "breeze"),  # in the result
        ("bob@example", "bob"),  # arguments of a denied call
    ):
        hits = [hit for hit in search(store.connection, query) if hit.message_id == reply]
        assert hits, query
        [hit] = hits
        assert hit.field == "tools" and hit.role == Role.ASSISTANT
        assert any(snippet_word.lower() in hit.snippet[a:b].lower() for a, b in hit.highlights), (query, hit)
    # A word in both a tool call and another conversation's message finds both, one result each.
    assert {hit.conversation_id for hit in search(store.connection, "umbrella")} == {
        store.message(reply).conversation_id,
        other,
    }
    # A deleted conversation's tools are not found; purged, they leave the index as it should be.
    store.delete(store.message(reply).conversation_id)
    assert search(store.connection, "breeze") == []
    store.purge_deleted()
    assert store.connection.execute("SELECT count(*) FROM tools_fts_docsize").fetchone()[0] == 0  # its rows
    fts_sound(store)


def test_an_answer_words_rank_a_reply_as_content_and_its_steps_stay_searchable_as_they_grow(tmp_path: Path) -> None:
    store = HistoryStore.open(tmp_path / "history.db")
    reply = chain(store, (WEATHER,), answer="Sunny skies over Paris today.")
    [hit] = search(store.connection, "sunny")
    assert hit.message_id == reply and hit.field == "content"  # the answer counts more than a tool's result
    store.append_step(reply, PYTHON)
    assert [hit.field for hit in search(store.connection, "print")] == ["tools"]
    assert [hit.field for hit in search(store.connection, "breeze")] == ["tools"]  # the first step still found
    fts_sound(store)


# -- damage ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "damaged",
    [
        "not json",
        '{"call": {"recipient": "x", "arguments": ""}}',  # an object, not a list
        "[1, null, {}, " + "[" * 5000 + "]" * 5000 + "]",  # items that are no steps, one nested past Python's parser
        b"\xff\xfe binary",
        '[{"call": {"recipient": "python", "arguments": "1"}, "result": "\\ud800", "seconds": 1e999}]',
    ],
)
def test_damaged_steps_read_as_none_and_never_break_a_read_a_search_or_a_write(
    tmp_path: Path, damaged: str | bytes
) -> None:
    store = HistoryStore.open(tmp_path / "history.db")
    reply = chain(store)
    store.connection.execute("UPDATE messages SET tool_steps = ? WHERE id = ?", (damaged, reply))
    steps = store.message(reply).steps
    if isinstance(damaged, str) and damaged.startswith('[{"call"'):
        [step] = steps  # the step itself is sound: its lone surrogate and infinite time are made fit
        assert step.result == "\ufffd" and step.seconds == 0.0
    else:
        assert steps == ()
    conversation = store.message(reply).conversation_id
    assert store.path(conversation)[-1].content == "It is sunny."
    assert len(store.snapshot(conversation)) >= 2
    export_text(store, [conversation], MARKDOWN)
    export_text(store, [conversation], JSON)
    search(store.connection, "breeze")
    store.append_step(reply, PYTHON)  # a new step after damage
    assert store.message(reply).steps[-1] == PYTHON
    fts_sound(store)


def test_a_recovered_history_keeps_sound_steps_and_reads_damaged_ones_as_none(tmp_path: Path) -> None:
    damaged = tmp_path / "old.db"
    store = HistoryStore.open(damaged)
    sound = chain(store)
    broken = chain(store, (PYTHON,))
    store.connection.execute("UPDATE messages SET tool_steps = 'garbage' WHERE id = ?", (broken,))
    store.close()

    fresh = open_database(tmp_path / "history.db").connection
    salvage(damaged, fresh)
    fresh.close()
    store = HistoryStore.open(tmp_path / "history.db")
    assert store.message(sound).steps == (WEATHER, MAIL)
    assert store.message(broken).steps == () and store.message(broken).content == "It is sunny."
    assert [hit.message_id for hit in search(store.connection, "breeze")] == [sound]  # indexed as recovered
    fts_sound(store)


# -- exports --------------------------------------------------------------------------------------------------


def test_markdown_shows_each_step_folded_before_the_answer(tmp_path: Path) -> None:
    store = HistoryStore.open(tmp_path / "history.db")
    reply = chain(store, (WEATHER, MAIL, PYTHON))
    text = export_text(store, [store.message(reply).conversation_id], MARKDOWN)
    assistant = text[text.index("## Assistant") :]
    expected = """## Assistant

<details>
<summary>Thinking</summary>

The person wants the weather in Paris.

</details>

Let me check the forecast.

<details>
<summary>🔧 functions.get_weather — 0.4 s</summary>

```json
{"city": "Paris"}
```

```text
Sunny, 21 °C, light breeze
```

</details>

<details>
<summary>🔧 functions.send_mail — denied</summary>

```json
{"to": "bob@example.com", "body": "Bring an umbrella"}
```

```text
The person did not allow this call.
```

</details>

<details>
<summary>🔧 python — 1.0 s</summary>

```python
print(6 * 7)
```

```text
42
```

</details>

<details>
<summary>Thinking</summary>

Sunny, and the mail was refused.

</details>

It is sunny.
"""
    assert assistant.startswith(expected)


def test_markdown_fences_outlast_backticks_in_a_result_and_escape_the_tools_name(tmp_path: Path) -> None:
    store = HistoryStore.open(tmp_path / "history.db")
    odd = ToolStep(ToolCall("functions.<b>x</b>", "{}"), "```\nnot the end\n````", seconds=0.0)
    reply = chain(store, (odd,), answer="")
    text = export_text(store, [store.message(reply).conversation_id], MARKDOWN)
    assert "<summary>🔧 functions.&lt;b&gt;x&lt;/b&gt;</summary>" in text  # no time: none was measured
    assert "`````text\n```\nnot the end\n````\n`````" in text
    assert "*(no text)*" not in text  # a chain without an answer is not an empty reply


def test_moss_json_carries_the_steps_whole_and_imports_them_back(tmp_path: Path) -> None:
    source = HistoryStore.open(tmp_path / "source.db")
    chain(source, (WEATHER, MAIL, PYTHON))
    exported = tmp_path / "export.json"
    save_export(source, [c.id for c in source.list_conversations()], JSON, exported)
    document = json.loads(exported.read_text(encoding="utf-8"))
    question, reply = document["conversations"][0]["messages"]
    assert question["tool_steps"] == []
    assert reply["tool_steps"] == [step.to_json() for step in (WEATHER, MAIL, PYTHON)]

    target = HistoryStore.open(tmp_path / "target.db")
    import_conversations(target, read_import_file(exported))
    [conversation] = target.list_conversations()
    assert target.path(conversation.id)[-1].steps == (WEATHER, MAIL, PYTHON)
    assert [hit.field for hit in search(target.connection, "breeze")] == ["tools"]  # indexed on import
    fts_sound(target)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"tool_steps": "not a list"}, '"tool_steps"'),
        ({"tool_steps": [{"result": "no call"}]}, '"tool_steps"'),
        ({"role": "tool"}, '"role"'),  # a tool's result belongs to its reply's steps
    ],
)
def test_a_moss_json_with_bad_steps_is_refused_naming_the_field(
    tmp_path: Path, change: dict[str, object], named: str
) -> None:
    source = HistoryStore.open(tmp_path / "source.db")
    chain(source)
    document = json.loads(export_text(source, [c.id for c in source.list_conversations()], JSON))
    document["conversations"][0]["messages"][1].update(change)
    exported = tmp_path / "export.json"
    exported.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ImportFormatError, match=named):
        read_import_file(exported)


def test_moss_history_show_json_includes_the_steps(tmp_path: Path) -> None:
    store = HistoryStore.open(AppPaths.resolve(tmp_path).history_file)
    reply = chain(store)
    conversation = store.message(reply).conversation_id
    store.close()
    result = subprocess.run(
        [sys.executable, "-m", "app", "--data-dir", str(tmp_path), "history", "show", str(conversation), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    messages = json.loads(result.stdout)["messages"]
    assert messages[1]["tool_steps"] == [WEATHER.to_json(), MAIL.to_json()] and messages[0]["tool_steps"] == []


def test_a_step_with_an_impossible_time_reads_as_unmeasured() -> None:
    step = ToolStep.from_json({"call": {"recipient": "x", "arguments": "{}"}, "seconds": 10**400})
    assert step.seconds == 0.0
