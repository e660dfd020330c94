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
from app.ui.main_window import MainWindow
from tests.helpers.gui import open_window, say
from tests.helpers.scripted import ScriptedEngine

REPLY = (
    "<|channel|>analysis<|message|>Simple arithmetic.<|end|>"
    "<|start|>assistant<|channel|>final<|message|>2 + 2 = 4.<|return|>"
)


@pytest.fixture
def controller(scripted_controller: EngineController) -> EngineController:
    return scripted_controller  # replies follow engine.script


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
        seen.append((kind, window.chat_view.items[-1].thinking.expanded))

    controller.reply_chunk.connect(on_chunk)
    say(qtbot, window, controller, engine, "What is 2 + 2?", REPLY)
    assert ("reasoning", True) in seen  # open while the model thinks
    item = window.chat_view.items[-1]
    assert item.text == "2 + 2 = 4."
    assert item.thinking.visible and not item.thinking.expanded  # folded once the answer started
    assert item.thinking.title.startswith("Thought for")
    assert item.thinking.text == "Simple arithmetic."
    folded_height = window.chat_view.item_rect(item).height()
    header = window.chat_view.thinking_point(item)
    assert header is not None
    qtbot.mouseClick(window.chat_view.viewport(), Qt.MouseButton.LeftButton, pos=header)
    assert item.thinking.expanded
    qtbot.waitUntil(lambda: window.chat_view.item_rect(item).height() > folded_height)  # the reasoning shows

    say(qtbot, window, controller, engine, "Sure?", "<|channel|>final<|message|>Yes.<|return|>")
    assert "2 + 2 = 4." in engine.prompts[-1]
    assert "Simple arithmetic." not in engine.prompts[-1]  # earlier reasoning is never fed back
    window.new_conversation()
    window.conversation_list.setCurrentRow(1)
    first_reply = window.chat_view.items[1]
    assert first_reply.role == Role.ASSISTANT and first_reply.thinking.text == "Simple arithmetic."
    assert not first_reply.thinking.expanded


def test_effort_selector_changes_the_next_prompt(
    qtbot: QtBot, paths: AppPaths, controller: EngineController, engine: ScriptedEngine, tiny_gpt_oss: Path
) -> None:
    window = open_window(qtbot, paths, controller, tiny_gpt_oss, Settings(context_length=2048, max_tokens=200))
    for effort in (ReasoningEffort.HIGH, ReasoningEffort.LOW):
        choose_effort(window, effort)
        say(qtbot, window, controller, engine, f"Think {effort.value}.", "<|channel|>final<|message|>Ok.<|return|>")
        assert f"Reasoning: {effort.value}" in engine.prompts[-1]
    window.new_conversation()  # a new chat starts from the default effort
    assert window.effort_picker.currentData() == ReasoningEffort.MEDIUM


def test_hidden_reasoning_stays_hidden(
    qtbot: QtBot, paths: AppPaths, controller: EngineController, engine: ScriptedEngine, tiny_gpt_oss: Path
) -> None:
    settings = Settings(context_length=2048, max_tokens=200, reasoning_display="hidden")
    window = open_window(qtbot, paths, controller, tiny_gpt_oss, settings)
    say(qtbot, window, controller, engine, "What is 2 + 2?", REPLY)
    item = window.chat_view.items[-1]
    assert item.text == "2 + 2 = 4." and not item.thinking.visible


def test_effort_selector_is_off_for_models_without_reasoning(
    qtbot: QtBot, paths: AppPaths, controller: EngineController, smollm2: Path
) -> None:
    window = open_window(qtbot, paths, controller, smollm2, Settings(context_length=2048))
    assert not window.effort_picker.isEnabled()
    assert not window.effort_picker.isVisible()  # not offered at all (it once showed, greyed, "Reasoning: medium")
