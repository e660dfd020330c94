"""The reply being streamed into the history: what has arrived, saved about once a second as it grows.

A crash, kill or power cut therefore loses at most about a second of a reply; the next start marks the
saved part as interrupted. How the reply ends decides what is kept: a reply stopped before its first word
leaves no trace (the branch goes back to what it was), anything else is kept with how it ended.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.core.types import FinishReason, GenerationResult
from app.storage.history import HistoryStore
from app.ui.chat.items import ChatItem

SAVE_EVERY_S = 1.0
Saver = Callable[[Callable[[], object]], object]  # runs a write and reports a failure to the person


@dataclass
class StreamingReply:
    store: HistoryStore
    save: Saver
    request_id: str
    conversation_id: int
    message_id: int
    text: str = ""
    reasoning: str = ""
    bubble: ChatItem | None = None
    saved_at: float = field(default_factory=time.monotonic)

    def add(self, kind: str, text: str) -> None:
        """Text from the model (``kind`` content or reasoning): shown at once, saved once a second."""
        if kind == "reasoning":
            self.reasoning += text
            if self.bubble is not None:
                self.bubble.append_reasoning(text)
        elif kind == "content":
            self.text += text
            if self.bubble is not None:
                self.bubble.streaming = True
                self.bubble.append_text(text)
        now = time.monotonic()
        if now - self.saved_at >= SAVE_EVERY_S:
            self.saved_at = now
            self.save(lambda: self.store.save_partial(self.message_id, self.text, self.reasoning or None))

    def finish(self, result: GenerationResult) -> bool:
        """Store the finished reply; False when it was stopped before any text and so was removed."""
        self._stop_streaming()
        if not (result.content or result.reasoning) and result.finish_reason == FinishReason.CANCELLED:
            self.save(lambda: self.store.remove_message(self.message_id))
            return False
        stats = result.stats
        self.save(
            lambda: self.store.finish_message(
                self.message_id,
                result.content,
                result.reasoning,
                finish_reason=result.finish_reason.value,
                prompt_tokens=stats.prompt_tokens,
                completion_tokens=stats.completion_tokens,
                tokens_per_second=stats.tokens_per_second,
                ttft_s=stats.time_to_first_token_s,
            )
        )
        return True

    def end(self, finish_reason: str) -> None:
        """The reply ends without a result (an error, the window closing): keep what arrived, if anything."""
        self._stop_streaming()
        if self.text or self.reasoning:
            self.save(
                lambda: self.store.finish_message(
                    self.message_id, self.text, self.reasoning or None, finish_reason=finish_reason
                )
            )
        else:
            self.save(lambda: self.store.remove_message(self.message_id))

    def _stop_streaming(self) -> None:
        """The reply is complete: from now on it is rendered whole, as one document."""
        if self.bubble is not None and self.bubble.streaming:
            self.bubble.streaming = False
            self.bubble.set_text(self.text)
