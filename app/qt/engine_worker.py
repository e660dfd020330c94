"""The model thread: a worker QObject that owns an engine, and the GUI-side controller that drives it.

Any Engine (app.engine.protocol) will do: the composition root chooses it (app.ui.app builds the llama.cpp one;
the screenshots and benches a synthetic one) and hands it to the controller.

Threading (see docs/architecture.md): the worker lives on its own QThread; load, generate and unload all
run there, because a llama.cpp context is not thread-safe. Requests go in as queued signals, results come
out as queued signals carrying plain data. Stopping a reply does not go through the event loop (the worker
is busy generating): each request carries a ``threading.Event`` that the controller sets directly. Loads
carry one too: a load that a newer one replaces (or that shutting down interrupts) is aborted through
llama.cpp's progress callback, so the last model asked for loads without waiting for the others.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal, Slot

from app.core.errors import NotEnoughFreeMemoryError, UserError
from app.core.types import Delta, DeltaKind, GenerationParams, GenerationResult, LoadOptions, Message, ModelInfo
from app.engine.protocol import Engine, LoadCancelled

log = logging.getLogger(__name__)

# Streamed text is sent to the GUI at most this often, so a fast model never floods the event loop.
COALESCE_S = 0.04
# Load progress likewise (llama.cpp reports it once per tensor: hundreds of times a second).
PROGRESS_INTERVAL_S = 0.05


@dataclass(frozen=True)
class ReplyRequest:
    messages: tuple[Message, ...]
    params: GenerationParams
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    cancel: threading.Event = field(default_factory=threading.Event, compare=False)


@dataclass(frozen=True)
class LoadRequest:
    """A load of what ``options`` say (see LoadOptions); setting ``cancel`` abandons it."""

    options: LoadOptions = LoadOptions()
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    cancel: threading.Event = field(default_factory=threading.Event, compare=False)


class ProgressThrottle:
    """Turns a stream of load fractions into the whole percents worth sending: a new percent at most every
    ``interval`` seconds, except the first 0 and the 100, which always go (the start and the end must be seen)."""

    def __init__(self, interval: float = PROGRESS_INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._sent: int | None = None
        self._sent_at = 0.0

    def percent(self, fraction: float) -> int | None:
        """The percent to send for ``fraction`` (0.0 .. 1.0), or None when it is not worth a signal."""
        percent = max(0, min(100, int(fraction * 100)))
        if percent == self._sent:
            return None
        now = self._clock()
        if self._sent is not None and percent != 100 and now - self._sent_at < self._interval:
            return None
        self._sent, self._sent_at = percent, now
        return percent


def _unexpected(exc: BaseException) -> str:
    return f"Something went wrong inside Moss ({type(exc).__name__}: {exc}). Details are in the log file."


class EngineWorker(QObject):
    """Owns the engine; every slot runs on the model thread.

    Signals:
        load_began(request_id): the worker started on that load request (what follows belongs to it),
        load_progress(path, percent): 0..100, only when the percent changes, at most every ~50 ms,
        model_loaded(ModelInfo), model_load_failed(path, message, kept, retryable): ``kept`` is the ModelInfo of
        the model still loaded (a file found unusable before the old model was freed) or None; ``retryable``:
        refused only for memory in use right now (trying again may work), model_unloaded(),
        reply_chunk(request_id, kind, text): kind is a DeltaKind's value ("content", "reasoning", "tool_call");
        coalesced,
        reply_finished(request_id, GenerationResult), reply_failed(request_id, message).
        A cancelled load reports neither model_loaded nor model_load_failed.
    """

    load_began = Signal(str)
    load_progress = Signal(str, int)
    model_loaded = Signal(object)
    model_load_failed = Signal(str, str, object, bool)
    model_unloaded = Signal()
    reply_chunk = Signal(str, str, str)
    reply_finished = Signal(str, object)
    reply_failed = Signal(str, str)

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self._engine = engine

    @Slot(str, object)
    def load(self, path: str, request: LoadRequest) -> None:
        """Model thread: load ``path``; reports progress, then model_loaded or model_load_failed (nothing when
        the request was cancelled)."""
        self.load_began.emit(request.id)
        if request.cancel.is_set():
            log.info("skipped loading %s: a newer request replaced it", path)
            return
        throttle = ProgressThrottle()

        def on_progress(fraction: float) -> None:
            percent = throttle.percent(fraction)
            if percent is not None:
                self.load_progress.emit(path, percent)

        try:
            info = self._engine.load(path, request.options, cancel=request.cancel, on_progress=on_progress)
        except LoadCancelled:
            log.info("stopped loading %s: a newer request replaced it", path)
        except UserError as exc:
            retryable = isinstance(exc, NotEnoughFreeMemoryError)
            self.model_load_failed.emit(path, exc.message, self._engine.info, retryable)
        except Exception as exc:
            log.exception("loading %s failed", path)
            self.model_load_failed.emit(path, _unexpected(exc), self._engine.info, False)
        else:
            self.model_loaded.emit(info)

    @Slot()
    def unload(self) -> None:
        """Model thread: free the model."""
        self._engine.unload()
        self.model_unloaded.emit()

    @Slot(object)
    def generate(self, request: ReplyRequest) -> None:
        """Model thread: stream a reply, text coalesced to one chunk per kind every COALESCE_S seconds."""
        pending: dict[DeltaKind, list[str]] = {}
        last_flush = time.monotonic()

        def flush() -> None:
            nonlocal last_flush
            for kind, pieces in pending.items():
                if pieces:
                    self.reply_chunk.emit(request.id, str(kind), "".join(pieces))
            pending.clear()
            last_flush = time.monotonic()

        def on_delta(delta: Delta) -> None:
            pending.setdefault(delta.kind, []).append(delta.text)
            if time.monotonic() - last_flush >= COALESCE_S:
                flush()

        try:
            result = self._engine.generate(request.messages, request.params, cancel=request.cancel, on_delta=on_delta)
        except UserError as exc:
            flush()
            self.reply_failed.emit(request.id, exc.message)
        except Exception as exc:
            log.exception("generation failed")
            flush()
            self.reply_failed.emit(request.id, _unexpected(exc))
        else:
            flush()
            self.reply_finished.emit(request.id, result)


class EngineController(QObject):
    """GUI-thread owner of the model thread. The only way the UI talks to the engine.

    Signals:
        loading_started(path), load_progress(path, percent): 0..100 while it loads (see `load_percent`),
        model_loaded(ModelInfo), model_load_failed(path, message): when the file was found unusable before the
        model in use was freed, model_loaded(that model) follows, and `model` is it again; `load_retryable`
        says whether trying again may work,
        reply_chunk(request_id, kind, text), reply_finished(request_id, GenerationResult),
        reply_failed(request_id, message), busy_changed(): a load or a reply started or ended (see `busy`),
        model_unloaded(): the model was freed after `unload_model` (its files may now be deleted or moved).
    """

    loading_started = Signal(str)
    load_progress = Signal(str, int)
    model_unloaded = Signal()
    model_loaded = Signal(object)
    model_load_failed = Signal(str, str)
    reply_chunk = Signal(str, str, str)
    reply_finished = Signal(str, object)
    reply_failed = Signal(str, str)
    busy_changed = Signal()  # receivers read `busy`

    # Requests to the worker (queued: it lives on the model thread).
    _load_requested = Signal(str, object)
    _generate_requested = Signal(object)
    _unload_requested = Signal()

    def __init__(self, engine: Engine, parent: QObject | None = None) -> None:
        """``engine`` moves to the model thread with the worker: from now on only that thread calls it."""
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName("model")
        self._worker = EngineWorker(engine)
        self._worker.moveToThread(self._thread)
        self._load_requested.connect(self._worker.load)
        self._generate_requested.connect(self._worker.generate)
        self._unload_requested.connect(self._worker.unload)
        self._worker.load_began.connect(self._on_worker_load_began)
        self._worker.load_progress.connect(self._on_worker_load_progress)
        self._worker.model_loaded.connect(self._on_worker_model_loaded)
        self._worker.model_load_failed.connect(self._on_worker_model_load_failed)
        self._worker.reply_chunk.connect(self._on_worker_reply_chunk)
        self._worker.reply_finished.connect(self._on_worker_reply_finished)
        self._worker.reply_failed.connect(self._on_worker_reply_failed)
        self._worker.model_unloaded.connect(self._on_worker_model_unloaded)
        self._thread.finished.connect(self._worker.deleteLater)
        self._thread.start()
        self._model: ModelInfo | None = None
        self._loading: str | None = None
        self._load: LoadRequest | None = None  # the load asked for last, until it ends
        self._worker_load = ""  # the id of the load request the worker is on (its signals are about that one)
        self._load_percent: int | None = None
        self._load_retryable = False
        self._active: ReplyRequest | None = None

    # -- state --------------------------------------------------------------------------------------------

    @property
    def model(self) -> ModelInfo | None:
        return self._model

    @property
    def loading_path(self) -> str | None:
        return self._loading

    @property
    def load_percent(self) -> int | None:
        """How far the current load has come, 0..100; None when no model is loading."""
        return self._load_percent

    @property
    def load_retryable(self) -> bool:
        """Whether the last load failed only for memory in use at that moment, so that trying again may work
        (False while loading and after a load that worked or could never work)."""
        return self._load_retryable

    @property
    def generating(self) -> bool:
        return self._active is not None

    @property
    def busy(self) -> bool:
        return self._loading is not None or self._active is not None

    # -- requests (GUI thread) ----------------------------------------------------------------------------

    def load_model(self, path: str, options: LoadOptions = LoadOptions()) -> None:
        """Start loading ``path`` as ``options`` say (by default the offload planner sizes the load to this
        machine) on the model thread, where the current model is freed first. A load still under way is
        cancelled: the last one asked for wins."""
        path = str(Path(path))  # as the engine will report it (ModelInfo.path)
        self.stop()
        self._cancel_load()
        request = LoadRequest(options)
        self._load_retryable = False
        self._load = request
        self._loading = path
        self._load_percent = 0
        self._model = None
        self.loading_started.emit(path)
        self.busy_changed.emit()
        self._load_requested.emit(path, request)

    def _cancel_load(self) -> None:
        """Abandon the load under way (the model thread notices within a tensor); its results are ignored."""
        if self._load is not None:
            self._load.cancel.set()
        self._load = None
        self._loading = None
        self._load_percent = None

    def send(self, messages: tuple[Message, ...], params: GenerationParams) -> str:
        """Ask for a reply to ``messages``; returns the request id that its chunks will carry."""
        if self._model is None:
            raise UserError("No model is loaded yet. Pick a model first.")
        if self._active is not None:
            raise UserError("Moss is still answering. Stop the reply first.")
        request = ReplyRequest(messages, params)
        self._active = request
        self.busy_changed.emit()
        self._generate_requested.emit(request)
        return request.id

    def stop(self) -> None:
        """Stop the reply under way, if any; the model thread notices within a token."""
        if self._active is not None:
            self._active.cancel.set()

    def unload_model(self) -> None:
        """Stop any reply and free the model on the model thread; ``model_unloaded`` follows."""
        self.stop()
        self._cancel_load()
        self._model = None
        self._unload_requested.emit()
        self.busy_changed.emit()

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        """Stop, free the model and end the model thread. Call once, before the app quits."""
        self.stop()
        self._cancel_load()
        if self._thread.isRunning():
            self._unload_requested.emit()
            self._thread.quit()
            if not self._thread.wait(timeout_ms):
                log.error("the model thread did not stop within %d ms", timeout_ms)

    # -- results (GUI thread) -----------------------------------------------------------------------------

    def _is_current_load(self) -> bool:
        """Whether what the worker reports now is about the load asked for last (its signals arrive in the
        order it sent them, so everything after ``load_began(id)`` is about that request)."""
        return self._load is not None and self._worker_load == self._load.id

    @Slot(str)
    def _on_worker_load_began(self, request_id: str) -> None:
        self._worker_load = request_id

    @Slot(str, int)
    def _on_worker_load_progress(self, path: str, percent: int) -> None:
        if not self._is_current_load():
            return  # from a load that a newer request replaced
        self._load_percent = percent
        self.load_progress.emit(path, percent)

    @Slot(object)
    def _on_worker_model_loaded(self, info: ModelInfo) -> None:
        if not self._is_current_load():
            return  # a newer load request superseded this one; its own result follows
        self._load = None
        self._loading = None
        self._load_percent = None
        self._model = info
        self.model_loaded.emit(info)
        self.busy_changed.emit()

    @Slot(str, str, object, bool)
    def _on_worker_model_load_failed(self, path: str, message: str, kept: ModelInfo | None, retryable: bool) -> None:
        if not self._is_current_load():
            return
        self._load_retryable = retryable
        self._load = None
        self._loading = None
        self._load_percent = None
        self._model = kept  # the model that works stays when the new file was found unusable before it went
        self.model_load_failed.emit(path, message)
        if kept is not None:
            self.model_loaded.emit(kept)  # the window shows it again as the model in use
        self.busy_changed.emit()

    @Slot()
    def _on_worker_model_unloaded(self) -> None:
        self.model_unloaded.emit()

    @Slot(str, str, str)
    def _on_worker_reply_chunk(self, request_id: str, kind: str, text: str) -> None:
        self.reply_chunk.emit(request_id, kind, text)

    @Slot(str, object)
    def _on_worker_reply_finished(self, request_id: str, result: GenerationResult) -> None:
        if self._active is not None and self._active.id == request_id:
            self._active = None
        self.reply_finished.emit(request_id, result)
        self.busy_changed.emit()

    @Slot(str, str)
    def _on_worker_reply_failed(self, request_id: str, message: str) -> None:
        if self._active is not None and self._active.id == request_id:
            self._active = None
        self.reply_failed.emit(request_id, message)
        self.busy_changed.emit()
