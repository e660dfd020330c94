"""`moss history …` as a real process on a real SQLite history filled through the store: list, show, search,
export (Markdown and Moss JSON, round-tripped into a fresh history), import (Moss and ChatGPT, twice) and the
errors (one line, exit 2, nothing changed); and what a fuzzing run found (issue 16): values out of bounds in an
import or already in the database, archives that cannot be read, another writer holding the lock, a writer
killed mid-reply, and damage met by a command (tests/storage/test_history_fuzz.py fuzzes each)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.core.history import MessageStatus
from app.core.types import Role
from app.platform.paths import AppPaths
from app.storage.exchange import export_text
from app.storage.history import HistoryStore
from tests.helpers.chatgpt_export import trip_conversation, write_export

ROOT = Path(__file__).resolve().parents[2]


def moss(data_dir: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    return subprocess.run(
        [sys.executable, "-m", "app", "--data-dir", str(data_dir), "history", *map(str, args)],
        cwd=ROOT,
        env={**env, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def open_store(data_dir: Path) -> HistoryStore:
    return HistoryStore.open(AppPaths.resolve(data_dir).history_file, recover=False)


@dataclass(frozen=True)
class Filled:
    data: Path
    penguins: int  # a question with two replies: the first finished with reasoning, the second interrupted
    glaciers: int  # pinned, and older than the others
    untitled: int  # one question, no reply yet


@pytest.fixture
def filled(tmp_path: Path) -> Filled:
    data = tmp_path / "data"
    store = open_store(data)
    try:
        glaciers = store.create_conversation(model="gpt-oss-20b").id
        ask = store.add_message(glaciers, None, Role.USER, "Tell me about glaciers")
        reply = store.add_message(glaciers, ask.id, Role.ASSISTANT, status=MessageStatus.STREAMING)
        store.finish_message(reply.id, "Glaciers move slowly downhill.", "The user wants glacier facts.")
        store.rename(glaciers, "Glacier facts")
        store.set_pinned(glaciers, True)

        penguins = store.create_conversation(model="gpt-oss-20b").id
        ask = store.add_message(penguins, None, Role.USER, "How do penguins sleep?")
        first = store.add_message(penguins, ask.id, Role.ASSISTANT, model="gpt-oss-20b")
        store.finish_message(first.id, "Standing up, in short naps.", "Penguin sleep is fragmented.")
        second = store.add_message(penguins, ask.id, Role.ASSISTANT, status=MessageStatus.STREAMING)
        store.finish_message(second.id, "In many short naps", None, status=MessageStatus.INTERRUPTED)
        store.rename(penguins, "Penguin sleep")

        untitled = store.create_conversation().id
        store.add_message(untitled, None, Role.USER, "xylophone tuning")
    finally:
        store.close()
    return Filled(data, penguins, glaciers, untitled)


def contents(data_dir: Path) -> dict[str, Any]:
    """Everything that matters in a history, keyed by title: settings, the active path and the tree's size."""
    store = open_store(data_dir)
    try:
        found: dict[str, Any] = {}
        for c in store.list_conversations():
            path = [
                (m.role, m.content, m.reasoning, m.status, m.facts.finish_reason, m.sibling_index, m.sibling_count)
                for m in store.path(c.id)
            ]
            found[c.title] = (c.pinned, c.model, c.source, path, len(store.all_messages(c.id)))
        return found
    finally:
        store.close()


def test_list_text_and_json_pinned_first(filled: Filled, tmp_path: Path) -> None:
    assert ok(moss(tmp_path / "fresh", "list")).strip() == "No conversations yet."

    rows = json.loads(ok(moss(filled.data, "list", "--json")))
    assert [r["id"] for r in rows] == [filled.glaciers, filled.untitled, filled.penguins]
    assert set(rows[0]) == {"id", "uid", "title", "created_at", "updated_at", "messages", "pinned", "model", "source"}
    assert (rows[0]["title"], rows[0]["pinned"], rows[0]["messages"]) == ("Glacier facts", True, 2)
    assert (rows[2]["title"], rows[2]["pinned"], rows[2]["messages"]) == ("Penguin sleep", False, 3)
    assert rows[2]["source"] == "moss" and rows[2]["model"] == "gpt-oss-20b"
    assert isinstance(rows[0]["updated_at"], float) and len(rows[0]["uid"]) == 32

    header, *lines = ok(moss(filled.data, "list")).splitlines()
    assert header.split() == ["ID", "UPDATED", "MSGS", "TITLE"]
    assert "★ Glacier facts" in lines[0] and "Penguin sleep" in lines[2]
    assert lines[2].split()[0] == str(filled.penguins) and lines[2].split()[3] == "3"

    first, more = ok(moss(filled.data, "list", "--limit", "1")).splitlines()[1:]
    assert "Glacier facts" in first and "2 more" in more and "--all" in more
    assert len(ok(moss(filled.data, "list", "--limit", "1", "--all")).splitlines()) == 4


