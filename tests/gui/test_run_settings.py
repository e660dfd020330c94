"""Run settings through the main window and a real model: the plan in words, manual overrides applied with
"Apply and reload", back to automatic, threads and batch reaching llama.cpp, sampling shaping the next reply,
the settings window's other changes saved and applied by the main window, and `moss chat` asking the engine for
exactly what the window asks from the same settings file."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.core.settings import Settings
from app.core.types import GenerationParams, GenerationResult, Message
from app.engine.llama_engine import LlamaEngine
from app.platform.paths import AppPaths
from app.platform.settings_store import load_settings, save_settings
from app.qt.engine_worker import EngineController
from app.qt.settings_controller import SettingsController
from app.ui.app import build_main_window
from app.ui.main_window import MainWindow
from app.ui.theme import colours
from tests.helpers.gui import TIMEOUT_MS, open_window


@pytest.fixture
def window(qtbot: QtBot, paths: AppPaths, controller: EngineController, tiny_gpt_oss: Path) -> Iterator[MainWindow]:
    main = open_window(qtbot, paths, controller, tiny_gpt_oss, Settings(), size=None)
    yield main
    if main._settings_window is not None:
        main._settings_window.tasks.wait()


def test_the_plan_is_shown_in_words(window: MainWindow, controller: EngineController) -> None:
    model = controller.model
    assert model is not None and model.plan
    settings = window.open_run_settings()
    assert settings.stack.currentWidget() is settings.inference_pane
    assert settings.inference_pane.plan.text() == "\n".join(model.plan)
    assert "layers" in model.plan[0] and "context" in model.plan[0]


def test_manual_settings_reload_the_model_and_reset_goes_back_to_automatic(
    qtbot: QtBot, window: MainWindow, controller: EngineController, paths: AppPaths
) -> None:
    pane = window.open_run_settings().inference_pane
    assert not pane.manual.isChecked() and not pane.kv_type.isEnabled()
    pane.manual.setChecked(True)
    pane.context.setValue(1024)
    pane.cpu_moe.setValue(1)
    pane.kv_type.setCurrentIndex(pane.kv_type.findData("q8_0"))
    with qtbot.waitSignal(controller.model_loaded, timeout=TIMEOUT_MS) as loaded:
        pane.apply_button.click()
    info = loaded.args[0]
    assert info.n_ctx == 1024
    assert info.load_params.type_k == "q8_0" and info.load_params.n_cpu_moe == 1 and info.load_params.flash_attn
    assert info.plan[0].startswith("Loaded as you set it")
    assert pane.plan.text().startswith("Loaded as you set it")  # the section follows the model
    assert load_settings(paths.settings_file).manual_load

    pane.window().close()
    again = window.open_run_settings()  # the same window again, showing what is saved
    assert again.inference_pane is pane and pane.manual.isChecked() and pane.context.value() == 1024
    with qtbot.waitSignal(controller.model_loaded, timeout=TIMEOUT_MS) as loaded:
        pane.reset_button.click()
    info = loaded.args[0]
    assert not info.plan[0].startswith("Loaded as you set it")
    assert info.n_ctx > 1024
    assert not load_settings(paths.settings_file).manual_load


def test_threads_and_batch_reach_llama_cpp(
    qtbot: QtBot, window: MainWindow, controller: EngineController, paths: AppPaths
) -> None:
    pane = window.open_run_settings().inference_pane
    pane.threads.setValue(2)
    pane.batch.setValue(64)
    with qtbot.waitSignal(controller.model_loaded, timeout=TIMEOUT_MS) as loaded:
        pane.apply_button.click()
    info = loaded.args[0]
    assert (info.load_params.n_threads, info.load_params.n_batch) == (2, 64)
    assert not info.plan[0].startswith("Loaded as you set it")  # still the planner's choice otherwise
    saved = load_settings(paths.settings_file)
    assert (saved.n_threads, saved.n_batch) == (2, 64)


def test_sampling_settings_shape_the_next_reply(
    qtbot: QtBot, window: MainWindow, controller: EngineController, paths: AppPaths
) -> None:
    sent: list[GenerationParams] = []
    send = controller.send

    def recording_send(messages: tuple[Message, ...], params: GenerationParams) -> str:
        sent.append(params)
        return send(messages, params)

    controller.send = recording_send  # type: ignore[method-assign]
    pane = window.open_run_settings().inference_pane
    pane.recommended.setChecked(False)
    pane.temperature.setValue(0.3)
    pane.top_k.setValue(20)
    pane.max_tokens.setValue(256)
    assert load_settings(paths.settings_file).temperature == pytest.approx(0.3)  # saved at once
    with qtbot.waitSignal(controller.reply_finished, timeout=TIMEOUT_MS) as finished:
        window.send_message("Hello there")
    assert (sent[-1].temperature, sent[-1].top_k, sent[-1].max_tokens) == (pytest.approx(0.3), 20, 256)
    assert finished.args[1].stats.completion_tokens <= 256

    pane.recommended.setChecked(True)  # the model's own sampling again, for the next reply
    with qtbot.waitSignal(controller.reply_finished, timeout=TIMEOUT_MS):
        window.send_message("And again")
    model = controller.model
    assert model is not None
    assert (sent[-1].temperature, sent[-1].top_k) == (model.default_params.temperature, model.default_params.top_k)
    assert sent[-1].max_tokens == 256


def test_other_settings_are_saved_and_applied_by_the_main_window(
    qtbot: QtBot, window: MainWindow, paths: AppPaths
) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    palette, sheet = QPalette(app.palette()), app.styleSheet()
    try:
        settings = window.open_settings("Appearance")
        settings.appearance_pane.theme_buttons["dark"].click()
        assert app.palette().color(QPalette.ColorRole.Window) == QColor(colours("dark")["window"])
        assert load_settings(paths.settings_file).theme == "dark"
    finally:
        app.setPalette(palette)
        app.setStyleSheet(sheet)
    chat = settings.chat_pane
    chat.display.setCurrentIndex(chat.display.findData("hidden"))
    chat.display.activated.emit(chat.display.currentIndex())
    assert window.chat_view.reasoning_display == "hidden"
    saved = load_settings(paths.settings_file)
    assert saved.reasoning_display == "hidden" and saved.recent_models  # the model list survives the change


def test_delete_all_data_from_the_main_window_starts_a_new_chat(
    qtbot: QtBot, window: MainWindow, controller: EngineController, paths: AppPaths
) -> None:
    with qtbot.waitSignal(controller.reply_finished, timeout=TIMEOUT_MS):
        window.send_message("Remember this")
    assert window.store.count_conversations() == 1 and window.current_id is not None
    settings = window.open_settings("Privacy")
    settings.privacy_pane.confirm = lambda _title, _text, _check: (True, False)
    with qtbot.waitSignal(settings.data_deleted, timeout=TIMEOUT_MS):
        settings.privacy_pane.delete_button.click()
    assert window.store.count_conversations() == 0 and window.current_id is None
    saved = load_settings(paths.settings_file)
    assert saved.system_prompt == Settings().system_prompt
    assert saved.recent_models == () and saved.last_model_path == ""  # the models used go with the settings
    with qtbot.waitSignal(controller.reply_finished, timeout=TIMEOUT_MS):
        window.send_message("A fresh start")  # the same store keeps working
    assert window.store.count_conversations() == 1


def test_the_settings_window_and_the_main_window_keep_each_others_changes(
    qtbot: QtBot, window: MainWindow, controller: EngineController, paths: AppPaths, tiny_gpt_oss: Path
) -> None:
    """One owner: a settings window opened before another model loads cannot put back an older list of models,
    and the model noted by the main window cannot undo a change made in the settings window."""
    chat = window.open_settings("Chat").chat_pane
    other = shutil.copy(tiny_gpt_oss, paths.data.parent / "other-tiny.gguf")
    with qtbot.waitSignal(controller.model_loaded, timeout=TIMEOUT_MS):
        window.load_model(str(other))
    chat.effort.setCurrentIndex(chat.effort.findData("low"))
    chat.effort.activated.emit(chat.effort.currentIndex())
    saved = load_settings(paths.settings_file)
    assert saved.reasoning_effort == "low" and saved.last_model_path == str(other)
    assert saved.recent_models == (str(other), str(tiny_gpt_oss))
    assert window.effort_picker.currentData() == "low"  # the new chat not yet started takes the new default


def test_settings_that_cannot_be_saved_are_reported_and_still_applied(
    qtbot: QtBot, window: MainWindow, paths: AppPaths
) -> None:
    shutil.rmtree(paths.config)
    paths.config.write_text("a file where the settings folder should be", encoding="utf-8")
    chat = window.open_settings("Chat").chat_pane
    chat.display.setCurrentIndex(chat.display.findData("hidden"))
    chat.display.activated.emit(chat.display.currentIndex())
    assert window.error_banner.isVisible() and "Could not save settings" in window.error_banner.text
    assert window.chat_view.reasoning_display == "hidden"  # in use for this session all the same


class RecordingEngine(LlamaEngine):
    """The real engine, noting the sampling of every reply it is asked for: what the window really sent it."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[GenerationParams] = []

    def generate(
        self, messages: Sequence[Message], params: GenerationParams | None = None, **options: Any
    ) -> GenerationResult:
        self.asked.append(params or GenerationParams())
        return super().generate(messages, params, **options)


