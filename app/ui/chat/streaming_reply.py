"""The reply being streamed into the history: what has arrived, saved about once a second as it grows.

A crash, kill or power cut therefore loses at most about a second of a reply; the next start marks the
saved part as interrupted. How the reply ends decides what is kept: a reply stopped before its first word
leaves no trace (the branch goes back to what it was), anything else is kept with how it ended.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.core.history import ReplyFacts, StoredMessage
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
    item: ChatItem | None = None  # the reply on screen, when its conversation is shown
    saved_at: float = field(default_factory=time.monotonic)

    def add(self, kind: str, text: str) -> None:
        """Text from the model (``kind`` content or reasoning): shown at once, saved once a second."""
        if kind == "reasoning":
            self.reasoning += text
            if self.item is not None:
                self.item.append_reasoning(text)
        elif kind == "content":
            self.text += text
            if self.item is not None:
                self.item.streaming = True
                self.item.append_text(text)
        now = time.monotonic()
        if now - self.saved_at >= SAVE_EVERY_S:
            self.saved_at = now
            self.save(lambda: self.store.save_partial(self.message_id, self.text, self.reasoning or None))

    def finish(self, result: GenerationResult) -> StoredMessage | None:
        """Store the finished reply; returns it as stored, or None when it was stopped before any text (then it
        is removed, and the branch is as it was) or could not be saved."""
        self._stop_streaming()
        if not (result.content or result.reasoning) and result.finish_reason == FinishReason.CANCELLED:
            self.save(lambda: self.store.remove_message(self.message_id))
            return None
        return self._store_final(result.content, result.reasoning, ReplyFacts.of(result))

    def end(self, finish_reason: FinishReason) -> StoredMessage | None:
        """The reply ends without a result (an error, the window closing): keep what arrived, if anything, and
        return it as stored (None when nothing had arrived and it was removed, or it could not be saved)."""
        self._stop_streaming()
        if not (self.text or self.reasoning):
            self.save(lambda: self.store.remove_message(self.message_id))
            return None
        return self._store_final(self.text, self.reasoning or None, ReplyFacts(finish_reason=finish_reason))

    def _store_final(self, content: str, reasoning: str | None, facts: ReplyFacts) -> StoredMessage | None:
        stored: list[StoredMessage] = []  # the save runs the write and reports a failure to the person
        self.save(lambda: stored.append(self.store.finish_message(self.message_id, content, reasoning, facts)))
        return stored[0] if stored else None

    def _stop_streaming(self) -> None:
        """The reply is complete: from now on it is rendered whole, as one document."""
        if self.item is not None and self.item.streaming:
            self.item.streaming = False
            self.item.set_text(self.text)
