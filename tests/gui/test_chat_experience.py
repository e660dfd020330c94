"""The chat as a person uses it: Markdown with code and its Copy, links, selecting text, every action on a
message by mouse and by keyboard, following a streaming reply, the context meter, the window's manners.

A real model thread runs the tiny gpt-oss model with scripted replies (tests/helpers/scripted.py), over a
real SQLite history; the window is real and offscreen.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QObject, QPoint, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices, QFileOpenEvent, QGuiApplication
from PySide6.QtWidgets import QApplication, QMenu
from pytestqt.qtbot import QtBot

from app.core.settings import Settings
from app.core.types import Role
from app.devtools.synthetic import SyntheticEngine, SyntheticReply
from app.platform.paths import AppPaths
from app.platform.settings_store import load_settings
from app.qt.engine_worker import EngineController
from app.ui.app import FileOpenHandler
from app.ui.chat.items import ChatItem
from app.ui.main_window import MainWindow
from tests.helpers.gui import TIMEOUT_MS, open_window, say
from tests.helpers.scripted import ScriptedEngine, answer

CODE = 'def greet(name):\n    return f"Hello, {name}!"'
MARKDOWN = (
    "## Greeting\n\nUse a function:\n\n```python\n" + CODE + "\n```\n\n"
    "| Name | Says |\n|---|---|\n| Ada | Hello |\n\nMore at [the docs](https://docs.python.org/3/)."
)


@pytest.fixture
def controller(scripted_controller: EngineController) -> EngineController:
    return scripted_controller  # replies follow engine.script


@pytest.fixture
def window(qtbot: QtBot, paths: AppPaths, controller: EngineController, tiny_gpt_oss: Path) -> MainWindow:
    return open_window(qtbot, paths, controller, tiny_gpt_oss)


def point_of(window: MainWindow, item: ChatItem, kind: str) -> QPoint:
    """A viewport point over part of an item: "code-copy", "link" or "text"."""
    view = window.chat_view
    view.scrollTo(view.model_.index_of(item))
    rect = view.item_rect(item)
    for y in range(rect.top(), rect.bottom(), 3):
        for x in range(rect.left(), rect.right(), 4):
            _item, hit = view.hit_at(QPoint(x, y))
            if (kind == "code-copy" and hit.kind == "copy_code") or (kind == hit.kind):
                return QPoint(x, y)
    raise AssertionError(f"no {kind} in the message")


def click(qtbot: QtBot, window: MainWindow, point: QPoint) -> None:
    qtbot.mouseMove(window.chat_view.viewport(), point)
    qtbot.mouseClick(window.chat_view.viewport(), Qt.MouseButton.LeftButton, pos=point)


class _Browser(QObject):
    """Stands in for the web browser: Qt hands it the URLs the app asks to open."""

    def __init__(self) -> None:
        super().__init__()
        self.opened: list[str] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.opened.append(url.toString())


def test_markdown_reply_with_code_copy_link_and_selection(
    qtbot: QtBot, window: MainWindow, engine: ScriptedEngine, controller: EngineController
) -> None:
    say(qtbot, window, controller, engine, "How do I greet someone in Python?", answer(MARKDOWN))
    reply = window.chat_view.items[-1]
    assert reply.text == MARKDOWN
    document = window.chat_view.painter.document(reply, "content")
    assert document.toPlainText().startswith("Greeting")  # rendered, not shown as "## Greeting"
    assert "```" not in document.toPlainText() and "|---|" not in document.toPlainText()

    QGuiApplication.clipboard().clear()
    click(qtbot, window, point_of(window, reply, "code-copy"))
    assert QGuiApplication.clipboard().text() == CODE  # the code exactly, no fence, no language

    browser = _Browser()
    QDesktopServices.setUrlHandler("https", browser, "open")
    try:
        click(qtbot, window, point_of(window, reply, "link"))
    finally:
        QDesktopServices.unsetUrlHandler("https")
    assert browser.opened == ["https://docs.python.org/3/"]

    # Drag across the text to select it; Ctrl+C copies the selection, not the whole message.
    view = window.chat_view
    start = point_of(window, reply, "content")
    end = QPoint(start.x() + 300, start.y() + 40)
    qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(view.viewport(), end)
    qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=end)
    selected = view.selected_text()
    assert selected and selected in document.toPlainText() and selected != document.toPlainText()
    qtbot.keyClick(view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QGuiApplication.clipboard().text() == selected


def test_message_actions_by_keyboard(
    qtbot: QtBot, window: MainWindow, engine: ScriptedEngine, controller: EngineController
) -> None:
    say(qtbot, window, controller, engine, "Name a colour", answer("Blue.", "Any colour works."))
    say(qtbot, window, controller, engine, "Another?", answer("Green."))
    view = window.chat_view
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_End)
    assert view.current_item() is view.items[-1]

    # C copies the message as Markdown; R writes another version of the reply.
    qtbot.keyClick(view, Qt.Key.Key_C)
    assert QGuiApplication.clipboard().text() == "Green."
    engine.script.append(answer("Red."))
    with qtbot.waitSignal(controller.reply_finished, timeout=TIMEOUT_MS):
        qtbot.keyClick(view, Qt.Key.Key_R)
    assert [b.text for b in view.items] == ["Name a colour", "Blue.", "Another?", "Red."]
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_End)
    qtbot.keyClick(view, Qt.Key.Key_Left)  # the previous version
    assert view.items[-1].text == "Green."

    # Up to the first reply; T opens its thinking; the menu key lists every action.
    qtbot.keyClick(view, Qt.Key.Key_Home)
    qtbot.keyClick(view, Qt.Key.Key_Down)
    first_reply = view.current_item()
    assert first_reply is not None and first_reply.text == "Blue." and not first_reply.thinking.expanded
    qtbot.keyClick(view, Qt.Key.Key_T)
    assert first_reply.thinking.expanded
    labels = [a.text() for a in view.context_menu(first_reply).actions() if a.text()]
    assert labels == ["Copy message", "Regenerate", "Hide thinking", "Delete…"]

    # Enter on a message of yours edits it; Delete (confirmed) removes a message and what follows it.
    qtbot.keyClick(view, Qt.Key.Key_Up)
    qtbot.keyClick(view, Qt.Key.Key_Return)
    assert window.composer.toPlainText() == "Name a colour" and window.edit_hint.isVisible()
    qtbot.keyClick(window.composer, Qt.Key.Key_Escape)  # cancels the edit
    asked: list[str] = []
    window.confirm = lambda _title, text, _ok: asked.append(text) or True  # type: ignore[method-assign]
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Home)
    qtbot.keyClick(view, Qt.Key.Key_Down)
    qtbot.keyClick(view, Qt.Key.Key_Delete)
    assert asked == ["Delete this reply and the 2 messages after it? This cannot be undone."]
    assert [b.text for b in view.items] == ["Name a colour"]
    assert [m.content for m in window.store.path(window.current_id or 0)] == ["Name a colour"]


def test_actions_by_mouse_copy_and_delete_with_details_on_hover(
    qtbot: QtBot, window: MainWindow, engine: ScriptedEngine, controller: EngineController
) -> None:
    say(qtbot, window, controller, engine, "Say hi", answer("**Hi** there."))
    view = window.chat_view
    reply = view.items[-1]
    assert "tokens/s" in reply.meta and "First token after" in reply.details and "Prompt:" in reply.details
    copy_point = view.action_point(reply, "copy")
    assert copy_point is not None
    click(qtbot, window, copy_point)
    assert QGuiApplication.clipboard().text() == "**Hi** there."  # Markdown, never harmony markers

    window.confirm = lambda *_: False  # type: ignore[method-assign]
    delete_point = view.action_point(reply, "delete")
    assert delete_point is not None
    click(qtbot, window, delete_point)
    assert len(view.items) == 2  # asked, and the answer was no
    window.confirm = lambda *_: True  # type: ignore[method-assign]
    click(qtbot, window, delete_point)
    assert [b.text for b in view.items] == ["Say hi"]


def test_streaming_follows_the_bottom_until_the_reader_scrolls_up(
    qtbot: QtBot, window: MainWindow, engine: ScriptedEngine, controller: EngineController
) -> None:
    for i in range(8):
        say(qtbot, window, controller, engine, f"Question {i}", answer(f"Answer {i}. " + "Some words here. " * 30))
    view = window.chat_view
    bar = view.verticalScrollBar()
    assert bar.maximum() > 0 and bar.value() == bar.maximum() and view.following
    view.doItemsLayout()
    earlier = [item._render.layout for item in view.items]  # type: ignore[attr-defined]

    engine.script.append(answer("Streaming " + "more text arrives " * 120))
    chunks = 0
    scrolled = False

    def on_chunk(*_args: object) -> None:
        nonlocal chunks, scrolled
        chunks += 1
        if chunks == 1:
            bar.setValue(0)  # the reader scrolls up to read something earlier
            scrolled = True

    controller.reply_chunk.connect(on_chunk)
    with qtbot.waitSignal(controller.reply_finished, timeout=TIMEOUT_MS):
        window.send_message("Tell me more")
    assert scrolled
    streamed = view.items[-1]  # finished: one document again, the whole reply rendered at once
    view.doItemsLayout()
    assert not streamed.streaming and not streamed._render.tail_shown  # type: ignore[attr-defined]
    assert view.painter.document(streamed, "content").toPlainText().startswith("Streaming more text arrives")
    qtbot.waitUntil(lambda: view.jump_button.isVisible())
    assert bar.value() == 0 and not view.following  # the view stayed where the reader was
    # Only the growing reply was laid out again: the messages above kept their layouts.
    assert [item._render.layout for item in view.items[: len(earlier)]] == earlier  # type: ignore[attr-defined]
    qtbot.mouseClick(view.jump_button, Qt.MouseButton.LeftButton)
    assert bar.value() == bar.maximum() and view.following and not view.jump_button.isVisible()


def test_context_meter_and_the_warning_before_it_is_full(
    qtbot: QtBot, paths: AppPaths, controller: EngineController, engine: ScriptedEngine, tiny_gpt_oss: Path
) -> None:
    window = open_window(qtbot, paths, controller, tiny_gpt_oss, Settings(context_length=1024, max_tokens=900))
    assert controller.model is not None and controller.model.n_ctx == 1024
    say(qtbot, window, controller, engine, "Hello", answer("Hi."))
    meter = window.context_meter
    assert meter.isVisible() and 0 < meter.used < 0.5 * 1024 and meter.total == 1024 and meter.level == "ok"
    assert not window.context_banner.isVisible()
    say(qtbot, window, controller, engine, "Tell me a story", answer("Once upon a time " + "there was a fox. " * 120))
    assert meter.used >= 0.85 * 1024 and meter.level in ("warn", "full")
    assert window.context_banner.isVisible() and "context" in window.context_banner.text
    window.context_banner.action_triggered.emit("new")  # "New chat" starts fresh
    assert window.current_id is None and meter.used == 0 and not window.context_banner.isVisible()


def test_shortcuts_and_the_window_remembers_its_layout(
    qtbot: QtBot, paths: AppPaths, controller: EngineController, tiny_gpt_oss: Path, window: MainWindow
) -> None:
    qtbot.keyClick(window, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.focusWidget() is window.sidebar.search_field
    qtbot.keyClick(window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.focusWidget() is window.composer
    window.resize(780, 640)  # the offscreen screen is 800 wide; Qt keeps a restored window on its screen
    window.splitter.setSizes([180, window.splitter.width() - 180])
    size = window.size()
    qtbot.keyClick(window, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)  # closes the window
    qtbot.waitUntil(lambda: not window.isVisible())
    saved = load_settings(paths.settings_file)
    assert saved.window_geometry and saved.window_state

    again = open_window(qtbot, paths, controller, settings=saved, size=None)  # the size comes from the settings
    assert again.size() == size
    assert window.minimumSizeHint().width() <= 800  # fits a small laptop screen
    assert again.splitter.sizes()[0] == 180


def test_up_in_an_empty_composer_edits_the_last_message(
    qtbot: QtBot, window: MainWindow, engine: ScriptedEngine, controller: EngineController
) -> None:
    say(qtbot, window, controller, engine, "First question", answer("First answer."))
    say(qtbot, window, controller, engine, "Second question", answer("Second answer."))
    window.composer.setFocus()
    qtbot.keyClick(window.composer, Qt.Key.Key_Up)
    assert window.composer.toPlainText() == "Second question" and window.edit_hint.isVisible()
    assert window.chat_view.items[-2].role == Role.USER


def test_the_context_menu_offers_every_action(
    qtbot: QtBot, window: MainWindow, engine: ScriptedEngine, controller: EngineController
) -> None:
    say(qtbot, window, controller, engine, "Hi", answer("Hello."))
    view = window.chat_view
    menu = view.context_menu(view.items[0])
    assert isinstance(menu, QMenu)
    assert [a.text() for a in menu.actions() if a.text()] == ["Copy message", "Edit and resend", "Delete…"]


def test_the_welcome_shows_without_a_model_and_gives_way_to_the_chat_as_it_loads(
    qtbot: QtBot, paths: AppPaths, controller: EngineController, tiny_gpt_oss: Path
) -> None:
    main = open_window(qtbot, paths, controller)  # no model yet
    qtbot.waitUntil(lambda: main.first_run is not None, timeout=TIMEOUT_MS)
    assert main.first_run is not None and main.chat_area.currentWidget() is main.first_run
    shown: list[str] = []
    controller.load_progress.connect(lambda _path, _percent: shown.append(main.state_label.text()))
    with qtbot.waitSignal(controller.model_loaded, timeout=TIMEOUT_MS):
        main.first_run.model_chosen.emit(str(tiny_gpt_oss))  # "Use" on a model found on disk
        assert main.chat_area.currentWidget() is main.chat_view  # loading: the chat, with the progress below
    assert any(text.startswith("Loading tiny-gpt-oss.gguf…") and text.endswith("%") for text in shown)
    assert main.progress.maximum() == 100 and not main.progress.isVisible()


def test_deleting_all_data_while_a_reply_streams_drops_it_without_an_error(
    qtbot: QtBot, paths: AppPaths, tmp_path: Path
) -> None:
    engine = SyntheticEngine(SyntheticReply("word " * 300), pause_after=20)  # holds mid-reply until resumed
    controller = EngineController(engine=engine)
    try:
        model = tmp_path / "gpt-oss-20b-mxfp4.gguf"
        model.write_bytes(b"")  # the synthetic engine reads nothing; the picker lists files that exist
        main = open_window(qtbot, paths, controller, model)
        main.send_message("Count to three hundred")
        qtbot.waitUntil(engine.paused.is_set, timeout=TIMEOUT_MS)
        settings = main.open_settings("Privacy")
        settings.privacy_pane.confirm = lambda _title, _text, _check: (True, False)  # type: ignore[method-assign]
        with qtbot.waitSignal(settings.data_deleted, timeout=TIMEOUT_MS):
            settings.privacy_pane.delete_button.click()
        engine.resume.set()
        qtbot.waitUntil(lambda: not controller.busy, timeout=TIMEOUT_MS)
        qtbot.wait(50)  # the model thread's last signals
        assert not main.error_banner.isVisible(), main.error_banner.text
        assert main.store.count_conversations() == 0 and main.current_id is None and main.chat_view.items == []
        saved = load_settings(paths.settings_file)
        assert saved.recent_models == () and saved.last_model_path == ""
        settings.close()
    finally:
        controller.shutdown()


def test_open_with_moss_on_macos_loads_the_file(
    qtbot: QtBot, window: MainWindow, controller: EngineController, smollm2: Path
) -> None:
    # Finder's "Open with" arrives as a QFileOpenEvent, not on the command line.
    handler = FileOpenHandler(QApplication.instance())  # type: ignore[arg-type]
    handler.window = window
    try:
        with qtbot.waitSignal(controller.model_loaded, timeout=TIMEOUT_MS):
            QApplication.sendEvent(QApplication.instance(), QFileOpenEvent(str(smollm2)))
        assert controller.model is not None and controller.model.path == str(smollm2)
    finally:
        QApplication.instance().removeEventFilter(handler)  # type: ignore[union-attr]


def test_scrolling_up_while_a_layout_is_pending_is_not_undone(
    qtbot: QtBot, window: MainWindow, engine: ScriptedEngine, controller: EngineController
) -> None:
    """Scrolling can run the view's pending layout before the scroll bar announces the new value: the range
    then changes while the view still thinks it follows the reply, and it must not pull the reader back."""
    for i in range(6):
        say(qtbot, window, controller, engine, f"Question {i}", answer(f"Answer {i}. " + "Some words here. " * 30))
    view = window.chat_view
    bar = view.verticalScrollBar()
    assert view.following and bar.value() == bar.maximum() > 0
    qtbot.mouseMove(view.viewport(), view.viewport().rect().center())  # the pointer rests over the chat
    view.items[-1].append_text(" More words arrive." * 40)  # the reply grows: its row is laid out later
    bar.setValue(0)  # the reader scrolls up before that layout has run
    qtbot.wait(50)
    assert bar.value() == 0 and not view.following
    qtbot.waitUntil(view.jump_button.isVisible)


def test_copy_is_off_while_a_reply_has_not_said_a_word(qtbot: QtBot, paths: AppPaths) -> None:
    """The "…" of a reply about to start is no text: Copy is greyed, and C leaves the clipboard alone."""
    from app.storage.history import HistoryStore
    from app.ui.chat.view import ChatView

    store = HistoryStore.open(paths.history_file)
    conversation = store.create_conversation(title="t")
    view = ChatView()
    qtbot.addWidget(view)
    view.resize(700, 400)
    view.show()
    item = view.add_item(Role.ASSISTANT)
    item.bind(store.add_message(conversation.id, None, Role.ASSISTANT, ""))

    def copy_enabled() -> bool:
        layout = view.painter.layout(item, view.viewport().width())
        return next(a.enabled for a in layout.actions if a.name == "copy")

    QGuiApplication.clipboard().setText("kept")
    assert not copy_enabled()
    view.run_action(item, "copy")
    assert QGuiApplication.clipboard().text() == "kept"
    item.set_text("Hello")
    assert copy_enabled()
    view.run_action(item, "copy")
    assert QGuiApplication.clipboard().text() == "Hello"
    store.close()
