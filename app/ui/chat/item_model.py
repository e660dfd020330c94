"""The chat view's list model: the "Show earlier messages (N)" row, when there are earlier messages, then one
row per shown message (a :class:`ChatItem`).

The model holds plain items (no widgets); the view asks each row for its size and paints it. The earlier row
is a row of its own kind, not a message: ``item(index)`` is None there, and ``is_earlier(index)`` says so.
``AccessibleTextRole`` gives screen readers each row as text: who said it, what, and its details.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import QWidget

from app.ui.chat.items import ChatItem

ItemRole = Qt.ItemDataRole.UserRole + 1
Index = QModelIndex | QPersistentModelIndex


class ChatModel(QAbstractListModel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.items: list[ChatItem] = []  # the messages shown, oldest first
        self.earlier = 0  # how many earlier messages are not shown (0: no "Show earlier" row)

    @property
    def _first_item_row(self) -> int:
        return 1 if self.earlier else 0

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.items) + self._first_item_row

    def is_earlier(self, index: Index) -> bool:
        """Whether ``index`` is the "Show earlier messages" row."""
        return index.isValid() and self.earlier > 0 and index.row() == 0

    def item(self, index: Index) -> ChatItem | None:
        """The message at ``index``; None for the earlier row or an invalid index."""
        row = index.row() - self._first_item_row if index.isValid() else -1
        return self.items[row] if 0 <= row < len(self.items) else None

    def index_of(self, item: ChatItem) -> QModelIndex:
        """The row of a shown message; raises ValueError when it is not shown."""
        return self.index(self.items.index(item) + self._first_item_row)

    def earlier_text(self) -> str:
        return f"Show earlier messages ({self.earlier:,})"

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        item = self.item(index)
        if role == ItemRole:
            return item
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return None
        if self.is_earlier(index):
            return self.earlier_text()
        if item is None:
            return None
        return item.accessible_text() if role == Qt.ItemDataRole.AccessibleTextRole else item.text

    def reset(self, items: Sequence[ChatItem], earlier: int = 0) -> None:
        self.beginResetModel()
        self.items = list(items)
        self.earlier = max(0, earlier)
        self.endResetModel()

    def append(self, item: ChatItem) -> None:
        row = self.rowCount()
        self.beginInsertRows(QModelIndex(), row, row)
        self.items.append(item)
        self.endInsertRows()

    def changed(self, item: ChatItem) -> None:
        with contextlib.suppress(ValueError):
            index = self.index_of(item)
            self.dataChanged.emit(index, index)
