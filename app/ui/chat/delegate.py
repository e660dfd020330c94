"""How the chat view's rows are sized and painted: a message through the view's MessagePainter, with its
actions shown when it is hovered, current or last; the "Show earlier messages" row as a rounded button.

The delegate holds no state of its own: what is hovered, current or selected is the view's, read at paint time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QSize, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem

if TYPE_CHECKING:
    from app.ui.chat.view import ChatView

_EARLIER_PAD = (28, 12)  # the earlier row's button: text padding across and down
_EARLIER_MARGIN = 8  # above and below that button


class ChatDelegate(QStyledItemDelegate):
    def __init__(self, view: ChatView) -> None:
        super().__init__(view)
        self._view = view

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        view = self._view
        item = view.model_.item(index)
        width = view.viewport().width()
        if item is None:  # the earlier row
            return QSize(width, view.fontMetrics().height() + _EARLIER_PAD[1] + 2 * _EARLIER_MARGIN)
        return QSize(width, int(view.painter.layout(item, width).height + 0.999))

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        view = self._view
        top, width = option.rect.top(), view.viewport().width()
        current = index.row() == view.currentIndex().row() and view.hasFocus()
        item = view.model_.item(index)
        if item is None:
            self._paint_earlier(painter, top, width, current)
            return
        hovered, action = view.hover
        items = view.model_.items
        view.painter.paint(
            painter,
            item,
            top,
            width,
            show_actions=item is hovered or current or item is items[-1],
            hovered_action=action if item is hovered else "",
            current=current,
            actions_enabled=view.actions_enabled,
            selection=view.selection,
        )

    def _paint_earlier(self, painter: QPainter, top: int, width: int, current: bool) -> None:
        view = self._view
        look = view.painter.look
        text = view.model_.earlier_text()
        metrics = view.fontMetrics()
        w, h = metrics.horizontalAdvance(text) + _EARLIER_PAD[0], metrics.height() + _EARLIER_PAD[1]
        corner = QPointF((width - w) / 2, top + _EARLIER_MARGIN)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(look.accent if current else look.border)
        painter.setBrush(look.hover if view.hover == (None, "earlier") else Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(int(corner.x()), int(corner.y()), w, h, h / 2, h / 2)
        painter.setPen(look.text)
        painter.drawText(int(corner.x()), int(corner.y()), w, h, int(Qt.AlignmentFlag.AlignCenter), text)
        painter.restore()
