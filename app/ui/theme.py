"""Light and dark looks: Qt's Fusion style with a palette, plus a small style sheet for Moss's own widgets.

"system" follows the operating system's colour scheme (Qt >= 6.5 reports it). The colours below are the only
ones Moss chooses: the widgets, the chat's painter (app.ui.chat.look) and the Markdown of messages
(``MarkdownStyle.from_palette``) all take theirs from here.

Sizes follow the text size the person chose: headings are set relative to it when the style sheet is built
(each ``apply_theme`` builds it again), and ``MossStyle`` sizes check boxes and radio buttons with the font
and gives them an outline that stands out in both themes (Fusion's is barely darker than the window).
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QGuiApplication, QPainter, QPalette, QPen
from PySide6.QtWidgets import QApplication, QProxyStyle, QStyle, QStyleFactory, QStyleOption, QWidget

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
        # Check box and radio button outlines: at least 3:1 against base, window and alt (WCAG non-text).
        "indicator_border": "#758272",
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
        "indicator_border": "#8a9687",
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
    if not isinstance(app.style(), MossStyle):
        app.setStyle(MossStyle())
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
    points = body_points(font)
    app.setStyleSheet(_style_sheet(c) + heading_rules(points) + (_COMPACT_RULES if compact else ""))
    return resolved


# Headings, by object name, relative to the body text: bigger than it at every text size (a size in px, as
# these once were, stays put while the text around it grows past it).
HEADING_SCALE = {
    "firstRunTitle": 1.6,  # the welcome card
    "paneTitle": 1.4,  # a settings section
    "modelName": 1.35,  # the model the welcome recommends
    "chatTitle": 1.15,  # above the chat
}
# Small labels (the welcome's overline and size pill), never below a readable size.
SMALL_SCALE = {"overline": 0.85, "sizePill": 0.85}
SMALLEST_POINTS = 8.0


def body_points(font: QFont) -> float:
    """The size of ``font`` in points (a font set in pixels is converted at 96 dpi, Qt's logical default)."""
    if font.pointSizeF() > 0:
        return font.pointSizeF()
    return font.pixelSize() * 72 / 96


def heading_rules(points: float) -> str:
    """Style sheet rules that size headings and small labels for body text of ``points``."""
    sizes = {name: points * scale for name, scale in HEADING_SCALE.items()}
    sizes.update({name: max(SMALLEST_POINTS, points * scale) for name, scale in SMALL_SCALE.items()})
    return "".join(f"\n    QLabel#{name} {{ font-size: {size:.1f}pt; }}" for name, size in sizes.items()) + "\n"


_INDICATOR_METRICS = frozenset(
    {
        QStyle.PixelMetric.PM_IndicatorWidth,
        QStyle.PixelMetric.PM_IndicatorHeight,
        QStyle.PixelMetric.PM_ExclusiveIndicatorWidth,
        QStyle.PixelMetric.PM_ExclusiveIndicatorHeight,
    }
)
_LABEL_SPACINGS = frozenset({QStyle.PixelMetric.PM_CheckBoxLabelSpacing, QStyle.PixelMetric.PM_RadioButtonLabelSpacing})
_INDICATORS = frozenset({QStyle.PrimitiveElement.PE_IndicatorCheckBox, QStyle.PrimitiveElement.PE_IndicatorRadioButton})
# Per pixel of text line height: the indicator's side (Fusion's 14 px box beside 14 px text at 9 pt) and the
# space between it and its label (Fusion's 6 px).
_INDICATOR_PER_LINE = 0.9
_SPACING_PER_LINE = 0.35


class MossStyle(QProxyStyle):
    """Fusion, with check boxes and radio buttons that grow with the text and have a clear outline.

    Fusion's indicators are a fixed 14 px whatever the font, and their outline is the window colour a little
    darker: invisible on a dark window. The size comes from the widget's font here (``pixelMetric``); the
    outline is drawn again over Fusion's in the theme's ``indicator_border`` colour."""

    def __init__(self) -> None:
        super().__init__(QStyleFactory.create("Fusion"))

    def pixelMetric(
        self, metric: QStyle.PixelMetric, option: QStyleOption | None = None, widget: QWidget | None = None
    ) -> int:
        base = super().pixelMetric(metric, option, widget)
        if metric not in _INDICATOR_METRICS and metric not in _LABEL_SPACINGS:
            return base
        line: float
        if option is not None:
            line = option.fontMetrics.height()
        elif widget is not None:
            line = widget.fontMetrics().height()
        else:
            line = QFontMetricsF(QApplication.font()).height()
        per_line = _INDICATOR_PER_LINE if metric in _INDICATOR_METRICS else _SPACING_PER_LINE
        return max(base, round(line * per_line))

    def drawPrimitive(
        self,
        element: QStyle.PrimitiveElement,
        option: QStyleOption,
        painter: QPainter,
        widget: QWidget | None = None,
    ) -> None:
        super().drawPrimitive(element, option, painter, widget)
        if element not in _INDICATORS:
            return
        state = option.state
        if state & QStyle.StateFlag.State_HasFocus and state & QStyle.StateFlag.State_KeyboardFocusChange:
            return  # Fusion outlines the focused one in the accent colour: keep it
        theme = colours("dark" if is_dark(option.palette) else "light")
        enabled = bool(state & QStyle.StateFlag.State_Enabled)
        colour = QColor(theme["indicator_border"] if enabled else theme["border"])
        # Over Fusion's outline, inside the indicator's rectangle; a line that thickens in half pixels as the
        # indicator grows (1 px at 14 px, 2 px at 25 px), so that it stays as visible.
        width = max(1.0, round(option.rect.width() / 14 * 2) / 2)
        outline = QRectF(option.rect).adjusted(width / 2, width / 2, -width / 2, -width / 2)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(colour, width))
        if element == QStyle.PrimitiveElement.PE_IndicatorRadioButton:
            painter.drawEllipse(outline)
        else:
            painter.drawRect(outline)
        painter.restore()


_SYSTEM_FONT: dict[str, QFont] = {}
# Compact mode: less padding in lists and the composer (rules after the others, so they win).
_COMPACT_RULES = """
    QListWidget#conversationList::item { padding: 3px 8px; }
    QListWidget#settingsSections::item { padding: 3px 10px; }
    QListWidget#resultsList::item { padding: 1px 4px; }
    QFrame#composerFrame { border-radius: 8px; }
    QPushButton#primaryButton { padding: 3px 12px; }
    """


# The sidebar's lists are filled with the window colour rather than transparent: Qt then leaves their scroll
# bars' grooves unpainted (black).
def _style_sheet(c: dict[str, str]) -> str:
    return f"""
    QWidget#sidebar {{ background: {c["alt"]}; border-right: 1px solid {c["border"]}; }}
    QListWidget#conversationList {{ background: {c["window"]}; border: none; }}
    QListWidget#conversationList::item {{ padding: 7px 8px; border-radius: 6px; }}
    QListWidget#conversationList::item:selected {{ background: {c["user_bubble"]}; color: {c["text"]}; }}
    QLabel#metaLabel, QLabel#hintLabel {{ color: {c["muted"]}; }}
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
    QLabel#paneTitle {{ font-weight: 600; }}
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
    QListWidget#resultsList {{ background: {c["window"]}; border: none; }}
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
    QLabel#chatTitle {{ font-weight: 600; }}
    QToolButton#composerTool {{ border: none; color: {c["muted"]}; padding: 2px 6px; }}
    QToolButton#composerTool:hover {{ background: {c["alt"]}; border-radius: 5px; color: {c["text"]}; }}
    """
