"""Fixtures for window tests: a real model thread, shut down after each test; or one whose replies follow a
script (a real llama.cpp run whose tokens are forced: tests/helpers/scripted.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.engine.llama_engine import LlamaEngine
from app.qt.engine_worker import EngineController
from tests.helpers.scripted import ScriptedEngine


@pytest.fixture
def controller() -> Iterator[EngineController]:
    controller = EngineController(LlamaEngine())
    yield controller
    controller.shutdown()


@pytest.fixture
def engine() -> ScriptedEngine:
    return ScriptedEngine()


@pytest.fixture
def scripted_controller(engine: ScriptedEngine) -> Iterator[EngineController]:
    """A model thread running ``engine``: append to ``engine.script`` to say what the next reply is."""
    controller = EngineController(engine=engine)
    yield controller
    controller.shutdown()
