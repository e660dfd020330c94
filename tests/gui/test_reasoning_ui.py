"""gpt-oss in the window: the thinking block streams and folds, the effort selector reaches the prompt."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.core.settings import Settings
from app.core.types import ReasoningEffort, Role
from app.platform.paths import AppPaths
from app.qt.engine_worker import EngineController
from app.ui.app import build_main_window
from app.ui.main_window import MainWindow
from tests.helpers.scripted import ScriptedEngine

TIMEOUT_MS = 60_000
REPLY = (
    "<|channel|>analysis<|message|>Simple arithmetic.<|end|>"
    "<|start|>assistant<|channel|>final<|message|>2 + 2 = 4.<|return|>"
)


@pytest.fixture
def controller(scripted_controller: EngineController) -> EngineController:
    return scripted_controller  # replies follow engine.script


def open_window(
    qtbot: QtBot, paths: AppPaths, controller: EngineController, model: Path, settings: Settings
) -> MainWindow:
    window = build_main_window(paths, settings, controller)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(controller.model_loaded, timeout=TIMEOUT_MS):
        window.load_model(str(model))
    return window


def choose_effort(window: MainWindow, effort: ReasoningEffort) -> None:
    index = window.effort_picker.findData(effort)
    window.effort_picker.setCurrentIndex(index)
    window.effort_picker.activated.emit(index)


def test_thinking_streams_then_folds_and_is_never_sent_back(
    qtbot: QtBot, paths: AppPaths, controller: EngineController, engine: ScriptedEngine, tiny_gpt_oss: Path
) -> None:
    window = open_window(qtbot, paths, controller, tiny_gpt_oss, Settings(context_length=2048, max_tokens=200))
    assert window.effort_picker.isEnabled()
    seen: list[tuple[str, bool]] = []  # (chunk kind, thinking block open) as each chunk lands

    def on_chunk(_request: str, kind: str, _text: str) -> None:
        seen.append((kind, window.chat_view.bubbles[-1].thinking.expanded))

    controller.reply_chunk.connect(on_chunk)
    engine.script.append(REPLY)
    with qtbot.waitSignal(controller.reply_finished, timeout=TIMEOUT_MS):
        window.send_message("What is 2 + 2?")
    assert ("reasoning", True) in seen  # open while the model thinks
    bubble = window.chat_view.bubbles[-1]
    assert bubble.text == "2 + 2 = 4."
    assert bubble.thinking.visible and not bubble.thinking.expanded  # folded once the answer started
    assert bubble.thinking.title.startswith("Thought for")
    assert bubble.thinking.text == "Simple arithmetic."
    folded_height = window.chat_view.item_rect(bubble).height()
    header = window.chat_view.thinking_point(bubble)
    assert header is not None
    qtbot.mouseClick(window.chat_view.viewport(), Qt.MouseButton.LeftButton, pos=header)
    assert bubble.thinking.expanded
    qtbot.waitUntil(lambda: window.chat_view.item_rect(bubble).height() > folded_height)  # the reasoning shows

    engine.script.append("<|channel|>final<|message|>Yes.<|return|>")
    with qtbot.waitSignal(controller.reply_finished, timeout=TIMEOUT_MS):
        window.send_message("Sure?")
    assert "2 + 2 = 4." in engine.prompts[-1]
    assert "Simple arithmetic." not in engine.prompts[-1]  # earlier reasoning is never fed back
    window.new_conversation()
    window.conversation_list.setCurrentRow(1)
    first_reply = window.chat_view.bubbles[1]
    assert first_reply.role == Role.ASSISTANT and first_reply.thinking.text == "Simple arithmetic."
    assert not first_reply.thinking.expanded


def test_effort_selector_changes_the_next_prompt(
    qtbot: QtBot, paths: AppPaths, controller: EngineController, engine: ScriptedEngine, tiny_gpt_oss: Path
) -> None:
    window = open_window(qtbot, paths, controller, tiny_gpt_oss, Settings(context_length=2048, max_tokens=200))
    for effort in (ReasoningEffort.HIGH, ReasoningEffort.LOW):
        choose_effort(window, effort)
        engine.script.append("<|channel|>final<|message|>Ok.<|return|>")
        with qtbot.waitSignal(controller.reply_finished, timeout=TIMEOUT_MS):
            window.send_message(f"Think {effort.value}.")
        assert f"Reasoning: {effort.value}" in engine.prompts[-1]
    window.new_conversation()  # a new chat starts from the default effort
    assert window.effort_picker.currentData() == ReasoningEffort.MEDIUM


def test_hidden_reasoning_stays_hidden(
    qtbot: QtBot, paths: AppPaths, controller: EngineController, engine: ScriptedEngine, tiny_gpt_oss: Path
) -> None:
    settings = Settings(context_length=2048, max_tokens=200, reasoning_display="hidden")
    window = open_window(qtbot, paths, controller, tiny_gpt_oss, settings)
    engine.script.append(REPLY)
    with qtbot.waitSignal(controller.reply_finished, timeout=TIMEOUT_MS):
        window.send_message("What is 2 + 2?")
    bubble = window.chat_view.bubbles[-1]
    assert bubble.text == "2 + 2 = 4." and not bubble.thinking.visible


def test_effort_selector_is_off_for_models_without_reasoning(
    qtbot: QtBot, paths: AppPaths, controller: EngineController, smollm2: Path
) -> None:
    window = open_window(qtbot, paths, controller, smollm2, Settings(context_length=2048))
    assert not window.effort_picker.isEnabled()
