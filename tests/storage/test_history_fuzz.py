"""Fuzzing the history's edges (issue 16): what comes in (Moss JSON, ChatGPT exports, .zip archives) and what
is already there (a database damaged past its first pages).

- Moss JSON and ChatGPT export structures, with every field good or odd (times of 1e30, counts of 2**100,
  megabyte names, lone surrogates, NaN, objects where text belongs, parents that loop), are imported through
  the real reader and store: each ends in a UserError or an import after which every command still reads the
  history, and whose Moss JSON export imports again.
- ChatGPT .zip archives with mutated bytes and misstated sizes: a UserError or a list, within bounded memory.
- A corpus of damaged databases (bits flipped in pages past the first, or their headers overwritten) run
  through every history command: each exits 0 or 2, and a recovery brings back every row SQLite can still
  read from the damaged file.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import sqlite3
import struct
import tempfile
import tracemalloc
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import cli
from app.__main__ import build_parser
from app.core.errors import UserError
from app.core.types import Role
from app.platform.paths import AppPaths
from app.storage.bounds import EARLIEST_TIME, LATEST_TIME
from app.storage.exchange import export_text, import_conversations, read_import_file
from app.storage.history import HistoryStore
from app.storage.moss_json import parse_moss_json
from app.storage.search import search
from tests.helpers.chatgpt_export import trip_conversation

# 60 examples a test keeps the run to seconds; MOSS_FUZZ_EXAMPLES=5000 fuzzes deeper (a few minutes).
FUZZ = settings(
    max_examples=int(os.environ.get("MOSS_FUZZ_EXAMPLES", "60")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)

# -- values, good and odd -----------------------------------------------------------------------------------

ODD_NUMBERS = st.one_of(
    st.sampled_from([0, -1, 1e30, -1e30, 2**63, 2**64, 10**30, 1e308, 32503680001.0, float("nan"), float("inf")]),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(allow_nan=True, allow_infinity=True),
)
ODD_TEXT = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", " ", "x" * 5000, "\ud800 lone surrogate", "\x00nul", "streaming", "complete"]),
)
LEAF = st.one_of(st.none(), st.booleans(), ODD_NUMBERS, ODD_TEXT)
ANY_JSON = st.recursive(
    LEAF,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(ODD_TEXT, inner, max_size=3)),
    max_leaves=6,
)


# Values of the right type, some of them out of bounds: times Moss cannot show, lone surrogates, NUL.
def one_in(n: int) -> st.SearchStrategy[bool]:
    """True once in ``n`` draws, about (an integer strategy would favour its bounds)."""
    return st.sampled_from([False] * (n - 1) + [True])


GOOD_TIME = one_in(8).flatmap(
    lambda odd: (
        st.sampled_from([0, 1e30, -1.0, 32503680000.0, 32503680001.0, 2**63, 1e308])
        if odd
        else st.floats(min_value=1_500_000_000, max_value=1_900_000_000)
    )
)
TEXT = st.one_of(st.text(max_size=30), st.sampled_from(["", "\ud800", "a\udfffb", "\x00", "x" * 5000]))


def good_or_odd(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a good value (one in twelve is anything at all), so that most documents get past the first
    check and the rest of the reader is fuzzed too."""
    return one_in(12).flatmap(lambda odd: ANY_JSON if odd else good)


