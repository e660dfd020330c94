"""The SQLite history on real files: conversations, branches, streaming saves, deletion and search."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.errors import HistoryError
from app.core.history import MessageStatus, ReplyFacts
from app.core.types import FinishReason, Message, ReasoningEffort, Role
from app.storage.history import HistoryStore
from app.storage.search import match_expression, search, search_history


@pytest.fixture
def store(tmp_path: Path) -> HistoryStore:
    history = HistoryStore.open(tmp_path / "history.db")
    yield history
    history.close()


def chat(store: HistoryStore, *turns: str) -> int:
    """A conversation with alternating user/assistant turns; returns its id."""
    conversation = store.create_conversation(system_prompt="Be brief.")
    parent = None
    for i, text in enumerate(turns):
        parent = store.add_message(conversation.id, parent, Role.USER if i % 2 == 0 else Role.ASSISTANT, text).id
    return conversation.id


def texts(store: HistoryStore, conversation_id: int) -> list[str]:
    return [m.content for m in store.path(conversation_id)]


def test_a_conversation_survives_reopening_with_its_settings(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    store = HistoryStore.open(path)
    info = store.create_conversation(
        system_prompt="Be brief.",
        reasoning_effort=ReasoningEffort.HIGH,
        model="gpt-oss-20b",
        sampling={"temperature": 0.3},
    )
    user = store.add_message(info.id, None, Role.USER, "Why is the sky blue?")
    reply = store.add_message(info.id, user.id, Role.ASSISTANT, "", status=MessageStatus.STREAMING, model="m")
    facts = ReplyFacts(20, 5, 31.5, 0.25, FinishReason.STOP, 4, ('functions.get_weather({"city":"Paris"})',))
    store.finish_message(reply.id, "Rayleigh scattering.", "Short wavelengths scatter more.", facts)
    store.close()

    store = HistoryStore.open(path)
    info = store.conversation(info.id)
    assert (info.title, info.reasoning_effort, info.model, info.sampling) == (
        "Why is the sky blue?",
        ReasoningEffort.HIGH,
        "gpt-oss-20b",
        {"temperature": 0.3},
    )
    assert info.message_count == 2
    [_question, answer] = store.path(info.id)
    assert answer.reasoning == "Short wavelengths scatter more." and answer.status == MessageStatus.COMPLETE
    assert answer.facts == facts
    assert store.snapshot(info.id) == (
        Message(Role.SYSTEM, "Be brief."),
        Message(Role.USER, "Why is the sky blue?"),
        Message(Role.ASSISTANT, "Rayleigh scattering.", "Short wavelengths scatter more."),
    )
    store.close()


def test_a_reply_its_writer_is_still_writing_stays_streaming_for_every_reader(tmp_path: Path) -> None:
    """This process is alive and writing: neither the command line nor another window's start may call its
    reply interrupted (tests/storage/test_streaming_writer.py has the writer that is gone)."""
    path = tmp_path / "history.db"
    store = HistoryStore.open(path)
    conversation_id = chat(store, "Tell me a story")
    reply = store.add_message(
        conversation_id, store.path(conversation_id)[-1].id, Role.ASSISTANT, status=MessageStatus.STREAMING
    )
    store.save_partial(reply.id, "Once upon a", None)
    assert HistoryStore.open(path, recover=False).message(reply.id).status == MessageStatus.STREAMING
    other_window = HistoryStore.open(path)
    saved = other_window.message(reply.id)
    assert (saved.content, saved.status) == ("Once upon a", MessageStatus.STREAMING)
    store.finish_message(reply.id, "Once upon a time.", None)
    assert other_window.message(reply.id).status == MessageStatus.COMPLETE


def test_edits_and_regenerations_become_branches_that_remember_the_path(store: HistoryStore) -> None:
    cid = chat(store, "Name a fruit", "Apple", "And a colour?", "Red")
    first_q, apple, colour_q, red = store.path(cid)
    # Regenerate the first reply: a sibling of "Apple"; the path now ends there.
    banana = store.add_message(cid, first_q.id, Role.ASSISTANT, "Banana")
    assert texts(store, cid) == ["Name a fruit", "Banana"]
    assert [(m.sibling_index, m.sibling_count) for m in store.path(cid)] == [(0, 1), (1, 2)]
    # Edit the first question: a sibling of it.
    edited = store.add_message(cid, None, Role.USER, "Name a vegetable")
    store.add_message(cid, edited.id, Role.ASSISTANT, "Carrot")
    assert texts(store, cid) == ["Name a vegetable", "Carrot"]
    assert store.path(cid)[0].sibling_count == 2

    # "<" on the question goes back to the fruit branch, and down the reply last chosen there (Banana).
    assert store.switch_sibling(edited.id, -1) == first_q.id
    assert texts(store, cid) == ["Name a fruit", "Banana"]
    # "<" on the reply goes to Apple, and on to the rest of that branch.
    store.switch_sibling(banana.id, -1)
    assert texts(store, cid) == ["Name a fruit", "Apple", "And a colour?", "Red"]
    assert store.switch_sibling(apple.id, -1) == apple.id  # already the first
    # The path is remembered across reopening (it is the stored leaf).
    assert store.conversation(cid).current_leaf_id == red.id
    store.switch_sibling(first_q.id, +1)
    assert texts(store, cid) == ["Name a vegetable", "Carrot"]
    assert store.snapshot(cid, through=colour_q.id)[-1] == Message(Role.USER, "And a colour?")


def test_only_the_last_messages_of_a_long_path_are_read_when_asked(store: HistoryStore) -> None:
    cid = chat(store, *[f"turn {i}" for i in range(300)])
    assert store.path_length(cid) == 300
    tail = store.path(cid, last=20)
    assert [m.content for m in tail] == [f"turn {i}" for i in range(280, 300)]


def test_a_stopped_reply_without_text_is_removed_and_the_old_branch_comes_back(store: HistoryStore) -> None:
    cid = chat(store, "Q", "A1")
    question = store.path(cid)[0]
    retry = store.add_message(cid, question.id, Role.ASSISTANT, status=MessageStatus.STREAMING)
    assert store.remove_message(retry.id) == store.path(cid)[-1].id
    assert texts(store, cid) == ["Q", "A1"]
    with pytest.raises(HistoryError):
        store.remove_message(question.id)  # it has a reply


def test_delete_can_be_undone_until_purged(store: HistoryStore) -> None:
    keep = chat(store, "keep me", "ok")
    gone = chat(store, "delete me", "ok")
    store.delete(gone)
    assert [c.id for c in store.list_conversations()] == [keep]
    assert search(store.connection, "delete") == []
    store.restore(gone)
    assert {c.id for c in store.list_conversations()} == {keep, gone}
    store.delete(gone)
    assert store.purge_deleted() == 1
    with pytest.raises(HistoryError):
        store.restore(gone) or store.conversation(gone)
    assert store.connection.execute("SELECT count(*) FROM messages").fetchone()[0] == 2


def test_pinned_first_then_most_recent_and_renamed(store: HistoryStore) -> None:
    a = chat(store, "first topic")
    b = chat(store, "second topic")
    c = chat(store, "third topic")
    store.set_pinned(a, True)
    assert [x.id for x in store.list_conversations()] == [a, c, b]
    store.rename(b, "  My   notes ")
    assert store.conversation(b).title == "My notes" and store.conversation(b).title_by_user
    store.add_message(b, store.path(b)[-1].id, Role.ASSISTANT, "reply")  # activity moves it up
    assert [x.id for x in store.list_conversations()] == [a, b, c]
    assert store.conversation(b).title == "My notes"  # a title chosen by the person stays
    store.rename(b, "")
    assert store.conversation(b).title == "Second topic"
    assert store.find(str(b)).id == b and store.find(store.conversation(b).uid[:8]).id == b
    with pytest.raises(HistoryError, match="moss history list"):
        store.find("999")


def test_search_ranks_and_highlights_titles_messages_and_reasoning(store: HistoryStore) -> None:
    kv = chat(store, "How does the KV cache work?", "It stores keys and values of earlier tokens.")
    moe = chat(store, "What is a mixture of experts?", "Experts are small networks; a router picks some.")
    thinking = store.create_conversation()
    q = store.add_message(thinking.id, None, Role.USER, "Plan a trip")
    store.add_message(
        thinking.id, q.id, Role.ASSISTANT, "Go to Lisbon.", reasoning="The caché of options: Lisbon, Porto."
    )
    store.rename(moe, "Routing in sparse models")

    [hit] = search(store.connection, "keys values")
    assert hit.conversation_id == kv and hit.field == "content" and hit.role == Role.ASSISTANT
    assert [hit.snippet[a:b] for a, b in hit.highlights] == ["keys", "values"]

    hits = {h.conversation_id: h for h in search(store.connection, "cache")}  # "caché" too: accents folded
    assert set(hits) == {kv, thinking.id}
    assert hits[kv].field == "title" or hits[kv].role == Role.USER
    assert hits[thinking.id].field == "reasoning"
    assert [hits[thinking.id].snippet[a:b] for a, b in hits[thinking.id].highlights] == ["caché"]

    hits = search(store.connection, "rout")  # a prefix while typing; the title match comes first
    assert [h.conversation_id for h in hits] == [moe]
    assert hits[0].snippet == "Experts are small networks; a router picks some."  # the message that matched
    assert hits[0].message_id is not None

    assert search(store.connection, "network") and search(store.connection, "networks")  # stemming
    for nasty in ('"', "C++ AND (", "NOT", "*", "a:b"):
        search(store.connection, nasty)  # never an FTS5 syntax error
    assert match_expression("   ") is None
    assert search_history(store.file, "lisbon")[0].conversation_id == thinking.id


def test_text_that_is_not_unicode_is_stored_with_replacement_characters(store: HistoryStore) -> None:
    """A lone surrogate (a paste of broken UTF-16, a JSON escape) used to fail the whole write: SQLite takes
    Unicode only. The rest of the text is kept, the odd character shown as U+FFFD."""
    chat = store.create_conversation(title="odd \ud800 title").id
    question = store.add_message(chat, None, Role.USER, "before \udfff after")
    reply = store.add_message(chat, question.id, Role.ASSISTANT, status=MessageStatus.STREAMING)
    store.save_partial(reply.id, "half \ud83d", "thinking \ud800")
    store.finish_message(reply.id, "whole \ud83d", None)
    store.rename(chat, "renamed \udc00")
    assert [m.content for m in store.path(chat)] == ["before \ufffd after", "whole \ufffd"]
    assert store.conversation(chat).title == "renamed \ufffd"