def test_show_text_marks_alternatives_and_interrupted_replies(filled: Filled) -> None:
    text = ok(moss(filled.data, "show", str(filled.penguins)))
    assert text.splitlines()[0] == "Penguin sleep" and "gpt-oss-20b" in text.splitlines()[1]
    assert "You:\nHow do penguins sleep?" in text
    assert "Assistant (2/2) (interrupted):\nIn many short naps" in text
    assert "Standing up" not in text  # the first reply is not on the active path

    plain = ok(moss(filled.data, "show", str(filled.glaciers)))
    assert "★ Glacier facts" in plain and "Glaciers move slowly downhill." in plain
    assert "glacier facts." not in plain  # the reasoning only on request
    thinking = ok(moss(filled.data, "show", str(filled.glaciers), "--reasoning"))
    assert "Thinking:\n    The user wants glacier facts." in thinking


def test_show_json_is_the_active_path_with_sibling_fields(filled: Filled) -> None:
    shown = json.loads(ok(moss(filled.data, "show", str(filled.penguins), "--json")))
    head = shown["conversation"]
    assert head["id"] == filled.penguins and head["title"] == "Penguin sleep" and head["messages"] == 3
    assert {"system_prompt", "reasoning_effort", "sampling", "uid", "pinned"} <= set(head)
    user, reply = shown["messages"]
    assert (user["role"], user["parent_id"], user["sibling_count"]) == ("user", None, 1)
    assert reply["parent_id"] == user["id"] and reply["content"] == "In many short naps"
    assert (reply["status"], reply["sibling_index"], reply["sibling_count"]) == ("interrupted", 1, 2)
    assert {"finish_reason", "prompt_tokens", "tokens_per_second", "time_to_first_token_s"} <= set(reply)

    by_uid = json.loads(ok(moss(filled.data, "show", head["uid"][:8], "--json")))
    assert by_uid == shown


def test_search_json_highlights_cover_the_matched_words(filled: Filled) -> None:
    hits = json.loads(ok(moss(filled.data, "search", "glaciers", "--json")))
    assert [h["conversation_id"] for h in hits] == [filled.glaciers]
    (hit,) = hits
    assert hit["title"] == "Glacier facts" and hit["highlights"]
    assert {hit["snippet"][start:end].lower() for start, end in hit["highlights"]} <= {"glacier", "glaciers"}

    (found,) = json.loads(ok(moss(filled.data, "search", "xylophone", "--json")))
    assert found["conversation_id"] == filled.untitled and "xylophone" in found["snippet"]
    nothing = moss(filled.data, "search", "zebra")
    assert ok(nothing).strip() == "Nothing in your history matches 'zebra'."


def test_search_text_outside_a_terminal_marks_matches_with_double_asterisks(filled: Filled) -> None:
    (line,) = ok(moss(filled.data, "search", "penguins")).splitlines()
    assert line.split()[0] == str(filled.penguins)
    assert "Penguin sleep" in line and "**penguins**" in line and "\x1b[" not in line


def test_export_markdown_to_a_file(filled: Filled, tmp_path: Path) -> None:
    target = tmp_path / "out" / "glaciers.md"
    target.parent.mkdir()
    target.write_text("an older export, replaced whole")
    reported = json.loads(ok(moss(filled.data, "export", str(filled.glaciers), "-o", target, "--json")))
    assert reported == {"file": str(target.resolve()), "conversations": 1, "format": "md"}
    markdown = target.read_text(encoding="utf-8")
    assert markdown.startswith("# Glacier facts\n") and "## You" in markdown and "## Assistant" in markdown
    assert "<details>" in markdown and "The user wants glacier facts." in markdown
    assert [p.name for p in target.parent.iterdir()] == ["glaciers.md"]  # no temporary file left beside it

    everything = ok(moss(filled.data, "export", "--all"))
    assert everything.count("\n---\n") == 2 and "# Penguin sleep" in everything


