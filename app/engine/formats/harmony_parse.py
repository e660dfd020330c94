"""gpt-oss's harmony output, parsed token by token into answer, reasoning and tool-call deltas.

The prompt ends with ``<|start|>assistant``, so the model starts inside an assistant header and writes, e.g.::

    <|channel|>analysis<|message|>thinking…<|end|><|start|>assistant<|channel|>final<|message|>answer<|return|>

A message is a header (role, `` to=recipient``, ``<|channel|>name``, ``<|constrain|>type``) then
``<|message|>`` then a body ended by ``<|end|>``, ``<|return|>`` or ``<|call|>``. Routing of bodies:

* ``analysis`` → ``reasoning`` (several messages are separated by a blank line);
* ``final``, ``commentary`` without a recipient (a preamble for the user), an unknown channel, no channel, and
  text outside any message (the model skipped a header, or went on after ``<|return|>``) → ``content``;
* any message with a recipient (`` to=functions.f``, in the role part or the channel part) → one ``tool_call``
  delta, ``functions.f({...})``, when the message ends (never as text).

Special tokens are recognised by id, never by text: llama.cpp renders some of them as their text and some as
nothing, and a model may also spell a marker with ordinary tokens (``<|`` + ``end`` + ``|>``). Such spelled
markers have no structural meaning in a body (they would let the answer's text end the answer) and are scrubbed:
no marker text ever reaches a delta, not even across deltas of one kind, and everything else of a body arrives,
in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from app.core.types import Delta, DeltaKind
from app.engine.formats.harmony_render import CALL, CHANNEL, CONSTRAIN, END, HARMONY_MARKERS, MESSAGE, RETURN, START

_MARKER_RE: Final = re.compile("(" + "|".join(re.escape(m) for m in HARMONY_MARKERS) + ")")
# Every non-empty proper prefix of a marker ("<", "<|", "<|e", ... "<|end|"); each holds exactly one "<", first.
_MARKER_PREFIXES: Final = frozenset(m[:i] for m in HARMONY_MARKERS for i in range(1, len(m)))
# Text between messages that may still become a header written without <|start|>assistant (" to=functions.f").
_MAYBE_HEADER: Final = re.compile(r"\s*(?:t(?:o(?:=\S*\s*)?)?)?")
_RECIPIENT_ONLY: Final = re.compile(r"\s*to=\S+\s*")
_RECIPIENT: Final = re.compile(r"(?:^|\s)to=(\S+)")

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


def _parse_header(header: str) -> tuple[str | None, str | None]:
    """The channel and recipient of a header's text, special tokens included as their text.

    The role part is the text before the first ``<|channel|>``; the channel part the text after the last one (a
    stray ``<|channel|>commentary`` before the real channel is ignored), up to ``<|constrain|>``. The channel is
    the channel part's first word; the recipient is a ``to=`` there, else in the role part. ``to=assistant`` (a
    message addressed to the model itself, which gpt-oss-20b sometimes adds to a stray prefix) is no tool call.
    """
    pieces = _MARKER_RE.split(header)
    role, channel_part = pieces[0], ""
    for marker, text in zip(pieces[1::2], pieces[2::2], strict=True):
        if marker == START:
            role, channel_part = text, ""
        elif marker == CHANNEL:
            channel_part = text
    words = channel_part.split()
    found = _RECIPIENT.search(channel_part) or _RECIPIENT.search(role)
    recipient = found.group(1) if found else None
    return (words[0] if words else None), (None if recipient == "assistant" else recipient)


class HarmonyStreamParser:
    """A :class:`~app.engine.formats.base.StreamParser` for harmony; never raises, whatever it is fed.

    Three states:

    * ``gap``, between messages and at the start: text that could still be a header written without
      ``<|start|>assistant`` (whitespace, `` to=functions.f``) is held; other text opens a content body.
    * ``header``, after ``<|start|>`` or ``<|channel|>``: text is buffered, never emitted, and parsed at
      ``<|message|>`` (the token, or its spelling: the one place where a spelled marker acts as one).
    * ``body``: text streams to the message's destination, minus markers; a tool call's body is kept until it ends.

    ``<|end|>``, ``<|return|>`` and ``<|call|>`` end a message (→ gap); ``<|start|>`` and ``<|channel|>`` in a body
    end it too (the model skipped its end token) and begin a header.
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
        self._buffer = ""  # gap: text that may be a header; header: the header's text, special tokens as text
        self._kind = DeltaKind.CONTENT  # body: where its text goes
        self._recipient: str | None = None  # body: the tool it calls, if any
        self._held = ""  # body: text held back (a possible partial marker), or a tool call's whole raw body
        self._fresh = True  # body: nothing emitted yet (the place for a separator)
        self._written: set[DeltaKind] = set()  # kinds that have received text

    def feed(self, token: int, text: str) -> list[Delta]:
        """The deltas completed by one generated token; ``token`` -1 feeds text alone (the decoder's tail)."""
        marker = self._markers.get(token)
        if marker is None:
            return self._text(text)
        # A special token's own text (llama.cpp renders some) is not content; anything else with it (a partial
        # character's replacement) came before it.
        deltas = self._text(text.replace(marker, "", 1))
        return deltas + self._marker(marker)

    def finish(self) -> list[Delta]:
        """End of generation, for whatever reason: flush held text, emit a pending tool call, drop a cut header."""
        return self._close()

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
        if self._state == _GAP:
            self._buffer += text
            if _MAYBE_HEADER.fullmatch(self._buffer):
                return []
            text, self._buffer = self._buffer, ""
            self._open(None, None)  # the model skipped the header: the text is the answer
        return self._body_text(text)

    def _marker(self, marker: str) -> list[Delta]:
        if marker == MESSAGE:
            if self._state != _BODY:  # (a second <|message|> in a body means nothing)
                channel, recipient = _parse_header(self._buffer)
                self._open(channel, recipient)
            return []
        if marker in (CHANNEL, CONSTRAIN):
            if self._state != _BODY:  # header parts; in a gap, the header of a message without <|start|>
                self._state = _HEADER
                self._buffer += marker
                return []
            if marker == CONSTRAIN:  # meaningless in a body
                return []
        deltas = self._close()  # <|start|>, <|channel|> in a body, <|end|>, <|return|>, <|call|>
        if marker in (START, CHANNEL):
            self._state = _HEADER
            self._buffer = "" if marker == START else marker
        return deltas

    def _open(self, channel: str | None, recipient: str | None) -> None:
        """Begin a message body going to ``channel``'s destination, or to ``recipient`` as a tool call."""
        self._state = _BODY
        self._buffer = ""
        self._kind = DeltaKind.REASONING if channel == "analysis" else DeltaKind.CONTENT
        self._recipient = recipient
        self._held = ""
        self._fresh = True

    def _close(self) -> list[Delta]:
        """End whatever is open and return to the gap. A header without a body is dropped (cut off, or a stray
        prefix); held gap text is the answer unless it is only whitespace or a recipient."""
        deltas: list[Delta] = []
        if self._state == _GAP and self._buffer.strip() and not _RECIPIENT_ONLY.fullmatch(self._buffer):
            text = self._buffer
            self._open(None, None)
            deltas = self._body_text(text)
        if self._state == _BODY:
            if self._recipient is not None:
                call = f"{scrub_markers(self._recipient)}({scrub_markers(self._held).strip()})"
                deltas.append(Delta(DeltaKind.TOOL_CALL, call))
            else:
                deltas += self._emit(self._held)
        self._state, self._buffer, self._held, self._recipient = _GAP, "", "", None
        return deltas

    def _body_text(self, text: str) -> list[Delta]:
        if self._recipient is not None:
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
