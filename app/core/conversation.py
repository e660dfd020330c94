"""A conversation as the front ends hold it: an ordered list of messages plus its settings.

v1 keeps conversations in memory (app.storage.memory); issue 6 moves them into SQLite. The engine never sees
this class: it receives an immutable snapshot (a tuple of :class:`~app.core.types.Message`).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from app.core.types import Message, ReasoningEffort, Role

NEW_CONVERSATION_TITLE = "New chat"
_TITLE_CHARS = 48


@dataclass(slots=True)
class Conversation:
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    title: str = NEW_CONVERSATION_TITLE
    messages: list[Message] = field(default_factory=list)
    system_prompt: str = ""
    reasoning_effort: ReasoningEffort = ReasoningEffort.MEDIUM
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    def snapshot(self) -> tuple[Message, ...]:
        """The messages the model should see, with the system prompt (if any) first."""
        head = (Message(Role.SYSTEM, self.system_prompt),) if self.system_prompt.strip() else ()
        return head + tuple(self.messages)


def title_from_text(text: str) -> str:
    """A short title from the first user message: first line, whitespace collapsed, cut at a word."""
    line = " ".join(text.strip().split())
    if not line:
        return NEW_CONVERSATION_TITLE
    if len(line) <= _TITLE_CHARS:
        return line
    cut = line[:_TITLE_CHARS].rsplit(" ", 1)[0] or line[:_TITLE_CHARS]
    return cut.rstrip(",.;:") + "…"
