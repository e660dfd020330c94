"""Guards against a PySide6 regression that crashes Moss: in 6.12.0 on CPython 3.11, each signal emitted from a
worker thread, and each True sent through a signal, loses a reference to True; after a few thousand streamed
chunks the interpreter aborts ("bool_dealloc"). pyproject.toml keeps PySide6 below 6.12; these tests fail if a
version with the bug comes back."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, QThread, Signal, Slot
from pytestqt.qtbot import QtBot

EMITS = 300


class _Worker(QObject):
    tick = Signal()

    @Slot()
    def run(self) -> None:
        for _ in range(EMITS):
            self.tick.emit()


class _Counter(QObject):
    """Lives on the GUI thread: the worker's signals reach it queued, as the app's do."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    @Slot()
    def on_tick(self) -> None:
        self.count += 1


class _Starter(QObject):
    go = Signal()
    flag = Signal(bool)


def test_signals_from_a_worker_thread_keep_references_intact(qtbot: QtBot) -> None:
    thread = QThread()
    worker = _Worker()
    worker.moveToThread(thread)
    starter = _Starter()
    starter.go.connect(worker.run)
    counter = _Counter()
    worker.tick.connect(counter.on_tick)
    thread.start()
    try:
        before = sys.getrefcount(True)
        starter.go.emit()
        qtbot.waitUntil(lambda: counter.count == EMITS, timeout=10_000)
        assert sys.getrefcount(True) > before - EMITS // 2
    finally:
        thread.quit()
        thread.wait()


def test_a_bool_through_a_signal_keeps_references_intact() -> None:
    starter = _Starter()
    before = sys.getrefcount(True)
    for _ in range(EMITS):
        starter.flag.emit(True)
    assert sys.getrefcount(True) > before - EMITS // 2
