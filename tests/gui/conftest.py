"""Fixtures for window tests: a real model thread, shut down after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.qt.engine_worker import EngineController


@pytest.fixture
def controller() -> Iterator[EngineController]:
    controller = EngineController()
    yield controller
    controller.shutdown()
