"""``moss history …``: list, read, search, export and import conversations from the command line.

Each sub-command takes ``--json`` for scripts. The history is opened without writing to it (the app may be
streaming a reply into it right now; SQLite's WAL lets both read and write the file at once); a reply whose
writer has gone still reads as interrupted (app.storage.writers).

When things go wrong:
- Notices about the history (damage found and what was recovered) are printed on stderr, one line each, by
  every command until ``moss history dismiss``.
- A damaged page met by a command: the history is recovered into a new file (the damaged one kept) and the
  command runs once more on it, saying so on stderr.
- Another process holding the write lock: an import waits up to 30 s, saying so, then gives up in one line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from app.cli.common import command_group, input_file, print_json, whole_number
from app.core.errors import HistoryError, UserError
from app.core.history import ConversationInfo, MessageStatus, SearchHit, StoredMessage
from app.core.types import FinishReason, Role
from app.platform.paths import AppPaths
from app.storage.database import find_damage, is_busy, is_damaged
from app.storage.exchange import JSON, MARKDOWN, export_text, import_conversations, read_import_file, save_export
from app.storage.history import HistoryStore
from app.storage.search import search

_ROLE_LABELS = {Role.USER: "You", Role.ASSISTANT: "Assistant", Role.SYSTEM: "System"}
_BOLD, _NORMAL = "\x1b[1m", "\x1b[22m"


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = command_group(
        subparsers, "history", "list, read, search, export and import conversations", dest="history_command"
    )
    listing = command("list", "the conversations, pinned first, then the most recent")
    listing.add_argument("--limit", type=_positive, default=50, metavar="N", help="show at most N (default 50)")
    listing.add_argument("--all", action="store_true", help="show every conversation")
    show = command("show", "a conversation as it reads in the app (the branches chosen last)")
    show.add_argument("id", metavar="ID", help="its number (see `moss history list`) or the start of its uid")
    show.add_argument("--reasoning", action="store_true", help="also print the model's reasoning")
    found = command("search", "find conversations by words in their titles, messages or reasoning")
    found.add_argument("query", nargs="+", metavar="QUERY")
    found.add_argument("--limit", type=_positive, default=20, metavar="N")
    export = command("export", "write conversations as Markdown (to read) or Moss JSON (to import elsewhere)")
    which = export.add_mutually_exclusive_group(required=True)
    which.add_argument("id", nargs="?", metavar="ID", help="one conversation")
    which.add_argument("--all", action="store_true", help="every conversation")
    export.add_argument("--format", choices=(MARKDOWN, JSON), default=MARKDOWN, help="default: md")
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    imp = command("import", "add conversations from a Moss JSON export or a ChatGPT export (.json or .zip)")
    imp.add_argument("file", type=input_file, metavar="FILE")
    command("dismiss", "stop showing the notices about your history (damage found, what was recovered)")


def run(args: argparse.Namespace, paths: AppPaths) -> int | None:
    if args.command != "history":
        return None
    store = HistoryStore.open(paths.history_file, recover=False)
    try:
        if args.history_command == "dismiss":
            return _dismiss(args, store)
        _tell(store, store.notices)
        handler = _HANDLERS[args.history_command]
        try:
            return handler(args, store)
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            problem = _damage(store, exc)
            if problem is None:
                raise
            # A damaged page was read: what can still be read goes into a new history, and the command runs on it.
            told = store.notices
            store.repair(problem)
            _tell(store, [notice for notice in store.notices if notice not in told])
            return handler(args, store)
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
        if isinstance(exc, sqlite3.DatabaseError) and is_busy(exc):
            raise HistoryError(
                "Your history is locked by another program (another copy of Moss, or a `moss` command). Try "
                "again when it has finished."
            ) from exc
        if isinstance(exc, UnicodeDecodeError) or is_damaged(exc):
            raise HistoryError(
                f"Your history at {paths.history_file} is damaged ({exc}) and Moss could not recover it. Copy the "
                "file somewhere safe, then move it away to start a new history."
            ) from exc
        raise
    finally:
        store.close()


def _damage(store: HistoryStore, exc: Exception) -> str | None:
    """What is damaged, when ``exc`` came from damage: SQLite says so, or (a damaged schema reads as "no such
    column", a damaged name as text that is not UTF-8) a check of the whole file finds it. None: not damage."""
    if isinstance(exc, sqlite3.DatabaseError) and is_busy(exc):
        return None
    if isinstance(exc, sqlite3.DatabaseError) and is_damaged(exc):
        return str(exc)
    return find_damage(store.connection)


def _tell(store: HistoryStore, notices: Sequence[str]) -> None:
    """The notices about the history on stderr, each on one line; lasting ones say how to stop them."""
    hint = " (`moss history dismiss` stops this notice.)" if store.lasting else ""
    for notice in notices:
        print(f"moss: {notice}{hint}", file=sys.stderr)


def _dismiss(args: argparse.Namespace, store: HistoryStore) -> int:
    count = len(store.notices) if store.lasting else 0
    store.dismiss_notices()
    if args.json:
        print_json({"dismissed": count})
    else:
        print("There were no notices to dismiss." if not count else f"Dismissed {_plural(count, 'notice')}.")
    return 0


# How many to show: 1 to a million (a bigger number, such as 10^30, is refused by the parser in one line rather
# than reaching SQLite, which cannot hold it; `list --all` shows every conversation).
_positive = whole_number(1, 1_000_000)


def _when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def conversation_json(info: ConversationInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "uid": info.uid,
        "title": info.title,
        "created_at": info.created_at,
        "updated_at": info.updated_at,
        "messages": info.message_count,
        "pinned": info.pinned,
        "model": info.model,
        "source": info.source,
    }


def message_json(m: StoredMessage) -> dict[str, Any]:
    return {
        "id": m.id,
        "parent_id": m.parent_id,
        "role": m.role.value,
        "content": m.content,
        "reasoning": m.reasoning,
        "model": m.model,
        "status": m.status.value,
        "created_at": m.created_at,
        **m.facts.to_json(),
        "tool_steps": [step.to_json() for step in m.steps],  # a reply's tool chain, as Moss JSON holds it
        "sibling_index": m.sibling_index,
        "sibling_count": m.sibling_count,
    }


def _list(args: argparse.Namespace, store: HistoryStore) -> int:
    conversations = store.list_conversations(limit=None if args.all else args.limit)
    if args.json:
        print_json([conversation_json(c) for c in conversations])
        return 0
    if not conversations:
        print("No conversations yet.")
        return 0
    print(f"{'ID':>5}  {'UPDATED':16}  {'MSGS':>5}  TITLE")
    for c in conversations:
        mark = "★ " if c.pinned else ""
        print(f"{c.id:>5}  {_when(c.updated_at):16}  {c.message_count:>5}  {mark}{_one_line(c.title)}")
    hidden = store.count_conversations() - len(conversations)
    if hidden > 0:
        print(f"… and {hidden} more; `moss history list --all` shows them all.")
    return 0


def _show(args: argparse.Namespace, store: HistoryStore) -> int:
    info = store.find(args.id)
    path = store.path(info.id)
    if args.json:
        head = conversation_json(info) | {
            "system_prompt": info.system_prompt,
            "reasoning_effort": info.reasoning_effort.value,
            "sampling": info.sampling,
        }
        print_json({"conversation": head, "messages": [message_json(m) for m in path]})
        return 0
    facts = [f"Started {_when(info.created_at)}"] + ([info.model] if info.model else [])
    print(("★ " if info.pinned else "") + _one_line(info.title))
    print(" · ".join([*facts, _plural(len(path), "message")]))
    if info.system_prompt.strip():
        print(f"\nSystem prompt: {info.system_prompt.strip()}")
    for message in path:
        print(f"\n{_ROLE_LABELS[message.role]}{_marks(message)}:")
        if args.reasoning and message.reasoning and message.reasoning.strip():
            print("  Thinking:")
            print("\n".join("    " + line for line in message.reasoning.strip().splitlines()))
            print()
        print(message.content.strip() or "(no text)")
    return 0


def _marks(message: StoredMessage) -> str:
    """What the app shows around a message: its place among alternatives and how the reply ended."""
    marks = [f"({message.sibling_index + 1}/{message.sibling_count})"] if message.sibling_count > 1 else []
    if message.status == MessageStatus.INTERRUPTED:
        marks.append("(interrupted)")
    elif message.status == MessageStatus.STREAMING:
        marks.append("(being written now)")
    elif message.facts.finish_reason == FinishReason.CANCELLED:
        marks.append("(stopped)")
    return "".join(" " + mark for mark in marks)


def _search(args: argparse.Namespace, store: HistoryStore) -> int:
    query = " ".join(args.query)
    hits = search(store.connection, query, limit=args.limit)
    if args.json:
        print_json([hit.to_json() for hit in hits])
        return 0
    if not hits:
        print(f"Nothing in your history matches {query!r}.")
        return 0
    # Bold only on a terminal (and not under NO_COLOR): in a file or a pipe, Markdown-style ** reads well.
    opening, closing = (_BOLD, _NORMAL) if sys.stdout.isatty() and not os.environ.get("NO_COLOR") else ("**", "**")
    for hit in hits:
        text = _emphasised(hit, opening, closing)
        line = text if hit.field == "title" else f"{_one_line(hit.title)} — {text}"
        print(f"{hit.conversation_id:>5}  {line}")
    return 0


def _emphasised(hit: SearchHit, opening: str, closing: str) -> str:
    parts: list[str] = []
    done = 0
    for start, end in hit.highlights:
        parts += [hit.snippet[done:start], opening, hit.snippet[start:end], closing]
        done = end
    return "".join(parts) + hit.snippet[done:]


def _export(args: argparse.Namespace, store: HistoryStore) -> int:
    ids = [store.find(args.id).id] if args.id is not None else [c.id for c in store.list_conversations()]
    if not ids:
        raise UserError("There are no conversations to export.")
    if args.output is None:
        # The export is a file format: UTF-8 whatever the console's encoding (a redirect on Windows, say).
        sys.stdout.flush()
        sys.stdout.buffer.write(export_text(store, ids, args.format).encode("utf-8"))
        sys.stdout.buffer.flush()
        return 0
    target = Path(args.output).expanduser().resolve()
    save_export(store, ids, args.format, target)  # whole or not at all: a temporary file renamed over it
    if args.json:
        print_json({"file": str(target), "conversations": len(ids), "format": args.format})
    else:
        print(f"Exported {_plural(len(ids), 'conversation')} to {target}.")
    return 0


def _import(args: argparse.Namespace, store: HistoryStore) -> int:
    conversations = read_import_file(Path(args.file).expanduser())
    report = import_conversations(store, conversations, on_wait=lambda text: print(f"moss: {text}", file=sys.stderr))
    if args.json:
        print_json(report.to_json())
        return 0
    added = f"Imported {_plural(len(report.added), 'conversation')} ({_plural(report.messages, 'message')})"
    if report.skipped:
        verb = "was" if report.skipped == 1 else "were"
        added += f"; {report.skipped} {verb} already in your history"
    print(added + ".")
    return 0


_HANDLERS: dict[str, Callable[[argparse.Namespace, HistoryStore], int]] = {
    "list": _list,
    "show": _show,
    "search": _search,
    "export": _export,
    "import": _import,
}
