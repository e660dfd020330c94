"""The chat view's list model: the shown messages as :class:`ChatItem`s, and the "Show earlier" row.

The model holds plain items (no widgets); the view asks each for its size and paints it. ``AccessibleTextRole``
gives screen readers each message as text: who said it, what, and its details.
"""

from __future__ import annotations

import contextlib
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import QWidget

from app.core.types import Role
from app.ui.chat.items import ChatItem

ItemRole = Qt.ItemDataRole.UserRole + 1


class EarlierRow(ChatItem):
    """The "Show earlier messages (N)" row at the top of a long conversation."""

    def __init__(self) -> None:
        super().__init__(Role.SYSTEM)
        self.count = 0


class ChatModel(QAbstractListModel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.items: list[ChatItem] = []

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.items)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.items):
            return None
        item = self.items[index.row()]
        if role == ItemRole:
            return item
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            if isinstance(item, EarlierRow):
                return f"Show earlier messages ({item.count:,})"
            return item.accessible_text() if role == Qt.ItemDataRole.AccessibleTextRole else item.text
        return None

    def reset(self, items: list[ChatItem]) -> None:
        self.beginResetModel()
        self.items = items
        self.endResetModel()

    def append(self, item: ChatItem) -> None:
        row = len(self.items)
        self.beginInsertRows(QModelIndex(), row, row)
        self.items.append(item)
        self.endInsertRows()

    def changed(self, item: ChatItem) -> None:
        with contextlib.suppress(ValueError):
            index = self.index(self.items.index(item))
            self.dataChanged.emit(index, index)
