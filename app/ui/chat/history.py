"""The history side of the main window: it keeps the sidebar's list, the chat on screen and the history store
in step. It knows which conversation is open, and does the actions on conversations (open, rename, pin,
delete with undo, search, export, import).

The store is used on the GUI thread for small reads and writes (a page of the list, the latest messages
of a chat, one row updated). Search, export and import run on the task pool with their own connection,
so a large history or a large ChatGPT export never freezes the window.

Signals: shown() after a conversation (or the empty new chat) has been put on screen; notice(text) for a
line to show the person; problem(text) for an error.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from app.core.errors import UserError
from app.core.history import ConversationInfo, ImportReport, SearchHit
from app.core.types import ReasoningEffort
from app.qt.task_runner import TaskRunner
from app.storage.database import is_damaged
from app.storage.exchange import import_conversations, read_import_file, save_export
from app.storage.history import HistoryStore
from app.storage.search import search_history
from app.ui.banner import Banner
from app.ui.chat.view import ChatView
from app.ui.sidebar import Sidebar

log = logging.getLogger(__name__)

PAGE = 200  # conversations read into the sidebar at a time
WINDOW = 40  # latest messages shown when a conversation opens: a few screens (each costs ~1-3 ms to lay out)
EARLIER_STEP = 100  # how many more "Show earlier messages" adds
UNDO_MS = 12_000  # how long "Undo" stays offered after a delete
PathChooser = Callable[[str, str], str | None]


def _save_dialog(parent: QWidget) -> PathChooser:
    def choose(suggested: str, filters: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(parent, "Export conversations", suggested, filters)
        return path or None

    return choose


def _open_dialog(parent: QWidget) -> PathChooser:
    def choose(_suggested: str, filters: str) -> str | None:
        path, _ = QFileDialog.getOpenFileName(parent, "Import conversations", "", filters)
        return path or None

    return choose


class HistoryController(QObject):
    """Which conversation is open, and everything done to conversations; a controller, not a widget: the
    sidebar and the chat view show what it decides."""

    shown = Signal()
    notice = Signal(str)
    problem = Signal(str)

    def __init__(
        self,
        store: HistoryStore,
        sidebar: Sidebar,
        chat_view: ChatView,
        undo_banner: Banner,
        tasks: TaskRunner,
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.sidebar = sidebar
        self.chat_view = chat_view
        self.undo_banner = undo_banner
        self.tasks = tasks
        self._current_id: int | None = None
        self.choose_save_path: PathChooser = _save_dialog(parent)
        self.choose_open_path: PathChooser = _open_dialog(parent)
        self._loaded = PAGE
        self._window = WINDOW
        self._deleted: int | None = None
        self._notice_banner: Banner | None = None
        self._undo_timer = QTimer(self)
        self._undo_timer.setSingleShot(True)
        self._undo_timer.setInterval(UNDO_MS)
        self._undo_timer.timeout.connect(self.undo_banner.hide)
        undo = self.undo_banner.add_action("undo", "Undo")
        undo.setToolTip("Bring the conversation back")
        self.undo_banner.action_triggered.connect(self._on_undo_banner)

        sidebar.conversation_chosen.connect(self.open)
        sidebar.hit_chosen.connect(self.open_hit)
        sidebar.rename_requested.connect(self.rename)
        sidebar.delete_requested.connect(self.delete)
        sidebar.pin_requested.connect(lambda cid: self._pin(cid, True))
        sidebar.unpin_requested.connect(lambda cid: self._pin(cid, False))
        sidebar.export_requested.connect(lambda cid, fmt: self.export([cid], fmt))
        sidebar.export_all_requested.connect(self.export_all)
        sidebar.import_requested.connect(self.import_file)
        sidebar.more_requested.connect(self._more)
        sidebar.query_changed.connect(self.search)
        chat_view.earlier_requested.connect(self._show_earlier)

    @property
    def current_id(self) -> int | None:
        """The conversation open on screen; None for a new chat not yet written to the history."""
        return self._current_id

    # -- the list -----------------------------------------------------------------------------------------

    def refresh_list(self) -> None:
        conversations = self.store.list_conversations(limit=self._loaded + 1)
        has_more = len(conversations) > self._loaded
        self.sidebar.set_conversations(conversations[: self._loaded], self.current_id, has_more=has_more)

    def _more(self) -> None:
        self._loaded += PAGE
        self.refresh_list()

    # -- opening ------------------------------------------------------------------------------------------

    def new_draft(self) -> None:
        """An empty new chat; it becomes a conversation in the history with its first message."""
        self._current_id = None
        self._window = WINDOW
        self.chat_view.show_messages([])
        self.refresh_list()
        self.shown.emit()

    def start_conversation(self, *, system_prompt: str, reasoning_effort: ReasoningEffort, model: str) -> int:
        """The new chat's first message is being sent: the conversation is written to the history and is the
        open one from now on (the chat on screen already shows it); returns its id."""
        info = self.store.create_conversation(
            system_prompt=system_prompt, reasoning_effort=reasoning_effort, model=model
        )
        self._current_id = info.id
        return info.id

    def open(self, conversation_id: int, scroll_to: int | None = None) -> None:
        self._current_id = conversation_id
        self._window = WINDOW
        self.show_current(scroll_to=scroll_to)
        self.refresh_list()

    def open_hit(self, conversation_id: int, message_id: int) -> None:
        """Open a search result: the branch holding the hit becomes the active path, scrolled to the hit."""
        if message_id >= 0 and not self.write(lambda: self.store.select(message_id)):
            return  # the hit is gone (deleted meanwhile)
        self.open(conversation_id, scroll_to=message_id if message_id >= 0 else None)

    def show_current(self, *, scroll_to: int | None = None) -> None:
        """Put the open conversation's latest messages on screen (enough of them to include ``scroll_to``)."""
        if self.current_id is None:
            self.new_draft()
            return
        total = self.store.path_length(self.current_id)
        if scroll_to is not None:
            position = self.store.position_from_leaf(self.current_id, scroll_to)
            if position is not None:
                self._window = max(self._window, position + WINDOW // 2)
        messages = self.store.path(self.current_id, last=self._window)
        self.chat_view.show_messages(messages, earlier=total - len(messages))
        self.shown.emit()
        if scroll_to is not None:
            # After the layout has placed the new items.
            QTimer.singleShot(0, lambda: self.chat_view.scroll_to_message(scroll_to))

    def _show_earlier(self) -> None:
        first = next((i.message_id for i in self.chat_view.items if i.message_id is not None), None)
        self._window += EARLIER_STEP
        self.show_current()
        if first is not None:
            QTimer.singleShot(0, lambda: self.chat_view.scroll_to_message(first, mark=False))

    @property
    def current(self) -> ConversationInfo | None:
        return None if self.current_id is None else self.store.conversation(self.current_id)

    # -- actions on conversations -------------------------------------------------------------------------

    def write(self, action: Callable[[], object]) -> bool:
        """Run a change to the history on this thread. A failure (a full disk, a locked file, a chat deleted
        from the command line meanwhile) is reported as a problem and the window goes on; False then."""
        try:
            action()
        except UserError as exc:
            self.problem.emit(exc.message)
            return False
        except (sqlite3.Error, OSError) as exc:
            log.exception("could not write to the history")
            if isinstance(exc, sqlite3.Error) and is_damaged(exc):  # recovered at the next start (full check)
                self.problem.emit(f"Your history file is damaged ({exc}). Restart Moss to recover what it holds.")
            else:
                self.problem.emit(f"Moss could not save to your history: {exc}. Check free disk space.")
            return False
        return True

    def rename(self, conversation_id: int, title: str) -> None:
        self.write(lambda: self.store.rename(conversation_id, title))
        self.refresh_list()

    def _pin(self, conversation_id: int, pinned: bool) -> None:
        self.write(lambda: self.store.set_pinned(conversation_id, pinned))
        self.refresh_list()

    def delete(self, conversation_id: int) -> None:
        """Hide the conversation at once, with Undo offered for a while; it is removed for good at exit."""
        title = self.store.conversation(conversation_id).title
        if not self.write(lambda: self.store.delete(conversation_id)):
            return
        self._deleted = conversation_id
        self.undo_banner.show_message(f"Deleted “{html.escape(title)}”.")
        self._undo_timer.start()
        if conversation_id == self.current_id:
            self.new_draft()
        else:
            self.refresh_list()

    def forget_all(self) -> None:
        """The history was erased: no Undo, no search results, a new chat."""
        self._deleted = None
        self._undo_timer.stop()
        self.undo_banner.hide()
        self.sidebar.search_field.clear()
        self.new_draft()

    def undo_delete(self) -> None:
        if self._deleted is None:
            return
        conversation_id, self._deleted = self._deleted, None
        self.undo_banner.hide()
        if not self.write(lambda: self.store.restore(conversation_id)):
            return
        self.open(conversation_id)

    def _on_undo_banner(self, name: str) -> None:
        if name == "undo":
            self.undo_delete()

    # -- search -------------------------------------------------------------------------------------------

    def search(self, query: str) -> None:
        if not query.strip():
            return
        path = self.store.file
        self.tasks.run(
            lambda: search_history(path, query),
            lambda hits: self._on_results(query, hits),
            self.problem.emit,
            name="history search",
        )

    def _on_results(self, query: str, hits: list[SearchHit]) -> None:
        self.sidebar.set_results(query, hits)

    # -- notices about the history ------------------------------------------------------------------------

    def show_notices(self, banner: Banner) -> None:
        """The notices about the history in ``banner``: damage found and what was recovered, shown at every
        start until "Don't show again" (app.storage.notices); an upgrade's backup, shown once."""
        if not self.store.notices:
            return
        banner.show_message("<br>".join(html.escape(notice) for notice in self.store.notices))
        if self.store.lasting:
            self._notice_banner = banner
            banner.add_action("dismiss", "Don't show again")
            banner.action_triggered.connect(self._on_notice_action)

    def _on_notice_action(self, name: str) -> None:
        if name == "dismiss" and self._notice_banner is not None:
            self.store.dismiss_notices()
            self._notice_banner.hide()

    # -- export and import --------------------------------------------------------------------------------

    def export_all(self, fmt: str) -> None:
        ids = [c.id for c in self.store.list_conversations()]
        if not ids:
            self.notice.emit("There are no conversations to export yet.")
            return
        self.export(ids, fmt, suggested=f"Moss conversations {dt.date.today():%Y-%m-%d}")

    def export(self, conversation_ids: list[int], fmt: str, *, suggested: str | None = None) -> None:
        if suggested is None:
            suggested = _file_name(self.store.conversation(conversation_ids[0]).title)
        filters = "Markdown (*.md)" if fmt == "md" else "Moss JSON (*.json)"
        chosen = self.choose_save_path(f"{suggested}.{fmt}", filters)
        if not chosen:
            return
        target = Path(chosen)
        db = self.store.file

        def job() -> Path:
            store = HistoryStore.open(db, recover=False)
            try:
                save_export(store, conversation_ids, fmt, target)
            finally:
                store.close()
            return target

        count = len(conversation_ids)
        done = f"Exported {count} conversation{'s' * (count != 1)} to {target}."
        self.tasks.run(job, lambda _path: self.notice.emit(done), self.problem.emit, name="export")

    def import_file(self) -> None:
        chosen = self.choose_open_path("", "Moss or ChatGPT export (*.json *.zip);;All files (*)")
        if chosen:
            self.import_path(Path(chosen))

    def import_path(self, source: Path) -> None:
        db = self.store.file

        def job() -> ImportReport:
            conversations = read_import_file(source)  # all of it is read and checked before anything is added
            store = HistoryStore.open(db, recover=False)
            try:
                return import_conversations(store, conversations)
            finally:
                store.close()

        self.tasks.run(job, self._on_imported, self.problem.emit, name="import")

    def _on_imported(self, report: ImportReport) -> None:
        added = len(report.added)
        text = f"Imported {added} conversation{'s' * (added != 1)} ({report.messages:,} messages)."
        if report.skipped:
            text += f" {report.skipped} were already in your history."
        self.notice.emit(text)
        self.refresh_list()


def _file_name(title: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in " -_." else " " for ch in title)
    return " ".join(cleaned.split())[:60] or "conversation"
