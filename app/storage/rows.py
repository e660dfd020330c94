"""How the history's records are laid out in its tables: the columns read, and rows turned into records.

One place for the mapping, so that the store (app.storage.history) and the importer (app.storage.exchange)
read and write a message's facts the same way. Values that this Moss does not know (a finish reason or
status written by another version, or by hand) are read as "none" rather than failing the whole read, and
every value is brought into its kind and range (app.storage.bounds): one odd row must not break every read.

A reply is stored as streaming with the process writing it (``writer``, app.storage.writers); a reader sees a
streaming reply whose writer has gone (killed, crashed) as interrupted, whichever process reads it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from app.core.conversation import NEW_CONVERSATION_TITLE
from app.core.history import ConversationInfo, MessageStatus, ReplyFacts, StoredMessage
from app.core.tool_steps import ToolStep
from app.core.types import FinishReason, ReasoningEffort, Role
from app.storage.bounds import (
    sane_count,
    sane_rate,
    stored_id,
    stored_optional_text,
    stored_text,
    stored_time,
    valid_text,
)
from app.storage.writers import ALIVE_FUNCTION

CONVERSATION_COLUMNS = (
    "c.id, c.uid, c.title, c.title_by_user, c.created_at, c.updated_at, c.model, c.reasoning_effort, "
    "c.system_prompt, c.sampling, c.pinned, c.current_leaf_id, c.source, "
    "(SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) AS message_count"
)
# The columns of a message's ReplyFacts, in the order of :func:`facts_values`.
FACTS_COLUMNS = (
    "prompt_tokens",
    "completion_tokens",
    "tokens_per_second",
    "ttft_s",
    "finish_reason",
    "dropped_messages",
    "tool_calls",
)
# A reply left streaming by a process that is gone reads as interrupted (the function is app.storage.writers').
_STATUS = f"CASE WHEN m.status = 'streaming' AND NOT {ALIVE_FUNCTION}(m.writer) THEN 'interrupted' ELSE m.status END"
MESSAGE_COLUMNS = (
    f"m.id, m.conversation_id, m.parent_id, m.role, m.content, m.reasoning, m.model, {_STATUS}, "
    + ", ".join(["m.created_at", *(f"m.{name}" for name in FACTS_COLUMNS), "m.tool_steps"])
)
# Where a message sits among its siblings (oldest first); the index makes both counts cheap.
SIBLING_COLUMNS = (
    "(SELECT count(*) FROM messages s WHERE s.conversation_id = m.conversation_id AND s.parent_id IS m.parent_id),"
    "(SELECT count(*) FROM messages s WHERE s.conversation_id = m.conversation_id AND s.parent_id IS m.parent_id"
    " AND (s.created_at < m.created_at OR (s.created_at = m.created_at AND s.id < m.id)))"
)
# Walks of the tree follow ids that only go down towards the root (a parent is always older than its child,
# and ids only grow): a loop of parents in a damaged or hand-edited database, even a message that is its own
# parent, ends the walk instead of running it forever.
# The active path, leaf first: (id, depth) for the leaf and each ancestor.
PATH_UP = """
WITH RECURSIVE up (id, depth) AS (
    SELECT :leaf, 0
    UNION ALL
    SELECT m.parent_id, up.depth + 1 FROM messages m JOIN up ON m.id = up.id
    WHERE m.parent_id IS NOT NULL AND m.parent_id < m.id
)
"""
# The same, stopping after the ``last`` messages nearest the leaf (first paint of a long conversation).
PATH_UP_LAST = """
WITH RECURSIVE up (id, depth) AS (
    SELECT :leaf, 0
    UNION ALL
    SELECT m.parent_id, up.depth + 1 FROM messages m JOIN up ON m.id = up.id
    WHERE m.parent_id IS NOT NULL AND m.parent_id < m.id AND up.depth + 1 < :last
)
"""

Row = sqlite3.Row | tuple[Any, ...]
_ROLES = {role.value: role for role in Role}


def facts_values(facts: ReplyFacts) -> tuple[Any, ...]:
    """``facts`` as the values of :data:`FACTS_COLUMNS`."""
    return (
        facts.prompt_tokens,
        facts.completion_tokens,
        facts.tokens_per_second,
        facts.ttft_s,
        None if facts.finish_reason is None else facts.finish_reason.value,
        facts.dropped_messages,
        json.dumps(list(facts.tool_calls)),
    )


def conversation_of(row: Row) -> ConversationInfo:
    """A row of :data:`CONVERSATION_COLUMNS`."""
    sampling = json_or(row[9], {})
    try:
        effort = ReasoningEffort(row[7])
    except ValueError:
        effort = ReasoningEffort.MEDIUM
    return ConversationInfo(
        id=row[0],
        uid=stored_text(row[1]),
        title=stored_text(row[2]) or NEW_CONVERSATION_TITLE,
        title_by_user=bool(row[3]),
        created_at=stored_time(row[4]),
        updated_at=stored_time(row[5]),
        model=stored_text(row[6]),
        reasoning_effort=effort,
        system_prompt=stored_text(row[8]),
        sampling=sampling if isinstance(sampling, dict) else {},
        pinned=bool(row[10]),
        current_leaf_id=stored_id(row[11]),
        source=stored_text(row[12]),
        message_count=row[13],
    )


def message_of(row: Row) -> StoredMessage:
    """A row of :data:`MESSAGE_COLUMNS` followed by :data:`SIBLING_COLUMNS`."""
    (ident, conversation, parent, role, content, reasoning, model, status, created) = row[:9]
    prompt, completion, speed, ttft, finish, dropped, tools, steps, siblings, index = row[9:19]
    calls = json_or(tools, [])
    try:
        known_status = MessageStatus(status)
    except ValueError:  # written by a later Moss: shown as an ordinary message
        known_status = MessageStatus.COMPLETE
    return StoredMessage(
        id=ident,
        conversation_id=conversation,
        parent_id=stored_id(parent),
        role=_ROLES.get(role, Role.USER),  # the table's CHECK allows no other, but a damaged page might
        content=stored_text(content),
        reasoning=stored_optional_text(reasoning),
        model=stored_text(model),
        facts=ReplyFacts(
            prompt_tokens=sane_count(prompt),
            completion_tokens=sane_count(completion),
            tokens_per_second=sane_rate(speed),
            ttft_s=sane_rate(ttft),
            finish_reason=FinishReason.read(finish),
            dropped_messages=sane_count(dropped) or 0,
            tool_calls=tuple(str(call) for call in calls) if isinstance(calls, list) else (),
        ),
        status=known_status,
        created_at=stored_time(created),
        sibling_count=siblings,
        sibling_index=index,
        steps=steps_of(steps),
    )


def steps_json(steps: Iterable[ToolStep]) -> str:
    """Tool steps as stored in ``messages.tool_steps``: a JSON list of ToolStep.to_json()."""
    return steps_text([step.to_json() for step in steps])


def steps_text(items: list[Any]) -> str:
    """A list of steps' JSON as stored: valid Unicode (lone surrogates, which SQLite refuses, as U+FFFD)."""
    return valid_text(json.dumps(items, ensure_ascii=False))


