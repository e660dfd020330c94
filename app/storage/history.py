"""The conversation history: one SQLite file (``data/history.db``), conversations as trees of messages.

Used from one thread per store (SQLite connections are not shared between threads); background jobs
such as search open their own read-only connection (:func:`app.storage.search.search_history`).

The active path of a conversation is the chain from the root to ``current_leaf_id``. Each message also
remembers when it was last chosen among its siblings (``selected_at``; the schema's comment says "on the
active path", which is the same wherever there is a choice): moving to a sibling walks down from it through
the most recently selected children, so every branch point remembers the branch last chosen.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from app.core.conversation import auto_title
from app.core.errors import HistoryError
from app.core.history import ConversationInfo, MessageStatus, ReplyFacts, StoredMessage
from app.core.tool_steps import ToolStep
from app.core.types import Message, ReasoningEffort, Role
from app.storage.bounds import MAX_ROW_ID, row_id, valid_optional_text, valid_text
from app.storage.database import open_database
from app.storage.history_file import HistoryFile
from app.storage.rows import (
    CONVERSATION_COLUMNS,
    FACTS_COLUMNS,
    MESSAGE_COLUMNS,
    PATH_UP,
    PATH_UP_LAST,
    SIBLING_COLUMNS,
    conversation_of,
    facts_values,
    json_or,
    message_of,
    parents_first,
    steps_text,
)
from app.storage.writers import ALIVE_FUNCTION, this_writer

_NO_LIMIT = 1 << 62


class HistoryStore(HistoryFile):
    """Conversations and their messages in SQLite. Every method commits before it returns."""

    @classmethod
    def open(cls, path: Path, *, recover: bool = True) -> HistoryStore:
        """Open the history at ``path``. ``recover``, as the app does at its start: check every page of the
        file (damage found is recovered now, not in the middle of a session) and mark replies whose writer is
        gone as interrupted. Without it (the command line), such replies still read as interrupted."""
        opened = open_database(path, full_check=recover)
        store = cls(opened.connection, path, opened.notices, lasting=opened.lasting)
        if recover:
            store.recover_interrupted()
        return store

    # -- conversations ------------------------------------------------------------------------------------

    def create_conversation(
        self,
        *,
        title: str = "",
        system_prompt: str = "",
        reasoning_effort: ReasoningEffort = ReasoningEffort.MEDIUM,
        model: str = "",
        sampling: dict[str, Any] | None = None,
    ) -> ConversationInfo:
        now = time.time()
        cursor = self._db.execute(
            "INSERT INTO conversations (uid, title, title_by_user, created_at, updated_at, model, "
            "reasoning_effort, system_prompt, sampling) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                uuid.uuid4().hex,
                valid_text(title),
                int(bool(title)),
                now,
                now,
                valid_text(model),
                reasoning_effort.value,
                valid_text(system_prompt),
                json.dumps(sampling or {}),
            ),
        )
        assert cursor.lastrowid is not None
        return self.conversation(cursor.lastrowid)

    def conversation(self, conversation_id: int) -> ConversationInfo:
        if not 0 < conversation_id <= MAX_ROW_ID:  # SQLite cannot even be asked about such a number
            raise HistoryError(f"There is no conversation {conversation_id}; `moss history list` shows them.")
        row = self._db.execute(
            f"SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.id = ? AND c.deleted_at IS NULL",
            (conversation_id,),
        ).fetchone()
        if row is None:
            raise HistoryError(f"There is no conversation {conversation_id}; `moss history list` shows them.")
        return conversation_of(row)

    def find(self, ref: str) -> ConversationInfo:
        """A conversation by its number (as listed) or by its uid or a unique start of it."""
        ref = ref.strip()
        not_a_number: HistoryError | None = None
        number = row_id(ref)
        if number is not None:
            try:
                return self.conversation(number)
            except HistoryError as missing:  # it may still be the start of a uid
                not_a_number = missing
        rows = self._db.execute(
            f"SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.deleted_at IS NULL AND c.uid >= ? "
            "AND c.uid < ? LIMIT 2",
            (ref, ref + "\U0010ffff"),
        ).fetchall()
        if not rows and not_a_number is not None:
            raise not_a_number
        if len(rows) != 1 or len(ref) < 4:
            problem = "matches several conversations" if len(rows) > 1 else "matches no conversation"
            raise HistoryError(f"“{ref}” {problem}; use the number `moss history list` shows.")
        return conversation_of(rows[0])

    def list_conversations(self, *, limit: int | None = None, offset: int = 0) -> list[ConversationInfo]:
        """Conversations, pinned first, then the most recently active."""
        rows = self._db.execute(
            f"SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.deleted_at IS NULL "
            "ORDER BY c.pinned DESC, c.updated_at DESC LIMIT ? OFFSET ?",
            (-1 if limit is None else min(max(limit, 0), _NO_LIMIT), min(max(offset, 0), _NO_LIMIT)),
        ).fetchall()
        return [conversation_of(row) for row in rows]

    def count_conversations(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM conversations WHERE deleted_at IS NULL").fetchone()[0])

    def rename(self, conversation_id: int, title: str) -> None:
        """A title chosen by the person (an empty one goes back to the automatic title)."""
        title = " ".join(valid_text(title).split())
        if title:
            self._update(conversation_id, title=title, title_by_user=1)
            return
        first = self._first_exchange(conversation_id)
        self._update(conversation_id, title=auto_title(*first) if first[0] else "", title_by_user=0)

    def set_pinned(self, conversation_id: int, pinned: bool) -> None:
        self._update(conversation_id, pinned=int(pinned))

    def update_settings(
        self,
        conversation_id: int,
        *,
        reasoning_effort: ReasoningEffort | None = None,
        system_prompt: str | None = None,
        model: str | None = None,
        sampling: dict[str, Any] | None = None,
    ) -> None:
        values: dict[str, Any] = {}
        if reasoning_effort is not None:
            values["reasoning_effort"] = reasoning_effort.value
        if system_prompt is not None:
            values["system_prompt"] = valid_text(system_prompt)
        if model is not None:
            values["model"] = valid_text(model)
        if sampling is not None:
            values["sampling"] = json.dumps(sampling)
        if values:
            self._update(conversation_id, **values)

    def delete(self, conversation_id: int) -> None:
        """Hide a conversation; :meth:`restore` brings it back until :meth:`purge_deleted` removes it."""
        self._update(conversation_id, deleted_at=time.time())

    def restore(self, conversation_id: int) -> None:
        self._db.execute("UPDATE conversations SET deleted_at = NULL WHERE id = ?", (conversation_id,))

    def purge_deleted(self, older_than_s: float = 0.0) -> int:
        """Remove for good the conversations deleted more than ``older_than_s`` ago; returns how many."""
        cutoff = time.time() - older_than_s
        with self.transaction() as db:
            ids = [r[0] for r in db.execute("SELECT id FROM conversations WHERE deleted_at <= ?", (cutoff,))]
            for conversation_id in ids:
                # Messages first, in one statement: a cascade through parent_id would recurse once per level.
                db.execute("DELETE FROM messages WHERE conversation_id = ?", (conversation_id,))
                db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
        return len(ids)

    def _update(self, conversation_id: int, **values: Any) -> None:
        assignments = ", ".join(f"{name} = ?" for name in values)
        cursor = self._db.execute(
            f"UPDATE conversations SET {assignments} WHERE id = ? AND deleted_at IS NULL",
            (*values.values(), conversation_id),
        )
        if cursor.rowcount == 0:
            raise HistoryError(f"There is no conversation {conversation_id}; it may have been deleted.")

    # -- messages -----------------------------------------------------------------------------------------

    def add_message(
        self,
        conversation_id: int,
        parent_id: int | None,
        role: Role,
        content: str = "",
        *,
        reasoning: str | None = None,
        model: str = "",
        status: MessageStatus = MessageStatus.COMPLETE,
    ) -> StoredMessage:
        """Add a message under ``parent_id`` (None: a new first message) and make it the current leaf.

        A parent that already has children gets one more: that is how an edit or a regenerated reply
        becomes an alternative instead of an overwrite.
        """
        now = time.time()
        content, reasoning = valid_text(content), valid_optional_text(reasoning)  # SQLite takes Unicode only
        writer = this_writer() if status == MessageStatus.STREAMING else None  # who to ask if it is still written
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO messages (conversation_id, parent_id, role, content, reasoning, model, status, "
                "created_at, selected_at, writer) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, parent_id, role.value, content, reasoning, model, status.value, now, now, writer),
            )
            message_id = cursor.lastrowid
            assert message_id is not None
            db.execute(
                "UPDATE conversations SET current_leaf_id = ?, updated_at = ? WHERE id = ?",
                (message_id, now, conversation_id),
            )
            if role == Role.USER:
                self._auto_title(conversation_id)
        return self.message(message_id)

    def save_partial(self, message_id: int, content: str, reasoning: str | None) -> None:
        """Save a reply as it streams (called about once a second): a crash loses only what came since."""
        self._db.execute(
            "UPDATE messages SET content = ?, reasoning = ?, status = ?, writer = ? WHERE id = ?",
            (
                valid_text(content),
                valid_optional_text(reasoning),
                MessageStatus.STREAMING.value,
                this_writer(),
                message_id,
            ),
        )

    def append_step(self, message_id: int, step: ToolStep) -> None:
        """Add one step of a tool chain to the reply ``message_id`` as soon as it has ended, committed at once:
        a crash later in the chain loses nothing already shown. Steps stored before are kept as they are."""
        with self.transaction() as db:
            row = db.execute("SELECT tool_steps FROM messages WHERE id = ?", (message_id,)).fetchone()
            if row is None:
                raise HistoryError(f"There is no message {message_id}.")
            items = json_or(row[0], [])
            items = [*items, step.to_json()] if isinstance(items, list) else [step.to_json()]  # damage: start anew
            db.execute("UPDATE messages SET tool_steps = ? WHERE id = ?", (steps_text(items), message_id))

    def finish_message(
        self,
        message_id: int,
        content: str,
        reasoning: str | None,
        facts: ReplyFacts | None = None,
        *,
        status: MessageStatus = MessageStatus.COMPLETE,
    ) -> StoredMessage:
        """The reply's final text and how it went; the first reply also refines the automatic title."""
        assignments = ", ".join(f"{name} = ?" for name in FACTS_COLUMNS)
        content, reasoning = valid_text(content), valid_optional_text(reasoning)
        with self.transaction() as db:
            db.execute(
                f"UPDATE messages SET content = ?, reasoning = ?, status = ?, {assignments} WHERE id = ?",
                (content, reasoning, status.value, *facts_values(facts or ReplyFacts()), message_id),
            )
            message = self.message(message_id)
            db.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (time.time(), message.conversation_id))
            if message.sibling_index == 0 and self._is_first_question(message.parent_id):
                self._auto_title(message.conversation_id, refine=True)
        return message

    def remove_message(self, message_id: int) -> int | None:
        """Remove a message that has no replies (a reply stopped before its first word); returns the new leaf."""
        message = self.message(message_id)
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM messages WHERE parent_id = ? LIMIT 1", (message_id,)).fetchone():
                raise HistoryError("Only the last message of a branch can be removed.")
            db.execute("DELETE FROM messages WHERE id = ?", (message_id,))
            leaf = self._descend(message.conversation_id, message.parent_id)
            db.execute("UPDATE conversations SET current_leaf_id = ? WHERE id = ?", (leaf, message.conversation_id))
        return leaf

    def delete_branch(self, message_id: int) -> int:
        """Delete a message and every message below it (the replies built on it); returns how many went.

        The conversation then shows the message's most recently chosen alternative, or ends at its parent.
        """
        message = self.message(message_id)
        with self.transaction() as db:
            ids = [
                row[0]
                for row in db.execute(
                    # Down to ever larger ids only (rows.py): a loop of parents in a damaged database ends the walk.
                    "WITH RECURSIVE below (id) AS (SELECT ? UNION ALL SELECT m.id FROM messages m "
                    "JOIN below ON m.parent_id = below.id AND m.id > below.id) SELECT id FROM below",
                    (message_id,),
                )
            ]
            # Children first, so every row's parent still exists when the row goes.
            db.executemany("DELETE FROM messages WHERE id = ?", [(i,) for i in reversed(ids)])
            leaf = self._descend(message.conversation_id, message.parent_id)
            db.execute(
                "UPDATE conversations SET current_leaf_id = ?, updated_at = ? WHERE id = ?",
                (leaf, time.time(), message.conversation_id),
            )
        return len(ids)

    def message(self, message_id: int) -> StoredMessage:
        if not 0 < message_id <= MAX_ROW_ID:
            raise HistoryError(f"There is no message {message_id}.")
        row = self._db.execute(
            f"SELECT {MESSAGE_COLUMNS}, {SIBLING_COLUMNS} FROM messages m WHERE m.id = ?", (message_id,)
        ).fetchone()
        if row is None:
            raise HistoryError(f"There is no message {message_id}.")
        return message_of(row)

    def path(self, conversation_id: int, *, last: int | None = None, leaf: int | None = None) -> list[StoredMessage]:
        """The active path, oldest first (or the path to ``leaf``); only its ``last`` messages when given."""
        if leaf is None:
            leaf = self._leaf(conversation_id)
            if leaf is None:
                return []
        rows = self._db.execute(
            f"{PATH_UP_LAST} SELECT {MESSAGE_COLUMNS}, {SIBLING_COLUMNS} FROM up JOIN messages m ON m.id = up.id "
            "ORDER BY up.depth DESC",
            {"leaf": leaf, "last": _NO_LIMIT if last is None else last},
        ).fetchall()
        return [message_of(row) for row in rows]

    def path_length(self, conversation_id: int) -> int:
        leaf = self._leaf(conversation_id)
        if leaf is None:
            return 0
        return int(self._db.execute(f"{PATH_UP} SELECT count(*) FROM up", {"leaf": leaf}).fetchone()[0])

    def position_from_leaf(self, conversation_id: int, message_id: int) -> int | None:
        """How many messages come after ``message_id`` on the active path (0: it is the last); None: not on it."""
        leaf = self._leaf(conversation_id)
        if leaf is None:
            return None
        row = self._db.execute(
            f"{PATH_UP} SELECT depth FROM up WHERE id = :id", {"leaf": leaf, "id": message_id}
        ).fetchone()
        return None if row is None else int(row[0])

    def snapshot(self, conversation_id: int, *, through: int | None = None) -> tuple[Message, ...]:
        """What the model is fed: the system prompt, then the active path (or the path ending at ``through``).

        Replies still streaming are left out: they are the reply being asked for."""
        info = self.conversation(conversation_id)
        head = (Message(Role.SYSTEM, info.system_prompt),) if info.system_prompt.strip() else ()
        path = self.path(conversation_id, leaf=through) if through is not None else self.path(conversation_id)
        # A reply that used tools stands for its chain: each call and result, then its answer (StoredMessage).
        return head + tuple(turn for m in path if m.status != MessageStatus.STREAMING for turn in m.to_messages())

    def select(self, message_id: int) -> int:
        """Make the active path run through ``message_id`` (then down the branches last chosen); returns the leaf."""
        message = self.message(message_id)
        now = time.time()
        with self.transaction() as db:
            # Only where there is a choice: selected_at is compared among siblings alone, and rewriting every
            # row of a 5,000-message path costs a write of every page it lies on.
            db.execute(
                f"{PATH_UP} UPDATE messages SET selected_at = :now WHERE id IN (SELECT id FROM up) AND EXISTS ("
                "SELECT 1 FROM messages s WHERE s.conversation_id = messages.conversation_id "
                "AND s.parent_id IS messages.parent_id AND s.id != messages.id)",
                {"leaf": message_id, "now": now},
            )
            leaf = self._descend(message.conversation_id, message_id)
            db.execute("UPDATE conversations SET current_leaf_id = ? WHERE id = ?", (leaf, message.conversation_id))
        assert leaf is not None
        return leaf

    def switch_sibling(self, message_id: int, step: int) -> int:
        """Move from ``message_id`` to the alternative ``step`` places away ("<" is -1, ">" is +1).

        Returns the id of the alternative now shown (``message_id`` itself at either end)."""
        message = self.message(message_id)
        siblings: list[int] = [
            int(row[0])
            for row in self._db.execute(
                "SELECT id FROM messages WHERE conversation_id = ? AND parent_id IS ? ORDER BY created_at, id",
                (message.conversation_id, message.parent_id),
            )
        ]
        index = max(0, min(len(siblings) - 1, siblings.index(message_id) + step))
        self.select(siblings[index])
        return siblings[index]

    def recover_interrupted(self) -> int:
        """Mark replies left streaming by a process that is gone (a crash, a kill) as interrupted; returns how
        many. Replies another running Moss is writing are left alone (app.storage.writers)."""
        cursor = self._db.execute(
            f"UPDATE messages SET status = ? WHERE status = ? AND NOT {ALIVE_FUNCTION}(writer)",
            (MessageStatus.INTERRUPTED.value, MessageStatus.STREAMING.value),
        )
        return cursor.rowcount

    def all_messages(self, conversation_id: int) -> list[StoredMessage]:
        """Every message of a conversation, every branch, parents before children (for export)."""
        rows = self._db.execute(
            f"SELECT {MESSAGE_COLUMNS}, {SIBLING_COLUMNS} FROM messages m WHERE m.conversation_id = ? "
            "ORDER BY m.created_at, m.id",
            (conversation_id,),
        ).fetchall()
        return parents_first([message_of(row) for row in rows])

    # -- internals ----------------------------------------------------------------------------------------

    def _leaf(self, conversation_id: int) -> int | None:
        row = self._db.execute("SELECT current_leaf_id FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        if row is None:
            raise HistoryError(f"There is no conversation {conversation_id}.")
        return None if row[0] is None else int(row[0])

    def _descend(self, conversation_id: int, start: int | None) -> int | None:
        """From ``start`` (None: the roots) down through the most recently selected child at each level."""
        if start is None:
            root = self._db.execute(
                "SELECT id FROM messages WHERE conversation_id = ? AND parent_id IS NULL "
                "ORDER BY selected_at DESC, id DESC LIMIT 1",
                (conversation_id,),
            ).fetchone()
            if root is None:
                return None
            start = int(root[0])
        rows = self._db.execute(
            """
            WITH RECURSIVE down (id) AS (
                SELECT :start
                UNION ALL
                SELECT (SELECT c.id FROM messages c WHERE c.conversation_id = :cid AND c.parent_id = down.id
                        AND c.id > down.id ORDER BY c.selected_at DESC, c.id DESC LIMIT 1)
                FROM down WHERE down.id IS NOT NULL
            )
            SELECT id FROM down WHERE id IS NOT NULL
            """,
            {"start": start, "cid": conversation_id},
        ).fetchall()
        return int(rows[-1][0])

    def _is_first_question(self, message_id: int | None) -> bool:
        """Whether ``message_id`` is the conversation's first message (a root, and the oldest of them)."""
        if message_id is None:
            return False
        first = self.message(message_id)
        return first.parent_id is None and first.sibling_index == 0

    def _first_exchange(self, conversation_id: int) -> tuple[str, str]:
        """The first user message and the reply to it on the active path ("" when missing)."""
        path = self.path(conversation_id)
        user = next((m for m in path if m.role == Role.USER), None)
        if user is None:
            return "", ""
        reply = next((m for m in path if m.parent_id == user.id and m.role == Role.ASSISTANT), None)
        return user.content, reply.content if reply and reply.status == MessageStatus.COMPLETE else ""

    def _auto_title(self, conversation_id: int, *, refine: bool = False) -> None:
        """Title a conversation from its first exchange: when its first message arrives, and once more
        (``refine``) when the first reply to it is done. Later edits and branches leave the title alone."""
        row = self._db.execute(
            "SELECT title_by_user, title FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        if row is None or row[0] or (row[1] and not refine):
            return
        user, reply = self._first_exchange(conversation_id)
        title = auto_title(user, reply) if user else ""
        if title != row[1]:
            self._db.execute("UPDATE conversations SET title = ? WHERE id = ?", (title, conversation_id))