def test_json_export_round_trips_into_a_fresh_history_and_imports_once(filled: Filled, tmp_path: Path) -> None:
    exported = tmp_path / "moss-export.json"
    exported.write_text(ok(moss(filled.data, "export", "--all", "--format", "json")), encoding="utf-8")
    fresh = tmp_path / "fresh"

    first = moss(fresh, "import", exported)
    assert ok(first).strip() == "Imported 3 conversations (6 messages)."
    assert contents(fresh) == contents(filled.data)

    again = json.loads(ok(moss(fresh, "import", exported, "--json")))
    assert again == {"added": 0, "ids": [], "skipped": 3, "messages": 0}
    text = ok(moss(fresh, "import", exported))
    assert text.strip() == "Imported 0 conversations (0 messages); 3 were already in your history."
    assert len(contents(fresh)) == 3


def test_chatgpt_export_zip_imports_and_is_searchable(filled: Filled, tmp_path: Path) -> None:
    sample = trip_conversation()
    conversations_json = write_export(tmp_path, [sample.data])
    archive = tmp_path / "chatgpt-export.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(conversations_json, "conversations.json")
        z.writestr("chat.html", "<html></html>")

    report = json.loads(ok(moss(filled.data, "import", archive, "--json")))
    assert report["added"] == 1 and report["skipped"] == 0 and report["messages"] > 5
    (hit,) = json.loads(ok(moss(filled.data, "search", "Belém Tower", "--json")))
    assert hit["conversation_id"] == report["ids"][0] and hit["title"] == "Trip plan"

    shown = json.loads(ok(moss(filled.data, "show", str(hit["conversation_id"]), "--json")))
    assert shown["conversation"]["source"] == "chatgpt"
    assert shown["messages"][-1]["content"] == "That is the Belém Tower, built in 1519."
    again = json.loads(ok(moss(filled.data, "import", conversations_json, "--json")))
    assert again["skipped"] == 1 and again["added"] == 0


