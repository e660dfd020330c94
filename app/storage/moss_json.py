"""Moss's own export format, ``moss.history`` (documented in docs/history-format.md).

One JSON object holding whole conversations, every branch included, so an export imported into another
Moss gives back exactly what was there. Reading is strict: a file that does not validate is rejected
whole with the first problem named, and nothing is imported. Values are checked against the history's
bounds (app.storage.bounds) as well as their types: a time Moss could not show, a count SQLite could not
hold or a name of a megabyte is refused here rather than written and failing every later read.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any, TypeVar

from app import __version__
from app.core.errors import ImportFormatError
from app.core.history import (
    ConversationInfo,
    ImportedConversation,
    ImportedMessage,
    MessageStatus,
    ReplyFacts,
    StoredMessage,
)
from app.core.tool_steps import ToolStep
from app.core.types import FinishReason, ReasoningEffort, Role
from app.storage.bounds import (
    MAX_COUNT,
    MAX_NAME_CHARS,
    MAX_RATE,
    MAX_SAMPLING_CHARS,
    TIME_RANGE,
    sane_count,
    sane_rate,
    sane_time,
    shallow,
)

_T = TypeVar("_T")
_ROLES = {role.value: role for role in (Role.SYSTEM, Role.USER, Role.ASSISTANT)}  # the roles a message row holds
FORMAT = "moss.history"
VERSION = 1


def to_moss_json(items: list[tuple[ConversationInfo, list[StoredMessage]]]) -> dict[str, Any]:
    """The export document for conversations with all their messages (parents before children)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "app": f"Moss {__version__}",
        "conversations": [_conversation_json(info, messages) for info, messages in items],
    }


def _conversation_json(info: ConversationInfo, messages: list[StoredMessage]) -> dict[str, Any]:
    return {
        "uid": info.uid,
        "title": info.title,
        "title_by_user": info.title_by_user,
        "created_at": info.created_at,
        "updated_at": info.updated_at,
        "model": info.model,
        "reasoning_effort": info.reasoning_effort.value,
        "system_prompt": info.system_prompt,
        "sampling": info.sampling,
        "pinned": info.pinned,
        "source": info.source,
        "current_message": None if info.current_leaf_id is None else str(info.current_leaf_id),
        "messages": [
            {
                "id": str(m.id),
                "parent": None if m.parent_id is None else str(m.parent_id),
                "role": m.role.value,
                "content": m.content,
                "reasoning": m.reasoning,
                "model": m.model,
                "created_at": m.created_at,
                "status": m.status.value,
                **m.facts.to_json(),
                "tool_steps": [step.to_json() for step in m.steps],
            }
            for m in messages
        ],
    }


def looks_like_moss_json(data: object) -> bool:
    return isinstance(data, dict) and data.get("format") == FORMAT


def parse_moss_json(data: object) -> list[ImportedConversation]:
    """Validate and read a ``moss.history`` document; raises ImportFormatError on the first problem."""
    if not looks_like_moss_json(data):
        raise ImportFormatError('This file is not a Moss history export (its "format" is not "moss.history").')
    assert isinstance(data, dict)
    version = data.get("version")
    if not isinstance(version, int) or version < 1:
        raise ImportFormatError('This Moss export has no valid "version"; it may be damaged. Nothing was imported.')
    if version > VERSION:
        shown = version if version < 10**6 else "unknown"
        raise ImportFormatError(
            f"This export was written by a newer Moss (format version {shown}; this Moss reads up to {VERSION}). "
            "Update Moss to import it. Nothing was imported."
        )
    conversations = data.get("conversations")
    if not isinstance(conversations, list):
        raise ImportFormatError(
            'This Moss export has no "conversations" list; it may be damaged. Nothing was imported.'
        )
    return [_read_conversation(item, n) for n, item in enumerate(conversations, 1)]


