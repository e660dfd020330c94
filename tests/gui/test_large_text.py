"""Text size (Settings → Appearance) and small windows: headings, the welcome card, the sidebar, the pickers and
the settings window lay out at 9, 13 and 18 pt and at the window's minimum size; check boxes and radio buttons
grow with the text and have an outline that stands out in both themes (issue 17, items 7 and 12)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from PySide6.QtCore import QModelIndex
from PySide6.QtGui import QColor, QFont, QFontInfo, QImage, QPalette
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QCheckBox,
    QLabel,
    QRadioButton,
    QStyle,
    QStyleOptionButton,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)
from pytestqt.qtbot import QtBot

from app.__main__ import build_parser
from app.core.history import ConversationInfo
from app.engine.hardware import GIB, Machine
from app.platform.paths import AppPaths
from app.qt.engine_worker import EngineController
from app.qt.settings_controller import SettingsController
from app.storage.history import HistoryStore
from app.ui.first_run.panel import FirstRunPanel
from app.ui.main_window import MIN_CHAT_SIZE, MainWindow
from app.ui.settings.window import SettingsWindow
from app.ui.theme import apply_theme, colours
from tests.helpers.gui import open_window

SIZES = (9, 13, 18)
MACHINE = Machine("NVIDIA GeForce RTX 4080", 16 * GIB, 15 * GIB, 32 * GIB, 24 * GIB)
ChooseLook = Callable[..., None]


@pytest.fixture
def look(qapp: QApplication) -> Iterator[ChooseLook]:
    """``look(points, mode)`` restyles the app as Settings → Appearance does; the look is put back after."""
    saved = (QFont(qapp.font()), QPalette(qapp.palette()), qapp.styleSheet())

    def choose(points: int, mode: str = "light") -> None:
        apply_theme(qapp, mode, font_size=points)
        QApplication.processEvents()

    yield choose
    qapp.setFont(saved[0])
    qapp.setPalette(saved[1])
    qapp.setStyleSheet(saved[2])


def pixels(font: QFont) -> int:
    """The size ``font`` is drawn at, in pixels (style sheets may set points or pixels)."""
    return QFontInfo(font).pixelSize()


def conversations(count: int) -> list[ConversationInfo]:
    now = time.time()
    return [
        ConversationInfo(
            id=i, uid=str(i), title=f"Conversation {i}", created_at=now, updated_at=now - (i - 1) * 3 * 86400
        )
        for i in range(1, count + 1)
    ]


def heading_font(window: MainWindow, row: int = 0) -> QFont:
    """The font a sidebar group heading is drawn in (as its delegate prepares it)."""
    view = window.conversation_list
    index = view.model().index(row, 0, QModelIndex())
    option = QStyleOptionViewItem()
    option.initFrom(view)
    view.itemDelegate().initStyleOption(option, index)  # type: ignore[attr-defined]
    return QFont(option.font)


def open_at(qtbot: QtBot, paths: AppPaths, controller: EngineController) -> MainWindow:
    window = open_window(qtbot, paths, controller)
    window.sidebar.set_conversations(conversations(12), None, has_more=False)
    return window


@pytest.mark.parametrize("points", SIZES)
def test_headings_are_never_smaller_than_the_text(
    qtbot: QtBot, paths: AppPaths, scripted_controller: EngineController, look: ChooseLook, points: int
) -> None:
    look(points)
    window = open_at(qtbot, paths, scripted_controller)
    body = pixels(QApplication.font())
    assert QApplication.font().pointSize() == points
    headings: list[QLabel] = [window.title_label]
    settings = window.open_settings("Appearance")
    headings += [label for label in settings.findChildren(QLabel) if label.objectName() == "paneTitle"]
    panel = FirstRunPanel(MACHINE, None)
    qtbot.addWidget(panel)
    panel.show()
    headings += [panel.title, panel.model_name]
    for label in headings:
        label.ensurePolished()
        assert pixels(label.font()) >= body, f"{label.objectName()} {label.text()!r} at {points} pt"
    assert pixels(heading_font(window)) >= body and heading_font(window).bold(), "the sidebar's 'Today'"


def test_sidebar_headings_follow_the_text_size_back(
    qtbot: QtBot, paths: AppPaths, scripted_controller: EngineController, look: ChooseLook
) -> None:
    look(18)
    window = open_at(qtbot, paths, scripted_controller)
    view = window.conversation_list
    look(9)  # the list was built at 18 pt
    heading, chat = view.visualItemRect(view.item(0)), view.visualItemRect(view.item(1))
    assert view.item(0).text() == "Today" and view.item(1).text() == "Conversation 1"
    assert heading.height() <= chat.height(), "a heading as tall as 18 pt text in a 9 pt list"
    assert pixels(heading_font(window)) == pixels(QApplication.font())


def wrapped_labels_cut(widget: QWidget) -> list[str]:
    """The visible labels of ``widget`` given less height than their text needs at their width (a cut line),
    or, for those that do not wrap, less width."""
    cut = []
    for label in widget.findChildren(QLabel):
        if not label.isVisibleTo(widget) or not label.text():
            continue
        if label.wordWrap() and label.height() < label.heightForWidth(label.width()):
            cut.append(f"{label.text()!r}: {label.height()} px high, needs {label.heightForWidth(label.width())}")
        elif not label.wordWrap() and label.width() < label.minimumSizeHint().width():
            cut.append(f"{label.text()!r}: {label.width()} px wide, needs {label.minimumSizeHint().width()}")
    return cut


@pytest.mark.parametrize("points", SIZES)
def test_the_welcome_card_shows_every_line(
    qtbot: QtBot, paths: AppPaths, scripted_controller: EngineController, look: ChooseLook, points: int
) -> None:
    look(points)
    window = open_window(qtbot, paths, scripted_controller)
    panel = FirstRunPanel(MACHINE, None)  # as the chat area shows it, at the chat area's size
    qtbot.addWidget(panel)
    panel.show()
    for size in (window.chat_area.size(), window.minimumSize() - (window.size() - window.chat_area.size())):
        panel.resize(size)
        QApplication.processEvents()
        assert wrapped_labels_cut(panel) == [], f"at {points} pt, {size.width()}×{size.height()}"


@pytest.mark.parametrize("points", (9, 18))
def test_the_minimum_window_keeps_room_for_the_chat(
    qtbot: QtBot, paths: AppPaths, scripted_controller: EngineController, look: ChooseLook, points: int
) -> None:
    look(points)
    window = open_window(qtbot, paths, scripted_controller)
    window.resize(1, 1)  # Qt keeps a window at least at its minimum size
    QApplication.processEvents()
    assert window.size() == window.minimumSize()
    assert window.minimumWidth() >= 720 and window.minimumHeight() >= 400
    assert window.chat_area.height() >= MIN_CHAT_SIZE[1]
    if points == 9:  # a small laptop window fits
        assert window.minimumWidth() <= 800 and window.minimumHeight() <= 460


def test_the_demo_notice_is_one_compact_line(
    qtbot: QtBot, paths: AppPaths, scripted_controller: EngineController, look: ChooseLook
) -> None:
    look(9)
    window = open_window(qtbot, paths, scripted_controller, size=(800, 500))
    window.demo_banner.offer("SmolLM2-135M-Instruct.Q4_1.gguf")
    QApplication.processEvents()
    assert window.size().width() == 800 and window.size().height() == 500
    assert window.demo_banner.height() <= 500 // 10, "a notice, not a quarter of the window"
    assert window.chat_area.height() >= MIN_CHAT_SIZE[1]
    assert "gpt-oss-20b" in window.demo_banner.text


@pytest.mark.parametrize("points", SIZES)
def test_pickers_search_and_sections_fit_their_text(
    qtbot: QtBot, paths: AppPaths, scripted_controller: EngineController, look: ChooseLook, points: int
) -> None:
    look(points)
    window = open_at(qtbot, paths, scripted_controller)
    field = window.sidebar.search_field
    room = field.width() - (field.sizeHint().width() - 17 * field.fontMetrics().horizontalAdvance("x"))
    assert field.fontMetrics().horizontalAdvance(field.placeholderText()) <= room, field.placeholderText()
    assert field.placeholderText().startswith("Search")
    picker = window.model_picker
    long_name = str(paths.models / "gpt-oss-120b-mxfp4-00001-of-00003.gguf")
    (paths.models / long_name).write_bytes(b"")
    picker.set_models([long_name], "")
    widest = max(picker.fontMetrics().horizontalAdvance(picker.itemText(i)) for i in range(picker.count()))
    popup_width = max(picker.view().minimumWidth(), picker.width())  # a list opens at least as wide as its picker
    assert popup_width >= widest, "the list opens wide enough for every name"
    sections = window.open_settings("Appearance").sections
    longest = max(sections.fontMetrics().horizontalAdvance(sections.item(i).text()) for i in range(sections.count()))
    assert sections.viewport().width() >= longest + 20  # the names and their rows' padding
    assert sections.visualItemRect(sections.item(0)).height() > sections.fontMetrics().height()


def indicator_size(widget: QAbstractButton) -> int:
    metric = QStyle.PixelMetric.PM_IndicatorWidth
    if isinstance(widget, QRadioButton):
        metric = QStyle.PixelMetric.PM_ExclusiveIndicatorWidth
    return widget.style().pixelMetric(metric, None, widget)


def test_check_boxes_and_radio_buttons_grow_with_the_text(qtbot: QtBot, look: ChooseLook) -> None:
    sizes = []
    for points in (9, 18):
        look(points)
        box, radio = QCheckBox("Compact mode"), QRadioButton("Dark")
        for button in (box, radio):
            qtbot.addWidget(button)
            button.show()
        sizes.append((indicator_size(box), indicator_size(radio)))
        assert box.sizeHint().height() >= indicator_size(box)
    (box_9, radio_9), (box_18, radio_18) = sizes
    assert box_9 >= 13 and radio_9 >= 13  # Fusion's own size at 9 pt
    assert box_18 >= 1.6 * box_9 and radio_18 >= 1.6 * radio_9


def contrast(a: QColor, b: QColor) -> float:
    """WCAG 2 contrast ratio of two colours."""

    def luminance(colour: QColor) -> float:
        def channel(value: float) -> float:
            return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

        return 0.2126 * channel(colour.redF()) + 0.7152 * channel(colour.greenF()) + 0.0722 * channel(colour.blueF())

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def outline_contrast(button: QAbstractButton, image: QImage) -> tuple[float, float]:
    """The indicator's outline against its inside and against the window around it: the best contrast of the
    pixels across its left edge, level with its centre."""
    option = QStyleOptionButton()
    button.initStyleOption(option)  # type: ignore[attr-defined]
    element = QStyle.SubElement.SE_CheckBoxIndicator
    if isinstance(button, QRadioButton):
        element = QStyle.SubElement.SE_RadioButtonIndicator
    rect = button.style().subElementRect(element, option, button)
    y = rect.center().y()
    inside, outside = image.pixelColor(rect.center().x(), y), image.pixelColor(max(0, rect.left() - 2), y)
    edge = [image.pixelColor(x, y) for x in range(rect.left(), rect.left() + 3)]
    return max(contrast(c, inside) for c in edge), max(contrast(c, outside) for c in edge)


@pytest.mark.parametrize("mode", ["dark", "light"])
@pytest.mark.parametrize("points", (9, 18))
def test_indicator_outlines_stand_out(qtbot: QtBot, look: ChooseLook, mode: str, points: int) -> None:
    look(points, mode)
    page = QWidget()
    qtbot.addWidget(page)
    column = QVBoxLayout(page)
    buttons: list[QAbstractButton] = [QCheckBox("Compact mode"), QRadioButton("Dark")]
    for button in buttons:
        column.addWidget(button)
    page.show()
    assert page.palette().color(QPalette.ColorRole.Window).name() == colours(mode)["window"]
    for button in buttons:
        against_inside, against_window = outline_contrast(button, button.grab().toImage())
        assert against_inside >= 3 and against_window >= 3, f"{type(button).__name__} in {mode} at {points} pt"


def test_screenshots_take_a_text_size_and_the_minimum_size() -> None:
    args = build_parser().parse_args(["screenshots", "/tmp/shots", "--font-size", "18", "--minimum-size"])
    assert (args.font_size, args.minimum_size) == (18, True)
    assert build_parser().parse_args(["screenshots", "/tmp/shots"]).font_size == 0
    with pytest.raises(SystemExit):
        build_parser().parse_args(["screenshots", "/tmp/shots", "--font-size", "99"])


def test_the_settings_window_cannot_be_made_too_small_to_use(qtbot: QtBot, paths: AppPaths) -> None:
    store = HistoryStore.open(paths.history_file)
    settings = SettingsWindow(SettingsController(paths.settings_file), paths, store)
    qtbot.addWidget(settings)
    settings.show()
    settings.resize(100, 50)
    assert settings.width() >= 720 and settings.height() >= 460
    store.close()
