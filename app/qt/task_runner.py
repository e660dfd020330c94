"""Short jobs off the GUI thread: a header read, a Hub search, a folder scan, a file copy.

``TaskRunner.run(job, on_done, on_error)`` runs ``job`` on a small thread pool and calls ``on_done(result)``
or ``on_error(message)`` back on the GUI thread, so the GUI never blocks on I/O. A :class:`UserError`'s
message is passed as it is; any other exception is logged with its traceback and reported briefly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from app.core.errors import UserError

log = logging.getLogger(__name__)


class _Relay(QObject):
    """Lives on the GUI thread; the pool thread emits, the queued connection delivers on the GUI thread."""

    done = Signal(object)
    failed = Signal(str)

    def __init__(self, on_done: Callable[[Any], None], on_error: Callable[[str], None]) -> None:
        super().__init__()
        self._on_done, self._on_error = on_done, on_error
        self.done.connect(self._deliver_done)
        self.failed.connect(self._deliver_error)

    @Slot(object)
    def _deliver_done(self, result: object) -> None:
        self._on_done(result)

    @Slot(str)
    def _deliver_error(self, message: str) -> None:
        self._on_error(message)


class _Job(QRunnable):
    def __init__(self, job: Callable[[], Any], relay: _Relay, name: str) -> None:
        super().__init__()
        self._job, self._relay, self._name = job, relay, name

    def run(self) -> None:  # pool thread
        try:
            result = self._job()
        except UserError as exc:
            self._relay.failed.emit(exc.message)
        except Exception as exc:
            log.exception("background task %s failed", self._name)
            self._relay.failed.emit(f"Something went wrong ({type(exc).__name__}: {exc}). Details are in the log.")
        else:
            self._relay.done.emit(result)


class TaskRunner(QObject):
    """Signals: busy_changed() when the number of running jobs goes to or from zero (read `busy`)."""

    busy_changed = Signal()

    def __init__(self, parent: QObject | None = None, *, threads: int = 2) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._relays: set[_Relay] = set()

    @property
    def busy(self) -> bool:
        return bool(self._relays)

    def run(
        self,
        job: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[str], None],
        *,
        name: str = "task",
    ) -> None:
        """GUI thread: start ``job`` in the pool; exactly one of the callbacks follows, on the GUI thread."""
        relay: _Relay

        def finish() -> None:
            self._relays.discard(relay)
            relay.deleteLater()
            if not self._relays:
                self.busy_changed.emit()

        def done(result: Any) -> None:
            finish()
            on_done(result)

        def failed(message: str) -> None:
            finish()
            on_error(message)

        relay = _Relay(done, failed)
        was_idle = not self._relays
        self._relays.add(relay)
        if was_idle:
            self.busy_changed.emit()
        self._pool.start(_Job(job, relay, name))

    def wait(self, timeout_ms: int = 30_000) -> bool:
        """Block until every job has finished (shutdown and tests only; never from a GUI handler)."""
        return bool(self._pool.waitForDone(timeout_ms))
