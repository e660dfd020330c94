"""Laying out and painting one chat message, and finding what is under the mouse in it.

A message is painted, not built from widgets: its Markdown becomes one QTextDocument (kept with the item
and refilled only when its text changes), and everything else (the bubble, the thinking header, the action
buttons, the details line) is a rectangle in an :class:`ItemLayout`. The layout depends on the item's
revision, the width and the look, and is cached on the item, so scrolling and repainting cost nothing but
drawing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QPointF, QRectF, QSizeF, Qt
from PySide6.QtGui import (
    QAbstractTextDocumentLayout,
    QColor,
    QFont,
    QFontMetricsF,
    QPainter,
    QPalette,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextOption,
)

from app.core.types import Role
from app.ui.chat.items import ChatItem
from app.ui.chat.markdown import COPY_SCHEME, CodeBlock, IncrementalRenderer, MarkdownStyle
from app.ui.chat.selection import TextSelection

MAX_COLUMN = 760  # a readable line length
SIDE_MARGIN = 24
USER_SHARE = 0.82  # a person's message takes at most this share of the column, on the right
BUBBLE_PAD = QSizeF(14, 10)
REASONING_INDENT = 14


@dataclass(frozen=True, slots=True)
class Look:
    """Colours and fonts the painter uses; a new Look (theme or font changed) invalidates every layout."""

    text: QColor
    muted: QColor
    accent: QColor
    user_bubble: QColor
    border: QColor
    hover: QColor
    font: QFont
    markdown: MarkdownStyle
    compact: bool = False
    key: tuple[Any, ...] = field(init=False)  # what tells two looks apart, computed once (asked per layout)

    def __post_init__(self) -> None:
        key = (self.text.name(), self.user_bubble.name(), self.font.toString(), self.compact)
        object.__setattr__(self, "key", key)


@dataclass(slots=True)
class Action:
    name: str  # copy | edit | regenerate | delete | previous | next
    label: str
    tip: str
    rect: QRectF
    enabled: bool = True


@dataclass(slots=True)
class ItemLayout:
    """Where each part of a message goes, relative to the item's top-left corner."""

    width: int
    height: float = 0.0
    frame: QRectF = field(default_factory=QRectF)  # the message's outline (the bubble for a person's message)
    bubble: bool = False
    label: tuple[QPointF, str] | None = None
    thinking_header: QRectF | None = None
    reasoning_at: QPointF | None = None
    reasoning_height: float = 0.0
    content_at: QPointF = field(default_factory=QPointF)
    content_size: QSizeF = field(default_factory=QSizeF)
    actions: list[Action] = field(default_factory=list)
    meta_rect: QRectF | None = None


@dataclass(slots=True)
class Hit:
    """What is at a point of a message. ``kind``: link | copy_code | action | thinking | details | content |
    reasoning | earlier | "" (nothing); ``value``: the URL, the code block's index or the action's name;
    ``position``: the character position in the content or reasoning document."""

    kind: str = ""
    value: str = ""
    position: int = -1


@dataclass(slots=True)
class _Render:
    """An item's documents, refilled only when their text changes."""

    renderer: IncrementalRenderer
    look_key: tuple[Any, ...]
    content_source: str | None = None
    content: QTextDocument = field(default_factory=QTextDocument)
    # While a reply streams: its last, still growing blocks, in a small document painted under ``content``
    # (which then holds only finished blocks and is refilled only when one more is finished).
    tail: QTextDocument = field(default_factory=QTextDocument)
    tail_shown: bool = False
    tail_at: float = 0.0  # where the tail starts, below the finished blocks
    has_finished: bool = False  # some blocks are finished (else ``content`` is empty and not shown)
    stable_html: str | None = None
    code_blocks: tuple[CodeBlock, ...] = ()
    reasoning_source: str | None = None
    reasoning: QTextDocument = field(default_factory=QTextDocument)
    layout_key: tuple[Any, ...] | None = None
    layout: ItemLayout | None = None


def column(width: int) -> tuple[float, float]:
    """The left edge and width of the centred text column in a view ``width`` wide."""
    col = max(120.0, min(MAX_COLUMN, width - 2 * SIDE_MARGIN))
    return max(0.0, (width - col) / 2), col