def steps_of(text: object) -> tuple[ToolStep, ...]:
    """The steps stored as ``text``. A value that is not a JSON list reads as no steps, and an item that is not
    a step is left out (damage, a hand edit): the rest of the reply still reads."""
    if text == "[]" or text is None:  # nearly every message: no parsing
        return ()
    items = json_or(stored_text(text), [])
    if not isinstance(items, list):
        return ()
    steps: list[ToolStep] = []
    for item in items:
        try:
            steps.append(_fit(ToolStep.from_json(item)))
        except (ValueError, ArithmeticError, RecursionError):  # not a step; a number or a nesting too large
            continue
    return tuple(steps)


def _fit(step: ToolStep) -> ToolStep:
    """A step read back, its text valid Unicode and its time a sane number (JSON can spell neither)."""
    call = step.call
    return replace(
        step,
        call=replace(
            call, recipient=valid_text(call.recipient), arguments=valid_text(call.arguments), id=valid_text(call.id)
        ),
        result=valid_text(step.result),
        preamble=valid_text(step.preamble),
        reasoning=valid_text(step.reasoning),
        seconds=sane_rate(step.seconds) or 0.0,
    )


def parents_first(messages: list[StoredMessage]) -> list[StoredMessage]:
    """Order a conversation's messages so that every parent comes before its children (depth first).

    Each id is taken once: a damaged page can list a row twice, or give two rows one id, and a message that
    is its own parent must not be walked into forever."""
    children: dict[int | None, list[StoredMessage]] = {}
    for message in messages:
        children.setdefault(message.parent_id, []).append(message)
    ordered: list[StoredMessage] = []
    taken: set[int] = set()
    stack = list(reversed(children.get(None, [])))
    while stack:
        message = stack.pop()
        if message.id in taken:
            continue
        taken.add(message.id)
        ordered.append(message)
        stack.extend(reversed(children.get(message.id, [])))
    return ordered


def json_or(text: object, default: Any) -> Any:
    """``text`` parsed as JSON, or ``default`` when it is missing or not JSON."""
    if not isinstance(text, str):
        return default
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested past what Python's parser follows
        return default
