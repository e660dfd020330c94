"""What the conversation history holds, as plain frozen data (the SQLite store is app.storage.history).

A conversation is a tree of messages: editing an earlier message or regenerating a reply adds a sibling
instead of overwriting, and the conversation remembers which leaf is current. The *active path* is the
chain from the root to that leaf: what the chat shows and what the model is fed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from app.core.tool_steps import ToolStep, turn_messages
from app.core.types import FinishReason, GenerationResult, Message, ReasoningEffort, Role


class MessageStatus(enum.StrEnum):
    COMPLETE = "complete"
    STREAMING = "streaming"  # a reply being written; saved as it grows
    INTERRUPTED = "interrupted"  # Moss ended (crash, kill, power) before the reply finished


@dataclass(frozen=True, slots=True)
class ReplyFacts:
    """How a reply went, stored with it: what it cost, how it ended, what it left out or tried.

    The details line under a reply is made from these, so a reply that has just finished and the same reply
    reopened from the history read alike. A person's message has none (every field empty)."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    tokens_per_second: float | None = None
    ttft_s: float | None = None  # time to the first token
    finish_reason: FinishReason | None = None  # None: not finished (or an ending this Moss does not know)
    dropped_messages: int = 0  # the oldest messages left out to fit the context
    tool_calls: tuple[str, ...] = ()  # tool calls as shown (the whole chain: StoredMessage.steps)

    @classmethod
    def of(cls, result: GenerationResult) -> ReplyFacts:
        stats = result.stats
        return cls(
            prompt_tokens=stats.prompt_tokens,
            completion_tokens=stats.completion_tokens,
            tokens_per_second=stats.tokens_per_second,
            ttft_s=stats.time_to_first_token_s,
            finish_reason=result.finish_reason,
            dropped_messages=result.dropped_messages,
            tool_calls=result.tool_calls,
        )

    def to_json(self) -> dict[str, Any]:
        """The facts under the names of the Moss JSON export and ``moss history show --json``."""
        return {
            "finish_reason": None if self.finish_reason is None else self.finish_reason.value,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "tokens_per_second": self.tokens_per_second,
            "time_to_first_token_s": self.ttft_s,
            "dropped_messages": self.dropped_messages,
            "tool_calls": list(self.tool_calls),
        }


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
    facts: ReplyFacts = ReplyFacts()
    status: MessageStatus = MessageStatus.COMPLETE
    created_at: float = 0.0
    sibling_index: int = 0  # 0-based position among the messages sharing its parent, oldest first
    sibling_count: int = 1
    # A reply that used tools: the steps of its chain, in order, before its answer (``content``).
    steps: tuple[ToolStep, ...] = ()

    def to_message(self) -> Message:
        return Message(self.role, self.content, self.reasoning)

    def to_messages(self) -> list[Message]:
        """What this message stands for in a prompt: itself, or for a reply that used tools, each step's call
        and result and then the answer, so that a reopened chain renders as the model saw it. A chain that
        ended without an answer (stopped, interrupted) ends with its last result."""
        if not self.steps:
            return [self.to_message()]
        return turn_messages(self.steps, self.content if self.content.strip() else None, self.reasoning)


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
    field: str  # title | content | reasoning | tools (a tool's name, arguments or result in a reply's steps)
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
    facts: ReplyFacts = ReplyFacts()
    status: MessageStatus = MessageStatus.COMPLETE
    steps: tuple[ToolStep, ...] = ()  # a reply's tool chain (see StoredMessage)


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
