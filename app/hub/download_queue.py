"""Several downloads, one after another, on one background thread; pause, resume and cancel from any thread.

One at a time on purpose: on laptop Wi-Fi two parallel downloads share the same bandwidth, so the first model
is usable sooner when they queue. Downloads a previous run left unfinished (their manifest and ``.part``
files are on disk) come back as paused entries. Every change is reported through ``on_change`` from the
thread where it happened; the Qt layer turns that into a signal.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from app.core.errors import UserError
from app.hub.download import ModelDownload, Progress, Stopped, StopReason, StopSignal, unfinished_downloads
from app.hub.hub_client import HubClient
from app.hub.library import InstalledModel, ModelLibrary
from app.hub.repo_files import RemoteModel

log = logging.getLogger(__name__)


class DownloadState(enum.StrEnum):
    QUEUED = "queued"
    ACTIVE = "active"
    PAUSED = "paused"
    FAILED = "failed"
    DONE = "done"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class DownloadStatus:
    key: str
    model: RemoteModel
    revision: str
    state: DownloadState
    done: int = 0
    progress: Progress | None = None
    error: str = ""
    installed: InstalledModel | None = None
    notes: tuple[str, ...] = ()  # what the download found damaged on disk and repaired (ModelDownload.notes)


def download_key(model: RemoteModel) -> str:
    return model.spec


class DownloadQueue:
    def __init__(
        self,
        library: ModelLibrary,
        client_factory: Callable[[], HubClient],
        on_change: Callable[[DownloadStatus], None],
        *,
        download_options: dict[str, object] | None = None,
    ) -> None:
        self._library = library
        self._client_factory = client_factory
        self._on_change = on_change
        self._options = download_options or {}
        self._items: dict[str, DownloadStatus] = {}
        self._order: list[str] = []
        self._stops: dict[str, StopSignal] = {}
        self._resume_after_pause: set[str] = set()  # resumed while its pause was still taking effect
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closing = False

    @property
    def models_dir(self) -> Path:
        return self._library.models_dir

    def statuses(self) -> list[DownloadStatus]:
        with self._cond:
            return [self._items[k] for k in self._order]

    def restore_unfinished(self) -> None:
        """Show the downloads an earlier run left (killed, closed, paused) as paused, ready to resume."""
        for model, revision, have in unfinished_downloads(self.models_dir):
            key = download_key(model)
            with self._cond:
                if key in self._items:
                    continue
                self._order.append(key)
                self._items[key] = DownloadStatus(key, model, revision, DownloadState.PAUSED, done=have)
            self._emit(key)

    def enqueue(self, model: RemoteModel, revision: str) -> str:
        key = download_key(model)
        with self._cond:
            current = self._items.get(key)
            if current and current.state in (DownloadState.QUEUED, DownloadState.ACTIVE):
                return key
            if key not in self._order:
                self._order.append(key)
            done = current.done if current else 0
            self._items[key] = DownloadStatus(key, model, revision, DownloadState.QUEUED, done=done)
            self._start_thread()
            self._cond.notify_all()
        self._emit(key)
        return key

    def resume(self, key: str) -> None:
        with self._cond:
            item = self._items.get(key)
            stop = self._stops.get(key)
            if item and item.state is DownloadState.ACTIVE and stop is not None and stop.pending is StopReason.PAUSE:
                self._resume_after_pause.add(key)
                return
        if item and item.state in (DownloadState.PAUSED, DownloadState.FAILED):
            self.enqueue(item.model, item.revision)

    def pause(self, key: str) -> None:
        self._stop(key, StopReason.PAUSE)

    def cancel(self, key: str) -> None:
        self._stop(key, StopReason.CANCEL)

    def _stop(self, key: str, reason: StopReason) -> None:
        with self._cond:
            item = self._items.get(key)
            if item is None:
                return
            if item.state is DownloadState.ACTIVE:
                self._resume_after_pause.discard(key)
                self._stops[key].stop(reason)  # the worker sees it within one chunk and reports
                return
            if item.state in (DownloadState.DONE, DownloadState.CANCELLED):
                return
            if reason is StopReason.PAUSE:
                if item.state is not DownloadState.QUEUED:
                    return
                self._items[key] = replace(item, state=DownloadState.PAUSED)
            else:
                self._items[key] = replace(item, state=DownloadState.CANCELLED, done=0)
        problem = self._discard(item.model) if reason is StopReason.CANCEL else None
        if problem:  # "cancelled; the partial file was deleted" would be untrue: say what happened instead
            self._update(key, state=DownloadState.FAILED, done=item.done, error=problem)
            return
        self._emit(key)

    def _discard(self, model: RemoteModel) -> str | None:
        """Delete a cancelled download's files (GUI thread: no network, a few unlinks); why they are still
        there when they could not be deleted (another Moss is downloading them, the disk refused)."""
        try:
            if ModelDownload(self._client_factory(), model, self.models_dir).discard():
                return None
        except UserError as exc:
            return f"Not cancelled: {exc}"
        return (
            f"Not cancelled: {model.name} is being downloaded by another Moss (the window or `moss models pull`) "
            "right now, so its files were left alone. Stop it there."
        )

    def dismiss(self, key: str) -> None:
        """Take a finished, failed or cancelled entry off the list."""
        with self._cond:
            item = self._items.get(key)
            if item and item.state in (DownloadState.DONE, DownloadState.CANCELLED, DownloadState.FAILED):
                del self._items[key]
                self._order.remove(key)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Pause what is running (its partial file stays, to continue next time) and end the thread."""
        with self._cond:
            self._closing = True
            for stop in self._stops.values():
                stop.stop(StopReason.PAUSE)
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _start_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._work, name="moss-downloads", daemon=True)
            self._thread.start()

    def _next(self) -> DownloadStatus | None:
        with self._cond:
            while not self._closing:
                for key in self._order:
                    item = self._items[key]
                    if item.state is DownloadState.QUEUED:
                        self._items[key] = replace(item, state=DownloadState.ACTIVE, error="")
                        self._stops[key] = StopSignal()
                        return self._items[key]
                self._cond.wait()
            return None

    def _work(self) -> None:
        while (item := self._next()) is not None:
            self._emit(item.key)
            self._run(item)

    def _run(self, item: DownloadStatus) -> None:
        key = item.key

        def progress(p: Progress) -> None:
            self._update(key, progress=p, done=p.done)

        try:
            client = self._client_factory()
            job = ModelDownload(
                client,
                item.model,
                self.models_dir,
                revision=item.revision,
                on_progress=progress,
                stop=self._stops[key],
                **self._options,  # type: ignore[arg-type]
            )
            path = job.run()
            installed = self._library.add_download(path, repo_id=item.model.repo_id, sha256=_hashes(item.model))
            self._update(
                key, state=DownloadState.DONE, installed=installed, done=item.model.size, notes=tuple(job.notes)
            )
        except Stopped as stopped:
            cancelled = stopped.reason is StopReason.CANCEL
            with self._cond:
                again = not cancelled and not self._closing and key in self._resume_after_pause
                self._resume_after_pause.discard(key)
            state = DownloadState.CANCELLED if cancelled else DownloadState.QUEUED if again else DownloadState.PAUSED
            self._update(key, state=state, progress=None)
        except UserError as exc:
            self._update(key, state=DownloadState.FAILED, error=str(exc), progress=None)
        except Exception as exc:  # a bug: keep the queue alive, say so, keep the partial file
            log.exception("download of %s failed", key)
            self._update(key, state=DownloadState.FAILED, error=f"The download stopped unexpectedly: {exc}")
        finally:
            with self._cond:
                self._stops.pop(key, None)

    def _update(self, key: str, **changes: object) -> None:
        with self._cond:
            item = self._items.get(key)
            if item is None:
                return
            self._items[key] = replace(item, **changes)  # type: ignore[arg-type]
        self._emit(key)

    def _emit(self, key: str) -> None:
        with self._cond:
            item = self._items.get(key)
        if item is None:
            return
        try:
            self._on_change(item)
        except Exception:  # a broken listener must not kill the download thread
            log.exception("a download listener failed")


def _hashes(model: RemoteModel) -> tuple[str | None, ...]:
    return tuple(f.sha256 for f in model.files)