class _Reader:
    """Typed field access that names the place of a bad value in its error."""

    def __init__(self, item: object, where: str) -> None:
        if not isinstance(item, dict):
            raise ImportFormatError(f"{where} in this Moss export is not an object. Nothing was imported.")
        self.item = item
        self.where = where

    def fail(self, name: str, wanted: str) -> ImportFormatError:
        return ImportFormatError(
            f'{self.where} in this Moss export has a bad "{name}" ({wanted} expected). Nothing was imported.'
        )

    def text(self, name: str, default: str | None = None, *, optional: bool = False, short: bool = False) -> Any:
        """Text; ``short`` for names and ids (at most :data:`MAX_NAME_CHARS`), else as long as the file allows."""
        value = self.item.get(name, default)
        if value is None and optional:
            return None
        if not isinstance(value, str):
            raise self.fail(name, "text")
        if short and len(value) > MAX_NAME_CHARS:
            raise self.fail(name, f"text of at most {MAX_NAME_CHARS:,} characters")
        return value

    def time(self, name: str, *, optional: bool = True) -> float | None:
        return self._ranged(name, sane_time, TIME_RANGE, optional=optional)

    def count(self, name: str) -> int | None:
        return self._ranged(name, sane_count, f"a whole number from 0 to {MAX_COUNT:,}")

    def rate(self, name: str) -> float | None:
        return self._ranged(name, sane_rate, f"a number from 0 to {MAX_RATE:,.0f}")

    def _ranged(
        self, name: str, sane: Callable[[object], _T | None], wanted: str, *, optional: bool = True
    ) -> _T | None:
        value = self.item.get(name)
        if value is None and optional:
            return None
        checked = sane(value)
        if checked is None:
            raise self.fail(name, wanted)
        return checked

    def texts(self, name: str) -> tuple[str, ...]:
        """An optional list of text (empty when missing)."""
        value = self.item.get(name, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.fail(name, "a list of text")
        return tuple(value)

    def steps(self, name: str) -> tuple[ToolStep, ...]:
        """An optional list of tool steps (ToolStep.to_json), each read whole or refused."""
        value = self.item.get(name, [])
        wanted = "a list of tool steps, each with its call and result"
        if not isinstance(value, list):
            raise self.fail(name, wanted)
        try:
            return tuple(ToolStep.from_json(item) for item in value)
        except (ValueError, ArithmeticError, RecursionError):  # a huge number, nesting past Python's reach
            raise self.fail(name, wanted) from None

    def flag(self, name: str) -> bool:
        value = self.item.get(name, False)
        if not isinstance(value, bool):
            raise self.fail(name, "true or false")
        return value


def _read_conversation(item: object, n: int) -> ImportedConversation:
    r = _Reader(item, f"Conversation {n}")
    uid = r.text("uid", short=True)
    if not uid.strip():
        raise r.fail("uid", "a non-empty id")
    sampling = r.item.get("sampling", {})
    if not isinstance(sampling, dict) or not shallow(sampling) or len(json.dumps(sampling)) > MAX_SAMPLING_CHARS:
        raise r.fail("sampling", "a small object")
    try:
        effort = ReasoningEffort(r.text("reasoning_effort", "medium"))
    except ValueError:
        raise r.fail("reasoning_effort", "low, medium or high") from None
    raw_messages = r.item.get("messages")
    if not isinstance(raw_messages, list):
        raise r.fail("messages", "a list")
    messages: list[ImportedMessage] = []
    seen: set[str] = set()
    for m, raw in enumerate(raw_messages, 1):
        message = _read_message(raw, f"Message {m} of conversation {n}")
        if message.key in seen:
            raise ImportFormatError(
                f"Conversation {n} in this Moss export repeats the message id {message.key[:40]!r}. "
                "Nothing was imported."
            )
        if message.parent_key is not None and message.parent_key not in seen:
            raise ImportFormatError(
                f"Message {m} of conversation {n} in this Moss export comes before its parent; the file is damaged."
            )
        seen.add(message.key)
        messages.append(message)
    current = r.text("current_message", optional=True, short=True)
    if current is not None and current not in seen:
        raise r.fail("current_message", "the id of one of its messages")
    created = r.time("created_at", optional=False)
    assert created is not None
    updated = r.time("updated_at")
    return ImportedConversation(
        uid=uid,
        title=r.text("title", ""),  # a title renamed by hand can be long, and must import again
        title_by_user=r.flag("title_by_user"),
        created_at=created,
        updated_at=created if updated is None else updated,
        messages=tuple(messages),
        current_key=current,
        model=r.text("model", "", short=True),
        system_prompt=r.text("system_prompt", ""),
        reasoning_effort=effort,
        sampling=sampling,
        pinned=r.flag("pinned"),
        source=r.text("source", "moss", short=True),
    )


def _read_message(raw: object, where: str) -> ImportedMessage:
    r = _Reader(raw, where)
    role = _ROLES.get(r.text("role"))
    if role is None:  # a tool's result is part of its reply's steps, never a message of its own
        raise r.fail("role", "system, user or assistant")
    try:
        status = MessageStatus(r.text("status", "complete"))
    except ValueError:
        raise r.fail("status", "complete, streaming or interrupted") from None
    if status == MessageStatus.STREAMING:
        status = MessageStatus.INTERRUPTED  # it is not being written by anyone here
    return ImportedMessage(
        key=r.text("id", short=True),
        parent_key=r.text("parent", optional=True, short=True),
        role=role,
        content=r.text("content"),
        reasoning=r.text("reasoning", optional=True),
        model=r.text("model", "", short=True),
        created_at=r.time("created_at"),
        status=status,
        facts=ReplyFacts(
            prompt_tokens=r.count("prompt_tokens"),
            completion_tokens=r.count("completion_tokens"),
            tokens_per_second=r.rate("tokens_per_second"),
            ttft_s=r.rate("time_to_first_token_s"),
            # An ending this Moss does not know (from a later one) is read as none rather than refused.
            finish_reason=FinishReason.read(r.text("finish_reason", optional=True, short=True)),
            dropped_messages=r.count("dropped_messages") or 0,
            tool_calls=r.texts("tool_calls"),
        ),
        steps=r.steps("tool_steps"),
    )
