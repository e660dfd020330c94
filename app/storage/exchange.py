"""Moving conversations in and out: Markdown and Moss JSON export, import of Moss JSON and ChatGPT exports.

An import is read and validated whole before anything is written, then added in one transaction: a bad
or foreign file changes nothing. A conversation already in the history (same uid; ChatGPT conversations
keep their ChatGPT id) is skipped, so importing the same export twice adds it once.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import sqlite3
import stat
import time
from collections.abc import Callable
from pathlib import Path

from app.core.errors import ImportFormatError, UserError
from app.core.files import write_text_file
from app.core.history import ConversationInfo, ImportedConversation, ImportReport, MessageStatus, StoredMessage
from app.core.tool_steps import ToolDecision, ToolStep
from app.core.types import FinishReason, Role
from app.storage.bounds import valid_text
from app.storage.chatgpt_import import looks_like_chatgpt_export, parse_chatgpt_export
from app.storage.history import HistoryStore
from app.storage.import_file import load_json
from app.storage.moss_json import looks_like_moss_json, parse_moss_json, to_moss_json
from app.storage.rows import FACTS_COLUMNS, facts_values, steps_json

MARKDOWN, JSON = "md", "json"
# How long an import waits for another process writing to the history (a window saving a reply, another
# import) before it gives up: nobody is waiting on an import's every second, and giving up loses the work.
IMPORT_PATIENCE_S = 30.0


# -- export -------------------------------------------------------------------------------------------------


def export_text(store: HistoryStore, conversation_ids: list[int], fmt: str) -> str:
    """The export of these conversations: Markdown (the active path, for reading) or Moss JSON (everything)."""
    if fmt == JSON:
        items = [(store.conversation(cid), store.all_messages(cid)) for cid in conversation_ids]
        return json.dumps(to_moss_json(items), ensure_ascii=False, indent=1) + "\n"
    parts = [to_markdown(store.conversation(cid), store.path(cid)) for cid in conversation_ids]
    return "\n---\n\n".join(parts)


def save_export(store: HistoryStore, conversation_ids: list[int], fmt: str, target: Path) -> None:
    """Write an export to ``target`` whole or not at all (a temporary file beside it, renamed over it); a full
    disk is a UserError that says so. Only a regular file is written: see :func:`check_export_target`."""
    target = check_export_target(target)
    text = export_text(store, conversation_ids, fmt)
    write_text_file(target, text, f"Could not write {target}")


def check_export_target(target: Path) -> Path:
    """``target`` with its links followed, if an export may be written there; else a UserError saying why.

    An export replaces a regular file or creates one, nothing else: renaming a file over a FIFO or a device
    replaces it (as root, /dev/full became a file), and a folder cannot hold the export's name. A folder that
    does not exist is not created: a mistyped path would leave folders about, and the export where nobody
    looks for it."""
    target = target.expanduser().resolve()  # a link is followed: the file it points to is replaced, not the link
    folder = target.parent
    if not folder.is_dir():
        where = "is not a folder" if folder.exists() else "does not exist"
        raise UserError(f"Cannot export to {target}: {folder} {where}. Choose a file in an existing folder.")
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        return target
    except OSError as exc:
        raise UserError(f"Cannot export to {target}: {exc.strerror or exc}. Choose another file.") from exc
    if stat.S_ISDIR(mode):
        raise UserError(f"{target} is a folder. Name a file in it to export to, like {target / 'chats.md'}.")
    if not stat.S_ISREG(mode):
        raise UserError(
            f"{target} is not a regular file (a pipe, a socket or a device), and Moss exports only to files. "
            "Choose a file name."
        )
    return target


def to_markdown(info: ConversationInfo, path: list[StoredMessage]) -> str:
    """A conversation as it reads in the app: who said what, the model's thinking folded in <details>."""
    when = dt.datetime.fromtimestamp(info.created_at).strftime("%Y-%m-%d %H:%M")
    facts = [when] + ([info.model] if info.model else []) + [f"{len(path)} messages"]
    lines = [f"# {info.title}", "", f"*{' · '.join(facts)}*", ""]
    if info.system_prompt.strip():
        lines += ["> **System prompt:** " + info.system_prompt.strip().replace("\n", "\n> "), ""]
    for message in path:
        if message.role == Role.SYSTEM:
            continue
        lines += ["## You" if message.role == Role.USER else "## Assistant", ""]
        for step in message.steps:  # a tool chain comes before the answer it led to, as it happened
            lines += _thinking(step.reasoning) + ([step.preamble.strip(), ""] if step.preamble.strip() else [])
            lines += _step_markdown(step)
        lines += _thinking(message.reasoning)
        if message.content.strip() or not message.steps:
            lines += [message.content.strip() or "*(no text)*", ""]
        note = _message_note(message)
        if note:
            lines += [f"*{note}*", ""]
    return "\n".join(lines)


def _thinking(reasoning: str | None) -> list[str]:
    if not reasoning or not reasoning.strip():
        return []
    return ["<details>", "<summary>Thinking</summary>", "", reasoning.strip(), "", "</details>", ""]


