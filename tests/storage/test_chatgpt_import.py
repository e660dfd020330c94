"""The ChatGPT importer on export files written to disk and read back, as the app reads them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.core.errors import ImportFormatError
from app.core.history import ImportedConversation, ImportedMessage, MessageStatus
from app.core.tool_steps import ToolDecision, ToolStep
from app.core.types import FinishReason, Role, ToolCall
from app.storage.chatgpt_import import looks_like_chatgpt_export, parse_chatgpt_export
from tests.helpers.chatgpt_export import (
    BASE_TIME,
    ExportBuilder,
    analysis_conversation,
    linear_conversation,
    text_content,
    trip_conversation,
    write_export,
)


def read_back(tmp_path: Path, conversations: list[Any]) -> Any:
    with write_export(tmp_path, conversations).open(encoding="utf-8") as file:
        return json.load(file)


def parse(tmp_path: Path, conversations: list[Any]) -> list[ImportedConversation]:
    return parse_chatgpt_export(read_back(tmp_path, conversations))


def active_path(conversation: ImportedConversation) -> list[ImportedMessage]:
    """Root to ``current_key`` along ``parent_key``, without recursion (paths can be thousands long)."""
    by_key = {message.key: message for message in conversation.messages}
    path = []
    key = conversation.current_key
    while key is not None:
        path.append(by_key[key])
        key = by_key[key].parent_key
    return path[::-1]


def only(tmp_path: Path, conversation: dict[str, Any]) -> ImportedConversation:
    [imported] = parse(tmp_path, [conversation])
    return imported


def test_the_active_path_follows_the_kept_reply_and_the_edited_question(tmp_path: Path) -> None:
    sample = trip_conversation()
    conversation = only(tmp_path, sample.data)
    assert [(m.role, m.content) for m in active_path(conversation)] == [
        (Role.USER, "Plan a 3-day trip to Lisbon."),
        (Role.ASSISTANT, "Here is a relaxed plan: Baixa, Belém, then Cascais."),
        (Role.USER, "What's the weather like in Lisbon in May?"),
        (Role.ASSISTANT, "Lisbon in May averages 22 °C with little rain."),
        (Role.USER, "[image]\n\nWhat is this building?"),
        (Role.ASSISTANT, "That is the Belém Tower, built in 1519."),
    ]
    assert conversation.current_key == sample.nodes["tower"]


def test_every_branch_is_imported_with_parents_first_and_siblings_in_order(tmp_path: Path) -> None:
    sample = trip_conversation()
    n = sample.nodes
    conversation = only(tmp_path, sample.data)
    keys = [m.key for m in conversation.messages]
    parents = {m.key: m.parent_key for m in conversation.messages}
    assert set(keys) == {n[name] for name in ("ask", "plan1", "plan2", "weather1", "weather1_answer")} | {
        n[name] for name in ("weather2", "weather_answer", "photo", "tower")
    }
    for position, key in enumerate(keys):
        parent = parents[key]
        assert parent is None or keys.index(parent) < position
    # The regenerated reply and the edited question are siblings, oldest first as ChatGPT lists them.
    assert [k for k in keys if parents[k] == n["ask"]] == [n["plan1"], n["plan2"]]
    assert [k for k in keys if parents[k] == n["plan2"]] == [n["weather1"], n["weather2"]]
    assert parents[n["weather1_answer"]] == n["weather1"]
    assert all(m.status is MessageStatus.COMPLETE for m in conversation.messages)


def test_system_context_and_tool_messages_are_dropped_and_their_children_move_up(tmp_path: Path) -> None:
    sample = trip_conversation()
    n = sample.nodes
    conversation = only(tmp_path, sample.data)
    keys = {m.key for m in conversation.messages}
    assert not keys & {n[name] for name in ("root", "system", "context", "search", "browse", "thoughts", "recap")}
    by_key = {m.key: m for m in conversation.messages}
    assert by_key[n["ask"]].parent_key is None  # root, system prompt and custom instructions are gone
    assert by_key[n["weather_answer"]].parent_key == n["weather2"]  # past the browser call and its result
    assert by_key[n["tower"]].parent_key == n["photo"]
    assert not any("search(" in m.content or "Porto" in m.content for m in conversation.messages)


def test_o1_thoughts_become_the_reasoning_of_the_answer_after_them(tmp_path: Path) -> None:
    sample = trip_conversation()
    conversation = only(tmp_path, sample.data)
    by_key = {m.key: m for m in conversation.messages}
    assert by_key[sample.nodes["tower"]].reasoning == (
        "Looking at the photo\nA white limestone tower by the river.\n\n"
        "Naming it\nManueline style, on the Tagus: the Belém Tower."
    )
    assert all(m.reasoning is None for m in conversation.messages if m.key != sample.nodes["tower"])


def test_thoughts_before_a_tool_call_go_to_its_step_the_rest_to_the_answer_never_past_a_user_message(
    tmp_path: Path,
) -> None:
    b = ExportBuilder("reasoning")

    def thoughts(parent: str, summary: str, content: str) -> str:
        body = {"content_type": "thoughts", "thoughts": [{"summary": summary, "content": content}]}
        return b.add(parent, "assistant", body, metadata={"model_slug": "o3"})

    ask = b.user(b.root, "What is 2**100?")
    first = thoughts(ask, "Plan", "Compute it with Python.")
    call = b.add(
        first, "assistant", {"content_type": "code", "language": "python", "text": "2**100"}, recipient="python"
    )
    output = b.add(call, "tool", {"content_type": "execution_output", "text": "1267650600228229401496703205376"})
    second = thoughts(output, "Check", "The tool agrees.")
    answer = b.assistant(second, "1267650600228229401496703205376", model="o3")
    stray = thoughts(answer, "Unfinished", "The user stopped this one.")
    follow_up = b.user(stray, "Thanks!")
    reply = b.assistant(follow_up, "You're welcome.", model="o3")
    conversation = only(tmp_path, b.build(current_node=reply))
    by_key = {m.key: m for m in conversation.messages}
    [step] = by_key[answer].steps
    assert step.reasoning == "Plan\nCompute it with Python." and step.call.arguments == "2**100"
    assert by_key[answer].reasoning == "Check\nThe tool agrees."
    assert by_key[answer].parent_key == ask
    assert by_key[reply].reasoning is None
    assert by_key[follow_up].reasoning is None


def test_python_runs_become_the_steps_of_the_answer_they_led_to(tmp_path: Path) -> None:
    sample = analysis_conversation()
    n = sample.nodes
    conversation = only(tmp_path, sample.data)
    path = active_path(conversation)
    assert [(m.role, m.content) for m in path] == [
        (Role.USER, "What is 20 factorial? Use Python."),
        (Role.ASSISTANT, "20! = 2,432,902,008,176,640,000."),
        (Role.USER, "Thanks!"),
        (Role.ASSISTANT, "You're welcome."),
    ]
    answer = path[1]
    assert answer.key == n["answer"] and answer.parent_key == n["ask"]  # past the calls and their output
    code = {"channel": "analysis", "content_type": "code", "constrained": False}  # as gpt-oss calls python
    assert answer.steps == (
        ToolStep(
            ToolCall("python", "import math\nmath.factorial('20')", **code),  # type: ignore[arg-type]
            "TypeError: 'str' object cannot be interpreted as an integer",
            ok=False,
            seconds=pytest.approx(0.4),  # type: ignore[arg-type]
            decision=ToolDecision.AUTO,
        ),
        ToolStep(
            ToolCall("python", "math.factorial(20)", **code),  # type: ignore[arg-type]
            "2432902008176640000",
            seconds=pytest.approx(0.2),  # type: ignore[arg-type]
            decision=ToolDecision.AUTO,
        ),
    )
    assert all(m.steps == () for m in path if m is not answer)


def test_a_browser_call_and_its_page_are_a_step_and_every_tool_recipient_counts(tmp_path: Path) -> None:
    sample = trip_conversation()
    by_key = {m.key: m for m in only(tmp_path, sample.data).messages}
    [search] = by_key[sample.nodes["weather_answer"]].steps
    assert search.call.recipient == "browser" and search.call.arguments == 'search("Lisbon weather May")'
    assert search.result == "# 【0†Lisbon climate】 May: 22 °C" and search.ok

    b = ExportBuilder("plugin")
    ask = b.user(b.root, "Draw a cat, and remember I like cats.")
    draw = b.add(ask, "assistant", text_content('{"prompt": "a cat"}'), recipient="dalle.text2im")
    picture = b.add(
        draw,
        "tool",
        {"content_type": "multimodal_text", "parts": [{"content_type": "image_asset_pointer", "asset_pointer": "x"}]},
        author_name="dalle.text2im",
    )
    memory = b.add(picture, "assistant", text_content("Likes cats."), recipient="bio")
    failed = b.add(memory, "tool", {"content_type": "system_error", "name": "bio", "text": "Memory is full."})
    stray = b.add(failed, "tool", {"content_type": "text", "parts": ["More output."]}, author_name="bio")
    answer = b.assistant(stray, "Here is your cat.")
    [message] = [m for m in only(tmp_path, b.build(current_node=answer)).messages if m.key == answer]
    draw_step, memory_step = message.steps
    assert (draw_step.call.recipient, draw_step.call.arguments, draw_step.result) == (
        "dalle.text2im",
        '{"prompt": "a cat"}',
        "[image]",
    )
    assert draw_step.call.content_type == "json" and draw_step.ok
    assert memory_step.call.recipient == "bio" and not memory_step.ok
    assert memory_step.result == "Memory is full.\n\nMore output."  # two outputs of one call, in order


def test_a_chain_no_answer_followed_is_left_out(tmp_path: Path) -> None:
    b = ExportBuilder("unanswered")
    ask = b.user(b.root, "Compute something.")
    _call, output = b.python_call(ask, "1 + 1", "2")
    again = b.user(output, "Never mind, hello!")
    hello = b.assistant(again, "Hello!")
    _late_call, late_output = b.python_call(hello, "2 + 2", "4")  # the branch ends on a tool's output
    conversation = only(tmp_path, b.build(current_node=late_output))
    assert [m.content for m in conversation.messages] == ["Compute something.", "Never mind, hello!", "Hello!"]
    assert all(m.steps == () for m in conversation.messages)
    assert conversation.current_key == hello


def test_non_text_parts_become_placeholders_and_voice_keeps_its_transcript(tmp_path: Path) -> None:
    b = ExportBuilder("voice")
    parts: list[Any] = [
        {"content_type": "audio_transcription", "text": "Is this mushroom edible?", "direction": "in"},
        {"content_type": "audio_asset_pointer", "asset_pointer": "sediment://file_1", "format": "wav"},
        {"content_type": "image_asset_pointer", "asset_pointer": "file-service://file-2"},
        {"content_type": "something_new", "asset_pointer": "file-service://file-3"},
        None,
        "  ",
    ]
    ask = b.add(b.root, "user", {"content_type": "multimodal_text", "parts": parts})
    answer = b.assistant(ask, "Do not eat it.")
    conversation = only(tmp_path, b.build(current_node=answer))
    assert conversation.messages[0].content == "Is this mushroom edible?\n\n[audio]\n\n[image]\n\n[attachment]"


def test_code_shown_to_the_user_is_a_fenced_block(tmp_path: Path) -> None:
    b = ExportBuilder("code")
    ask = b.user(b.root, "Print hello in Python.")
    code = b.add(ask, "assistant", {"content_type": "code", "language": "python", "text": "print('hello')\n"})
    conversation = only(tmp_path, b.build(current_node=code))
    assert conversation.messages[1].content == "```python\nprint('hello')\n```"


def test_conversation_fields(tmp_path: Path) -> None:
    sample = trip_conversation("6650a1b2-trip")
    conversation = only(tmp_path, sample.data)
    assert conversation.uid == "chatgpt-6650a1b2-trip"
    assert conversation.title == "Trip plan"
    assert conversation.source == "chatgpt"
    assert conversation.created_at == BASE_TIME
    assert (
        conversation.updated_at
        == sample.data["update_time"]
        == max(m.created_at for m in conversation.messages if m.created_at is not None)
    )
    assert conversation.model == "gpt-4o"
    assert not conversation.title_by_user and conversation.system_prompt == "" and not conversation.pinned


def test_message_fields_model_time_and_finish_reason(tmp_path: Path) -> None:
    sample = trip_conversation()
    conversation = only(tmp_path, sample.data)
    by_key = {m.key: m for m in conversation.messages}
    n = sample.nodes
    assert (by_key[n["plan1"]].facts.finish_reason, by_key[n["plan2"]].facts.finish_reason) == (
        FinishReason.STOP,
        FinishReason.LENGTH,
    )
    assert by_key[n["ask"]].facts.finish_reason is None and by_key[n["ask"]].model == ""
    assert (by_key[n["plan1"]].model, by_key[n["tower"]].model) == ("gpt-4o", "o1")
    assert by_key[n["ask"]].created_at == sample.data["mapping"][n["ask"]]["message"]["create_time"]


def test_missing_ids_titles_times_and_current_node_have_stable_fallbacks(tmp_path: Path) -> None:
    b = ExportBuilder(None, title=None, create_time=None, default_model_slug=None)
    ask = b.user(b.root, "First", create_time=BASE_TIME + 10)
    old = b.assistant(ask, "Old answer", model="gpt-4", create_time=BASE_TIME + 20)
    b.assistant(ask, "New answer", model="gpt-4o-mini", create_time=BASE_TIME + 90)
    b.user(old, "Untimed follow-up", create_time=None)
    data = b.build(current_node=None)
    data["update_time"] = None
    first, again = parse(tmp_path, [data, data])
    assert first.uid == again.uid and first.uid.startswith("chatgpt-") and len(first.uid) == len("chatgpt-") + 40
    assert first.title == "Untitled chat"
    assert (first.created_at, first.updated_at) == (BASE_TIME + 10, BASE_TIME + 90)
    assert [m.content for m in active_path(first)] == ["First", "New answer"]  # the newest message
    assert first.model == "gpt-4o-mini"  # the last model to answer on the active path


def test_current_node_on_a_dropped_message_resolves_to_its_nearest_kept_ancestor(tmp_path: Path) -> None:
    b = ExportBuilder("trailing-tool")
    ask = b.user(b.root, "Search the news.")
    call = b.add(
        ask, "assistant", {"content_type": "code", "language": "unknown", "text": "search('news')"}, recipient="browser"
    )
    conversation = only(tmp_path, b.build(current_node=call))
    assert conversation.current_key == ask
    assert only(tmp_path, b.build(current_node="not-a-node")).current_key == ask  # falls back to the newest


def test_siblings_follow_the_children_list_and_an_orphan_becomes_a_root(tmp_path: Path) -> None:
    b = ExportBuilder("order")
    ask = b.user(b.root, "Hi")
    first = b.assistant(ask, "Hello!")
    second = b.assistant(ask, "Hey there!")
    b.mapping[ask]["children"] = [second, first]  # ChatGPT's order wins over the file's
    orphan = b.user(first, "Lost parent")
    b.mapping[orphan]["parent"] = "deleted-node"
    conversation = only(tmp_path, b.build(current_node=second))
    assert [m.key for m in conversation.messages] == [ask, second, first, orphan]
    assert conversation.messages[-1].parent_key is None


def test_conversations_without_visible_messages_are_left_out(tmp_path: Path) -> None:
    empty = ExportBuilder("empty")
    hidden = empty.add(empty.root, "system", text_content("You are ChatGPT."))
    blank = empty.user(hidden, "   ")
    imported = parse(tmp_path, [empty.build(current_node=blank), trip_conversation().data])
    assert [c.title for c in imported] == ["Trip plan"]
    assert parse_chatgpt_export([]) == []


def test_a_broken_message_is_skipped_but_a_conversation_with_nothing_readable_is_damaged(tmp_path: Path) -> None:
    b = ExportBuilder("broken")
    ask = b.user(b.root, "Hello")
    bad = b.assistant(ask, "unused")
    b.mapping[bad]["message"]["content"]["parts"] = "not a list"
    reply = b.user(bad, "Are you there?")
    conversation = only(tmp_path, b.build(current_node=reply))
    assert [(m.content, m.parent_key) for m in conversation.messages] == [("Hello", None), ("Are you there?", ask)]

    b.mapping[ask]["message"]["author"] = "user"
    data = b.build(current_node=reply)
    data["mapping"][reply]["message"] = ["not", "a", "message"]
    data["title"] = "Broken"
    with pytest.raises(ImportFormatError, match=r"Conversation 2 \(“Broken”\) .* none of its messages can be read"):
        parse(tmp_path, [trip_conversation().data, data])


@pytest.mark.parametrize(
    "data",
    [
        {"format": "moss.history", "version": 1, "conversations": []},  # Moss's own export
        "conversations",
        [{"title": "no mapping"}, ["a", "list"]],
        [1, 2, 3],
    ],
)
def test_what_is_not_a_chatgpt_export_says_so(tmp_path: Path, data: Any) -> None:
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with path.open(encoding="utf-8") as file:
        loaded = json.load(file)
    assert not looks_like_chatgpt_export(loaded)
    with pytest.raises(ImportFormatError) as raised:
        parse_chatgpt_export(loaded)
    assert str(raised.value) == (
        "This file is not a ChatGPT export: conversations.json holds a list of conversations. "
        "Choose the conversations.json from ChatGPT's data export."
    )


def test_looks_like_chatgpt_export(tmp_path: Path) -> None:
    assert looks_like_chatgpt_export(read_back(tmp_path, [trip_conversation().data, linear_conversation("x", 2)]))
    assert not looks_like_chatgpt_export([])
    assert not looks_like_chatgpt_export([trip_conversation().data, {"mapping": []}])


def test_a_conversation_without_its_mapping_is_named_as_damaged(tmp_path: Path) -> None:
    broken = {"title": "Recipes", "mapping": None, "id": "r"}
    with pytest.raises(ImportFormatError, match=r"^Conversation 2 \(“Recipes”\) .* messages is missing\."):
        parse(tmp_path, [trip_conversation().data, broken])
    with pytest.raises(ImportFormatError, match=r"^Conversation 2 in the ChatGPT export is damaged"):
        parse(tmp_path, [trip_conversation().data, "not a conversation"])


@pytest.mark.parametrize("self_loop", [False, True])
def test_a_parent_loop_is_damaged_and_named(tmp_path: Path, self_loop: bool) -> None:
    b = ExportBuilder("loop", title="Trip plan")
    ask = b.user(b.root, "Where to?")
    answer = b.assistant(ask, "Lisbon.")
    more = b.user(answer, "And then?")
    b.mapping[more]["children"].append(ask)
    b.mapping[ask]["parent"] = ask if self_loop else more  # the loop hangs off nothing, so no root reaches it
    conversations = [linear_conversation("a", 2), linear_conversation("b", 2), b.build(current_node=more)]
    with pytest.raises(ImportFormatError) as raised:
        parse(tmp_path, conversations)
    assert str(raised.value) == (
        "Conversation 3 (“Trip plan”) in the ChatGPT export is damaged: its messages form a loop. Nothing was imported."
    )


def test_a_branch_thousands_deep_parses_without_recursion(tmp_path: Path) -> None:
    [conversation] = parse(tmp_path, [linear_conversation("deep", 2000)])
    path = active_path(conversation)
    assert len(path) == len(conversation.messages) == 2000
    assert (path[0].content, path[-1].content) == ("Question 0", "Answer 1999")