MOSS_MESSAGE = st.fixed_dictionaries(
    {
        "id": good_or_odd(st.sampled_from(["1", "2", "3", "4"])),
        "role": good_or_odd(st.sampled_from(["user", "assistant", "system"])),
        "content": good_or_odd(TEXT),
    },
    optional={
        "parent": good_or_odd(st.sampled_from([None, "1", "2", "3"])),
        "created_at": good_or_odd(GOOD_TIME),
        "status": good_or_odd(st.sampled_from(["complete", "interrupted", "streaming"])),
        "reasoning": good_or_odd(TEXT),
        "model": good_or_odd(st.text(max_size=10)),
        "prompt_tokens": good_or_odd(st.integers(0, 10_000)),
        "completion_tokens": good_or_odd(st.integers(0, 10_000)),
        "tokens_per_second": good_or_odd(st.floats(0, 500)),
        "time_to_first_token_s": good_or_odd(st.floats(0, 10)),
        "finish_reason": good_or_odd(st.sampled_from(["stop", "length", "cancelled", "later"])),
        "dropped_messages": good_or_odd(st.integers(0, 10)),
        "tool_calls": good_or_odd(st.lists(st.text(max_size=10), max_size=2)),
    },
)
MOSS_CONVERSATION = st.fixed_dictionaries(
    {
        "uid": good_or_odd(st.text("0123456789abcdef", min_size=8, max_size=32)),
        "created_at": good_or_odd(GOOD_TIME),
        "messages": good_or_odd(st.lists(MOSS_MESSAGE, max_size=4)),
    },
    optional={
        "title": good_or_odd(TEXT),
        "updated_at": good_or_odd(GOOD_TIME),
        "title_by_user": good_or_odd(st.booleans()),
        "model": good_or_odd(st.text(max_size=10)),
        "reasoning_effort": good_or_odd(st.sampled_from(["low", "medium", "high"])),
        "system_prompt": good_or_odd(TEXT),
        "sampling": good_or_odd(st.dictionaries(st.text(max_size=5), st.floats(0, 2), max_size=2)),
        "pinned": good_or_odd(st.booleans()),
        "source": good_or_odd(st.sampled_from(["moss", "chatgpt"])),
        "current_message": good_or_odd(st.sampled_from([None, "1", "2", "3", "4"])),
    },
)
MOSS_DOCUMENT = st.fixed_dictionaries(
    {
        "format": good_or_odd(st.just("moss.history")),
        "version": good_or_odd(st.just(1)),
        "conversations": good_or_odd(st.lists(MOSS_CONVERSATION, min_size=1, max_size=3)),
    }
)


@st.composite
def chatgpt_conversation(draw: st.DrawFn) -> dict[str, Any]:
    """A ChatGPT conversation: a node tree whose parents, children, messages and times may all be odd."""
    ids = [f"n{i}" for i in range(draw(st.integers(1, 6)))]
    mapping: dict[str, Any] = {}
    for position, node_id in enumerate(ids):
        # Mostly a node before it; sometimes any node (a loop) or anything at all.
        pick = draw(st.sampled_from(range(12)))
        parent = draw(
            st.sampled_from(ids) if pick == 10 else ANY_JSON if pick == 11 else st.sampled_from([None, *ids[:position]])
        )
        message = {
            "author": good_or_odd(st.fixed_dictionaries({"role": good_or_odd(st.sampled_from(["user", "assistant"]))})),
            "content": good_or_odd(
                st.fixed_dictionaries(
                    {
                        "content_type": good_or_odd(st.sampled_from(["text", "text", "multimodal_text", "code"])),
                        "text": good_or_odd(TEXT),  # what a "code" message holds instead of parts
                        "parts": good_or_odd(st.lists(good_or_odd(TEXT), max_size=3)),
                    }
                )
            ),
            "create_time": good_or_odd(GOOD_TIME),
            "metadata": good_or_odd(st.fixed_dictionaries({}, optional={"model_slug": ODD_TEXT})),
        }
        node = {"id": node_id, "parent": parent, "children": draw(good_or_odd(st.lists(st.sampled_from(ids))))}
        kind = draw(st.sampled_from(["message"] * 4 + ["none", "anything"]))
        node["message"] = draw(
            st.fixed_dictionaries(message) if kind == "message" else st.none() if kind == "none" else ANY_JSON
        )
        mapping[node_id] = draw(ANY_JSON) if draw(one_in(12)) else node
    return {
        "title": draw(good_or_odd(TEXT)),
        "mapping": mapping,
        "current_node": draw(good_or_odd(st.sampled_from(ids))),
        "create_time": draw(good_or_odd(GOOD_TIME)),
        "update_time": draw(good_or_odd(GOOD_TIME)),
        "conversation_id": draw(good_or_odd(st.uuids().map(str))),
        "default_model_slug": draw(good_or_odd(st.text(max_size=10))),
    }


# -- the history, read every way -----------------------------------------------------------------------------


def run_history(data: Path, *arguments: str) -> tuple[int, str, str]:
    """``moss --data-dir DATA history ARGUMENTS`` in this process: its exit code, stdout and stderr."""
    args: argparse.Namespace = build_parser().parse_args(["--data-dir", str(data), "history", *arguments])
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")  # with .buffer: exports write bytes
    err = io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.run(args, AppPaths.resolve(data))
    out.flush()
    assert isinstance(out.buffer, io.BytesIO)
    return code, out.buffer.getvalue().decode("utf-8"), err.getvalue()


def assert_readable(store: HistoryStore) -> None:
    """Every way the history is read works, with every time one Moss can show, and the Moss JSON export of it
    all validates as an import again."""
    ids = []
    for info in store.list_conversations():
        assert EARLIEST_TIME <= info.created_at <= LATEST_TIME and EARLIEST_TIME <= info.updated_at <= LATEST_TIME
        assert all(EARLIEST_TIME <= m.created_at <= LATEST_TIME for m in store.all_messages(info.id))
        store.path(info.id)
        ids.append(info.id)
    export_text(store, ids, "md")
    parse_moss_json(json.loads(export_text(store, ids, "json")))


