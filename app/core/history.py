"""What the conversation history holds, as plain frozen data (the SQLite store is app.storage.history).

A conversation is a tree of messages: editing an earlier message or regenerating a reply adds a sibling
instead of overwriting, and the conversation remembers which leaf is current. The *active path* is the
chain from the root to that leaf: what the chat shows and what the model is fed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from app.core.types import Message, ReasoningEffort, Role


class MessageStatus(enum.StrEnum):
    COMPLETE = "complete"
    STREAMING = "streaming"  # a reply being written; saved as it grows
    INTERRUPTED = "interrupted"  # Moss ended (crash, kill, power) before the reply finished


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One message in the history, with where it sits among its alternatives ("< 2/3 >")."""

    id: int
    conversation_id: int
    parent_id: int | None
    role: Role
    content: str
    reasoning: str | None = None
    model: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    tokens_per_second: float | None = None
    ttft_s: float | None = None
    finish_reason: str | None = None
    status: MessageStatus = MessageStatus.COMPLETE
    created_at: float = 0.0
    sibling_index: int = 0  # 0-based position among the messages sharing its parent, oldest first
    sibling_count: int = 1

    def to_message(self) -> Message:
        return Message(self.role, self.content, self.reasoning)


@dataclass(frozen=True, slots=True)
class ConversationInfo:
    """A conversation's settings and summary, without its messages."""

    id: int
    uid: str  # stable across export and import: importing the same conversation twice adds it once
    title: str
    created_at: float
    updated_at: float
    model: str = ""
    reasoning_effort: ReasoningEffort = ReasoningEffort.MEDIUM
    system_prompt: str = ""
    sampling: dict[str, Any] = field(default_factory=dict)  # overrides of the model's recommended sampling
    pinned: bool = False
    title_by_user: bool = False
    current_leaf_id: int | None = None
    message_count: int = 0
    source: str = "moss"  # moss | chatgpt (where it was first written)


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One conversation found by a search, with its best matching text.

    ``snippet`` is plain text; ``highlights`` are (start, end) character ranges in it that matched.
    ``message_id`` is None when the title matched and no message did.
    """

    conversation_id: int
    title: str
    snippet: str
    highlights: tuple[tuple[int, int], ...]
    message_id: int | None
    field: str  # title | content | reasoning
    role: Role | None
    updated_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "title": self.title,
            "snippet": self.snippet,
            "highlights": [list(span) for span in self.highlights],
            "message_id": self.message_id,
            "field": self.field,
            "role": self.role.value if self.role else None,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True, slots=True)
class ImportedMessage:
    """A message read from an export file, before it has an id in this history."""

    key: str  # its id within the file
    parent_key: str | None
    role: Role
    content: str
    reasoning: str | None = None
    model: str = ""
    created_at: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    tokens_per_second: float | None = None
    ttft_s: float | None = None
    finish_reason: str | None = None
    status: MessageStatus = MessageStatus.COMPLETE


@dataclass(frozen=True, slots=True)
class ImportedConversation:
    """A conversation read from an export file. ``messages`` lists every parent before its children."""

    uid: str
    title: str
    created_at: float
    updated_at: float
    messages: tuple[ImportedMessage, ...]
    current_key: str | None  # the leaf of the active path
    model: str = ""
    system_prompt: str = ""
    reasoning_effort: ReasoningEffort = ReasoningEffort.MEDIUM
    sampling: dict[str, Any] = field(default_factory=dict)
    pinned: bool = False
    title_by_user: bool = False
    source: str = "moss"


@dataclass(frozen=True, slots=True)
class ImportReport:
    added: tuple[int, ...]  # ids of the conversations added
    skipped: int  # already in the history (same uid)
    messages: int  # messages added

    def to_json(self) -> dict[str, Any]:
        return {"added": len(self.added), "ids": list(self.added), "skipped": self.skipped, "messages": self.messages}
