"""Light and dark looks: Qt's Fusion style with a palette, plus a small style sheet for Moss's own widgets.

"system" follows the operating system's colour scheme (Qt >= 6.5 reports it). The colours below are the only
ones Moss chooses: the widgets, the chat's painter (app.ui.chat.look) and the Markdown of messages
(``MarkdownStyle.from_palette``) all take theirs from here.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

_COLOURS = {
    "light": {
        "window": "#f6f7f5",
        "base": "#ffffff",
        "alt": "#eef1ec",
        "text": "#1d231c",
        "muted": "#5f6b5c",
        "accent": "#3f7a4a",
        "accent_text": "#ffffff",
        "user_bubble": "#e3eee2",
        "border": "#d5dbd2",
        "banner": "#fff6dc",
        "banner_border": "#e8d595",
        "error": "#fde8e6",
        "error_border": "#e3a39b",
        "danger": "#b3261e",
        # Markdown in messages: links, code, quotes and tables.
        "link": "#2f6b3a",
        "code_background": "#f5f7f3",
        "inline_code_background": "#e9eee6",
        "quote_border": "#b9c4b5",
        "table_border": "#d5dbd2",
        "table_header_background": "#eef1ec",
    },
    "dark": {
        "window": "#1b1f1b",
        "base": "#232823",
        "alt": "#2a302a",
        "text": "#e6ebe4",
        "muted": "#9aa596",
        "accent": "#6fb07a",
        "accent_text": "#0f140f",
        "user_bubble": "#2f3d30",
        "border": "#3a423a",
        "banner": "#3a3420",
        "banner_border": "#6b5d2c",
        "error": "#442726",
        "error_border": "#8a4a45",
        "danger": "#f2a59d",
        "link": "#7cc287",
        "code_background": "#1b1f1b",
        "inline_code_background": "#343c34",
        "quote_border": "#56625a",
        "table_border": "#434c43",
        "table_header_background": "#2d342d",
    },
}


def resolve_mode(mode: str) -> str:
    if mode in ("light", "dark"):
        return mode
    scheme = QGuiApplication.styleHints().colorScheme()
    return "dark" if scheme == Qt.ColorScheme.Dark else "light"


def is_dark(palette: QPalette) -> bool:
    """Whether ``palette`` is a dark one (the theme applied, whatever asked for it)."""
    return palette.color(QPalette.ColorRole.Base).lightness() < 128


def colours(mode: str) -> dict[str, str]:
    return _COLOURS[resolve_mode(mode)]


def apply_theme(app: QApplication, mode: str = "system", *, font_size: int = 0, compact: bool = False) -> str:
    """Style ``app`` for ``mode`` (system, light or dark), with text of ``font_size`` points (0: the system's
    size) and, when ``compact``, tighter spacing; returns the mode applied (light or dark). Calling it again
    restyles every open window at once."""
    system_font = _SYSTEM_FONT.setdefault("font", QFont(app.font()))  # before Moss changes it
    font = QFont(system_font)
    if font_size > 0:
        font.setPointSize(font_size)
    app.setFont(font)
    app.setProperty("compact", compact)  # for widgets that space themselves (the chat view)
    resolved = resolve_mode(mode)
    c = _COLOURS[resolved]
    app.setStyle("Fusion")
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: c["window"],
        QPalette.ColorRole.WindowText: c["text"],
        QPalette.ColorRole.Base: c["base"],
        QPalette.ColorRole.AlternateBase: c["alt"],
        QPalette.ColorRole.Text: c["text"],
        QPalette.ColorRole.Button: c["alt"],
        QPalette.ColorRole.ButtonText: c["text"],
        QPalette.ColorRole.Highlight: c["accent"],
        QPalette.ColorRole.HighlightedText: c["accent_text"],
        QPalette.ColorRole.ToolTipBase: c["base"],
        QPalette.ColorRole.ToolTipText: c["text"],
        QPalette.ColorRole.PlaceholderText: c["muted"],
        QPalette.ColorRole.Link: c["accent"],
    }
    for role, value in roles.items():
        palette.setColor(role, QColor(value))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor(c["muted"]))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor(c["muted"]))
    app.setPalette(palette)
    app.setStyleSheet(_style_sheet(c) + (_COMPACT_RULES if compact else ""))
    return resolved


_SYSTEM_FONT: dict[str, QFont] = {}
# Compact mode: less padding in lists and the composer (rules after the others, so they win).
_COMPACT_RULES = """
    QListWidget#conversationList::item { padding: 3px 8px; }
    QListWidget#settingsSections::item { padding: 3px 10px; }
    QListWidget#resultsList::item { padding: 1px 4px; }
    QFrame#composerFrame { border-radius: 8px; }
    QPushButton#primaryButton { padding: 3px 12px; }
    """


def _style_sheet(c: dict[str, str]) -> str:
    return f"""
    QWidget#sidebar {{ background: {c["alt"]}; border-right: 1px solid {c["border"]}; }}
    QListWidget#conversationList {{ background: transparent; border: none; }}
    QListWidget#conversationList::item {{ padding: 7px 8px; border-radius: 6px; }}
    QListWidget#conversationList::item:selected {{ background: {c["user_bubble"]}; color: {c["text"]}; }}
    QLabel#metaLabel, QLabel#hintLabel {{ color: {c["muted"]}; }}
    QLabel#emptyTitle {{ font-size: 20px; font-weight: 600; }}
    QFrame#banner {{ background: {c["banner"]}; border: 1px solid {c["banner_border"]}; border-radius: 8px; }}
    QFrame#errorBanner {{ background: {c["error"]}; border: 1px solid {c["error_border"]}; border-radius: 8px; }}
    QFrame#composerFrame {{ background: {c["base"]}; border: 1px solid {c["border"]}; border-radius: 12px; }}
    QPlainTextEdit#composer {{ background: transparent; border: none; }}
    QStatusBar {{ border-top: 1px solid {c["border"]}; }}
    QStatusBar QLabel {{ padding: 2px 8px; color: {c["muted"]}; }}
    QPushButton#primaryButton {{
        background: {c["accent"]}; color: {c["accent_text"]}; border: none; border-radius: 8px;
        padding: 6px 16px; font-weight: 600;
    }}
    QPushButton#primaryButton:disabled {{ background: {c["border"]}; color: {c["muted"]}; }}
    QListWidget#settingsSections {{
        background: {c["alt"]}; border: none; border-right: 1px solid {c["border"]}; padding: 10px 6px;
    }}
    QListWidget#settingsSections::item {{ padding: 7px 10px; border-radius: 6px; }}
    QListWidget#settingsSections::item:selected {{ background: {c["user_bubble"]}; color: {c["text"]}; }}
    QScrollArea#settingsPage, QWidget#settingsCanvas {{ background: {c["window"]}; border: none; }}
    QLabel#paneTitle {{ font-size: 19px; font-weight: 600; }}
    QFrame#settingsCard {{ background: {c["base"]}; border: 1px solid {c["border"]}; border-radius: 10px; }}
    QFrame#settingsCard QLabel {{ background: transparent; border: none; }}
    QLabel#cardTitle {{ font-weight: 600; }}
    QListWidget#settingsSections {{ outline: 0; }}
    QLabel#pathLabel {{ color: {c["muted"]}; }}
    QPushButton#dangerButton {{
        color: {c["danger"]}; border: 1px solid {c["error_border"]}; border-radius: 6px; padding: 5px 14px;
        background: {c["base"]};
    }}
    QPushButton#dangerButton:hover {{ background: {c["error"]}; }}
    QLineEdit#searchField {{
        background: {c["base"]}; border: 1px solid {c["border"]}; border-radius: 6px; padding: 4px 6px;
    }}
    QListWidget#resultsList {{ background: transparent; border: none; }}
    QListWidget#resultsList::item {{ border-radius: 6px; }}
    QListWidget#resultsList::item:selected, QListWidget#resultsList::item:hover {{ background: {c["user_bubble"]}; }}
    QFrame#downloadRow {{ background: {c["base"]}; border: 1px solid {c["border"]}; border-radius: 8px; }}
    QFrame#downloadRow QLabel {{ border: none; background: transparent; }}
    QLabel#rowTitle, QLabel#sectionTitle {{ font-weight: 600; }}
    QFrame#downloadRow QProgressBar {{ border: none; border-radius: 4px; background: {c["alt"]}; }}
    QFrame#downloadRow QProgressBar::chunk {{ border-radius: 4px; background: {c["accent"]}; }}
    QListView#chatView {{ background: {c["base"]}; border: none; }}
    QToolButton#jumpButton {{
        background: {c["accent"]}; color: {c["accent_text"]}; border: none; border-radius: 13px;
        padding: 5px 14px; font-weight: 600;
    }}
    QLabel#toast {{
        background: {c["text"]}; color: {c["base"]}; border-radius: 10px; padding: 4px 12px;
    }}
    QLabel#chatTitle {{ font-weight: 600; font-size: 15px; }}
    QToolButton#composerTool {{ border: none; color: {c["muted"]}; padding: 2px 6px; }}
    QToolButton#composerTool:hover {{ background: {c["alt"]}; border-radius: 5px; color: {c["text"]}; }}
    """
