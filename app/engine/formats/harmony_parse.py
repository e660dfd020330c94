"""gpt-oss's harmony output, parsed token by token into answer, reasoning and tool-call deltas.

The prompt ends with ``<|start|>assistant``, so the model starts inside an assistant header and writes, e.g.::

    <|channel|>analysis<|message|>thinking…<|end|><|start|>assistant<|channel|>final<|message|>answer<|return|>

A message is a header (role, `` to=recipient``, ``<|channel|>name``, ``<|constrain|>type``) then
``<|message|>`` then a body ended by ``<|end|>``, ``<|return|>`` or ``<|call|>``. Routing of bodies:

* ``analysis`` → ``reasoning`` (several messages are separated by a blank line);
* ``final``, ``commentary`` without a recipient (a preamble for the user), an unknown channel, no channel, and
  text outside any message (the model skipped a header, or went on after ``<|return|>``) → ``content``;
* any message with a recipient (`` to=functions.f``, in the role part or the channel part) → one ``tool_call``
  delta, ``functions.f({...})``, when the message ends (never as text). A call whose message ended carries the
  call itself (:class:`~app.core.types.ToolCall`: recipient, channel, data type, the arguments verbatim) and ends
  the step: the tool must run before the model can go on, so nothing after it is read (``<|call|>`` is also a
  stop token, so generation ends there anyway). A call cut off (the length limit, a stop) carries none.

Where the model writes what is not its own (gpt-oss sometimes goes on to play the other side), the reply ends
there and nothing of it is shown: a message from the user, the system or the developer, or from a tool (a header
whose role is a tool's name, ``<|start|>functions.f to=assistant…``: an invented result). The reference parser
would read such messages as theirs; a chat must not show them as the answer.

A header that ends with ``<|end|>``, ``<|return|>`` or ``<|call|>`` and no ``<|message|>`` keeps its text, as the
reference's non-strict mode does (``<|channel|>analysis I must refuse<|end|>`` is the reasoning "I must
refuse"); one with a recipient is dropped (a call with no arguments is no call, and its header is not text for
the person). A header cut off, or followed by another header, is dropped.

Special tokens are recognised by id, never by text: llama.cpp renders some of them as their text and some as
nothing, and a model may also spell a marker with ordinary tokens (``<|`` + ``end`` + ``|>``). Such spelled
markers have no structural meaning in a body (they would let the answer's text end the answer) and are scrubbed:
no marker text ever reaches a delta, not even across deltas of one kind, and everything else of a body arrives,
in order. A tool call's arguments are the exception: kept verbatim for the tool (its display is scrubbed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from app.core.types import BuiltinTool, Delta, DeltaKind, ToolCall
from app.engine.formats.harmony_messages import (
    CALL,
    CHANNEL,
    CONSTRAIN,
    END,
    HARMONY_MARKERS,
    MESSAGE,
    RETURN,
    START,
)

_MARKER_RE: Final = re.compile("(" + "|".join(re.escape(m) for m in HARMONY_MARKERS) + ")")
# Every non-empty proper prefix of a marker ("<", "<|", "<|e", ... "<|end|"); each holds exactly one "<", first.
_MARKER_PREFIXES: Final = frozenset(m[:i] for m in HARMONY_MARKERS for i in range(1, len(m)))
# Text between messages that may still become a header written without <|start|>assistant (" to=functions.f").
_MAYBE_HEADER: Final = re.compile(r"\s*(?:t(?:o(?:=\S*\s*)?)?)?")
_RECIPIENT_ONLY: Final = re.compile(r"\s*to=\S+\s*")
_RECIPIENT: Final = re.compile(r"(?:^|\s)to=(\S+)")
# Whitespace as Rust's split_ascii_whitespace sees it (the reference's header parsing).
_ASCII_SPACE: Final = re.compile(r"[ \t\n\x0c\r]+")
# Roles of the other side of the conversation: a message from one of them ends the reply.
_OTHER_ROLES: Final = frozenset({"user", "system", "developer"})
_BUILTIN_TOOLS: Final = frozenset(tool.value for tool in BuiltinTool)

_GAP, _HEADER, _BODY = "gap", "header", "body"


@dataclass(frozen=True, slots=True)
class HarmonyTokens:
    """The ids of harmony's special tokens in the loaded vocabulary (found by tokenizing their text)."""

    start: int
    end: int
    message: int
    channel: int
    constrain: int
    return_: int
    call: int


