"""The main window with a real model thread and real llama.cpp, offscreen."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.core.settings import Settings
from app.core.types import FinishReason, Role
from app.platform.paths import AppPaths
from app.platform.settings_store import load_settings
from app.qt.engine_worker import EngineController
from app.ui.main_window import MainWindow
from tests.helpers import bad_models
from tests.helpers.gui import TIMEOUT_MS, open_window


@pytest.fixture
def window(qtbot: QtBot, paths: AppPaths, controller: EngineController) -> MainWindow:
    return open_window(qtbot, paths, controller, settings=Settings(context_length=2048, max_tokens=48), size=None)


def load(qtbot: QtBot, window: MainWindow, controller: EngineController, path: Path) -> None:
    with qtbot.waitSignal(controller.model_loaded, timeout=TIMEOUT_MS):
        window.load_model(str(path))
        # While the model thread loads, the window shows it and stays responsive.
        assert window.progress.isVisible() and "Loading" in window.state_label.text()
        assert not window.model_picker.isEnabled()
    assert not window.progress.isVisible()


def test_send_a_message_and_see_the_reply(
    qtbot: QtBot, window: MainWindow, controller: EngineController, smollm2: Path, paths: AppPaths
) -> None:
    load(qtbot, window, controller, smollm2)
    assert "Ready" in window.state_label.text()
    assert window.demo_banner.isVisible() and "gpt-oss-20b" in window.demo_banner.text
    assert load_settings(paths.settings_file).last_model_path == str(smollm2)

    qtbot.keyClicks(window.composer, "What is the capital of France?")
    chunks: list[str] = []
    controller.reply_chunk.connect(lambda _id, _kind, text: chunks.append(text))
    with qtbot.waitSignal(controller.reply_finished, timeout=TIMEOUT_MS) as finished:
        qtbot.keyClick(window.composer, Qt.Key.Key_Return)
        assert window.composer.toPlainText() == ""
        assert window.stop_button.isVisible() and not window.send_button.isVisible()
    result = finished.args[1]
    assert chunks and "".join(chunks) == result.content
    user, reply = window.chat_view.items
    assert user.role == Role.USER and user.text == "What is the capital of France?"
    assert reply.role == Role.ASSISTANT and reply.text == result.content and reply.text.strip()
    assert "tokens" in window.speed_label.text()
    assert window.conversation_list.count() == 2  # the "Today" heading and the chat
    assert window.conversation_list.item(0).text() == "Today"
    assert window.conversation_list.item(1).text() == "What is the capital of France?"
    assert window.send_button.isVisible() and not window.stop_button.isVisible()


def test_shift_enter_breaks_the_line_without_sending(qtbot: QtBot, window: MainWindow) -> None:
    qtbot.keyClicks(window.composer, "first")
    qtbot.keyClick(window.composer, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(window.composer, "second")
    assert window.composer.toPlainText() == "first\nsecond"
    assert window.chat_view.items == []


@pytest.mark.parametrize("focus", ["composer", "chat_view", "send_button", "conversation_list"])
def test_stop_a_reply(
    qtbot: QtBot, window: MainWindow, controller: EngineController, smollm2: Path, focus: str
) -> None:
    """Esc stops the reply wherever the focus is in the window (it once worked only in the message box)."""
    load(qtbot, window, controller, smollm2)
    window.composer.setPlainText("Write a very long story about a lighthouse keeper.")
    with qtbot.waitSignal(controller.reply_chunk, timeout=TIMEOUT_MS):
        window.send_button.click()
    target = getattr(window, focus)
    target.setFocus()
    with qtbot.waitSignal(controller.reply_finished, timeout=TIMEOUT_MS) as finished:
        qtbot.keyClick(target, Qt.Key.Key_Escape)
    result = finished.args[1]
    assert result.finish_reason == FinishReason.CANCELLED
    assert result.stats.completion_tokens < 48
    reply = window.chat_view.items[-1]
    assert "stopped" in reply.meta
    assert not controller.busy


def test_a_bad_model_shows_an_error_and_the_app_carries_on(
    qtbot: QtBot, window: MainWindow, controller: EngineController, tmp_path: Path, smollm2: Path
) -> None:
    broken = bad_models.write_not_gguf(tmp_path)
    with qtbot.waitSignal(controller.model_load_failed, timeout=TIMEOUT_MS):
        window.load_model(str(broken))
    assert window.error_banner.isVisible()
    assert broken.name in window.error_banner.text and "is not a model" in window.error_banner.text
    assert "No model loaded" in window.state_label.text()
    load(qtbot, window, controller, smollm2)  # a good model still loads afterwards
    assert not window.error_banner.isVisible()


def test_sending_without_a_model_explains_what_to_do(qtbot: QtBot, window: MainWindow) -> None:
    window.send_message("hello")
    assert window.error_banner.isVisible() and "No model is loaded" in window.error_banner.text
    assert window.chat_view.items == []


def test_conversations_switch_and_keep_their_messages(
    qtbot: QtBot, window: MainWindow, controller: EngineController, smollm2: Path
) -> None:
    load(qtbot, window, controller, smollm2)
    with qtbot.waitSignal(controller.reply_finished, timeout=TIMEOUT_MS):
        window.send_message("Say hello.")
    window.new_conversation()
    assert window.chat_view.items == [] and window.conversation_list.count() == 2  # heading + the chat
    window.new_conversation()  # an empty chat is not added to the history
    assert window.conversation_list.count() == 2 and window.current_id is None
    first = window.conversation_list.item(1)
    window.conversation_list.setCurrentItem(first)
    assert [b.role for b in window.chat_view.items] == [Role.USER, Role.ASSISTANT]


def test_a_model_path_written_differently_still_loads(
    qtbot: QtBot, window: MainWindow, controller: EngineController, smollm2: Path
) -> None:
    """`moss --model ./x.gguf` and the like: the loaded model is matched to its request whatever the spelling."""
    spelled = f"{smollm2.parent}/./{smollm2.name}"
    with qtbot.waitSignal(controller.model_loaded, timeout=TIMEOUT_MS):
        window.load_model(spelled)
    assert controller.model is not None and not controller.busy


def test_the_demo_notice_once_dismissed_stays_dismissed(
    qtbot: QtBot, window: MainWindow, controller: EngineController, smollm2: Path, paths: AppPaths
) -> None:
    load(qtbot, window, controller, smollm2)
    assert window.demo_banner.isVisible()
    qtbot.mouseClick(window.demo_banner.close_button, Qt.MouseButton.LeftButton)
    assert not window.demo_banner.isVisible()
    assert load_settings(paths.settings_file).demo_notice_dismissed
    window.close()
    again = open_window(qtbot, paths, controller, settings=load_settings(paths.settings_file), size=None)
    load(qtbot, again, controller, smollm2)  # the next start: the demo model again, and no notice
    assert not again.demo_banner.isVisible() and "Ready" in again.state_label.text()


def test_closing_settings_gives_the_focus_back_to_the_window(qtbot: QtBot, window: MainWindow) -> None:
    from PySide6.QtWidgets import QApplication

    window.activateWindow()
    settings = window.open_settings("Appearance")
    qtbot.waitUntil(lambda: QApplication.activeWindow() is settings)
    settings.close()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)


@pytest.mark.parametrize("content", [b"just some notes\n", b"<!DOCTYPE html><html>Not found</html>", b""])
def test_opening_a_file_that_is_not_a_model_keeps_the_model_that_works(
    qtbot: QtBot, window: MainWindow, controller: EngineController, smollm2: Path, tmp_path: Path, content: bytes
) -> None:
    load(qtbot, window, controller, smollm2)
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(content)
    with qtbot.waitSignal(controller.model_load_failed, timeout=TIMEOUT_MS):
        window.load_model(str(bad))
    qtbot.waitUntil(lambda: controller.model is not None)
    assert controller.model is not None and controller.model.path == str(smollm2)  # still loaded, still usable
    text = window.error_banner.text
    assert "bad.gguf is not a model, although its name ends in .gguf" in text
    assert "files ending in .gguf" not in text  # its name does end in .gguf: that is not the problem
    assert "Ready" in window.state_label.text() and "No model loaded" not in window.state_label.text()
    with qtbot.waitSignal(controller.reply_finished, timeout=TIMEOUT_MS):
        window.send_message("Say hello.")
