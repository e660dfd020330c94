"""Run settings: the plan in words under the model picker, manual overrides, and back to automatic."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.core.settings import Settings
from app.platform.paths import AppPaths
from app.platform.settings_store import load_settings
from app.qt.engine_worker import EngineController
from app.ui.app import build_main_window
from app.ui.main_window import MainWindow

TIMEOUT_MS = 60_000


@pytest.fixture
def window(qtbot: QtBot, paths: AppPaths, controller: EngineController, tiny_gpt_oss: Path) -> MainWindow:
    main = build_main_window(paths, Settings(), controller)
    qtbot.addWidget(main)
    main.show()
    with qtbot.waitSignal(controller.model_loaded, timeout=TIMEOUT_MS):
        main.load_model(str(tiny_gpt_oss))
    return main


def test_the_plan_is_shown_in_words_where_the_model_is_chosen(window: MainWindow, controller: EngineController) -> None:
    model = controller.model
    assert model is not None and model.plan
    assert window.plan_label.isVisible()
    assert window.plan_label.text() == model.plan[0]
    assert "layers" in window.plan_label.text() and "context" in window.plan_label.text()
    assert window.plan_label.toolTip() == "\n".join(model.plan)


def test_manual_settings_reload_the_model_and_reset_goes_back_to_automatic(
    qtbot: QtBot, window: MainWindow, controller: EngineController, paths: AppPaths
) -> None:
    dialog = window.open_run_settings()
    assert not dialog.manual.isChecked() and not dialog.kv_type.isEnabled()
    dialog.manual.setChecked(True)
    dialog.context.setValue(1024)
    dialog.cpu_moe.setValue(1)
    dialog.kv_type.setCurrentText("q8_0")
    with qtbot.waitSignal(controller.model_loaded, timeout=TIMEOUT_MS) as loaded:
        dialog.accept()
    info = loaded.args[0]
    assert info.n_ctx == 1024
    assert info.load_params.type_k == "q8_0" and info.load_params.n_cpu_moe == 1 and info.load_params.flash_attn
    assert info.plan[0].startswith("Loaded as you set it")
    assert load_settings(paths.settings_file).manual_load

    dialog = window.open_run_settings()
    assert dialog.manual.isChecked() and dialog.context.value() == 1024
    with qtbot.waitSignal(controller.model_loaded, timeout=TIMEOUT_MS) as loaded:
        dialog.reset_button.click()
    info = loaded.args[0]
    assert not info.plan[0].startswith("Loaded as you set it")
    assert info.n_ctx > 1024
    assert not load_settings(paths.settings_file).manual_load
