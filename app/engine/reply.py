"""Collecting a reply as it streams, so that every engine describes a reply the same way.

An engine hands the collector each piece of the reply (deltas) and counts each token it generates; the collector
passes the pieces on to the caller's ``on_delta``, keeps them by kind, times the tokens, and at the end describes
the reply as a :class:`~app.core.types.GenerationResult`: the text joined by kind, the tool calls, and token counts
and speeds measured the same way whichever engine wrote it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from app.core.types import Delta, DeltaKind, FinishReason, GenerationResult, GenerationStats, ToolCall
from app.engine.protocol import DeltaCallback


class ReplyCollector:
    """One reply's pieces and timings, from the moment it was asked for (the collector's creation)."""

    def __init__(self, on_delta: DeltaCallback | None = None) -> None:
        self.started = time.perf_counter()
        self.first_token_at: float | None = None
        self.tokens = 0
        self._on_delta = on_delta
        self._parts: dict[DeltaKind, list[str]] = {kind: [] for kind in DeltaKind}
        self._tool_call: ToolCall | None = None  # the complete call the reply ended with

    def emit(self, deltas: Iterable[Delta]) -> None:
        """Keep ``deltas`` and pass them on, in order."""
        for delta in deltas:
            self._parts[delta.kind].append(delta.text)
            if delta.call is not None:
                self._tool_call = delta.call
            if self._on_delta is not None:
                self._on_delta(delta)

    def count_token(self) -> None:
        """One more token generated; the first one stops the time-to-first-token clock."""
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        self.tokens += 1

    def text(self, kind: DeltaKind) -> str:
        """Everything of ``kind`` so far, joined."""
        return "".join(self._parts[kind])

    def result(self, finish: FinishReason, *, prompt_tokens: int, evaluated: int, dropped: int = 0) -> GenerationResult:
        """The finished reply. ``prompt_tokens`` is the prompt's length, ``evaluated`` how much of it was not already
        in the cache, ``dropped`` how many of the oldest messages were left out to fit the context. Speed is measured
        from the first token to now, over the tokens after it (the first one's wait is the time to first token)."""
        first = self.first_token_at
        decode_s = time.perf_counter() - first if first is not None else 0.0
        stats = GenerationStats(
            prompt_tokens=prompt_tokens,
            prompt_tokens_evaluated=evaluated,
            completion_tokens=self.tokens,
            time_to_first_token_s=round(first - self.started, 4) if first is not None else None,
            tokens_per_second=round((self.tokens - 1) / decode_s, 2) if self.tokens > 1 and decode_s > 0 else None,
        )
        return GenerationResult(
            self.text(DeltaKind.CONTENT),
            self.text(DeltaKind.REASONING) or None,
            finish,
            stats,
            dropped_messages=dropped,
            tool_calls=tuple(self._parts[DeltaKind.TOOL_CALL]),
            tool_call=self._tool_call,
        )