def import_or_refuse(store: HistoryStore, source: Path) -> bool:
    """Import ``source``; True when it was imported, False when it was refused with one line."""
    try:
        conversations = read_import_file(source)
    except UserError as refused:
        assert "\n" not in str(refused) and str(refused).strip()
        return False
    import_conversations(store, conversations)
    return True


@contextmanager
def fresh_store() -> Iterator[tuple[HistoryStore, Path]]:
    """A new history for one example (one shared by all would skip a conversation seen before, by its uid,
    and a failure would not repeat), and a folder for the file to import."""
    with tempfile.TemporaryDirectory(prefix="moss-fuzz-") as folder:
        store = HistoryStore.open(Path(folder) / "history.db", recover=False)
        try:
            yield store, Path(folder)
        finally:
            store.close()


@FUZZ
@given(document=MOSS_DOCUMENT)
def test_fuzzed_moss_json_is_refused_in_one_line_or_imported_readably(document: dict[str, Any]) -> None:
    with fresh_store() as (store, folder):
        source = folder / "fuzzed.json"
        source.write_text(json.dumps(document), encoding="utf-8")
        import_or_refuse(store, source)
        assert_readable(store)


@FUZZ
@given(conversations=st.lists(chatgpt_conversation(), min_size=1, max_size=3))
def test_fuzzed_chatgpt_exports_are_refused_in_one_line_or_imported_readably(
    conversations: list[dict[str, Any]],
) -> None:
    with fresh_store() as (store, folder):
        source = folder / "conversations.json"
        source.write_text(json.dumps(conversations), encoding="utf-8")
        import_or_refuse(store, source)
        assert_readable(store)


@FUZZ
@given(query=st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=40))
def test_fuzzed_search_text_finds_or_finds_nothing(query: str) -> None:
    """Whatever is typed in the search box or after `moss history search` (NUL, lone surrogates, FTS5 syntax)
    is words to look for, never an error."""
    with fresh_store() as (store, _folder):
        chat = store.create_conversation().id
        store.add_message(chat, None, Role.USER, f"hello café {query}")
        hits = search(store.connection, query)
        assert all(hit.conversation_id == chat for hit in hits)


def chatgpt_zip() -> bytes:
    """A real-shaped ChatGPT export .zip: conversations.json and a page beside it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("chat.html", "<html></html>")
        archive.writestr("conversations.json", json.dumps([trip_conversation().data]))
    return buffer.getvalue()


ZIP = chatgpt_zip()
_SIZE_FIELDS = ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24))  # where each header keeps the unpacked size


@FUZZ
@given(
    flips=st.lists(st.tuples(st.integers(0, len(ZIP) - 1), st.integers(0, 255)), max_size=6),
    declared=st.one_of(st.none(), st.integers(0, 2**32 - 1)),
)
def test_fuzzed_zip_archives_are_refused_in_one_line_or_read_in_bounded_memory(
    flips: list[tuple[int, int]], declared: int | None
) -> None:
    data = bytearray(ZIP)
    if declared is not None:  # every header of conversations.json says it unpacks to this many bytes
        for signature, offset in _SIZE_FIELDS:
            start = data.find(signature, data.find(b"conversations.json") - 60 if signature == b"PK\x03\x04" else 0)
            while start >= 0:
                data[start + offset : start + offset + 4] = struct.pack("<I", declared)
                start = data.find(signature, start + 4)
    for position, value in flips:
        data[position] = value
    with fresh_store() as (store, folder):
        source = folder / "export.zip"
        source.write_bytes(bytes(data))
        tracemalloc.start()
        try:
            imported = import_or_refuse(store, source)
            _now, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 64 * 2**20, f"reading a {len(data)}-byte archive took {peak / 2**20:.0f} MB"
        if imported:
            assert_readable(store)


# -- damaged databases ---------------------------------------------------------------------------------------

CORPUS = int(os.environ.get("MOSS_FUZZ_DATABASES", "24"))  # damaged copies; more for a deeper run


@pytest.fixture(scope="module")
def whole_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A history of 12 conversations whose messages are large enough to spread over many pages."""
    path = tmp_path_factory.mktemp("whole") / "history.db"
    store = HistoryStore.open(path)
    for n in range(12):
        chat = store.create_conversation().id
        question = store.add_message(chat, None, Role.USER, f"question {n} " + "lorem ipsum " * 120)
        first = store.add_message(chat, question.id, Role.ASSISTANT, f"answer {n} " + "dolor sit " * 150)
        store.add_message(chat, question.id, Role.ASSISTANT, f"again {n} " + "amet " * 200)  # a branch
        store.add_message(chat, first.id, Role.USER, f"thanks {n}")
    store.close()
    return path


