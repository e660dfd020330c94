"""Moving conversations in and out: Markdown and Moss JSON export, import of Moss JSON and ChatGPT exports.

An import is read and validated whole before anything is written, then added in one transaction: a bad
or foreign file changes nothing. A conversation already in the history (same uid; ChatGPT conversations
keep their ChatGPT id) is skipped, so importing the same export twice adds it once.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
import zipfile
from pathlib import Path
from typing import Any

from app.core.errors import ImportFormatError
from app.core.files import write_text_file
from app.core.history import ConversationInfo, ImportedConversation, ImportReport, MessageStatus, StoredMessage
from app.core.types import FinishReason, Role
from app.storage.chatgpt_import import looks_like_chatgpt_export, parse_chatgpt_export
from app.storage.history import HistoryStore
from app.storage.moss_json import looks_like_moss_json, parse_moss_json, to_moss_json
from app.storage.rows import FACTS_COLUMNS, facts_values

MARKDOWN, JSON = "md", "json"
_CHATGPT_MEMBER = "conversations.json"


# -- export -------------------------------------------------------------------------------------------------


def export_text(store: HistoryStore, conversation_ids: list[int], fmt: str) -> str:
    """The export of these conversations: Markdown (the active path, for reading) or Moss JSON (everything)."""
    if fmt == JSON:
        items = [(store.conversation(cid), store.all_messages(cid)) for cid in conversation_ids]
        return json.dumps(to_moss_json(items), ensure_ascii=False, indent=1) + "\n"
    parts = [to_markdown(store.conversation(cid), store.path(cid)) for cid in conversation_ids]
    return "\n---\n\n".join(parts)


def save_export(store: HistoryStore, conversation_ids: list[int], fmt: str, target: Path) -> None:
    """Write an export to ``target`` whole or not at all; a full disk is a UserError that says so."""
    text = export_text(store, conversation_ids, fmt)
    write_text_file(target, text, f"Could not write {target}")


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
        if message.reasoning and message.reasoning.strip():
            lines += ["<details>", "<summary>Thinking</summary>", "", message.reasoning.strip(), "", "</details>", ""]
        lines += [message.content.strip() or "*(no text)*", ""]
        note = _message_note(message)
        if note:
            lines += [f"*{note}*", ""]
    return "\n".join(lines)


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
    data = _load_json(path)
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


def _load_json(path: Path) -> Any:
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if Path(n).name == _CHATGPT_MEMBER]
                if not names:
                    raise ImportFormatError(
                        f"{path.name} is a .zip without a conversations.json; choose ChatGPT's data export .zip."
                    )
                raw = archive.read(min(names, key=len))
        else:
            raw = path.read_bytes()
    except FileNotFoundError:
        raise ImportFormatError(f"There is no file {path}.") from None
    except (OSError, zipfile.BadZipFile) as exc:
        raise ImportFormatError(f"Moss could not read {path}: {exc}.") from None
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise ImportFormatError(f"{path.name} is not a text (JSON) file. Nothing was imported.") from None
    except json.JSONDecodeError as exc:
        raise ImportFormatError(
            f"{path.name} is not valid JSON (line {exc.lineno}: {exc.msg}); it may be cut short. Nothing was imported."
        ) from None


def import_conversations(store: HistoryStore, conversations: list[ImportedConversation]) -> ImportReport:
    """Add the conversations not already in the history, all in one transaction."""
    added: list[int] = []
    skipped = messages = 0
    now = time.time()
    with store.transaction() as db:
        for conversation in conversations:
            if db.execute("SELECT 1 FROM conversations WHERE uid = ?", (conversation.uid,)).fetchone():
                skipped += 1
                continue
            added.append(_insert(db, conversation, now))
            messages += len(conversation.messages)
    return ImportReport(tuple(added), skipped, messages)


def _insert(db: sqlite3.Connection, conversation: ImportedConversation, now: float) -> int:
    fixed_title = conversation.title_by_user or (conversation.source != "moss" and bool(conversation.title))
    cursor = db.execute(
        "INSERT INTO conversations (uid, title, title_by_user, created_at, updated_at, model, reasoning_effort, "
        "system_prompt, sampling, pinned, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            f"selected_at, {', '.join(FACTS_COLUMNS)}) VALUES ({', '.join('?' * (9 + len(FACTS_COLUMNS)))})",
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
                *facts_values(m.facts),
            ),
        )
        assert cursor.lastrowid is not None
        ids[m.key] = cursor.lastrowid
    leaf = ids.get(conversation.current_key) if conversation.current_key else None
    if leaf is None and conversation.messages:
        leaf = ids[conversation.messages[-1].key]
    db.execute("UPDATE conversations SET current_leaf_id = ? WHERE id = ?", (leaf, conversation_id))
    return conversation_id
