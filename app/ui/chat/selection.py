"""Text selected with the mouse inside one message: in its answer or in its reasoning, never across messages.

A press starts a selection, a drag moves its end, a double-click selects a word; the painter draws it and Copy
reads it. Positions are character positions in the message's document as the painter laid it out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QTextCursor

from app.ui.chat.items import ChatItem

if TYPE_CHECKING:
    from app.ui.chat.painter import MessagePainter


@dataclass(slots=True)
class TextSelection:
    """A selection inside one message's content or reasoning document."""

    item: ChatItem
    document: str  # content | reasoning
    anchor: int
    position: int

    @classmethod
    def word(cls, painter: MessagePainter, item: ChatItem, document: str, position: int) -> TextSelection:
        """The word at ``position`` (a double-click)."""
        cursor = QTextCursor(painter.document(item, document))
        cursor.setPosition(max(0, position))
        cursor.select(QTextCursor.SelectionType.WordUnderCursor)
        return cls(item, document, cursor.anchor(), cursor.position())

    @property
    def empty(self) -> bool:
        return self.anchor == self.position

    def drag_to(self, painter: MessagePainter, point: QPointF, width: int) -> None:
        """Move the end to ``point`` (in the item's coordinates, laid out ``width`` wide); above or below the
        document it goes to the document's start or end."""
        lay = painter.layout(self.item, width)
        origin = lay.content_at if self.document == "content" else lay.reasoning_at
        if origin is None:
            return
        doc = painter.document(self.item, self.document)
        inside = point - origin
        position = doc.documentLayout().hitTest(inside, Qt.HitTestAccuracy.FuzzyHit)
        if position < 0:
            position = 0 if inside.y() < 0 else doc.characterCount() - 1
        self.position = position

    def text(self, painter: MessagePainter) -> str:
        cursor = QTextCursor(painter.document(self.item, self.document))
        cursor.setPosition(self.anchor)
        cursor.setPosition(self.position, QTextCursor.MoveMode.KeepAnchor)
        return cursor.selection().toPlainText()
