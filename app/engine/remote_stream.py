"""Reading a server's streamed reply: on a thread of its own, so Stop is never stuck behind a silent server; and
the reply's text, with gpt-oss's raw harmony markup parsed where a server hands it back unparsed.

:class:`StreamReader` opens the request and reads its chunks on a helper thread and hands them over a queue; the
engine's thread waits on that queue a moment at a time, looking at its cancel event in between, so a reply stops at
once even while the server is still reading a long prompt or has gone quiet. The helper closes the stream at the
next chunk after a stop (or ends at the read timeout of a server that sends nothing more).

:class:`ReplyText` routes a reply's ``content`` text: plain text goes to the answer as it is; text that begins with
a harmony marker (``<|channel|>analysis<|message|>…``, as llama-cpp-python's own server returns gpt-oss's output)
is cut at its markers, which are fed to Moss's harmony parser (app.engine.formats.harmony_parse) as the tokens
they stand for, so reasoning and answer are told apart and no markup reaches the chat.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from typing import Any, Final

from app.core.types import Delta, DeltaKind
from app.engine.formats.harmony_parse import HarmonyStreamParser, HarmonyTokens
from app.engine.formats.harmony_render import CALL, CHANNEL, CONSTRAIN, END, HARMONY_MARKERS, MESSAGE, RETURN, START

# How long the engine's thread waits for a chunk before it looks at its cancel event again.
POLL_S = 0.05


class Cancelled:
    """What :meth:`StreamReader.next` returns once the cancel event is set."""


class Ended:
    """What :meth:`StreamReader.next` returns after the stream's last chunk."""


CANCELLED: Final = Cancelled()
ENDED: Final = Ended()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class StreamReader:
    """Runs ``open_stream`` (returns an iterable of chunks that has ``close()``) and reads it on a daemon thread."""

    def __init__(self, open_stream: Callable[[], Any]) -> None:
        self._items: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._open = open_stream
        self._thread = threading.Thread(target=self._read, name="moss-remote-stream", daemon=True)
        self._thread.start()

    def next(self, cancel: threading.Event) -> Any:
        """The next chunk, :data:`ENDED`, or :data:`CANCELLED` as soon as ``cancel`` is set; raises what reading
        raised."""
        while True:
            if cancel.is_set():
                self.close()
                return CANCELLED
            try:
                item = self._items.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if isinstance(item, _Failed):
                raise item.error
            return item

    def close(self) -> None:
        """Stop reading: the helper thread closes the stream at its next chunk (or when its read times out)."""
        self._stop.set()

    def _read(self) -> None:
        stream = None
        try:
            stream = self._open()
            if self._stop.is_set():
                return
            for chunk in stream:
                if self._stop.is_set():
                    return
                self._items.put(chunk)
            self._items.put(ENDED)
        except BaseException as exc:  # handed to the engine's thread, which explains it
            self._items.put(_Failed(exc))
        finally:
            if stream is not None:
                stream.close()


# Harmony's markers as the tokens the parser knows them by: any distinct ids serve, as none is ever decoded.
_IDS: Final = {marker: -100 - index for index, marker in enumerate(HARMONY_MARKERS)}
_TOKENS: Final = HarmonyTokens(
    start=_IDS[START],
    end=_IDS[END],
    message=_IDS[MESSAGE],
    channel=_IDS[CHANNEL],
    constrain=_IDS[CONSTRAIN],
    return_=_IDS[RETURN],
    call=_IDS[CALL],
)
# What an answer in raw harmony starts with (the model writes its header first).
_OPENERS: Final = (CHANNEL, START, MESSAGE)


class ReplyText:
    """A reply's content text, as deltas: plain text as it is, raw harmony parsed (see the module docstring)."""

    def __init__(self) -> None:
        self._undecided = ""  # the start, until it shows whether it is harmony
        self._harmony: HarmonyStreamParser | None = None
        self._plain = False
        self._held = ""  # harmony: a tail that may be the start of a marker

    def feed(self, text: str) -> list[Delta]:
        if self._plain:
            return [Delta(DeltaKind.CONTENT, text)] if text else []
        if self._harmony is not None:
            return self._feed_harmony(text)
        self._undecided += text
        start = self._undecided.lstrip()
        harmony = start.startswith(_OPENERS)
        if not harmony and (not start or any(marker.startswith(start) for marker in _OPENERS)):
            return []  # not enough yet to tell
        text, self._undecided = self._undecided, ""
        if harmony:
            self._harmony = HarmonyStreamParser(_TOKENS)
            return self._feed_harmony(text)
        self._plain = True
        return [Delta(DeltaKind.CONTENT, text)]

    def finish(self) -> list[Delta]:
        """The end of the reply: whatever is still held."""
        if self._harmony is None:
            text, self._undecided = self._undecided, ""
            return [Delta(DeltaKind.CONTENT, text)] if text.strip() else []
        deltas = self._harmony.feed(-1, self._held) if self._held else []
        self._held = ""
        return deltas + self._harmony.finish()

    def _feed_harmony(self, text: str) -> list[Delta]:
        parser = self._harmony
        assert parser is not None
        text = self._held + text
        end = _safe_end(text)
        text, self._held = text[:end], text[end:]
        deltas: list[Delta] = []
        for piece in _split_markers(text):
            token = _IDS.get(piece, -1)
            deltas += parser.feed(token, piece)
        return deltas


def _split_markers(text: str) -> Iterable[str]:
    """``text`` cut into markers and the text between them, in order."""
    position = 0
    while position < len(text):
        found = [(index, marker) for marker in HARMONY_MARKERS if (index := text.find(marker, position)) >= 0]
        if not found:
            yield text[position:]
            return
        index, marker = min(found)
        if index > position:
            yield text[position:index]
        yield marker
        position = index + len(marker)


def _safe_end(text: str) -> int:
    """How much of ``text`` can be cut into markers now: all but a tail that more text could make a marker of."""
    start = text.rfind("<|")
    if start < 0:
        return len(text) - 1 if text.endswith("<") else len(text)
    tail = text[start:]
    if any(marker.startswith(tail) and marker != tail for marker in HARMONY_MARKERS):
        return start
    return len(text) - 1 if text.endswith("<") else len(text)
