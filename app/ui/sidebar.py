"""The conversations sidebar: New chat, the search field (Ctrl/Cmd+K), and either the conversations grouped
by recency (pinned first) or, while something is typed, the search results with their snippets.

The list shows a page of conversations and reads the next page when scrolled near its end, so 10,000
conversations cost no more than a few hundred at start.

Signals: new_chat_requested(), conversation_chosen(id), hit_chosen(conversation_id, message_id or -1),
rename_requested(id, title), delete_requested(id), pin_requested(id), unpin_requested(id),
export_requested(id, format), more_requested(), query_changed(text), import_requested().
"""

from __future__ import annotations

import datetime as dt
import html

from PySide6.QtCore import QEvent, QModelIndex, QObject, QPersistentModelIndex, QPoint, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.history import ConversationInfo, SearchHit

_ID_ROLE = Qt.ItemDataRole.UserRole
_MESSAGE_ROLE = Qt.ItemDataRole.UserRole + 1
_HEADING_ROLE = Qt.ItemDataRole.UserRole + 2  # True on a group heading ("Today")
_SEARCH_DELAY_MS = 150  # wait for a pause in typing before searching
_MORE_WHEN_PX = 200  # read the next page when the list is scrolled this close to its end
_SEARCH_HINTS = ("Search chats (Ctrl+K)", "Search chats", "Search")  # the longest that fits is shown


def recency_group(timestamp: float, now: dt.datetime) -> str:
    """The heading a conversation last active at ``timestamp`` goes under."""
    day = dt.datetime.fromtimestamp(timestamp).date()
    days = (now.date() - day).days
    if days <= 0:
        return "Today"
    if days == 1:
        return "Yesterday"
    if days < 7:
        return "Previous 7 days"
    if days < 30:
        return "Previous 30 days"
    if day.year == now.year:
        return day.strftime("%B")
    return str(day.year)


def marked_snippet(hit: SearchHit) -> str:
    """The snippet as rich text, the matched words in bold."""
    parts: list[str] = []
    last = 0
    for start, end in hit.highlights:
        parts.append(html.escape(hit.snippet[last:start]))
        parts.append(f"<b>{html.escape(hit.snippet[start:end])}</b>")
        last = end
    parts.append(html.escape(hit.snippet[last:]))
    return "".join(parts)