class MessagePainter:
    """Lays out, paints and hit-tests :class:`ChatItem`s with one :class:`Look`."""

    def __init__(self, look: Look) -> None:
        self.look = look

    # -- documents ------------------------------------------------------------------------------------------

    def _render(self, item: ChatItem) -> _Render:
        cached: _Render | None = getattr(item, "_render", None)
        if cached is None or cached.look_key != self.look.key:
            cached = _Render(IncrementalRenderer(self.look.markdown), self.look.key)
            for doc in (cached.content, cached.tail, cached.reasoning):
                doc.setDefaultFont(self.look.font)
                doc.setDocumentMargin(0)
                option = QTextOption()
                option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
                doc.setDefaultTextOption(option)
            item._render = cached  # type: ignore[attr-defined]
        text = item.text if item.text or item.role != Role.ASSISTANT else "…"
        if cached.content_source != text or (cached.tail_shown and not item.streaming):
            if item.role == Role.USER:
                # What a person typed is shown as typed: no Markdown surprises in their own words.
                cached.content.setPlainText(text)
                cached.code_blocks = ()
            elif item.streaming:
                parts = cached.renderer.render_parts(text)
                if parts.stable is not cached.stable_html:
                    cached.content.setHtml(parts.stable)
                    cached.stable_html = parts.stable
                    cached.has_finished = parts.has_finished
                cached.tail.setHtml(parts.tail)
                cached.tail_shown = bool(parts.tail)
                cached.code_blocks = parts.code_blocks
            else:
                rendered = cached.renderer.render(text)
                cached.content.setHtml(rendered.html)
                cached.code_blocks = rendered.code_blocks
                cached.stable_html = None
                if cached.tail_shown:
                    cached.tail.clear()
                    cached.tail_shown = False
            cached.content_source = text
        if cached.reasoning_source != item.thinking.text:
            cached.reasoning.setPlainText(item.thinking.text.strip())
            cached.reasoning_source = item.thinking.text
        return cached

    def code_block(self, item: ChatItem, index: int) -> CodeBlock | None:
        blocks = self._render(item).code_blocks
        return blocks[index] if 0 <= index < len(blocks) else None

    def document(self, item: ChatItem, name: str) -> QTextDocument:
        render = self._render(item)
        return render.content if name == "content" else render.reasoning

    # -- layout ---------------------------------------------------------------------------------------------

    def layout(self, item: ChatItem, width: int) -> ItemLayout:
        render = self._render(item)
        key = (item.revision, width, self.look.key)
        if render.layout is not None and render.layout_key == key:
            return render.layout
        render.layout = self._layout(item, width, render)
        render.layout_key = key
        return render.layout

    def _layout(self, item: ChatItem, width: int, render: _Render) -> ItemLayout:
        metrics = QFontMetricsF(self.look.font)
        line = metrics.height()
        gap = 4.0 if self.look.compact else 8.0
        left, col = column(width)
        out = ItemLayout(width)
        y = gap
        if item.role == Role.USER:
            most = col * USER_SHARE - 2 * BUBBLE_PAD.width()
            doc = render.content
            doc.setTextWidth(most)
            ideal = min(most, doc.idealWidth() + 2)
            doc.setTextWidth(ideal)
            size = doc.size()
            bubble_w = ideal + 2 * BUBBLE_PAD.width()
            x = left + col - bubble_w
            out.frame = QRectF(x, y, bubble_w, size.height() + 2 * BUBBLE_PAD.height())
            out.bubble = True
            out.content_at = QPointF(x + BUBBLE_PAD.width(), y + BUBBLE_PAD.height())
            out.content_size = QSizeF(ideal, size.height())
            y = out.frame.bottom() + 2
        else:
            top = y
            out.label = (QPointF(left, y + metrics.ascent()), item.model or "Assistant")
            y += line + 4
            if item.thinking.visible:
                arrow = "▾" if item.thinking.expanded else "▸"
                title = f"{arrow}  {item.thinking.title}"
                bold = QFontMetricsF(_bold(self.look.font))
                out.thinking_header = QRectF(left, y, bold.horizontalAdvance(title) + 8, line + 4)
                y += line + 8
                if item.thinking.expanded:
                    render.reasoning.setTextWidth(col - REASONING_INDENT)
                    out.reasoning_at = QPointF(left + REASONING_INDENT, y)
                    out.reasoning_height = render.reasoning.size().height()
                    y += out.reasoning_height + 10
            if item.text or not item.thinking.visible:
                out.content_at = QPointF(left, y)
                out.content_size = QSizeF(col, self._content_height(render, col))
                y += out.content_size.height()
            out.frame = QRectF(left - 10, top - 4, col + 20, y - top + 8)
            y += 6
        out.actions, end = self._actions(item, metrics, left, col, y)
        if item.meta and item.role == Role.ASSISTANT:
            # On the right, so the actions (shown under the pointer) never push it around.
            start = max(end + 10 if out.actions else left, left + col - metrics.horizontalAdvance(item.meta))
            out.meta_rect = QRectF(start, y, max(0.0, left + col - start), line + 6)
        out.height = y + line + 6 + gap
        return out

    @staticmethod
    def _content_height(render: _Render, width: float) -> float:
        """The height of a reply's text: its document and, while it streams, the growing part under it."""
        height = 0.0
        for doc in (render.content, render.tail) if render.tail_shown else (render.content,):
            if doc.textWidth() != width:  # setting it, even to the same value, lays the document out again
                doc.setTextWidth(width)
            if doc is render.tail:
                # Two documents stacked: put between them the space the whole reply will have there.
                render.tail_at = height + _space_between(render.content, render.tail) if height else 0.0
                height = render.tail_at
            elif render.tail_shown and not render.has_finished:
                continue  # nothing finished yet: only the growing part
            height += doc.size().height()
        return height

    def _actions(
        self, item: ChatItem, metrics: QFontMetricsF, left: float, col: float, y: float
    ) -> tuple[list[Action], float]:
        if not item.bound:
            return [], left
        specs: list[tuple[str, str, str, bool]] = []
        if item.sibling_count > 1:
            i, n = item.sibling_index, item.sibling_count
            specs += [
                ("previous", "‹", "Previous version", i > 0),
                ("position", f"{i + 1}/{n}", f"Version {i + 1} of {n}", False),
                ("next", "›", "Next version", i < n - 1),
            ]
        specs.append(("copy", "Copy", "Copy the message as Markdown (Ctrl+C)", bool(item.text)))  # not a placeholder
        if item.role == Role.USER:
            specs.append(("edit", "Edit", "Edit and resend; the old version is kept (Enter)", True))
        else:
            specs.append(("regenerate", "Regenerate", "Write another reply; this one is kept (R)", True))
        specs.append(("delete", "Delete", "Delete this message and what follows it (Delete)", True))
        height = metrics.height() + 6
        widths = [metrics.horizontalAdvance(label) + 14 for _n, label, _t, _e in specs]
        total = sum(widths)
        x = left + col - total if item.role == Role.USER else left - 7
        actions = []
        for (name, label, tip, enabled), w in zip(specs, widths, strict=True):
            actions.append(Action(name, label, tip, QRectF(x, y, w, height), enabled))
            x += w
        return actions, x

    # -- painting -------------------------------------------------------------------------------------------

    def paint(
        self,
        painter: QPainter,
        item: ChatItem,
        top: float,
        width: int,
        *,
        show_actions: bool,
        hovered_action: str = "",
        current: bool = False,
        actions_enabled: bool = True,
        selection: TextSelection | None = None,
    ) -> None:
        lay = self.layout(item, width)
        look = self.look
        painter.save()
        painter.translate(0, top)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if lay.bubble:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(look.user_bubble)
            painter.drawRoundedRect(lay.frame, 12, 12)
        if item.found or current:
            pen_colour = look.accent if item.found else look.border
            painter.setPen(pen_colour)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(lay.frame.adjusted(-2, -2, 2, 2), 12, 12)
        painter.setFont(_bold(look.font))
        if lay.label is not None:
            painter.setPen(look.muted)
            painter.drawText(lay.label[0], lay.label[1])
        if lay.thinking_header is not None:
            painter.setPen(look.muted)
            arrow = "▾" if item.thinking.expanded else "▸"
            painter.drawText(
                lay.thinking_header.adjusted(0, 0, 0, 0),
                int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                f"{arrow}  {item.thinking.title}",
            )
        painter.setFont(look.font)
        render = self._render(item)
        if lay.reasoning_at is not None:
            painter.setPen(look.border)
            x = lay.reasoning_at.x() - REASONING_INDENT + 4
            painter.drawLine(QPointF(x, lay.reasoning_at.y()), QPointF(x, lay.reasoning_at.y() + lay.reasoning_height))
            self._draw_document(painter, render.reasoning, lay.reasoning_at, look.muted, selection, item, "reasoning")
        if lay.content_size.height() > 0:
            colour = look.muted if not item.text and item.role == Role.ASSISTANT else look.text
            if not render.tail_shown or render.has_finished:
                self._draw_document(painter, render.content, lay.content_at, colour, selection, item, "content")
            if render.tail_shown:
                at = lay.content_at + QPointF(0, render.tail_at)
                self._draw_document(painter, render.tail, at, colour, None, item, "tail")
        if show_actions:
            for action in lay.actions:
                enabled = action.enabled and (actions_enabled or action.name == "copy")
                if action.name == hovered_action and enabled:
                    painter.setPen(Qt.PenStyle.NoPen)
                    painter.setBrush(look.hover)
                    painter.drawRoundedRect(action.rect, 5, 5)
                painter.setPen(look.text if action.name == hovered_action and enabled else look.muted)
                if not enabled and action.name != "position":
                    painter.setPen(look.border)
                painter.drawText(action.rect, int(Qt.AlignmentFlag.AlignCenter), action.label)
        if lay.meta_rect is not None:
            painter.setPen(look.muted)
            metrics = QFontMetricsF(look.font)
            text = metrics.elidedText(item.meta, Qt.TextElideMode.ElideRight, lay.meta_rect.width())
            painter.drawText(lay.meta_rect, int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), text)
        painter.restore()

    def _draw_document(
        self,
        painter: QPainter,
        doc: QTextDocument,
        at: QPointF,
        colour: QColor,
        selection: TextSelection | None,
        item: ChatItem,
        name: str,
    ) -> None:
        painter.save()
        painter.translate(at)
        context = QAbstractTextDocumentLayout.PaintContext()
        context.palette.setColor(QPalette.ColorRole.Text, colour)
        if selection is not None and selection.item is item and selection.document == name:
            chosen = QAbstractTextDocumentLayout.Selection()
            cursor = QTextCursor(doc)
            cursor.setPosition(selection.anchor)
            cursor.setPosition(selection.position, QTextCursor.MoveMode.KeepAnchor)
            chosen.cursor = cursor
            fmt = QTextCharFormat()
            fmt.setBackground(self.look.accent)
            fmt.setForeground(QColor("#ffffff") if self.look.accent.lightness() < 140 else QColor("#000000"))
            chosen.format = fmt
            context.selections = [chosen]
        doc.documentLayout().draw(painter, context)
        painter.restore()

    # -- hit testing ----------------------------------------------------------------------------------------

    def hit(self, item: ChatItem, width: int, point: QPointF) -> Hit:
        """What is at ``point`` (relative to the item's top-left). Actions count even where they are not
        painted yet: the pointer over one makes them show."""
        lay = self.layout(item, width)
        for action in lay.actions:
            if action.rect.contains(point) and action.name != "position":
                return Hit("action", action.name)
        if lay.thinking_header is not None and lay.thinking_header.contains(point):
            return Hit("thinking")
        if lay.meta_rect is not None and lay.meta_rect.contains(point):
            return Hit("details")
        render = self._render(item)
        if lay.reasoning_at is not None:
            inside = point - lay.reasoning_at
            if 0 <= inside.y() <= lay.reasoning_height and inside.x() >= -4:
                position = render.reasoning.documentLayout().hitTest(inside, Qt.HitTestAccuracy.FuzzyHit)
                return Hit("reasoning", position=position)
        inside = point - lay.content_at
        if 0 <= inside.y() <= lay.content_size.height() and -4 <= inside.x() <= lay.content_size.width() + 4:
            if render.tail_shown and inside.y() >= render.tail_at:  # the growing part of a streaming reply
                anchor = render.tail.documentLayout().anchorAt(inside - QPointF(0, render.tail_at))
                if anchor.startswith(COPY_SCHEME + ":"):
                    return Hit("copy_code", anchor.partition(":")[2])
                return Hit("link", anchor) if anchor else Hit()
            anchor = render.content.documentLayout().anchorAt(inside)
            if anchor.startswith(COPY_SCHEME + ":"):
                return Hit("copy_code", anchor.partition(":")[2])
            if anchor:
                return Hit("link", anchor)
            position = render.content.documentLayout().hitTest(inside, Qt.HitTestAccuracy.FuzzyHit)
            return Hit("content", position=position)
        return Hit()

    def action_rect(self, item: ChatItem, width: int, name: str) -> QRectF | None:
        return next((a.rect for a in self.layout(item, width).actions if a.name == name), None)

    def action_tip(self, item: ChatItem, width: int, name: str) -> str:
        return next((a.tip for a in self.layout(item, width).actions if a.name == name), "")


def _bold(font: QFont) -> QFont:
    bold = QFont(font)
    bold.setWeight(QFont.Weight.DemiBold)
    return bold


def _space_between(upper: QTextDocument, lower: QTextDocument) -> float:
    """The space Qt would leave between ``upper``'s last block and ``lower``'s first if they were one document
    (measured: the larger of the two margins, none before a table or code block, and none after one, whose margin
    is already part of ``upper``'s height). A document's own height leaves its last bottom margin out."""
    if _starts_with_table(lower):
        return 0.0
    block = upper.lastBlock()
    previous = block.previous()
    ends_with_table = not block.text() and previous.isValid() and QTextCursor(previous).currentTable() is not None
    bottom = 0.0 if ends_with_table else float(block.blockFormat().bottomMargin())
    return max(bottom, float(lower.firstBlock().blockFormat().topMargin()))


def _starts_with_table(doc: QTextDocument) -> bool:
    block = doc.firstBlock()
    if QTextCursor(block).currentTable() is not None:
        return True
    following = block.next()  # Qt puts an empty block before a table that opens a document
    return not block.text() and following.isValid() and QTextCursor(following).currentTable() is not None
