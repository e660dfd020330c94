"""What the chat view shows for each message, as plain state: the text, the thinking block, the details.

The view (app.ui.chat.view) owns a list of :class:`ChatItem` and paints them; nothing here is a widget, so a
5,000-message chat costs memory, not widgets. Changing an item (a streamed piece of text, a new details
line) tells the view through ``on_change``, and only that item is laid out and painted again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from app.core.history import MessageStatus, StoredMessage
from app.core.types import FinishReason, Role

AUTO, SHOWN, HIDDEN = "auto", "shown", "hidden"  # reasoning display: open while thinking | always | never


@dataclass(frozen=True, slots=True)
class Details:
    """What a message says about itself: ``line`` under a reply, ``tooltip`` on that line."""

    line: str
    tooltip: str


def describe(message: StoredMessage) -> Details:
    """The details of a message as stored. A reply that has just finished is described from its stored
    record too, so it reads the same now and when its chat is opened again."""
    facts = message.facts
    sent = f"Sent {time.strftime('%Y-%m-%d %H:%M', time.localtime(message.created_at))}"
    if message.role != Role.ASSISTANT:
        return Details("", sent)
    ending = _ENDINGS.get(facts.finish_reason) if facts.finish_reason else None
    if message.status == MessageStatus.INTERRUPTED:
        ending = "interrupted: Moss closed before the reply finished"
    dropped, tools = facts.dropped_messages, ", ".join(facts.tool_calls)
    line = [
        f"{facts.tokens_per_second:.1f} tokens/s" if facts.tokens_per_second else "",
        f"{facts.completion_tokens:,} tokens" if facts.completion_tokens else "",
        f"{dropped} earlier messages left out to fit the context" if dropped else "",
        f"tried to use a tool, which Moss does not offer yet: {tools}" if tools else "",
        ending or "",
    ]
    tooltip = [
        sent,
        f"Model: {message.model}" if message.model else "",
        f"Prompt: {facts.prompt_tokens:,} tokens" if facts.prompt_tokens is not None else "",
        f"Reply: {facts.completion_tokens:,} tokens" if facts.completion_tokens is not None else "",
        f"Speed: {facts.tokens_per_second:.1f} tokens/s" if facts.tokens_per_second else "",
        f"First token after {facts.ttft_s:.2f} s" if facts.ttft_s is not None else "",
        f"Left out to fit the context: {dropped} earlier messages" if dropped else "",
        f"Tools it tried to use (Moss offers none yet): {tools}" if tools else "",
        f"Ended: {ending or 'finished'}" if ending is not None else "",
    ]
    return Details(" · ".join(part for part in line if part), "\n".join(part for part in tooltip if part))


_ENDINGS = {
    FinishReason.STOP: "",
    FinishReason.CANCELLED: "stopped",
    FinishReason.LENGTH: "reached the length limit",
    FinishReason.CONTEXT: "the context is full",
    FinishReason.ERROR: "failed before it finished",
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
        """Tied to a stored message, so it has actions (a new item is, once its message is stored)."""
        return self.message_id is not None

    def bind(self, message: StoredMessage) -> None:
        """Tie the item to its stored message: alternatives ("2/3"), details and the actions on it. Bound
        again when the message changes in the history (a reply finished), so its details follow it."""
        self.message_id = message.id
        self.model = message.model
        self.sibling_index = message.sibling_index
        self.sibling_count = message.sibling_count
        details = describe(message)
        self.meta, self.details = details.line, details.tooltip
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
