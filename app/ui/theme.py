"""Light and dark looks: Qt's Fusion style with a palette, plus a small style sheet for Moss's own widgets.

"system" follows the operating system's colour scheme (Qt >= 6.5 reports it).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
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
    },
}


def resolve_mode(mode: str) -> str:
    if mode in ("light", "dark"):
        return mode
    scheme = QGuiApplication.styleHints().colorScheme()
    return "dark" if scheme == Qt.ColorScheme.Dark else "light"


def colours(mode: str) -> dict[str, str]:
    return _COLOURS[resolve_mode(mode)]


def apply_theme(app: QApplication, mode: str = "system") -> str:
    """Style ``app`` for ``mode`` (system, light or dark); returns the mode applied (light or dark)."""
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
    app.setStyleSheet(_style_sheet(c))
    return resolved


def _style_sheet(c: dict[str, str]) -> str:
    return f"""
    QWidget#sidebar {{ background: {c["alt"]}; border-right: 1px solid {c["border"]}; }}
    QListWidget#conversationList {{ background: transparent; border: none; }}
    QListWidget#conversationList::item {{ padding: 7px 8px; border-radius: 6px; }}
    QListWidget#conversationList::item:selected {{ background: {c["user_bubble"]}; color: {c["text"]}; }}
    QScrollArea#chatScroll, QWidget#chatCanvas {{ background: {c["base"]}; border: none; }}
    QFrame#userBubble {{ background: {c["user_bubble"]}; border-radius: 12px; }}
    QFrame#assistantBubble {{ background: transparent; }}
    QLabel#roleLabel {{ color: {c["muted"]}; font-weight: 600; }}
    QLabel#metaLabel, QLabel#hintLabel {{ color: {c["muted"]}; }}
    QToolButton#thinkingToggle {{ color: {c["muted"]}; border: none; padding: 2px 0; font-weight: 600; }}
    QLabel#thinkingText {{
        color: {c["muted"]}; border-left: 2px solid {c["border"]}; padding: 2px 0 2px 10px; margin-left: 4px;
    }}
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
    QToolButton#bubbleAction {{ color: {c["muted"]}; border: none; padding: 1px 6px; }}
    QToolButton#bubbleAction:hover {{ color: {c["text"]}; background: {c["alt"]}; border-radius: 4px; }}
    QToolButton#bubbleAction:disabled {{ color: {c["border"]}; }}
    QFrame#userBubble[found="true"], QFrame#assistantBubble[found="true"] {{
        border: 2px solid {c["accent"]}; border-radius: 12px;
    }}
    QLineEdit#searchField {{
        background: {c["base"]}; border: 1px solid {c["border"]}; border-radius: 6px; padding: 4px 6px;
    }}
    QListWidget#resultsList {{ background: transparent; border: none; }}
    QListWidget#resultsList::item {{ border-radius: 6px; }}
    QListWidget#resultsList::item:selected, QListWidget#resultsList::item:hover {{ background: {c["user_bubble"]}; }}
    QPushButton#earlierButton {{ padding: 4px 12px; }}
    QFrame#downloadRow {{ background: {c["base"]}; border: 1px solid {c["border"]}; border-radius: 8px; }}
    QFrame#downloadRow QLabel {{ border: none; background: transparent; }}
    QLabel#rowTitle, QLabel#sectionTitle {{ font-weight: 600; }}
    QFrame#downloadRow QProgressBar {{ border: none; border-radius: 4px; background: {c["alt"]}; }}
    QFrame#downloadRow QProgressBar::chunk {{ border-radius: 4px; background: {c["accent"]}; }}
    """