def _step_markdown(step: ToolStep) -> list[str]:
    """One tool call, folded: the tool and how it went in the summary, its arguments and its result inside."""
    if step.decision == ToolDecision.DENIED:
        outcome = "denied"
    elif step.decision == ToolDecision.INVALID:
        outcome = "not run"
    else:
        took = f"{step.seconds:.1f} s" if step.seconds > 0 else ""
        outcome = ", ".join(part for part in ("failed" if not step.ok else "", took) if part)
    summary = html.escape(step.call.recipient) + (f" — {outcome}" if outcome else "")
    call = step.call
    language = "json" if call.content_type == "json" else "python" if call.recipient == "python" else ""
    lines = ["<details>", f"<summary>🔧 {summary}</summary>", ""]
    lines += _fenced(call.arguments, language)
    if step.result.strip():
        lines += _fenced(step.result, "text")
    return [*lines, "</details>", ""]


def _fenced(text: str, language: str) -> list[str]:
    """``text`` as a fenced code block, its fence longer than any run of backticks inside it."""
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + language, text.strip("\n"), fence, ""]


def _message_note(message: StoredMessage) -> str:
    parts: list[str] = []
    if message.role == Role.ASSISTANT and message.model:
        parts.append(message.model)
    if message.facts.tokens_per_second:
        parts.append(f"{message.facts.tokens_per_second:.1f} tokens/s")
    if message.status == MessageStatus.INTERRUPTED:
        parts.append("interrupted before the reply finished")
    elif message.facts.finish_reason == FinishReason.CANCELLED:
        parts.append("stopped")
    if message.sibling_count > 1:
        parts.append(f"version {message.sibling_index + 1} of {message.sibling_count}")
    return " · ".join(parts)


# -- import -------------------------------------------------------------------------------------------------


def read_import_file(path: Path) -> list[ImportedConversation]:
    """Read a Moss JSON export, a ChatGPT ``conversations.json``, or the ChatGPT export .zip holding it."""
    data = load_json(path)  # bounded in size, and every way of failing said in one line
    if data == []:
        return []  # ChatGPT's export of an account without chats
    if looks_like_moss_json(data):
        return parse_moss_json(data)
    if looks_like_chatgpt_export(data):
        return parse_chatgpt_export(data)
    raise ImportFormatError(
        f"{path.name} is neither a Moss export nor ChatGPT's conversations.json. Choose a file exported by "
        "Moss (JSON) or the conversations.json (or the .zip) from ChatGPT's data export. Nothing was imported."
    )


def import_conversations(
    store: HistoryStore, conversations: list[ImportedConversation], on_wait: Callable[[str], None] | None = None
) -> ImportReport:
    """Add the conversations not already in the history, all in one transaction. Another process holding the
    history's write lock is waited for up to :data:`IMPORT_PATIENCE_S`, ``on_wait`` being told first."""
    added: list[int] = []
    skipped = messages = 0
    now = time.time()
    with store.transaction(patience_s=IMPORT_PATIENCE_S, on_wait=on_wait) as db:
        for conversation in conversations:
            if db.execute("SELECT 1 FROM conversations WHERE uid = ?", (valid_text(conversation.uid),)).fetchone():
                skipped += 1
                continue
            added.append(_insert(db, conversation, now))
            messages += len(conversation.messages)
    return ImportReport(tuple(added), skipped, messages)


def _text_params(values: tuple[object, ...]) -> tuple[object, ...]:
    """The values of a row to write, every text one valid Unicode (app.storage.bounds.valid_text)."""
    return tuple(valid_text(value) if isinstance(value, str) else value for value in values)


def _insert(db: sqlite3.Connection, conversation: ImportedConversation, now: float) -> int:
    fixed_title = conversation.title_by_user or (conversation.source != "moss" and bool(conversation.title))
    cursor = db.execute(
        "INSERT INTO conversations (uid, title, title_by_user, created_at, updated_at, model, reasoning_effort, "
        "system_prompt, sampling, pinned, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        _text_params(
            (
                conversation.uid,
                conversation.title,
                int(fixed_title),
                conversation.created_at,
                conversation.updated_at,
                conversation.model,
                conversation.reasoning_effort.value,
                conversation.system_prompt,
                json.dumps(conversation.sampling),
                int(conversation.pinned),
                conversation.source,
            )
        ),
    )
    conversation_id = cursor.lastrowid
    assert conversation_id is not None
    parents = {m.key: m.parent_key for m in conversation.messages}
    active: set[str] = set()
    key = conversation.current_key
    while key is not None and key not in active:  # the active path: chosen last, so it is walked first
        active.add(key)
        key = parents.get(key)
    ids: dict[str, int] = {}
    for m in conversation.messages:
        created = m.created_at if m.created_at is not None else conversation.created_at
        cursor = db.execute(
            "INSERT INTO messages (conversation_id, parent_id, role, content, reasoning, model, status, created_at, "
            f"selected_at, tool_steps, {', '.join(FACTS_COLUMNS)}) "
            f"VALUES ({', '.join('?' * (10 + len(FACTS_COLUMNS)))})",
            _text_params(
                (
                    conversation_id,
                    None if m.parent_key is None else ids[m.parent_key],
                    m.role.value,
                    m.content,
                    m.reasoning,
                    m.model,
                    m.status.value,
                    created,
                    now if m.key in active else created,
                    steps_json(m.steps),
                    *facts_values(m.facts),
                )
            ),
        )
        assert cursor.lastrowid is not None
        ids[m.key] = cursor.lastrowid
    leaf = ids.get(conversation.current_key) if conversation.current_key else None
    if leaf is None and conversation.messages:
        leaf = ids[conversation.messages[-1].key]
    db.execute("UPDATE conversations SET current_leaf_id = ? WHERE id = ?", (leaf, conversation_id))
    return conversation_id
