"""Full-text search over titles, messages, reasoning and tool calls (SQLite FTS5), best match first.

What a person types is never passed to FTS5 as query syntax: each word becomes a quoted phrase (so "C++",
"AND" or a stray quote cannot break the query) and the last one also matches as a prefix, so results
appear while the word is still being typed. Results are one per conversation, each with a snippet of its
best matching message and the ranges that matched.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from app.core.conversation import NEW_CONVERSATION_TITLE
from app.core.history import SearchHit
from app.core.types import Role
from app.storage.bounds import MAX_COUNT, stored_text, stored_time, valid_text
from app.storage.database import connect

_OPEN, _CLOSE = "\x02", "\x03"  # match markers inside snippets; never in normal text
_SNIPPET_TOKENS = 14
_WORD = re.compile(r"\w", re.UNICODE)
# Weights for bm25: a match in the reply or question counts more than one in the model's reasoning.
_CONTENT_WEIGHT, _REASONING_WEIGHT = 1.0, 0.4
_TOOLS_WEIGHT = 0.6  # a tool's name, arguments or result: between the two (bm25 is negative, so this scales it)
_CANDIDATES_PER_RESULT = 4  # message hits read per result wanted, before keeping one per conversation
# bm25 scores every match before it can order them: 200,000 matches of a common word take ~0.5 s. So only
# the newest matches are ranked (FTS5 walks rowids newest first and stops early); below this many, all are.
_RANKED_MATCHES = 5000
_ROLES = {role.value: role for role in Role}
# A matching message: (bm25 score, message id, conversation id, role, field, marked snippet, title, updated at).
_Match = tuple[float, int, int, str, str, str, object, object]


def match_expression(query: str) -> str | None:
    """The FTS5 MATCH expression for what was typed; None when there is nothing to search for."""
    # NUL would end the expression early inside SQLite ("unterminated string"); a lone surrogate cannot be
    # passed to SQLite at all. Neither is something to search for.
    query = valid_text(query).replace("\x00", " ")
    words = [w for w in query.split() if _WORD.search(w)]
    if not words:
        return None
    phrases = ['"' + w.replace('"', '""') + '"' for w in words]
    if not query[-1:].isspace():
        phrases[-1] += " *"  # still typing: "pyth" finds "python"
    return " ".join(phrases)


def search(connection: sqlite3.Connection, query: str, *, limit: int = 50) -> list[SearchHit]:
    """The conversations matching ``query``: title matches first, then by the best message's rank."""
    expression = match_expression(query)
    if expression is None or limit < 1:
        return []
    limit = min(limit, MAX_COUNT // _CANDIDATES_PER_RESULT)  # any larger asks SQLite for more than it counts
    titles = connection.execute(
        "SELECT c.id, highlight(titles_fts, 0, ?, ?), c.updated_at FROM titles_fts "
        "JOIN conversations c ON c.id = titles_fts.rowid "
        "WHERE titles_fts MATCH ? AND c.deleted_at IS NULL ORDER BY rank LIMIT ?",
        (_OPEN, _CLOSE, expression, limit),
    ).fetchall()
    candidates = limit * _CANDIDATES_PER_RESULT
    matches = _message_matches(connection, expression, candidates) + _tool_matches(connection, expression, candidates)
    matches.sort(key=lambda match: match[0])  # bm25: the lower, the better

    best_message: dict[int, tuple[int, Role, str, str]] = {}
    order: list[int] = []
    updated_of: dict[int, tuple[str, float]] = {}
    for _score, message_id, conversation_id, role, field, snippet, title, updated in matches:
        updated_of.setdefault(conversation_id, (stored_text(title), stored_time(updated)))
        if conversation_id in best_message:
            continue
        best_message[conversation_id] = (message_id, _ROLES.get(role, Role.USER), field, snippet)
        order.append(conversation_id)
    titles_of = {cid: (stored_text(marked), stored_time(updated)) for cid, marked, updated in titles}

    hits: list[SearchHit] = []
    for conversation_id in [row[0] for row in titles] + [c for c in order if c not in titles_of]:
        marked_title, updated_at = titles_of.get(conversation_id, ("", 0.0))
        title = _plain(marked_title)[0] if marked_title else updated_of[conversation_id][0]
        updated_at = updated_at or updated_of[conversation_id][1]
        if conversation_id in best_message:
            message_id, role, field, marked = best_message[conversation_id]
            snippet, highlights = _plain(marked)
            hits.append(
                SearchHit(
                    conversation_id,
                    title or NEW_CONVERSATION_TITLE,
                    snippet,
                    highlights,
                    message_id,
                    field,
                    role,
                    updated_at,
                )
            )
        else:
            snippet, highlights = _plain(marked_title)
            hits.append(SearchHit(conversation_id, title, snippet, highlights, None, "title", None, updated_at))
        if len(hits) == limit:
            break
    return hits


def _newest_matches_from(connection: sqlite3.Connection, index: str, expression: str) -> int:
    """The smallest rowid among the newest :data:`_RANKED_MATCHES` matches in ``index``: only those are ranked."""
    oldest = connection.execute(
        f"SELECT min(rowid) FROM (SELECT rowid FROM {index} WHERE {index} MATCH ? ORDER BY rowid DESC LIMIT ?)",
        (expression, _RANKED_MATCHES),
    ).fetchone()[0]
    return int(oldest or 0)


def _message_matches(connection: sqlite3.Connection, expression: str, limit: int) -> list[_Match]:
    """The best matches in messages' text and reasoning."""
    rows = connection.execute(
        "SELECT bm25(messages_fts, ?, ?), m.id, m.conversation_id, m.role, snippet(messages_fts, 0, ?, ?, '…', ?), "
        "snippet(messages_fts, 1, ?, ?, '…', ?), c.title, c.updated_at FROM messages_fts "
        "JOIN messages m ON m.id = messages_fts.rowid JOIN conversations c ON c.id = m.conversation_id "
        "WHERE messages_fts MATCH ? AND messages_fts.rowid >= ? AND c.deleted_at IS NULL "
        "ORDER BY bm25(messages_fts, ?, ?) LIMIT ?",
        (
            _CONTENT_WEIGHT,
            _REASONING_WEIGHT,
            *(_OPEN, _CLOSE, _SNIPPET_TOKENS) * 2,
            expression,
            _newest_matches_from(connection, "messages_fts", expression),
            _CONTENT_WEIGHT,
            _REASONING_WEIGHT,
            limit,
        ),
    ).fetchall()
    matches: list[_Match] = []
    for score, message_id, conversation_id, role, content, reasoning, title, updated in rows:
        content, reasoning = stored_text(content), stored_text(reasoning)  # a hand-made row may hold a BLOB
        field, snippet = ("content", content) if _OPEN in content else ("reasoning", reasoning)
        matches.append((float(score), message_id, conversation_id, role, field, snippet, title, updated))
    return matches


def _tool_matches(connection: sqlite3.Connection, expression: str, limit: int) -> list[_Match]:
    """The best matches in the tools replies called: their names, arguments and results (app.storage.schema V4)."""
    rows = connection.execute(
        "SELECT bm25(tools_fts), m.id, m.conversation_id, m.role, snippet(tools_fts, 0, ?, ?, '…', ?), c.title, "
        "c.updated_at FROM tools_fts JOIN messages m ON m.id = tools_fts.rowid "
        "JOIN conversations c ON c.id = m.conversation_id "
        "WHERE tools_fts MATCH ? AND tools_fts.rowid >= ? AND c.deleted_at IS NULL ORDER BY bm25(tools_fts) LIMIT ?",
        (
            _OPEN,
            _CLOSE,
            _SNIPPET_TOKENS,
            expression,
            _newest_matches_from(connection, "tools_fts", expression),
            limit,
        ),
    ).fetchall()
    return [
        (float(score) * _TOOLS_WEIGHT, message_id, conversation_id, role, "tools", stored_text(snippet), title, updated)
        for score, message_id, conversation_id, role, snippet, title, updated in rows
    ]


def search_history(path: Path, query: str, *, limit: int = 50) -> list[SearchHit]:
    """:func:`search` on its own read-only connection: safe to call from any thread (the GUI's task pool)."""
    connection = connect(path, read_only=True)
    try:
        return search(connection, query, limit=limit)
    finally:
        connection.close()


def _plain(marked: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    """Text without the match markers, and the (start, end) ranges they enclosed."""
    text: list[str] = []
    spans: list[tuple[int, int]] = []
    length = 0
    start = -1
    for part in re.split(f"([{_OPEN}{_CLOSE}])", marked):
        if part == _OPEN:
            start = length
        elif part == _CLOSE:
            if start >= 0 and length > start:
                spans.append((start, length))
            start = -1
        else:
            part = " ".join(part.split()) if "\n" in part else part
            text.append(part)
            length += len(part)
    return "".join(text), tuple(spans)
