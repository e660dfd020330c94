"""Conversations kept in memory for the session (the SQLite store of issue 6 replaces this)."""

from __future__ import annotations

import time

from app.core.conversation import NEW_CONVERSATION_TITLE, Conversation, title_from_text
from app.core.types import Message, ReasoningEffort, Role


class MemoryConversationStore:
    """Conversations of this session, newest first. Used from one thread (the GUI's)."""

    def __init__(self) -> None:
        self._items: dict[str, Conversation] = {}

    def create(
        self, system_prompt: str = "", reasoning_effort: ReasoningEffort = ReasoningEffort.MEDIUM
    ) -> Conversation:
        conversation = Conversation(system_prompt=system_prompt, reasoning_effort=reasoning_effort)
        self._items[conversation.id] = conversation
        return conversation

    def get(self, conversation_id: str) -> Conversation:
        return self._items[conversation_id]

    def list(self) -> list[Conversation]:
        return sorted(self._items.values(), key=lambda c: c.updated_at, reverse=True)

    def append(self, conversation_id: str, message: Message) -> Conversation:
        conversation = self._items[conversation_id]
        conversation.messages.append(message)
        conversation.updated_at = time.time()
        if conversation.title == NEW_CONVERSATION_TITLE and message.role == Role.USER:
            conversation.title = title_from_text(message.content)
        return conversation

    def delete(self, conversation_id: str) -> None:
        self._items.pop(conversation_id, None)
