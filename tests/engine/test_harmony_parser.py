"""The harmony stream parser: what gpt-oss writes, token by token, into answer, reasoning and tool-call deltas.

Pure: no llama.cpp. Special tokens carry o200k_harmony's real ids; ordinary text is fed as token 1, in pieces cut
wherever a tokenizer might cut them (a channel name over two tokens, a marker spelled in text over two feeds).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

from hypothesis import given
from hypothesis import strategies as st

from app.core.types import Delta, DeltaKind, ToolCall
from app.engine.formats.base import StreamParser
from app.engine.formats.harmony_parse import HarmonyStreamParser, HarmonyTokens, scrub_markers
from app.engine.formats.harmony_render import HARMONY_MARKERS

TOKENS = HarmonyTokens(
    start=200006, end=200007, message=200008, channel=200005, constrain=200003, return_=200002, call=200012
)
SPECIAL = {
    "<|start|>": TOKENS.start,
    "<|end|>": TOKENS.end,
    "<|message|>": TOKENS.message,
    "<|channel|>": TOKENS.channel,
    "<|constrain|>": TOKENS.constrain,
    "<|return|>": TOKENS.return_,
    "<|call|>": TOKENS.call,
}
TEXT_TOKEN = 1

# A feed: a special token (by its marker text) or a piece of ordinary text.
Feed = tuple[int, str]


def sp(marker: str, text: str = "") -> Feed:
    """A special token; ``text`` is what the decoder rendered for it (llama.cpp renders some as their text)."""
    return SPECIAL[marker], text


def tx(text: str) -> Feed:
    return TEXT_TOKEN, text


def tokens(*items: str | Feed) -> list[Feed]:
    """Feeds from marker texts (special tokens) and text pieces (each one ordinary token)."""
    return [item if isinstance(item, tuple) else sp(item) if item in SPECIAL else tx(item) for item in items]


def run(feeds: Iterable[Feed]) -> list[Delta]:
    parser: StreamParser = HarmonyStreamParser(TOKENS)
    deltas: list[Delta] = []
    for token, text in feeds:
        deltas += parser.feed(token, text)
    return deltas + parser.finish()


def joined(deltas: Sequence[Delta], kind: str) -> str:
    return "".join(d.text for d in deltas if d.kind == kind)


def called(recipient: str, arguments: str, **header: object) -> Delta:
    """The delta of a complete tool call (the call as the model wrote it, and its display)."""
    call = ToolCall(recipient, arguments, **header)  # type: ignore[arg-type]
    return Delta(DeltaKind.TOOL_CALL, call.display(), call)


def calls(deltas: Sequence[Delta]) -> list[str]:
    return [d.text for d in deltas if d.kind == "tool_call"]


def assert_no_markers(deltas: Sequence[Delta]) -> None:
    for delta in deltas:
        assert not any(m in delta.text for m in HARMONY_MARKERS), delta
    for kind in ("content", "reasoning"):
        assert not any(m in joined(deltas, kind) for m in HARMONY_MARKERS), kind


# --- what the model writes ------------------------------------------------------------------------------------


def test_analysis_then_final() -> None:
    deltas = run(
        tokens(
            "<|channel|>", "analysis", "<|message|>", "User asks", " 2+2.", "<|end|>",
            "<|start|>", "assistant", "<|channel|>", "final", "<|message|>", "2 + 2", " = 4.", "<|return|>",
        )
    )  # fmt: skip
    assert deltas == [
        Delta("reasoning", "User asks"),
        Delta("reasoning", " 2+2."),
        Delta("content", "2 + 2"),
        Delta("content", " = 4."),
    ]


def test_bodies_stream_as_they_arrive() -> None:
    parser = HarmonyStreamParser(TOKENS)
    for token, text in tokens("<|channel|>", "final", "<|message|>"):
        assert parser.feed(token, text) == []
    assert parser.feed(*tx("Hel")) == [Delta("content", "Hel")]
    assert parser.feed(*tx("lo")) == [Delta("content", "lo")]
    assert parser.finish() == []


def test_special_tokens_rendered_as_their_text_are_not_content() -> None:
    # llama.cpp's default detokenization renders <|channel|>, <|message|>, <|start|>, <|end|> as text.
    feeds = [sp("<|channel|>", "<|channel|>"), tx("analysis"), sp("<|message|>", "<|message|>"), tx("hmm")]
    feeds += [sp("<|end|>", "<|end|>"), sp("<|start|>", "<|start|>"), tx("assistant"), sp("<|channel|>", "<|channel|>")]
    feeds += [tx("final"), sp("<|message|>", "<|message|>"), tx("yes")]
    deltas = run(feeds)
    assert (joined(deltas, "reasoning"), joined(deltas, "content")) == ("hmm", "yes")


def test_text_decoded_with_a_special_token_is_kept_before_it() -> None:
    deltas = run([*tokens("<|channel|>", "final", "<|message|>", "ab"), sp("<|return|>", "\ufffd")])
    assert joined(deltas, "content") == "ab\ufffd"


def test_final_without_analysis() -> None:
    deltas = run(tokens("<|channel|>", "final", "<|message|>", "Paris.", "<|return|>"))
    assert deltas == [Delta("content", "Paris.")]


def test_several_analysis_messages_are_separated_by_a_blank_line() -> None:
    deltas = run(
        tokens(
            "<|channel|>", "analysis", "<|message|>", "First.", "<|end|>",
            "<|start|>", "assistant", "<|channel|>", "analysis", "<|message|>", "Second.", "<|end|>",
            "<|start|>", "assistant", "<|channel|>", "analysis", "<|message|>", "<|end|>",  # empty: no separator
            "<|start|>", "assistant", "<|channel|>", "analysis", "<|message|>", "Third.", "<|end|>",
            "<|start|>", "assistant", "<|channel|>", "final", "<|message|>", "Done.", "<|return|>",
        )
    )  # fmt: skip
    assert joined(deltas, "reasoning") == "First.\n\nSecond.\n\nThird."
    assert joined(deltas, "content") == "Done."


def test_channel_name_split_over_tokens() -> None:
    deltas = run(tokens("<|channel|>", "anal", "ys", "is", "<|message|>", "x", "<|end|>", "<|start|>", "assist"))
    deltas += run(tokens("<|start|>", "ass", "istant", "<|channel|>", "fi", "nal", "<|message|>", "y"))
    assert (joined(deltas, "reasoning"), joined(deltas, "content")) == ("x", "y")


def test_missing_start_between_messages() -> None:
    deltas = run(
        tokens(
            "<|channel|>", "analysis", "<|message|>", "think", "<|end|>", "<|channel|>", "final", "<|message|>", "ok"
        )
    )
    assert (joined(deltas, "reasoning"), joined(deltas, "content")) == ("think", "ok")


def test_missing_end_between_messages() -> None:
    deltas = run(tokens("<|channel|>", "analysis", "<|message|>", "think", "<|channel|>", "final", "<|message|>", "ok"))
    deltas += run(tokens("<|channel|>", "analysis", "<|message|>", "think", "<|start|>", "assistant"))
    assert (joined(deltas, "reasoning"), joined(deltas, "content")) == ("thinkthink", "ok")


def test_stray_commentary_channel_before_the_real_one() -> None:
    stray = [
        tokens("<|channel|>", "commentary", "<|channel|>", "final", "<|message|>"),
        tokens("<|channel|>", "commentary", " to=assistant", "<|channel|>", "final", "<|message|>"),
        tokens("<|channel|>", "commentary", "<|start|>", "assistant", "<|channel|>", "final", "<|message|>"),
        tokens("<|channel|>", "commentary", "<|end|>", "<|start|>", "assistant", "<|channel|>", "final", "<|message|>"),
    ]
    for feeds in stray:
        assert run([*feeds, tx("answer")]) == [Delta("content", "answer")], feeds


def test_commentary_without_recipient_is_a_preamble_for_the_user() -> None:
    deltas = run(tokens("<|channel|>", "commentary", "<|message|>", "Let me check.", "<|end|>"))
    assert deltas == [Delta("content", "Let me check.")]


def test_unknown_channel_and_no_channel_are_content() -> None:
    assert run(tokens("<|channel|>", "summary", "<|message|>", "a")) == [Delta("content", "a")]
    assert run(tokens("<|message|>", "b")) == [Delta("content", "b")]
    assert run(tokens("<|start|>", "assistant", "<|message|>", "c")) == [Delta("content", "c")]


def test_tool_call_with_recipient_in_the_channel_part() -> None:
    deltas = run(
        tokens(
            "<|channel|>", "analysis", "<|message|>", "Need weather.", "<|end|>",
            "<|start|>", "assistant", "<|channel|>", "commentary", " to", "=functions", ".get", "_weather", " ",
            "<|constrain|>", "json", "<|message|>", '{"city"', ':"Paris"}', "<|call|>",
        )
    )  # fmt: skip
    assert deltas == [Delta("reasoning", "Need weather."), called("functions.get_weather", '{"city":"Paris"}')]


def test_tool_call_with_recipient_in_the_role_part() -> None:
    deltas = run(
        tokens(
            "<|start|>", "assistant", " to=functions.get_weather", "<|channel|>", "commentary", " json",
            "<|message|>", '{"city":', '"Paris"}', "<|call|>",
        )
    )  # fmt: skip
    assert deltas == [called("functions.get_weather", '{"city":"Paris"}', constrained=False)]


def test_tool_call_recipient_right_after_the_prompt() -> None:
    # The prompt ends with <|start|>assistant: the recipient may come first, before any special token.
    deltas = run(tokens(" to", "=functions.f", "<|channel|>", "commentary json", "<|message|>", "{}", "<|call|>"))
    assert deltas == [called("functions.f", "{}", constrained=False)]
    deltas = run(tokens(" to=functions.f ", "<|constrain|>", "json", "<|message|>", "{}", "<|call|>"))
    assert deltas == [called("functions.f", "{}", channel=None)]


def test_tool_call_is_emitted_once_whatever_ends_it() -> None:
    head = tokens("<|channel|>", "commentary to=functions.f ", "<|constrain|>", "json", "<|message|>", '{"a":', " 1}")
    for end in (["<|call|>"], ["<|end|>"], ["<|call|>", "<|end|>"], ["<|start|>", "assistant"]):
        assert run(head + tokens(*end)) == [called("functions.f", '{"a": 1}')], end
    # Cut off before its end: shown, but no call to run.
    assert run(head) == [Delta("tool_call", 'functions.f({"a": 1})')]


def test_tool_call_to_a_builtin_tool_on_the_analysis_channel() -> None:
    deltas = run(tokens("<|channel|>", "analysis to=python", "<|message|>", "print(1)", "<|call|>"))
    assert deltas == [called("python", "print(1)", channel="analysis", content_type=None, constrained=False)]


def test_tool_call_body_is_scrubbed() -> None:
    deltas = run(tokens("<|channel|>", "commentary to=functions.f", "<|message|>", "{<|", "end|>}", "<|call|>"))
    # The display is scrubbed; the arguments reach the tool verbatim.
    call = ToolCall("functions.f", "{<|end|>}", content_type=None, constrained=False)
    assert deltas == [Delta(DeltaKind.TOOL_CALL, "functions.f({})", call)]


def test_preamble_then_tool_call() -> None:
    deltas = run(
        tokens(
            "<|channel|>", "commentary", "<|message|>", "Checking.", "<|end|>",
            "<|start|>", "assistant to=functions.f", "<|channel|>", "commentary", "<|message|>", "{}", "<|call|>",
        )
    )  # fmt: skip
    assert deltas == [Delta("content", "Checking."), called("functions.f", "{}", content_type=None, constrained=False)]


def test_text_before_any_header_is_content() -> None:
    assert run(tokens("Hello", " there")) == [Delta("content", "Hello"), Delta("content", " there")]
    # Text that starts like a recipient is held only until it cannot be one.
    assert run(tokens("to", " be")) == [Delta("content", "to be")]
    assert run(tokens("to")) == [Delta("content", "to")]
    deltas = run(tokens("Hi.", "<|channel|>", "final", "<|message|>", "Hello."))
    assert joined(deltas, "content") == "Hi.\n\nHello."


def test_whitespace_outside_messages_is_dropped() -> None:
    deltas = run(tokens("\n", "<|channel|>", "final", "<|message|>", "A", "<|end|>", "\n\n", "<|start|>"))
    assert deltas == [Delta("content", "A")]


def test_text_after_return_is_content() -> None:
    deltas = run(tokens("<|channel|>", "final", "<|message|>", "Answer.", "<|return|>", "More."))
    assert joined(deltas, "content") == "Answer.\n\nMore."


def test_truncated_anywhere() -> None:
    assert run(tokens("<|channel|>")) == []
    assert run(tokens("<|channel|>", "analy")) == []
    assert run(tokens("<|channel|>", "analysis", "<|message|>", "thin")) == [Delta("reasoning", "thin")]
    assert run(tokens("<|channel|>", "analysis", "<|message|>", "x", "<|end|>", "<|start|>", "assis")) == [
        Delta("reasoning", "x")
    ]
    assert run(tokens("<|channel|>", "final", "<|message|>", "abc <|ret")) == [
        Delta("content", "abc "),
        Delta("content", "<|ret"),  # a partial marker, held until finish() shows it is none
    ]
    assert run(tokens("<|channel|>", "commentary to=functions.f", "<|message|>", '{"a"')) == [
        Delta("tool_call", 'functions.f({"a")')
    ]
    assert run(tokens("<|channel|>", "commentary to=functions.f", "<|constrain|>", "js")) == []
    assert run(tokens(" to=functions.f")) == []


def test_finish_is_idempotent() -> None:
    parser = HarmonyStreamParser(TOKENS)
    for token, text in tokens("<|channel|>", "commentary to=functions.f", "<|message|>", "{}"):
        parser.feed(token, text)
    assert parser.finish() == [Delta("tool_call", "functions.f({})")]
    assert parser.finish() == []


def test_text_only_tail_from_the_decoder() -> None:
    parser = HarmonyStreamParser(TOKENS)
    for token, text in tokens("<|channel|>", "final", "<|message|>", "caf"):
        parser.feed(token, text)
    assert parser.feed(-1, "\ufffd") == [Delta("content", "\ufffd")]


# --- markers spelled with ordinary text -----------------------------------------------------------------------


def test_marker_spelled_in_text_is_scrubbed() -> None:
    deltas = run(tokens("<|channel|>", "final", "<|message|>", "a<|end|>b", "<|", "channel", "|>c", "<|return|>"))
    assert joined(deltas, "content") == "abc"


def test_message_marker_spelled_in_a_header_ends_it() -> None:
    # A header is never shown, so its spelled markers can safely act as tokens; without this the whole message
    # would vanish into its header.
    deltas = run(tokens("<|start|>", "assistant<|channel|>final<|", "message|>Hi", " there"))
    assert deltas == [Delta("content", "Hi"), Delta("content", " there")]


def test_partial_marker_is_held_until_resolved() -> None:
    parser = HarmonyStreamParser(TOKENS)
    for token, text in tokens("<|channel|>", "final", "<|message|>"):
        parser.feed(token, text)
    assert parser.feed(*tx("x <")) == [Delta("content", "x ")]
    assert parser.feed(*tx("|")) == []
    assert parser.feed(*tx("chan")) == []
    assert parser.feed(*tx("nel|> y")) == [Delta("content", " y")]
    assert parser.feed(*tx("<|")) == []
    assert parser.feed(*tx("b> z")) == [Delta("content", "<|b> z")]  # not a marker after all
    assert parser.feed(*tx("a < b")) == [Delta("content", "a < b")]


def test_markers_joined_by_scrubbing_are_scrubbed() -> None:
    deltas = run(tokens("<|channel|>", "final", "<|message|>", "x<|sta", "<|e", "nd|>", "rt|>y"))
    assert joined(deltas, "content") == "xy"


def test_partial_markers_of_two_messages_do_not_join() -> None:
    deltas = run(
        tokens(
            "<|channel|>", "analysis", "<|message|>", "a <|sta", "<|end|>",
            "<|channel|>", "analysis", "<|message|>", "rt|> b",
        )
    )  # fmt: skip
    assert joined(deltas, "reasoning") == "a <|sta\n\nrt|> b"


def test_scrub_markers() -> None:
    assert scrub_markers("a<|start|>b<|sta<|end|>rt|>c") == "abc"
    assert scrub_markers("<|start") == "<|start"


# --- properties -----------------------------------------------------------------------------------------------

FRAGMENTS = [
    *HARMONY_MARKERS, "<|", "|>", "<", "|", ">", "start", "end", "message", "channel", "constrain", "return",
    "call", "analysis", "final", "commentary", "assistant", " to=functions.f", " to=", "to", "=", "json", " ",
    "\n", "a", "é", "🙂", "{}",
]  # fmt: skip
PIECE = st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4))
ANY_FEED = st.one_of(
    st.builds(sp, st.sampled_from(list(SPECIAL))),
    st.sampled_from(list(SPECIAL)).map(lambda m: sp(m, m)),
    PIECE.map(tx),
    PIECE.map(lambda t: (-1, t)),
    st.tuples(st.integers(-2, 3), PIECE),
)
# Text a model may write in a body: marker fragments and all, but no whole marker.
BODY = st.lists(st.sampled_from(FRAGMENTS[7:]) | st.text(max_size=3), max_size=8).map("".join)
CLEAN_BODY = BODY.filter(lambda t: scrub_markers(t) == t)


@st.composite
def chunked(draw: st.DrawFn, text: str) -> list[Feed]:
    """``text`` as ordinary tokens cut at random places."""
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=len(text))))
    bounds = [0, *(c for c in cuts if c < len(text)), len(text)]
    return [tx(text[a:b]) for a, b in itertools.pairwise(bounds) if b > a]


@st.composite
def special(draw: st.DrawFn, marker: str) -> Feed:
    """A special token, rendered as nothing or as its text."""
    return sp(marker, draw(st.sampled_from(["", marker])))


@st.composite
def header(draw: st.DrawFn, channel: str, *, first: bool, recipient: str | None = None) -> list[Feed]:
    """An assistant header for ``channel``, in one of the shapes the model writes."""
    feeds: list[Feed] = []
    role = "assistant"
    if recipient is not None and draw(st.booleans()):
        role, channel = f"assistant to={recipient}", f"{channel} json"
    elif recipient is not None:
        channel = f"{channel} to={recipient} "
    if first or draw(st.booleans()):  # the prompt wrote <|start|>assistant, or the model left it out
        role = role.removeprefix("assistant")
    else:
        feeds += [draw(special("<|start|>"))]
    if role:
        feeds += draw(chunked(role))
    feeds += [draw(special("<|channel|>")), *draw(chunked(channel))]
    if recipient is not None and channel.endswith(" "):
        feeds += [draw(special("<|constrain|>")), *draw(chunked("json"))]
    return [*feeds, draw(special("<|message|>"))]


@given(st.lists(ANY_FEED, max_size=40))
def test_any_input_never_raises_nor_shows_a_marker(feeds: list[Feed]) -> None:
    assert_no_markers(run(feeds))


@given(st.lists(ANY_FEED, max_size=30), st.data())
def test_any_input_then_a_final_message_keeps_the_answer(prefix: list[Feed], data: st.DataObject) -> None:
    # Unless the input ended the reply (a complete tool call, <|call|>, someone else's message): then nothing more.
    parser = HarmonyStreamParser(TOKENS)
    for token, text in [*prefix, sp("<|end|>")]:
        parser.feed(token, text)
    body = data.draw(BODY)
    deltas = run([*prefix, sp("<|end|>"), *data.draw(header("final", first=False)), *data.draw(chunked(body))])
    assert_no_markers(deltas)
    if parser.ended:
        assert run([*prefix, sp("<|end|>")]) == deltas
    else:
        assert joined(deltas, "content").endswith(scrub_markers(body))


@given(st.data())
def test_final_body_reaches_content_minus_markers(data: st.DataObject) -> None:
    body = data.draw(BODY)
    feeds = [*data.draw(header("final", first=True)), *data.draw(chunked(body)), sp("<|return|>")]
    assert joined(run(feeds), "content") == scrub_markers(body)


@given(st.lists(CLEAN_BODY, max_size=3), CLEAN_BODY, st.booleans(), st.data())
def test_well_formed_reply(analyses: list[str], final: str, returned: bool, data: st.DataObject) -> None:
    feeds: list[Feed] = []
    for i, text in enumerate([*analyses, final]):
        channel = "final" if i == len(analyses) else "analysis"
        if feeds:
            feeds += [data.draw(special("<|end|>"))]
        feeds += data.draw(header(channel, first=not feeds))
        feeds += data.draw(chunked(text))
    if returned:
        feeds += [sp("<|return|>")]
    deltas = run(feeds)
    assert joined(deltas, "reasoning") == "\n\n".join(t for t in analyses if t)
    assert joined(deltas, "content") == final
    assert calls(deltas) == []


@given(
    st.lists(CLEAN_BODY, max_size=2),
    CLEAN_BODY,
    st.sampled_from(["functions.get_weather", "browser.search"]),
    st.data(),
)
def test_well_formed_tool_call(analyses: list[str], args: str, recipient: str, data: st.DataObject) -> None:
    feeds: list[Feed] = []
    for text in analyses:
        if feeds:
            feeds += [sp("<|end|>")]
        feeds += [*data.draw(header("analysis", first=not feeds)), *data.draw(chunked(text))]
    if feeds:
        feeds += [sp("<|end|>")]
    feeds += [*data.draw(header("commentary", first=not feeds, recipient=recipient)), *data.draw(chunked(args))]
    feeds += data.draw(st.sampled_from([[sp("<|call|>")], [sp("<|end|>")], []]))
    deltas = run(feeds)
    assert joined(deltas, "reasoning") == "\n\n".join(t for t in analyses if t)
    assert joined(deltas, "content") == ""
    assert calls(deltas) == [f"{recipient}({args.strip()})"]


@given(st.lists(ANY_FEED, max_size=40))
def test_how_text_is_cut_into_tokens_does_not_matter(feeds: list[Feed]) -> None:
    # Every run of ordinary text fed at once gives what it gives piece by piece: nothing depends on token cuts.
    merged: list[Feed] = []
    for token, text in feeds:
        if token in SPECIAL.values():
            merged.append((token, text))
        elif merged and merged[-1][0] == TEXT_TOKEN:
            merged[-1] = tx(merged[-1][1] + text)
        else:
            merged.append(tx(text))
    streamed, whole = run(feeds), run(merged)
    for kind in ("content", "reasoning"):
        assert joined(streamed, kind) == joined(whole, kind)
    assert calls(streamed) == calls(whole)
