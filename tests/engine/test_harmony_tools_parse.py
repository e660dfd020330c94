"""The harmony stream parser on tool traffic, checked against OpenAI's reference parser (openai/harmony v0.0.8).

Each case is one of the reference's parsing tests (``tests/test_harmony.py``, ``src/tests.rs``), its text fed as
o200k_harmony's special tokens and ordinary text cut into pieces of every size; what the reference parses into
messages is what Moss's reply must say (reasoning, answer, the tool call). Where Moss differs on purpose (a
message from a tool, the user or the system ends the reply instead of being read as theirs) the test says so.
Pure: no llama.cpp.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.core.types import Delta, DeltaKind, ToolCall
from app.engine.formats.harmony_parse import HarmonyStreamParser
from app.engine.formats.harmony_render import HARMONY_MARKERS
from tests.engine.test_harmony_parser import SPECIAL, TEXT_TOKEN, TOKENS

OPENAI = Path(__file__).parent / "golden" / "harmony" / "openai"
_MARKER = re.compile("(" + "|".join(re.escape(m) for m in HARMONY_MARKERS) + ")")
PIECE_SIZES = (1, 2, 3, 7, 10_000)


def parse(text: str, piece: int) -> tuple[list[Delta], bool]:
    """The deltas of ``text`` (markers as special tokens, other text as ordinary tokens of ``piece`` characters),
    and whether the parser says the reply ended."""
    parser = HarmonyStreamParser(TOKENS)
    deltas: list[Delta] = []
    for i, chunk in enumerate(_MARKER.split(text)):
        if i % 2:
            deltas += parser.feed(SPECIAL[chunk], "")
        else:
            for start in range(0, len(chunk), piece):
                deltas += parser.feed(TEXT_TOKEN, chunk[start : start + piece])
    return deltas + parser.finish(), parser.ended


def text_of(deltas: list[Delta], kind: DeltaKind) -> str:
    return "".join(d.text for d in deltas if d.kind == kind)


def calls_of(deltas: list[Delta]) -> list[ToolCall | None]:
    return [d.call for d in deltas if d.kind == DeltaKind.TOOL_CALL]


def shown(deltas: list[Delta]) -> tuple[str, str, list[ToolCall | None]]:
    """The answer, the reasoning and the calls of a reply."""
    return text_of(deltas, DeltaKind.CONTENT), text_of(deltas, DeltaKind.REASONING), calls_of(deltas)


def vector(name: str) -> str:
    return (OPENAI / name).read_bytes().decode("utf-8")


# --- the reference's tool-call parsing tests ------------------------------------------------------------------------

WEATHER_CALL = ToolCall("functions.get_weather", '{"location": "Tokyo"}')  # commentary, <|constrain|>json
ADJACENT = ToolCall("functions.get_weather", '{"latitude":48.8566,"longitude":2.3522}')


@pytest.mark.parametrize("piece", PIECE_SIZES)
@pytest.mark.parametrize(
    ("text", "call"),
    [
        # test_tool_call_with_constrain_tokenized_correctly
        (
            '<|start|>assistant to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>{"location": '
            '"Tokyo"}<|call|>',
            WEATHER_CALL,
        ),
        # test_tool_call_with_constrain_marker_adjacent (the Rust one ends with <|end|>)
        (
            '<|start|>assistant to=functions.get_weather<|channel|>commentary<|constrain|>json<|message|>{"location": '
            '"Tokyo"}<|end|>',
            WEATHER_CALL,
        ),
        # test_tool_call_with_channel_before_recipient_and_constrain_adjacent, and the streamable parser's
        (
            "<|start|>assistant<|channel|>commentary to=functions.get_weather<|constrain|>json<|message|>"
            '{"latitude":48.8566,"longitude":2.3522}<|call|>',
            ADJACENT,
        ),
    ],
)
def test_a_tool_call_is_reported_as_the_model_wrote_it(text: str, call: ToolCall, piece: int) -> None:
    deltas, ended = parse(text, piece)
    assert calls_of(deltas) == [call]
    assert text_of(deltas, DeltaKind.CONTENT) == text_of(deltas, DeltaKind.REASONING) == ""
    assert ended


@pytest.mark.parametrize("piece", PIECE_SIZES)
def test_simple_tool_call(piece: int) -> None:
    # The reference's test_simple_tool_call, its token file written out as text: reasoning ended by <|return|>,
    # then a call to a bare recipient on the analysis channel with a plain data type.
    text = (
        '<|channel|>analysis<|message|>User asks: "What is the weather in Tokyo?" We need to use lookup_weather '
        'tool.<|return|><|start|>assistant to=lookup_weather<|channel|>analysis code<|message|>{"location": "Tokyo"}'
        "<|call|>"
    )
    deltas, ended = parse(text, piece)
    assert text_of(deltas, DeltaKind.REASONING) == (
        'User asks: "What is the weather in Tokyo?" We need to use lookup_weather tool.'
    )
    call = ToolCall(
        "lookup_weather", '{"location": "Tokyo"}', channel="analysis", content_type="code", constrained=False
    )
    assert calls_of(deltas) == [call] and ended


@pytest.mark.parametrize("piece", PIECE_SIZES)
def test_streamable_parser(piece: int) -> None:
    # The reference parses three messages: the reasoning, the call, and the browser's response. Moss's reply ends
    # with the call: the response that follows is the tool's, never the answer.
    deltas, ended = parse(vector("test_streamable_parser.txt"), piece)
    assert text_of(deltas, DeltaKind.REASONING).startswith('User asks "Who is the current US president?"')
    assert text_of(deltas, DeltaKind.REASONING).endswith("But w\ne need up to date info. Let's browse to confirm.")
    call = ToolCall(
        "browser.search",
        '{"query": "current US president July 2025", "topn": 10, "source": "news"}',
        content_type="code",
        constrained=False,
    )
    assert calls_of(deltas) == [call]
    assert text_of(deltas, DeltaKind.CONTENT) == "" and ended


# --- a message from someone else ends the reply ---------------------------------------------------------------------


@pytest.mark.parametrize("piece", PIECE_SIZES)
def test_tool_response_is_never_the_answer(piece: int) -> None:
    # The reference reads this as the browser's message to the assistant. The model wrote it, inventing a result:
    # nothing of it is shown, and the reply ends.
    deltas, ended = parse(vector("test_tool_response_parsing.txt"), piece)
    assert deltas == [] and ended
    deltas, ended = parse(
        '<|channel|>final<|message|>Let me see.<|end|><|start|>functions.lookup_weather<|message|>{"temp": 20}<|end|>'
        "<|start|>assistant<|channel|>final<|message|>It is 20 degrees.<|return|>",
        piece,
    )
    assert shown(deltas) == ("Let me see.", "", []) and ended


@pytest.mark.parametrize("piece", PIECE_SIZES)
@pytest.mark.parametrize("role", ["user", "system", "developer", "python to=assistant", "python"])
def test_a_turn_of_someone_else_ends_the_reply(role: str, piece: int) -> None:
    text = (
        f"<|channel|>final<|message|>Paris.<|end|><|start|>{role}<|message|>Thanks! And Rome?<|end|>"
        "<|start|>assistant<|channel|>final<|message|>Rome.<|return|>"
    )
    deltas, ended = parse(text, piece)
    assert shown(deltas) == ("Paris.", "", []) and ended
    # Even a header cut short by an end token is someone else's.
    deltas, ended = parse(f"<|channel|>final<|message|>Paris.<|end|><|start|>{role}<|end|>more", piece)
    assert shown(deltas) == ("Paris.", "", []) and ended


def test_an_assistant_message_to_itself_is_not_a_tool() -> None:
    deltas, ended = parse("<|start|>assistant to=assistant<|channel|>final<|message|>Hi.<|return|>", 3)
    assert deltas == [Delta(DeltaKind.CONTENT, "Hi.")] and not ended


def test_the_parser_ends_at_call_and_ignores_what_follows() -> None:
    parser = HarmonyStreamParser(TOKENS)
    for marker in ("<|channel|>", "<|message|>"):
        parser.feed(SPECIAL[marker], "")
    assert parser.feed(TEXT_TOKEN, "odd") == [Delta(DeltaKind.CONTENT, "odd")]
    assert not parser.ended
    assert parser.feed(SPECIAL["<|call|>"], "") == []  # <|call|> after a message without recipient: no call
    assert parser.ended
    assert parser.feed(TEXT_TOKEN, "more") == [] and parser.finish() == []


# --- a header with no <|message|> (the reference's non-strict mode) --------------------------------------------------


@pytest.mark.parametrize("piece", PIECE_SIZES)
@pytest.mark.parametrize(
    ("text", "reasoning", "content"),
    [
        # test_streamable_parser_missing_message_token
        (
            "I must refuse<|end|><|start|>assistant<|channel|>analysis<|message|>We must refuse<|end|>"
            "<|start|>assistant<|channel|>final<|message|>I'm sorry, but I can't help with that.<|return|>",
            "We must refuse",
            "I must refuse\n\nI'm sorry, but I can't help with that.",
        ),
        # test_streamable_parser_missing_message_token_other_initial_headers
        (
            "<|channel|>analysis I must refuse<|end|><|start|>assistant<|channel|>analysis<|message|>We must refuse"
            "<|end|><|start|>assistant<|channel|>final<|message|>I'm sorry, but I can't help with that.<|return|>",
            "I must refuse\n\nWe must refuse",
            "I'm sorry, but I can't help with that.",
        ),
        # test_missing_message_token_requires_non_strict_mode: a preamble on commentary is for the person
        ("<|channel|>commentary Hello<|end|>", "", "Hello"),
        # Whitespace runs become one space, as the reference splits and joins the header's words.
        ("<|start|>assistant<|channel|>analysis  two\n words <|return|>", "two words", ""),
    ],
)
def test_a_header_without_message_keeps_its_text(text: str, reasoning: str, content: str, piece: int) -> None:
    deltas, ended = parse(text, piece)
    assert (text_of(deltas, DeltaKind.REASONING), text_of(deltas, DeltaKind.CONTENT)) == (reasoning, content)
    assert not ended


@pytest.mark.parametrize("piece", PIECE_SIZES)
def test_missing_message_token_before_a_tool_call(piece: int) -> None:
    # test_streamable_parser_missing_message_token_tool_call: the data type is a plain word here.
    text = (
        "... Let's use the tool.<|end|><|start|>assistant to=functions.get_weather<|channel|>commentary json"
        '<|message|>{"location": "Tokyo"}<|call|>'
    )
    deltas, ended = parse(text, piece)
    assert text_of(deltas, DeltaKind.CONTENT) == "... Let's use the tool."
    assert calls_of(deltas) == [ToolCall("functions.get_weather", '{"location": "Tokyo"}', constrained=False)]
    assert ended


def test_a_header_without_message_but_with_a_recipient_is_dropped() -> None:
    deltas, ended = parse("<|start|>assistant to=functions.f<|channel|>commentary json {}<|end|>", 2)
    assert deltas == [] and not ended


def test_a_header_cut_off_or_followed_by_another_is_still_dropped() -> None:
    assert parse("<|channel|>analysis I must", 3) == ([], False)
    assert parse("<|channel|>commentary<|start|>assistant<|channel|>final<|message|>ok", 3)[0] == [
        Delta(DeltaKind.CONTENT, "ok")
    ]