@pytest.mark.parametrize("kind", ["not json", "another kind of json", "truncated export"])
def test_a_bad_import_file_is_one_line_and_changes_nothing(filled: Filled, tmp_path: Path, kind: str) -> None:
    bad = tmp_path / "bad.json"
    if kind == "not json":
        bad.write_text("These are my notes, not an export.\n")
    elif kind == "another kind of json":
        bad.write_text(json.dumps({"theme": "dark", "font_size": 14}))
    else:
        store = open_store(filled.data)
        try:
            whole = export_text(store, [filled.penguins, filled.glaciers], "json")
        finally:
            store.close()
        bad.write_text(whole[: len(whole) // 2], encoding="utf-8")
    before = contents(filled.data)

    result = moss(filled.data, "import", bad)
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("moss: bad.json is ") and line.endswith("Nothing was imported.")
    assert contents(filled.data) == before


def test_user_errors_exit_2_with_one_line(filled: Filled, tmp_path: Path) -> None:
    unknown = moss(filled.data, "show", "999")
    assert unknown.returncode == 2
    (line,) = unknown.stderr.strip().splitlines()
    assert "no conversation 999" in line and "`moss history list`" in line

    both = moss(filled.data, "export", str(filled.penguins), "--all")
    assert both.returncode == 2 and "not allowed with argument ID" in both.stderr
    neither = moss(filled.data, "export")
    assert neither.returncode == 2 and "one of the arguments ID --all is required" in neither.stderr

    empty = moss(tmp_path / "fresh", "export", "--all")
    assert empty.returncode == 2 and empty.stderr.strip() == "moss: There are no conversations to export."


# -- bad input, faults and kills (issue 16) ---------------------------------------------------------------


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused command prints: exit 2, nothing on stdout, no traceback."""
    assert result.returncode == 2, result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("moss: ")
    return line


def moss_export(**conversation: Any) -> dict[str, Any]:
    """A Moss JSON export of one conversation with one message; keyword arguments replace its fields."""
    message = {"id": "1", "parent": None, "role": "user", "content": "Hello", "created_at": 1_700_000_000.0}
    message.update(conversation.pop("message", {}))
    item = {"uid": "odd-values", "created_at": 1_700_000_000.0, "messages": [message], **conversation}
    return {"format": "moss.history", "version": 1, "conversations": [item]}


@pytest.mark.parametrize(
    ("document", "named"),
    [
        (moss_export(created_at=1e30), '"created_at"'),
        (moss_export(message={"created_at": 1e300}), '"created_at"'),
        (moss_export(message={"prompt_tokens": 10**30}), '"prompt_tokens"'),
        (moss_export(uid="u" * 5000), '"uid"'),
        (moss_export(sampling={"nested": json.loads("[" * 40 + "]" * 40)}), '"sampling"'),
    ],
    ids=["time 1e30", "message time", "huge count", "long uid", "deep sampling"],
)
def test_an_import_out_of_bounds_is_refused_and_the_history_still_reads(
    filled: Filled, tmp_path: Path, document: dict[str, Any], named: str
) -> None:
    """A value Moss cannot show or store used to be imported and then fail every later command for good
    (1e30 as a time: OverflowError in list, show and export)."""
    bad = tmp_path / "odd.json"
    bad.write_text(json.dumps(document), encoding="utf-8")
    before = contents(filled.data)
    line = one_line_error(moss(filled.data, "import", bad))
    assert named in line and line.endswith("Nothing was imported.")
    assert contents(filled.data) == before


def test_a_bad_value_already_in_the_database_does_not_break_any_command(filled: Filled) -> None:
    """Written by hand, by another program or an older Moss: one odd row reads as odd, and every command still
    works (it used to fail with OverflowError on every list, show and export)."""
    db = sqlite3.connect(AppPaths.resolve(filled.data).history_file)
    db.execute(
        "UPDATE conversations SET created_at = 1e30, updated_at = 'soon', title = x'ff41' WHERE id = ?",
        (filled.glaciers,),
    )
    db.execute(
        "UPDATE messages SET created_at = -1e300, content = CAST(x'c328' AS TEXT), prompt_tokens = 'many', "
        "tokens_per_second = 1e308, model = x'00ff' "
        "WHERE conversation_id = ?",
        (filled.glaciers,),
    )
    db.commit()
    db.close()
    listed = ok(moss(filled.data, "list"))
    assert "3000-01-01" in listed or "1970-01-01" in listed
    shown = ok(moss(filled.data, "show", str(filled.glaciers)))
    assert shown.splitlines()[1].startswith("Started 3000-01-01")
    as_json = json.loads(ok(moss(filled.data, "show", str(filled.glaciers), "--json")))
    assert as_json["messages"][1]["prompt_tokens"] is None
    ok(moss(filled.data, "export", "--all"))
    exported = json.loads(ok(moss(filled.data, "export", "--all", "--format", "json")))
    assert len(exported["conversations"]) == 3
    ok(moss(filled.data, "search", "glaciers"))


@pytest.mark.parametrize("number", ["1" + "0" * 30, "9223372036854775808", "²"])
def test_a_number_no_conversation_can_have_is_one_line(filled: Filled, number: str) -> None:
    assert "matches no conversation" in one_line_error(moss(filled.data, "show", number))
    one_line_error(moss(filled.data, "export", number))


def bad_archive(tmp_path: Path, kind: str) -> Path:
    """An import file that cannot be read: each the way a fuzzing run found it."""
    target = tmp_path / f"{kind}.zip"
    if kind in ("deep nesting", "huge number"):
        target = target.with_suffix(".json")
        text = "[" * 100_000 + "]" * 100_000 if kind == "deep nesting" else '{"format": "moss.history", "version": '
        target.write_text(text if kind == "deep nesting" else text + "9" * 5000 + "}", encoding="utf-8")
        return target
    if kind == "zip bomb":  # 100 KB of packed "[]," that would unpack to 100 MB, and to gigabytes once parsed
        with (
            zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z,
            z.open("conversations.json", "w", force_zip64=True) as member,
        ):
            member.write(b"[")
            for _ in range(100):
                member.write(b"[]," * 350_000)
            member.write(b"[]]")
        return target
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("conversations.json", "[]")
    data = bytearray(target.read_bytes())
    local, central = data.find(b"PK\x03\x04"), data.find(b"PK\x01\x02")
    if kind == "deflate64":  # the method field of both headers: 9, which Python cannot unpack
        data[local + 8 : local + 10] = data[central + 10 : central + 12] = (9).to_bytes(2, "little")
    elif kind == "encrypted":  # the "encrypted" flag of both headers
        data[local + 6] |= 1
        data[central + 8] |= 1
    else:  # damaged: a byte of the packed data
        data[local + 30 + len("conversations.json")] ^= 0xFF
    target.write_bytes(bytes(data))
    return target


@pytest.mark.parametrize("kind", ["deflate64", "encrypted", "damaged", "zip bomb", "deep nesting", "huge number"])
def test_an_archive_or_json_that_cannot_be_read_is_one_line_and_changes_nothing(
    filled: Filled, tmp_path: Path, kind: str
) -> None:
    """Each used to end in a traceback and exit 1 (NotImplementedError, RuntimeError, zlib.error,
    RecursionError, ValueError), or (the zip bomb) in gigabytes of memory."""
    source = bad_archive(tmp_path, kind)
    before = contents(filled.data)
    line = one_line_error(moss(filled.data, "import", source))
    assert source.name in line and line.endswith("Nothing was imported.")
    if kind == "zip bomb":  # refused before it is unpacked, not after the memory is spent
        assert "memory" in line
    assert contents(filled.data) == before


def test_an_import_waits_for_another_writer_and_says_so(filled: Filled, tmp_path: Path) -> None:
    """Another process holding the write lock (the window saving a reply, a long import): the import waits,
    says so, and goes on once the lock is free (it used to give up after 5 s with "database is locked")."""
    exported = tmp_path / "one.json"
    exported.write_text(json.dumps(moss_export()), encoding="utf-8")
    holder = sqlite3.connect(AppPaths.resolve(filled.data).history_file, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(1.5, holder.execute, ("COMMIT",))
    release.start()
    try:
        result = moss(filled.data, "import", exported)
    finally:
        release.join()
        holder.close()
    assert result.returncode == 0, result.stderr
    assert "waiting up to 30 s" in result.stderr and result.stdout.startswith("Imported 1 conversation")


WRITER = """
import sys, time
from pathlib import Path
from app.core.history import MessageStatus
from app.core.types import Role
from app.storage.history import HistoryStore
store = HistoryStore.open(Path(sys.argv[1]), recover=False)
conversation = store.create_conversation()
question = store.add_message(conversation.id, None, Role.USER, "Tell me a long story")
reply = store.add_message(conversation.id, question.id, Role.ASSISTANT, status=MessageStatus.STREAMING)
store.save_partial(reply.id, "Once upon a time", None)
print(conversation.id, flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_reply_whose_writer_was_killed_reads_interrupted_not_being_written(tmp_path: Path) -> None:
    """A window killed mid-reply left the reply "(being written now)" for every reader until the next window
    start; now each reader asks whether the writer is still there."""
    data = tmp_path / "data"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(AppPaths.resolve(data).history_file)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        conversation = writer.stdout.readline().strip()
        assert conversation.isdigit()
        assert "Assistant (being written now):\nOnce upon a time" in ok(moss(data, "show", conversation))
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait(10)
        if writer.stdout is not None:
            writer.stdout.close()
    assert "Assistant (interrupted):\nOnce upon a time" in ok(moss(data, "show", conversation))
    shown = json.loads(ok(moss(data, "show", conversation, "--json")))
    assert shown["messages"][1]["status"] == "interrupted"
    assert "interrupted before the reply finished" in ok(moss(data, "export", conversation))


def smash_a_page_of(path: Path, table: str) -> int:
    """Overwrite the header of one of ``table``'s leaf pages (past the first pages); returns its number."""
    db = sqlite3.connect(path)
    pages = [row[0] for row in db.execute("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf'", (table,))]
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    page = pages[len(pages) // 2]
    data = bytearray(path.read_bytes())
    data[(page - 1) * page_size : (page - 1) * page_size + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))
    return page


def test_damage_met_by_a_command_is_recovered_and_told_until_dismissed(tmp_path: Path) -> None:
    """Damage past the first pages used to fail every command with exit 1 ("database disk image is
    malformed"), for good. Now the command that meets it recovers what can still be read into a new history,
    keeps the damaged file as it was, runs on the new one, and every command says so until dismissed."""
    data = tmp_path / "data"
    db_file = AppPaths.resolve(data).history_file
    store = open_store(data)
    for n in range(20):
        chat = store.create_conversation().id
        question = store.add_message(chat, None, Role.USER, f"question {n} " + "words " * 300)
        store.add_message(chat, question.id, Role.ASSISTANT, f"answer {n} " + "more words " * 300)
    store.close()
    smash_a_page_of(db_file, "messages")
    damaged = db_file.read_bytes()

    exported = moss(data, "export", "--all", "--format", "json")
    assert exported.returncode == 0, exported.stderr
    (notice,) = exported.stderr.strip().splitlines()
    assert "damaged" in notice and "recovered 20 conversations" in notice and "moss history dismiss" in notice
    [aside] = db_file.parent.glob("history.corrupt-*.db")
    assert str(aside) in notice and aside.read_bytes() == damaged
    conversations = json.loads(exported.stdout)["conversations"]
    assert len(conversations) == 20 and sum(len(c["messages"]) for c in conversations) >= 38

    listed = moss(data, "list", "--all")
    assert listed.returncode == 0 and listed.stderr.strip() == notice  # told again, by every command
    assert len(listed.stdout.splitlines()) == 21
    assert ok(moss(data, "dismiss")).strip() == "Dismissed 1 notice."
    quiet = moss(data, "list")
    assert quiet.returncode == 0 and quiet.stderr == ""
