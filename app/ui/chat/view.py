"""The conversation: a virtualized list of painted messages, the newest reply growing as it streams.

Only what is on screen is painted, and a message is laid out once per width and text (app.ui.chat.painter
keeps its QTextDocument), so a long chat costs no widgets and a streaming reply re-lays out only itself.
The view follows the bottom unless the person scrolled up to read; then "Jump to latest" brings them back.
A long conversation shows its latest messages first; a "Show earlier messages" row reads more.

Mouse: links open in the browser, a code block's Copy copies it, text can be selected by dragging, the
thinking header folds the reasoning, and a message's actions (versions, Copy, Edit or Regenerate, Delete)
show under it when the pointer is over it. Keyboard (the view has focus): Up/Down move between messages,
Ctrl+C copies the selection or the message, Enter edits a message of yours, R regenerates a reply,
Delete deletes, Left/Right switch versions, T folds the thinking, the menu key opens all of it as a menu.

The view's parts: rows are sized and painted by app.ui.chat.delegate, selected text is app.ui.chat.selection,
the keys and the menu of a message's actions are app.ui.chat.message_menu, and "Jump to latest" and the
"Copied" note are app.ui.chat.overlays.

Signals: sibling_requested(message_id, step), edit_requested(message_id), regenerate_requested(message_id),
delete_requested(message_id), earlier_requested().
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QEvent, QModelIndex, QPoint, QPointF, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QContextMenuEvent,
    QDesktopServices,
    QGuiApplication,
    QHelpEvent,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QResizeEvent,
)
from PySide6.QtWidgets import QAbstractItemView, QListView, QMenu, QToolTip, QWidget

from app.core.history import StoredMessage
from app.core.types import Role
from app.ui.chat.delegate import ChatDelegate
from app.ui.chat.item_model import ChatModel
from app.ui.chat.items import AUTO, ChatItem
from app.ui.chat.look import current_look
from app.ui.chat.message_menu import KEY_ACTIONS, message_menu
from app.ui.chat.overlays import JumpButton, Toast
from app.ui.chat.painter import Hit, MessagePainter
from app.ui.chat.selection import TextSelection

_FOLLOW_SLACK_PX = 40  # "at the bottom" tolerance for following a reply
_FOUND_MS = 2500  # how long a search hit stays marked
_OPENABLE = ("http", "https", "mailto")


class ChatView(QListView):
    sibling_requested = Signal(int, int)
    edit_requested = Signal(int)
    regenerate_requested = Signal(int)
    delete_requested = Signal(int)
    earlier_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatView")
        self.setAccessibleName("Conversation")
        self.model_ = ChatModel(self)
        self.setModel(self.model_)
        self.painter = MessagePainter(current_look(self))
        self.setItemDelegate(ChatDelegate(self))
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(24)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setMouseTracking(True)
        self.setFrameShape(QListView.Shape.NoFrame)
        self.setUniformItemSizes(False)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.reasoning_display = AUTO
        self._empty_hint = ""
        self._follow = True
        self._actions_enabled = True
        # Read by the delegate when it paints: what is under the pointer (a message and the action there, or
        # (None, "earlier") for the earlier row), and the text selected in a message.
        self.hover: tuple[ChatItem | None, str] = (None, "")
        self.selection: TextSelection | None = None
        self._press: tuple[QPoint, Hit, ChatItem | None] | None = None
        self.jump_button = JumpButton(self)
        self.jump_button.clicked.connect(self.scroll_to_bottom)
        self.toast = Toast(self)
        self._found: ChatItem | None = None
        self._found_timer = QTimer(self)
        self._found_timer.setSingleShot(True)
        self._found_timer.setInterval(_FOUND_MS)
        self._found_timer.timeout.connect(self._unmark)
        self._announced = 0  # the scroll bar's value as its valueChanged last said
        self.verticalScrollBar().valueChanged.connect(self._on_scrolled)
        self.verticalScrollBar().rangeChanged.connect(self._on_range_changed)
        self.model_.rowsInserted.connect(lambda *_: self._update_jump())

    # -- content --------------------------------------------------------------------------------------------

    @property
    def items(self) -> Sequence[ChatItem]:
        """The messages shown, oldest first."""
        return self.model_.items

    def set_empty_hint(self, text: str) -> None:
        self._empty_hint = text
        self.viewport().update()

    def show_messages(self, messages: Sequence[StoredMessage], *, earlier: int = 0) -> None:
        """Show ``messages`` (the latest part of the active path); ``earlier`` more are not shown yet."""
        items: list[ChatItem] = []
        for message in messages:
            if message.role == Role.SYSTEM:
                continue
            item = self._new_item(message.role, message.content)
            if message.reasoning:
                item.thinking.set_finished_text(message.reasoning)
            item.bind(message)
            items.append(item)
        self.selection = None
        self.hover = (None, "")
        self._follow = True
        self.model_.reset(items, earlier)
        self.scrollToBottom()

    def add_item(self, role: Role, text: str = "") -> ChatItem:
        """A new message at the end (yours just sent, or a reply about to stream), followed to the bottom."""
        item = self._new_item(role, text)
        self.model_.append(item)
        self._follow = True
        self.scrollToBottom()
        return item

    def item_for(self, message_id: int) -> ChatItem | None:
        return next((item for item in self.model_.items if item.message_id == message_id), None)

    def set_actions_enabled(self, enabled: bool) -> None:
        """Edit, Regenerate, Delete and the version arrows wait while a reply is being written (Copy does not)."""
        if enabled != self._actions_enabled:
            self._actions_enabled = enabled
            self.viewport().update()

    @property
    def actions_enabled(self) -> bool:
        return self._actions_enabled

    def _new_item(self, role: Role, text: str) -> ChatItem:
        item = ChatItem(role, text, reasoning_display=self.reasoning_display)
        item.on_change = self._on_item_changed
        return item

    def _on_item_changed(self, item: ChatItem) -> None:
        # The new size is asked for at the next layout pass; other items answer from their cached layouts.
        self.model_.changed(item)
        with contextlib.suppress(ValueError):
            self.itemDelegate().sizeHintChanged.emit(self.model_.index_of(item))

    # -- scrolling ------------------------------------------------------------------------------------------

    def scroll_to_message(self, message_id: int, *, mark: bool = True) -> bool:
        """Scroll to a message (marked for a moment, when ``mark``); False when it is not shown."""
        item = self.item_for(message_id)
        if item is None:
            return False
        self._follow = False
        self.doItemsLayout()
        index = self.model_.index_of(item)
        self.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtTop)
        self.setCurrentIndex(index)
        if mark:
            self._unmark()
            item.set_found(True)
            self._found = item
            self._found_timer.start()  # owned by the view: it dies with it
        return True

    def _unmark(self) -> None:
        found, self._found = self._found, None
        if found is not None:
            found.set_found(False)

    def scroll_to_bottom(self) -> None:
        self._follow = True
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())
        self._update_jump()

    @property
    def following(self) -> bool:
        return self._follow

    def _on_scrolled(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._announced = value
        self._follow = value >= bar.maximum() - _FOLLOW_SLACK_PX
        self._update_jump()

    def _on_range_changed(self, _minimum: int, maximum: int) -> None:
        bar = self.verticalScrollBar()
        # A scroll can lay rows out again before the bar announces its new value (the view re-checks what
        # the pointer rests on, and a row under it may change): the bar then already holds a value not yet
        # announced. That scroll is the reader's; pinning to the bottom now would pull them back.
        if self._follow and bar.value() == self._announced:
            bar.setValue(maximum)
        self._update_jump()

    def _update_jump(self) -> None:
        bar = self.verticalScrollBar()
        self.jump_button.setVisible(not self._follow and bar.value() < bar.maximum() - _FOLLOW_SLACK_PX)
        self.jump_button.place()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.jump_button.place()

    # -- painting (rows are painted by app.ui.chat.delegate) ------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if not self.model_.rowCount() and self._empty_hint:
            painter = QPainter(self.viewport())
            painter.setPen(self.painter.look.muted)
            rect = self.viewport().rect().adjusted(40, 0, -40, 0)
            flags = int(Qt.AlignmentFlag.AlignCenter) | int(Qt.TextFlag.TextWordWrap)
            painter.drawText(rect, flags, self._empty_hint)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self.refresh_look()

    def refresh_look(self) -> None:
        """The theme or font changed: every message is laid out again with the new look."""
        self.painter.look = current_look(self)
        self.doItemsLayout()
        self.viewport().update()

    # -- mouse ----------------------------------------------------------------------------------------------

    def hit_at(self, pos: QPoint) -> tuple[ChatItem | None, Hit]:
        """What is at ``pos`` in the viewport: a message and the part of it, or (None, "earlier")."""
        index = self.indexAt(pos)
        if self.model_.is_earlier(index):
            return None, Hit("earlier")
        item = self.model_.item(index)
        if item is None:
            return None, Hit()
        point = QPointF(pos.x(), pos.y() - self.visualRect(index).top())
        return item, self.painter.hit(item, self.viewport().width(), point)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position().toPoint()
        if self._press is not None and event.buttons() & Qt.MouseButton.LeftButton:
            self._drag_select(pos)
            return
        item, hit = self.hit_at(pos)
        hover = (item, hit.value if hit.kind == "action" else "earlier" if hit.kind == "earlier" else "")
        if hover != self.hover:
            self.hover = hover
            self.viewport().update()
        pointing = hit.kind in ("link", "copy_code", "action", "thinking", "earlier")
        text = hit.kind in ("content", "reasoning")
        self.viewport().setCursor(
            Qt.CursorShape.PointingHandCursor
            if pointing
            else Qt.CursorShape.IBeamCursor
            if text
            else Qt.CursorShape.ArrowCursor
        )

    def leaveEvent(self, event: QEvent) -> None:
        super().leaveEvent(event)
        if self.hover != (None, ""):
            self.hover = (None, "")
            self.viewport().update()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        if event.button() != Qt.MouseButton.LeftButton:
            return
        pos = event.position().toPoint()
        item, hit = self.hit_at(pos)
        index = self.indexAt(pos)
        self.selection = None
        if index.isValid():
            self.selectionModel().setCurrentIndex(index, self.selectionModel().SelectionFlag.NoUpdate)
            self._press = (pos, hit, item)
            if item is not None and hit.kind in ("content", "reasoning"):
                self.selection = TextSelection(item, hit.kind, hit.position, hit.position)
        self.viewport().update()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        item, hit = self.hit_at(event.position().toPoint())
        if item is None or hit.kind not in ("content", "reasoning"):
            return
        self.selection = TextSelection.word(self.painter, item, hit.kind, hit.position)
        self._press = None
        self.viewport().update()

    def _drag_select(self, pos: QPoint) -> None:
        selection = self.selection
        if selection is None:
            return
        top = self.item_rect(selection.item).top()
        selection.drag_to(self.painter, QPointF(pos.x(), pos.y() - top), self.viewport().width())
        self.viewport().update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        press, self._press = self._press, None
        if press is None or event.button() != Qt.MouseButton.LeftButton:
            return
        pos, hit, item = press
        if (event.position().toPoint() - pos).manhattanLength() > 4:
            return  # a drag: a selection, not a click
        if self.selection is not None and self.selection.empty:
            self.selection = None
        self.activate(item, hit)

    def activate(self, item: ChatItem | None, hit: Hit) -> None:
        """Do what clicking ``hit`` on ``item`` (None: the earlier row) does."""
        if hit.kind == "earlier":
            self.earlier_requested.emit()
        elif item is None:
            return
        elif hit.kind == "thinking":
            item.thinking.toggle()
        elif hit.kind == "link":
            url = QUrl(hit.value)
            if url.scheme() in _OPENABLE:
                QDesktopServices.openUrl(url)
        elif hit.kind == "copy_code":
            block = self.painter.code_block(item, int(hit.value))
            if block is not None:
                QGuiApplication.clipboard().setText(block.code)
                self.toast.say("Code copied")
        elif hit.kind == "action":
            self.run_action(item, hit.value)
        self.viewport().update()

    def run_action(self, item: ChatItem, name: str) -> None:
        """Run a message's action (copy, edit, regenerate, delete, previous, next)."""
        if name == "copy":
            if not item.text:  # a reply that has not said a word yet: nothing to copy (the clipboard is kept)
                return
            QGuiApplication.clipboard().setText(item.text)
            self.toast.say("Message copied")
            return
        ident = item.message_id
        if ident is None or not self._actions_enabled:
            return
        if name == "edit" and item.role == Role.USER:
            self.edit_requested.emit(ident)
        elif name == "regenerate" and item.role == Role.ASSISTANT:
            self.regenerate_requested.emit(ident)
        elif name == "delete":
            self.delete_requested.emit(ident)
        elif name == "previous" and item.sibling_index > 0:
            self.sibling_requested.emit(ident, -1)
        elif name == "next" and item.sibling_index < item.sibling_count - 1:
            self.sibling_requested.emit(ident, +1)

    def viewportEvent(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            item, hit = self.hit_at(event.pos())
            tip = ""
            if item is not None and hit.kind == "details":
                tip = item.details
            elif item is not None and hit.kind == "action":
                tip = self.painter.action_tip(item, self.viewport().width(), hit.value)
            elif hit.kind == "copy_code":
                tip = "Copy this code"
            elif hit.kind == "link":
                tip = hit.value
            if tip:
                QToolTip.showText(event.globalPos(), tip, self.viewport())
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().viewportEvent(event)

    # -- keyboard -------------------------------------------------------------------------------------------

    def current_item(self) -> ChatItem | None:
        """The message with the keyboard focus (None on the earlier row, or when there is none)."""
        return self.model_.item(self.currentIndex())

    def keyPressEvent(self, event: QKeyEvent) -> None:
        item = self.current_item()
        key = event.key()
        if event.matches(QKeySequence.StandardKey.Copy):
            self.copy_selection_or_message()
            return
        if self.model_.is_earlier(self.currentIndex()) and key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.earlier_requested.emit()
            return
        if item is not None and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            name = KEY_ACTIONS.get(Qt.Key(key))
            if name is not None:
                self.run_action(item, name)
                return
            if key == Qt.Key.Key_T and item.thinking.visible:
                item.thinking.toggle()
                return
        super().keyPressEvent(event)

    def moveCursor(self, action: QAbstractItemView.CursorAction, modifiers: Qt.KeyboardModifier) -> QModelIndex:
        """Up/Down/Home/End step through messages by row (Qt's own answer depends on a pending layout)."""
        rows = self.model_.rowCount()
        row = self.currentIndex().row() if self.currentIndex().isValid() else rows
        target = {
            QAbstractItemView.CursorAction.MoveUp: row - 1,
            QAbstractItemView.CursorAction.MovePrevious: row - 1,
            QAbstractItemView.CursorAction.MoveDown: row + 1,
            QAbstractItemView.CursorAction.MoveNext: row + 1,
            QAbstractItemView.CursorAction.MoveHome: 0,
            QAbstractItemView.CursorAction.MoveEnd: rows - 1,
        }.get(action)
        if target is None:
            return super().moveCursor(action, modifiers)
        return self.model_.index(max(0, min(rows - 1, target)))

    def copy_selection_or_message(self) -> None:
        """Ctrl+C: the selected text, or else the whole message with the keyboard focus."""
        if self.selection is not None and not self.selection.empty:
            QGuiApplication.clipboard().setText(self.selected_text())
            return
        item = self.current_item()
        if item is not None:
            self.run_action(item, "copy")

    def selected_text(self) -> str:
        return "" if self.selection is None else self.selection.text(self.painter)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        if event.reason() == QContextMenuEvent.Reason.Mouse:
            item, _hit = self.hit_at(event.pos())
        else:
            item = self.current_item()
        if item is None:
            return
        menu = self.context_menu(item)
        menu.exec(event.globalPos())
        menu.deleteLater()  # its actions hold the item: let both go

    def context_menu(self, item: ChatItem) -> QMenu:
        """Everything that can be done with a message, as a menu."""
        return message_menu(self, item)

    # -- helpers for tests and tools ------------------------------------------------------------------------

    def item_rect(self, item: ChatItem) -> Any:
        """Where ``item`` is in the viewport (a QRect)."""
        return self.visualRect(self.model_.index_of(item))

    def action_point(self, item: ChatItem, name: str) -> QPoint | None:
        """The viewport point to click for an item's action (None when it has no such action)."""
        rect = self.painter.action_rect(item, self.viewport().width(), name)
        if rect is None:
            return None
        return QPoint(int(rect.center().x()), int(rect.center().y()) + self.item_rect(item).top())

    def thinking_point(self, item: ChatItem) -> QPoint | None:
        """The viewport point of an item's thinking header (None when it has none)."""
        header = self.painter.layout(item, self.viewport().width()).thinking_header
        if header is None:
            return None
        return QPoint(int(header.center().x()), int(header.center().y()) + self.item_rect(item).top())

    @property
    def earlier_count(self) -> int:
        """How many earlier messages are not shown yet (0: the whole conversation is shown)."""
        return self.model_.earlier