def damage(source: Path, target: Path, seed: int) -> None:
    """Copy ``source`` to ``target`` with one to three pages past the first damaged: a few bits flipped, or the
    page's header overwritten."""
    rng = random.Random(seed)
    data = bytearray(source.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    for _ in range(1 + seed % 3):
        start = rng.randrange(1, len(data) // page_size) * page_size  # 0-based: never the first page
        if rng.random() < 0.5:
            data[start : start + 12] = bytes(rng.randrange(256) for _ in range(12))
        else:
            for _ in range(rng.randint(1, 16)):
                data[start + rng.randrange(page_size)] ^= 1 << rng.randrange(8)
    target.parent.mkdir(parents=True)
    target.write_bytes(bytes(data))


def readable_rows(path: Path) -> dict[str, dict[int, object]]:
    """What SQLite can still read from the damaged file at ``path``, asked row by row for every id the whole
    history had: the oracle a recovery is checked against."""
    db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    db.text_factory = lambda raw: raw.decode("utf-8", "replace")
    found: dict[str, dict[int, object]] = {"conversations": {}, "messages": {}}
    queries = {
        "conversations": ("SELECT uid, 'user', 1 FROM conversations WHERE id = ?", 12),
        "messages": ("SELECT content, role, conversation_id FROM messages WHERE id = ?", 48),
    }
    for table, (query, most) in queries.items():
        for rowid in range(1, most + 1):
            try:
                row = db.execute(query, (rowid,)).fetchone()
            except (sqlite3.DatabaseError, UnicodeDecodeError):  # the latter: SQLite quoting a damaged schema
                continue
            # A row whose role or conversation a damaged page changed into nonsense cannot be placed.
            if row is not None and row[1] in ("system", "user", "assistant") and isinstance(row[2], int):
                found[table][rowid] = row[0]
    db.close()
    return found


@pytest.mark.parametrize("seed", range(CORPUS))
def test_every_history_command_survives_a_damaged_database_and_recovers_what_is_readable(
    whole_history: Path, tmp_path: Path, seed: int
) -> None:
    data = tmp_path / "data"
    history = AppPaths.resolve(data).history_file
    damage(whole_history, history, seed)
    good_import = tmp_path / "one.json"
    moss = {"format": "moss.history", "version": 1, "conversations": []}
    good_import.write_text(json.dumps(moss), encoding="utf-8")
    commands = [
        ("list", "--all"),
        ("show", "3"),
        ("show", "7", "--reasoning"),
        ("search", "lorem"),
        ("export", "--all"),
        ("export", "--all", "--format", "json"),
        ("import", str(good_import)),
        ("list", "--json"),
    ]
    for command in commands:
        code, _out, err = run_history(data, *command)
        assert code in (0, 2), f"{command}: exit {code}: {err}"
        assert "unexpected error" not in err and "Traceback" not in err, err

    kept = sorted(history.parent.glob("history.corrupt-*.db"))
    if not kept:
        return  # the damage was in text, or in a page no command read: nothing to recover
    [aside] = kept
    oracle = readable_rows(aside)
    store = HistoryStore.open(history, recover=False)
    try:
        recovered = {
            "conversations": dict(store.connection.execute("SELECT id, uid FROM conversations").fetchall()),
            "messages": dict(store.connection.execute("SELECT id, content FROM messages").fetchall()),
        }
        assert store.lasting and any(str(aside) in notice for notice in store.notices)
        assert_readable(store)
    finally:
        store.close()
    for table, rows in oracle.items():
        missing = {rowid for rowid in rows if rowid not in recovered[table]}
        assert not missing, f"readable {table} {sorted(missing)} were not recovered"
        if table == "messages":
            assert all(recovered[table][rowid] == text for rowid, text in rows.items())
    assert run_history(data, "dismiss")[0] == 0
    assert run_history(data, "list")[2] == ""


def test_a_copy_of_the_corpus_source_is_whole(whole_history: Path, tmp_path: Path) -> None:
    """The corpus's source is a sound history: what the damaged copies are compared with is right."""
    copy = tmp_path / "history.db"
    shutil.copyfile(whole_history, copy)
    db = sqlite3.connect(copy)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 48
    db.close()