class HeadingDelegate(QStyledItemDelegate):
    """Draws the group headings ("Pinned", "Today") bold, in the list's own font (muted: they are disabled).

    The look is applied when each row is drawn or measured, never stored in the items: a font stored in an
    item would keep the text size it was built with after the person chose another (the list lays its rows out
    again on a font change, and then asks here)."""

    def initStyleOption(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        super().initStyleOption(option, index)
        if index.data(_HEADING_ROLE):
            font = QFont(option.font)
            font.setBold(True)
            option.font = font


def fit_placeholder(field: QLineEdit, choices: tuple[str, ...]) -> None:
    """Show the longest of ``choices`` that fits in ``field`` at its width and font (the last one if none
    does): large text in a narrow sidebar shortens the hint rather than cutting it off."""
    metrics = field.fontMetrics()
    # QLineEdit's size hint is 17 "x" plus its frame, padding and clear button: the text's room is the rest.
    chrome = field.sizeHint().width() - 17 * metrics.horizontalAdvance("x")
    room = field.width() - chrome
    fitting = [text for text in choices if metrics.horizontalAdvance(text) <= room]
    field.setPlaceholderText(fitting[0] if fitting else choices[-1])


class Sidebar(QWidget):
    new_chat_requested = Signal()
    conversation_chosen = Signal(int)
    hit_chosen = Signal(int, int)
    rename_requested = Signal(int, str)
    delete_requested = Signal(int)
    pin_requested = Signal(int)
    unpin_requested = Signal(int)
    export_requested = Signal(int, str)
    import_requested = Signal()
    export_all_requested = Signal(str)
    more_requested = Signal()
    query_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sidebar")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 12, 10, 12)
        top = QHBoxLayout()
        self.new_chat_button = QPushButton("New chat")
        self.new_chat_button.setToolTip("Start a new conversation (Ctrl+N)")
        self.menu_button = QToolButton()
        self.menu_button.setText("⋯")
        self.menu_button.setToolTip("Import and export conversations")
        self.menu_button.setAccessibleName("History menu")
        self.menu_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.menu_button)
        menu.addAction("Import conversations…", self.import_requested.emit)
        menu.addAction("Export all as Markdown…", lambda: self.export_all_requested.emit("md"))
        menu.addAction("Export all as Moss JSON…", lambda: self.export_all_requested.emit("json"))
        self.menu_button.setMenu(menu)
        top.addWidget(self.new_chat_button, 1)
        top.addWidget(self.menu_button)
        self.search_field = QLineEdit()
        self.search_field.setObjectName("searchField")
        self.search_field.setPlaceholderText(_SEARCH_HINTS[0])
        self.search_field.setAccessibleName("Search conversations")
        self.search_field.setClearButtonEnabled(True)
        self.search_field.installEventFilter(self)  # its width and font choose its placeholder
        self.conversation_list = QListWidget()
        self.conversation_list.setObjectName("conversationList")
        self.conversation_list.setAccessibleName("Conversations")
        self.conversation_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.conversation_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.conversation_list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.conversation_list.setEditTriggers(QListWidget.EditTrigger.EditKeyPressed)
        self.conversation_list.setItemDelegate(HeadingDelegate(self.conversation_list))
        self.results_list = QListWidget()
        self.results_list.setObjectName("resultsList")
        self.results_list.setAccessibleName("Search results")
        self.results_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.results_list.setWordWrap(True)
        self.results_list.hide()
        self.results_hint = QLabel()
        self.results_hint.setObjectName("hintLabel")
        self.results_hint.setWordWrap(True)
        self.results_hint.hide()
        layout.addLayout(top)
        layout.addWidget(self.search_field)
        layout.addWidget(self.results_hint)
        layout.addWidget(self.conversation_list, 1)
        layout.addWidget(self.results_list, 1)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(_SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(lambda: self.query_changed.emit(self.query))
        self._current_id: int | None = None
        self._pinned: set[int] = set()
        self.has_more = False

        self.new_chat_button.clicked.connect(self.new_chat_requested)
        self.search_field.textChanged.connect(self._on_text_changed)
        self.search_field.returnPressed.connect(self._open_first_result)
        self.conversation_list.currentItemChanged.connect(self._on_current_changed)
        self.conversation_list.itemChanged.connect(self._on_item_edited)
        self.conversation_list.customContextMenuRequested.connect(self._show_menu)
        self.conversation_list.verticalScrollBar().valueChanged.connect(self._maybe_more)
        self.results_list.itemActivated.connect(self._on_result_activated)
        self.results_list.itemClicked.connect(self._on_result_activated)
        delete = QShortcut(QKeySequence.StandardKey.Delete, self.conversation_list, self._delete_current)
        delete.setContext(Qt.ShortcutContext.WidgetShortcut)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.search_field and event.type() in (QEvent.Type.Resize, QEvent.Type.FontChange):
            fit_placeholder(self.search_field, _SEARCH_HINTS)
        return super().eventFilter(watched, event)

    # -- conversations ------------------------------------------------------------------------------------

    def set_conversations(
        self, conversations: list[ConversationInfo], current_id: int | None, *, has_more: bool
    ) -> None:
        """Show these conversations (pinned first, then by recency, as the store lists them) under headings."""
        self._current_id = current_id
        self.has_more = has_more
        self._pinned = {c.id for c in conversations if c.pinned}
        lst = self.conversation_list
        lst.blockSignals(True)
        scroll = lst.verticalScrollBar().value()
        lst.clear()
        now = dt.datetime.now()
        heading = None
        for conversation in conversations:
            group = "Pinned" if conversation.pinned else recency_group(conversation.updated_at, now)
            if group != heading:
                heading = group
                header = QListWidgetItem(group)
                header.setFlags(Qt.ItemFlag.NoItemFlags)
                header.setData(_HEADING_ROLE, True)  # its look: HeadingDelegate
                header.setData(Qt.ItemDataRole.AccessibleTextRole, f"{group} conversations")
                lst.addItem(header)
            item = QListWidgetItem(conversation.title)
            item.setData(_ID_ROLE, conversation.id)
            item.setToolTip(conversation.title)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            lst.addItem(item)
            if conversation.id == current_id:
                lst.setCurrentItem(item)
        if current_id is None:
            lst.setCurrentRow(-1)
            lst.clearSelection()
        lst.verticalScrollBar().setValue(scroll)
        lst.blockSignals(False)

    def item_for(self, conversation_id: int) -> QListWidgetItem | None:
        for row in range(self.conversation_list.count()):
            item = self.conversation_list.item(row)
            if item.data(_ID_ROLE) == conversation_id:
                return item
        return None

    def conversation_ids(self) -> list[int]:
        items = (self.conversation_list.item(row) for row in range(self.conversation_list.count()))
        return [item.data(_ID_ROLE) for item in items if item.data(_ID_ROLE) is not None]

    def start_rename(self, conversation_id: int) -> None:
        item = self.item_for(conversation_id)
        if item is not None:
            self.conversation_list.editItem(item)

    def _on_current_changed(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        if item is not None and item.data(_ID_ROLE) is not None and item.data(_ID_ROLE) != self._current_id:
            self._current_id = item.data(_ID_ROLE)
            self.conversation_chosen.emit(item.data(_ID_ROLE))

    def _on_item_edited(self, item: QListWidgetItem) -> None:
        conversation_id = item.data(_ID_ROLE)
        if conversation_id is not None:
            self.rename_requested.emit(conversation_id, item.text())

    def _show_menu(self, position: QPoint) -> None:
        item = self.conversation_list.itemAt(position)
        if item is None or item.data(_ID_ROLE) is None:
            return
        conversation_id = int(item.data(_ID_ROLE))
        menu = self.context_menu(conversation_id)
        menu.exec(self.conversation_list.viewport().mapToGlobal(position))

    def context_menu(self, conversation_id: int) -> QMenu:
        """The actions on one conversation (right-click); built here so tests can trigger them by name."""
        menu = QMenu(self)
        menu.addAction("Rename", lambda: self.start_rename(conversation_id))
        if conversation_id in self._pinned:
            menu.addAction("Unpin", lambda: self.unpin_requested.emit(conversation_id))
        else:
            menu.addAction("Pin to top", lambda: self.pin_requested.emit(conversation_id))
        menu.addAction("Export as Markdown…", lambda: self.export_requested.emit(conversation_id, "md"))
        menu.addAction("Export as Moss JSON…", lambda: self.export_requested.emit(conversation_id, "json"))
        menu.addSeparator()
        delete = menu.addAction("Delete", lambda: self.delete_requested.emit(conversation_id))
        delete.setShortcut(QKeySequence.StandardKey.Delete)
        return menu

    def _delete_current(self) -> None:
        item = self.conversation_list.currentItem()
        if item is not None and item.data(_ID_ROLE) is not None:
            self.delete_requested.emit(int(item.data(_ID_ROLE)))

    def _maybe_more(self, value: int) -> None:
        bar = self.conversation_list.verticalScrollBar()
        if self.has_more and value >= bar.maximum() - _MORE_WHEN_PX:
            self.has_more = False  # until the page arrives
            self.more_requested.emit()

    # -- search -------------------------------------------------------------------------------------------

    @property
    def query(self) -> str:
        return self.search_field.text()

    def focus_search(self) -> None:
        self.search_field.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_field.selectAll()

    def _on_text_changed(self, text: str) -> None:
        searching = bool(text.strip())
        self.conversation_list.setVisible(not searching)
        self.results_list.setVisible(searching)
        if not searching:
            self._search_timer.stop()
            self.results_hint.hide()
            self.results_list.clear()
            return
        self._search_timer.start()

    def set_results(self, query: str, hits: list[SearchHit]) -> None:
        """Show the results for ``query`` (ignored if the field has changed since)."""
        if query != self.query:
            return
        self.results_list.clear()
        for hit in hits:
            item = QListWidgetItem()
            item.setData(_ID_ROLE, hit.conversation_id)
            item.setData(_MESSAGE_ROLE, hit.message_id if hit.message_id is not None else -1)
            item.setData(Qt.ItemDataRole.AccessibleTextRole, f"{hit.title}: {hit.snippet}")
            label = QLabel(f"<b>{html.escape(hit.title)}</b><br><span>{marked_snippet(hit)}</span>")
            label.setObjectName("resultLabel")
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setContentsMargins(6, 5, 6, 5)
            label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            self.results_list.addItem(item)
            self.results_list.setItemWidget(item, label)
            width = max(120, self.results_list.viewport().width() - 8)
            label.setFixedWidth(width)
            item.setSizeHint(QSize(width, label.heightForWidth(width) + 4))
        count = len(hits)
        self.results_hint.setText(
            "No conversations match." if not count else f"{count} conversation{'s' * (count != 1)}"
        )
        self.results_hint.show()

    def _open_first_result(self) -> None:
        if self.results_list.count():
            self._on_result_activated(self.results_list.item(0))

    def _on_result_activated(self, item: QListWidgetItem) -> None:
        self.hit_chosen.emit(int(item.data(_ID_ROLE)), int(item.data(_MESSAGE_ROLE)))