def scrub_markers(text: str) -> str:
    """``text`` without harmony marker spellings. Repeated until none is left, because removing one can join
    the pieces of another (``<|sta<|end|>rt|>``). Markers never overlap, so the result does not depend on order."""
    while True:
        cleaned = _MARKER_RE.sub("", text)
        if cleaned == text:
            return cleaned
        text = cleaned


def _safe_end(text: str) -> int:
    """How much of marker-free ``text`` can be emitted now: all of it but a tail that more text could still turn
    into a marker. That is a marker's start (``<|cha``), and before it any more such starts (``<|sta<|e``), which
    a marker completed later and then scrubbed would bring together (``<|sta`` + ``rt|>``)."""
    end = len(text)
    while (start := text.rfind("<", 0, end)) >= 0 and text[start:end] in _MARKER_PREFIXES:
        end = start
    return end


@dataclass(frozen=True, slots=True)
class _Header:
    """What a header says. ``role`` is the role part's first word (None when there is none: the reply's first
    message, or a header written without ``<|start|>``)."""

    role: str | None
    channel: str | None
    recipient: str | None
    content_type: str | None
    constrained: bool

    @property
    def from_other_side(self) -> bool:
        """Whether the message is someone else's: the user's, the system's, the developer's or a tool's (a
        tool's name, with a namespace, a built-in tool's, or any unknown name addressed ``to=`` someone)."""
        role = self.role
        if role is None or role == "assistant":
            return False
        return role in _OTHER_ROLES or "." in role or role in _BUILTIN_TOOLS or self.recipient is not None


def _parse_header(header: str) -> _Header:
    """What a header's text says, special tokens included as their text.

    The role part is the text before the first ``<|channel|>``; the channel part the text after the last one (a
    stray ``<|channel|>commentary`` before the real channel is ignored), up to ``<|constrain|>``. The channel is
    the channel part's first word; the recipient is a ``to=`` there, else in the role part. ``to=assistant`` (a
    message addressed to the model itself, which gpt-oss-20b sometimes adds to a stray prefix) is no tool call.
    The data type is the word after ``<|constrain|>`` (``json``), else the last other word of the header
    (``code`` in ``<|channel|>analysis to=python code``).
    """
    pieces = _MARKER_RE.split(header)
    role_part, channel_part, constrain_part = pieces[0], "", None
    for marker, text in zip(pieces[1::2], pieces[2::2], strict=True):
        if marker == START:
            role_part, channel_part, constrain_part = text, "", None
        elif marker == CHANNEL:
            channel_part = text
        elif marker == CONSTRAIN:
            constrain_part = text
    role_words, channel_words = role_part.split(), channel_part.split()
    role = role_words[0] if role_words and not role_words[0].startswith("to=") else None
    found = _RECIPIENT.search(channel_part) or _RECIPIENT.search(role_part)
    recipient = found.group(1) if found else None
    if recipient == "assistant":
        recipient = None
    if constrain_part is not None:
        constrain_words = constrain_part.split()
        content_type, constrained = (constrain_words[0] if constrain_words else None), True
    else:
        others = [w for w in role_words[role is not None :] + channel_words[1:] if not w.startswith("to=")]
        content_type, constrained = (others[-1] if others else None), False
    channel = channel_words[0] if channel_words else None
    return _Header(role, channel, recipient, content_type, constrained)


