"""A load refused for memory in use right now offers Retry, and Retry loads (issue 17, item 6); a model that can
never fit this computer offers no Retry but a smaller model.

The engine is the real llama.cpp one on SmolLM2; only its readings of the computer's memory are given: first
one where SmolLM2 fits once memory is freed but not now, then one with room.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.engine.hardware import GIB, Machine
from app.engine.llama_engine import LlamaEngine
from app.platform.paths import AppPaths
from app.qt.engine_worker import EngineController
from tests.helpers.gui import TIMEOUT_MS, open_window

# SmolLM2 with a 2,048-token context needs about 0.33 GB: it fits a 1 GiB computer once that is free, but is no
# small part of it (a quarter would load whatever is free); 0.3 GiB can never hold it.
BUSY = Machine(None, 0, 0, GIB, GIB // 10)
ROOMY = Machine(None, 0, 0, GIB, GIB)
TOO_SMALL = Machine(None, 0, 0, 3 * GIB // 10, 3 * GIB // 10)


@pytest.fixture
def readings() -> list[Machine]:
    """The memory readings the engine's next loads see, in order."""
    return []


@pytest.fixture
def controller(readings: list[Machine]) -> Iterator[EngineController]:
    controller = EngineController(LlamaEngine(machine_probe=lambda: readings.pop(0)))  # on the model thread
    yield controller
    controller.shutdown()


def test_a_load_refused_for_memory_in_use_offers_retry_and_retry_loads(
    qtbot: QtBot, paths: AppPaths, controller: EngineController, readings: list[Machine], smollm2: Path
) -> None:
    readings += [BUSY, ROOMY]
    window = open_window(qtbot, paths, controller)
    with qtbot.waitSignal(controller.model_load_failed, timeout=TIMEOUT_MS):
        window.load_model(str(smollm2))
    banner, retry = window.error_banner, window.error_banner.action_button("retry")
    assert banner.isVisible() and retry.isVisible()
    assert "Not enough memory is free right now" in banner.text and "then try again" in banner.text
    assert "usable" not in banner.text
    # The picker still offers the model, as the models pane does: loading again is never blocked.
    assert window.model_picker.isEnabled() and window.model_picker.findData(str(smollm2)) >= 0

    with qtbot.waitSignal(controller.model_loaded, timeout=TIMEOUT_MS):
        retry.click()
    assert controller.model is not None and controller.model.path == str(smollm2)
    assert not banner.isVisible() and not readings

    window.show_error("Something else went wrong.")  # Retry belongs to a failed load, not to every error
    assert banner.isVisible() and not retry.isVisible()


def test_a_model_too_big_for_the_computer_offers_no_retry_but_a_smaller_model(
    qtbot: QtBot, paths: AppPaths, controller: EngineController, readings: list[Machine], smollm2: Path
) -> None:
    readings += [TOO_SMALL]
    window = open_window(qtbot, paths, controller)
    with qtbot.waitSignal(controller.model_load_failed, timeout=TIMEOUT_MS):
        window.load_model(str(smollm2))
    assert window.error_banner.isVisible() and not window.error_banner.action_button("retry").isVisible()
    assert "does not fit this computer" in window.error_banner.text
    assert "Choose a smaller model" in window.error_banner.text
    assert not controller.load_retryable
