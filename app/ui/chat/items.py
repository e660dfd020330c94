"""What the chat view shows for each message, as plain state: the text, the thinking block, the details.

The view (app.ui.chat.view) owns a list of :class:`ChatItem` and paints them; nothing here is a widget, so a
5,000-message chat costs memory, not widgets. Changing an item (a streamed piece of text, a new details
line) tells the view through ``on_change``, and only that item is laid out and painted again.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from app.core.history import MessageStatus, StoredMessage
from app.core.types import GenerationResult, Role

AUTO, SHOWN, HIDDEN = "auto", "shown", "hidden"  # reasoning display: open while thinking | always | never


def describe_stored(message: StoredMessage) -> str:
    """The short line under a stored reply: speed, length, and why it ended when it did not simply finish."""
    if message.role != Role.ASSISTANT:
        return ""
    parts = []
    if message.tokens_per_second:
        parts.append(f"{message.tokens_per_second:.1f} tokens/s")
    if message.completion_tokens:
        parts.append(f"{message.completion_tokens:,} tokens")
    reason = _ENDINGS.get(message.finish_reason or "")
    if message.status == MessageStatus.INTERRUPTED:
        reason = "interrupted: Moss closed before the reply finished"
    if reason:
        parts.append(reason)
    return " · ".join(parts)


def describe_result(result: GenerationResult) -> str:
    """The short line under a reply that just finished."""
    parts = []
    stats = result.stats
    if stats.tokens_per_second:
        parts.append(f"{stats.tokens_per_second:.1f} tokens/s")
    parts.append(f"{stats.completion_tokens:,} tokens")
    if result.dropped_messages:
        parts.append(f"{result.dropped_messages} earlier messages left out to fit the context")
    if result.tool_calls:
        parts.append("tried to use a tool, which Moss does not offer yet: " + ", ".join(result.tool_calls))
    reason = _ENDINGS.get(result.finish_reason.value)
    if reason:
        parts.append(reason)
    return " · ".join(parts)


def details_text(message: StoredMessage) -> str:
    """Everything known about a message, for the tooltip on its details line."""
    lines = [f"Sent {time.strftime('%Y-%m-%d %H:%M', time.localtime(message.created_at))}"]
    if message.role == Role.ASSISTANT:
        if message.model:
            lines.append(f"Model: {message.model}")
        if message.prompt_tokens is not None:
            lines.append(f"Prompt: {message.prompt_tokens:,} tokens")
        if message.completion_tokens is not None:
            lines.append(f"Reply: {message.completion_tokens:,} tokens")
        if message.tokens_per_second:
            lines.append(f"Speed: {message.tokens_per_second:.1f} tokens/s")
        if message.ttft_s is not None:
            lines.append(f"First token after {message.ttft_s:.2f} s")
        if message.finish_reason:
            lines.append(f"Ended: {_ENDINGS.get(message.finish_reason, 'finished')}")
    return "\n".join(lines)


def details_from_result(result: GenerationResult, model: str) -> str:
    stats = result.stats
    lines = [f"Model: {model}", f"Prompt: {stats.prompt_tokens:,} tokens", f"Reply: {stats.completion_tokens:,} tokens"]
    if stats.tokens_per_second:
        lines.append(f"Speed: {stats.tokens_per_second:.1f} tokens/s")
    if stats.time_to_first_token_s is not None:
        lines.append(f"First token after {stats.time_to_first_token_s:.2f} s")
    lines.append(f"Ended: {_ENDINGS.get(result.finish_reason.value, 'finished')}")
    return "\n".join(lines)


_ENDINGS = {
    "stop": "",
    "cancelled": "stopped",
    "length": "reached the length limit",
    "context": "the context is full",
    "error": "failed before it finished",
}


class Thinking:
    """A reply's reasoning and whether it is open.

    It opens while the model thinks and folds away when the answer starts ("Thought for 12 s"), unless the
    person chose to always show or always hide reasoning. The reasoning is for reading only: it is never
    sent back to the model.
    """

    def __init__(self, display: str, on_change: Callable[[], None]) -> None:
        self._display = display
        self._on_change = on_change
        self._started: float | None = None
        self.text = ""
        self.title = "Thinking…"
        self.expanded = display != HIDDEN

    @property
    def visible(self) -> bool:
        return bool(self.text.strip()) and self._display != HIDDEN

    def append(self, text: str) -> None:
        """Stream more reasoning in; the first piece starts the clock."""
        if self._started is None and not self.text:
            self._started = time.monotonic()
        self.text += text
        self._on_change()

    def answer_started(self) -> None:
        """The answer began: stop the clock and, in auto mode, fold the reasoning away."""
        if self._started is None:
            return
        seconds = round(time.monotonic() - self._started)
        self.title = f"Thought for {seconds} s" if seconds >= 1 else "Thought for a moment"
        self._started = None
        if self._display == AUTO:
            self.expanded = False
        self._on_change()

    def set_finished_text(self, text: str) -> None:
        """Stored reasoning of an earlier reply: folded, or open when always shown."""
        self.text = text
        self._started = None
        self.title = "Thoughts"
        self.expanded = self._display == SHOWN
        self._on_change()

    def resume(self, text: str, *, answering: bool) -> None:
        """The reasoning of a reply still being written, shown again (its chat was opened anew): still
        thinking, or already answering (then folded, as it would be by now)."""
        self.text = text
        if answering:
            self._started = None
            self.title = "Thoughts"
            self.expanded = self._display == SHOWN
        else:
            self._started = time.monotonic()  # the clock counts from here: the start was not kept
            self.title = "Thinking…"
            self.expanded = self._display != HIDDEN
        self._on_change()

    def toggle(self) -> None:
        self.expanded = not self.expanded
        self._on_change()


class ChatItem:
    """One message as the chat view shows it. ``revision`` grows with every change (layout caches key on it)."""

    def __init__(self, role: Role, text: str = "", *, reasoning_display: str = AUTO) -> None:
        self.role = role
        self.message_id: int | None = None
        self.model = ""
        self._text = text
        self.meta = ""  # the short line under a reply
        self.details = ""  # the tooltip on that line
        self.sibling_index = 0
        self.sibling_count = 1
        self.found = False  # the message a search led to, marked for a moment
        self.streaming = False  # a reply being written: only its last blocks are rendered again as it grows
        self.revision = 0
        self.on_change: Callable[[ChatItem], None] = lambda _item: None
        self.thinking = Thinking(reasoning_display, self._changed)

    @property
    def text(self) -> str:
        return self._text

    @property
    def bound(self) -> bool:
        """Tied to a stored message, so it has actions (a new bubble is, once its message is stored)."""
        return self.message_id is not None

    def bind(self, message: StoredMessage) -> None:
        """Tie the item to its stored message: alternatives ("2/3"), details and the actions on it."""
        self.message_id = message.id
        self.model = message.model
        self.sibling_index = message.sibling_index
        self.sibling_count = message.sibling_count
        self.details = details_text(message)
        self._changed()

    def set_text(self, text: str) -> None:
        self._text = text
        self._changed()

    def append_text(self, text: str) -> None:
        if not self._text:
            self.thinking.answer_started()
        self._text += text
        self._changed()

    def append_reasoning(self, text: str) -> None:
        self.thinking.append(text)

    def set_meta(self, text: str, details: str | None = None) -> None:
        self.meta = text
        if details is not None:
            self.details = details
        self._changed()

    def set_found(self, found: bool) -> None:
        self.found = found
        self._changed()

    def accessible_text(self) -> str:
        who = "You" if self.role == Role.USER else (self.model or "Assistant")
        parts = [f"{who}: {self._text or '(no text yet)'}"]
        if self.thinking.visible:
            parts.append(f"({self.thinking.title}{': ' + self.thinking.text if self.thinking.expanded else ''})")
        if self.meta:
            parts.append(self.meta)
        if self.sibling_count > 1:
            parts.append(f"version {self.sibling_index + 1} of {self.sibling_count}")
        return " ".join(parts)

    def _changed(self) -> None:
        self.revision += 1
        self.on_change(self)