# Every loading and sampling choice away from its default, so that a default taken anywhere shows.
OWN_SETTINGS = Settings(
    manual_load=True, context_length=1024, gpu_layers=1, cpu_moe=1, kv_type="q8_0", flash_attn=True,
    n_threads=2, n_batch=64,
    sampling_custom=True, temperature=0.3, top_p=0.8, top_k=20, min_p=0.1, repeat_penalty=1.1,
    max_tokens=40, reasoning_effort="high",
)  # fmt: skip


def test_the_window_and_moss_chat_ask_the_engine_for_the_same_load_and_sampling(
    qtbot: QtBot, paths: AppPaths, tiny_gpt_oss: Path
) -> None:
    save_settings(paths.settings_file, OWN_SETTINGS)
    engine = RecordingEngine()
    controller = EngineController(engine)
    try:
        window = build_main_window(paths, SettingsController(paths.settings_file), controller)  # as the app starts
        qtbot.addWidget(window)
        with qtbot.waitSignal(controller.model_loaded, timeout=TIMEOUT_MS):
            window.load_model(str(tiny_gpt_oss))
        with qtbot.waitSignal(controller.reply_finished, timeout=TIMEOUT_MS):
            window.send_message("Hello")
        assert controller.model is not None
        by_window = {
            "params": dataclasses.asdict(engine.asked[-1]),
            "load_params": dataclasses.asdict(controller.model.load_params),  # what the engine loaded with
        }
    finally:
        controller.shutdown()
    cli = subprocess.run(
        [sys.executable, "-m", "app", "--data-dir", str(paths.config.parent), "chat", "--model", str(tiny_gpt_oss),
         "--json", "Hello"],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    reply = json.loads(cli.stdout)
    assert {"params": reply["params"], "load_params": reply["load_params"]} == json.loads(json.dumps(by_window))
    # Both are the settings file's, not a default met on the way.
    params, loaded = by_window["params"], by_window["load_params"]
    assert (params["temperature"], params["top_k"], params["max_tokens"], params["reasoning_effort"]) == (
        0.3, 20, 40, "high",
    )  # fmt: skip
    assert (loaded["n_ctx"], loaded["n_cpu_moe"], loaded["type_k"], loaded["n_threads"], loaded["n_batch"]) == (
        1024, 1, "q8_0", 2, 64,
    )  # fmt: skip