def _headless_text(header: str) -> str:
    """The text of a header that ended with no ``<|message|>``, as the reference's non-strict parser keeps it:
    without the channel (``<|channel|>`` and the word after it) and the role, whitespace runs made one space."""
    at = header.find(CHANNEL)
    if at >= 0:
        after = header[at + len(CHANNEL) :]
        end = next((i for i, c in enumerate(after) if c.isspace() or c == "<"), len(after))
        header = header[:at] + after[end:]
    words = [w for w in _ASCII_SPACE.split(header.replace(CONSTRAIN, f" {CONSTRAIN}")) if w]
    if words and words[0] == "assistant":
        words.pop(0)
    return scrub_markers(" ".join(words))


class HarmonyStreamParser:
    """A :class:`~app.engine.formats.base.StreamParser` for harmony; never raises, whatever it is fed.

    Three states, and an end:

    * ``gap``, between messages and at the start: text that could still be a header written without
      ``<|start|>assistant`` (whitespace, `` to=functions.f``) is held; other text opens a content body.
    * ``header``, after ``<|start|>`` or ``<|channel|>``: text is buffered, never emitted, and parsed at
      ``<|message|>`` (the token, or its spelling: the one place where a spelled marker acts as one).
    * ``body``: text streams to the message's destination, minus markers; a tool call's body is kept until it ends.

    ``<|end|>``, ``<|return|>`` and ``<|call|>`` end a message (→ gap); ``<|start|>`` and ``<|channel|>`` in a body
    end it too (the model skipped its end token) and begin a header. The reply has :attr:`ended` once a tool call
    is complete, at ``<|call|>``, or where the model starts someone else's message: nothing after that is read.
    """

    def __init__(self, tokens: HarmonyTokens) -> None:
        self._markers: dict[int, str] = {
            tokens.start: START,
            tokens.end: END,
            tokens.message: MESSAGE,
            tokens.channel: CHANNEL,
            tokens.constrain: CONSTRAIN,
            tokens.return_: RETURN,
            tokens.call: CALL,
        }
        self._state = _GAP
        self._ended = False
        self._buffer = ""  # gap: text that may be a header; header: the header's text, special tokens as text
        self._kind = DeltaKind.CONTENT  # body: where its text goes
        self._header: _Header | None = None  # body: its header, when it is a tool call's
        self._held = ""  # body: text held back (a possible partial marker), or a tool call's whole raw body
        self._fresh = True  # body: nothing emitted yet (the place for a separator)
        self._written: set[DeltaKind] = set()  # kinds that have received text

    @property
    def ended(self) -> bool:
        """Whether the reply is over: a complete tool call, ``<|call|>``, or the start of someone else's message.
        The engine stops generating; anything fed after it is ignored."""
        return self._ended

    def feed(self, token: int, text: str) -> list[Delta]:
        """The deltas completed by one generated token; ``token`` -1 feeds text alone (the decoder's tail)."""
        if self._ended:
            return []
        marker = self._markers.get(token)
        if marker is None:
            return self._text(text)
        # A special token's own text (llama.cpp renders some) is not content; anything else with it (a partial
        # character's replacement) came before it.
        deltas = self._text(text.replace(marker, "", 1))
        return deltas + self._marker(marker)

    def finish(self) -> list[Delta]:
        """End of generation, for whatever reason: flush held text, emit a pending tool call (cut off: display
        only), drop a cut header."""
        if self._ended:
            return []
        return self._close(complete=False)

    # -- states ------------------------------------------------------------------------------------------------

    def _text(self, text: str) -> list[Delta]:
        if not text:
            return []
        if self._state == _HEADER:
            self._buffer += text
            if MESSAGE not in self._buffer[-len(text) - len(MESSAGE) :]:  # (only the tail can hold a new one)
                return []
            # <|message|> spelled in text: nothing of a header is shown, so reading it as the token risks no
            # answer text, and it keeps the message from vanishing into its header.
            self._buffer, text = self._buffer.split(MESSAGE, 1)
            self._marker(MESSAGE)
            if self._ended:
                return []
        if self._state == _GAP:
            self._buffer += text
            if _MAYBE_HEADER.fullmatch(self._buffer):
                return []
            text, self._buffer = self._buffer, ""
            self._open(None)  # the model skipped the header: the text is the answer
        return self._body_text(text)

    def _marker(self, marker: str) -> list[Delta]:
        if marker == MESSAGE:
            if self._state != _BODY:  # (a second <|message|> in a body means nothing)
                header = _parse_header(self._buffer)
                if header.from_other_side:
                    self._end()
                else:
                    self._open(header)
            return []
        if marker in (CHANNEL, CONSTRAIN):
            if self._state != _BODY:  # header parts; in a gap, the header of a message without <|start|>
                self._state = _HEADER
                self._buffer += marker
                return []
            if marker == CONSTRAIN:  # meaningless in a body
                return []
        if self._state == _HEADER and marker in (END, RETURN, CALL):
            deltas = self._headless(self._buffer)
        else:
            deltas = self._close(complete=True)  # <|start|>, <|channel|> in a body, <|end|>, <|return|>, <|call|>
        if marker == CALL:
            self._end()  # a stop token: the step is over, whatever the message was
        if self._ended:
            return deltas
        if marker in (START, CHANNEL):
            self._state = _HEADER
            self._buffer = "" if marker == START else marker
        return deltas

    def _headless(self, header_text: str) -> list[Delta]:
        """A header ended by an end token with no ``<|message|>``: its text is kept (see the module docstring)."""
        header = _parse_header(header_text)
        self._state, self._buffer = _GAP, ""
        if header.from_other_side:
            self._end()
            return []
        text = _headless_text(header_text)
        if header.recipient is not None or not text:
            return []
        self._open(header)
        deltas = self._body_text(text)
        return deltas + self._close(complete=True)

    def _open(self, header: _Header | None) -> None:
        """Begin a message body going to its channel's destination, or to its recipient as a tool call."""
        self._state = _BODY
        self._buffer = ""
        channel = header.channel if header is not None else None
        self._kind = DeltaKind.REASONING if channel == "analysis" else DeltaKind.CONTENT
        self._header = header if header is not None and header.recipient is not None else None
        self._held = ""
        self._fresh = True

    def _close(self, *, complete: bool) -> list[Delta]:
        """End whatever is open and return to the gap. A header without a body is dropped (cut off, or a stray
        prefix); held gap text is the answer unless it is only whitespace or a recipient. A tool call ``complete``
        (its message ended) carries the call and ends the reply."""
        deltas: list[Delta] = []
        if self._state == _GAP and self._buffer.strip() and not _RECIPIENT_ONLY.fullmatch(self._buffer):
            text = self._buffer
            self._open(None)
            deltas = self._body_text(text)
        if self._state == _BODY:
            if self._header is not None:
                deltas.append(self._tool_call(self._header, complete=complete))
            else:
                deltas += self._emit(self._held)
        self._state, self._buffer, self._held, self._header = _GAP, "", "", None
        if deltas and deltas[-1].call is not None:
            self._end()
        return deltas

    def _tool_call(self, header: _Header, *, complete: bool) -> Delta:
        recipient = scrub_markers(header.recipient or "")
        display = f"{recipient}({scrub_markers(self._held).strip()})"
        if not complete:
            return Delta(DeltaKind.TOOL_CALL, display)
        call = ToolCall(
            recipient,
            self._held,
            channel=header.channel,
            content_type=header.content_type,
            constrained=header.constrained,
        )
        return Delta(DeltaKind.TOOL_CALL, display, call)

    def _end(self) -> None:
        self._ended = True
        self._state, self._buffer, self._held, self._header = _GAP, "", "", None

    def _body_text(self, text: str) -> list[Delta]:
        if self._header is not None:
            self._held += text
            return []
        text = scrub_markers(self._held + text)
        end = _safe_end(text)
        self._held = text[end:]
        return self._emit(text[:end])

    def _emit(self, text: str) -> list[Delta]:
        """A delta of the open body's kind; its first one after an earlier message of that kind is separated by a
        blank line (which also keeps two messages' pieces from joining into a marker)."""
        if not text:
            return []
        if self._fresh:
            self._fresh = False
            if self._kind in self._written:
                text = "\n\n" + text
            self._written.add(self._kind)
        return [Delta(self._kind, text)]
