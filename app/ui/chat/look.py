"""The chat's look, taken from the application's palette and font (app.ui.theme sets both)."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget

from app.ui.chat.markdown import MarkdownStyle
from app.ui.chat.painter import Look
from app.ui.theme import colours, is_dark


def current_look(widget: QWidget) -> Look:
    palette = widget.palette()
    dark = is_dark(palette)
    theme = colours("dark" if dark else "light")
    app = QApplication.instance()
    compact = bool(app.property("compact")) if app is not None else False
    return Look(
        text=palette.color(QPalette.ColorRole.Text),
        muted=QColor(theme["muted"]),
        accent=QColor(theme["accent"]),
        user_bubble=QColor(theme["user_bubble"]),
        border=QColor(theme["border"]),
        hover=QColor(theme["alt"]),
        font=widget.font(),
        markdown=MarkdownStyle.from_palette(theme, is_dark=dark),
        compact=compact,
    )
