"""The first-run panel's download: ask the Hub for a gpt-oss model's files, queue it, show its progress.

The Hub is asked on the task pool (the listing pins the commit and gives each file's sha256), the download runs
on the models controller's queue like any other, and "Start chatting" appears once the file is verified.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from app.hub.download_queue import DownloadState, DownloadStatus, download_key
from app.hub.hub_client import RepoListing
from app.hub.recommend import Suggestion
from app.hub.repo_files import find_model, preferred_model
from app.qt.models_controller import ModelsController
from app.ui.models.downloads import status_text


class FirstRunDownload(QFrame):
    """Progress of the download started from the first-run panel (hidden until there is one).

    Signals:
        started(): the model was queued for download,
        ready(path): the person chose "Start chatting" on the downloaded model,
        offering_changed(): whether the panel should offer its download buttons changed (read `offering`).
    """

    started = Signal()
    ready = Signal(str)
    offering_changed = Signal()

    def __init__(self, models: ModelsController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("downloadBox")
        self.models = models
        self.offering = True  # nothing under way: the panel offers its download buttons
        self.key: str | None = None  # the queue's key for the download shown here
        self.finished: Path | None = None  # the downloaded model, once verified
        self._suggestion: Suggestion | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(6)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.setFixedHeight(8)
        layout.addWidget(self.bar)
        row = QHBoxLayout()
        self.label = QLabel()
        self.label.setObjectName("hintLabel")
        self.label.setWordWrap(True)
        self.pause_button = QPushButton("Pause")
        self.pause_button.clicked.connect(self._pause_or_resume)
        self.start_button = QPushButton("Start chatting")
        self.start_button.setObjectName("primaryButton")
        self.start_button.clicked.connect(self._start_chatting)
        row.addWidget(self.label, 1)
        row.addWidget(self.pause_button)
        row.addWidget(self.start_button)
        layout.addLayout(row)
        self.error = QLabel()
        self.error.setObjectName("firstRunError")
        self.error.setWordWrap(True)
        layout.addWidget(self.error)
        self.hide()
        models.download_changed.connect(self._on_download_changed)

    def fetch(self, suggestion: Suggestion) -> None:
        """Ask the Hub for ``suggestion``'s files (on the pool), then queue the download."""
        self._suggestion = suggestion
        self._set_offering(False)
        self._show_text(f"Asking Hugging Face for {suggestion.family}…")
        client, repo_id = self.models.client, suggestion.entry.repo_id

        def job() -> RepoListing:  # pool thread: the network
            return client().listing(repo_id)

        self.models.tasks.run(job, self._on_listing, self._on_failed, name="first-run listing")

    def show_existing(self, repo_ids: set[str]) -> None:
        """Show a download of one of ``repo_ids`` that is already queued, or was left paused by an earlier run."""
        for status in self.models.queue.statuses():
            if status.model.repo_id in repo_ids and status.state is not DownloadState.CANCELLED:
                self.key = status.key
                self._show_status(status)

    def _on_listing(self, listing: object) -> None:
        assert isinstance(listing, RepoListing) and self._suggestion is not None
        quantization = self._suggestion.entry.quantization
        models = list(listing.models)
        model = find_model(models, quantization) or preferred_model(models)
        if model is None:
            self._on_failed(
                f"{listing.repo_id} has no {quantization} file any more. Pick another download in Settings → Models."
            )
            return
        self.key = download_key(model)  # before queueing: the first update comes at once
        self.models.download(model, listing.commit)
        self.started.emit()

    def _on_failed(self, message: str) -> None:
        self.show()
        self.bar.hide()
        self.label.hide()
        self.pause_button.hide()
        self.start_button.hide()
        self.error.setText(message)
        self.error.show()
        self._set_offering(True)

    def _on_download_changed(self, status: DownloadStatus) -> None:
        if status.key == self.key:
            self._show_status(status)

    def _show_status(self, status: DownloadStatus) -> None:
        self.show()
        self.error.hide()
        self.bar.show()
        self.label.show()
        total = status.model.size or 1
        done = status.progress.done if status.progress else status.done
        self.bar.setValue(int(1000 * min(done, total) / total))
        state, name = status.state, status.model.name
        text = {
            DownloadState.ACTIVE: f"Downloading {name} · {status_text(status)}",
            DownloadState.DONE: f"{name} is downloaded and verified. Ready when you are.",
            DownloadState.CANCELLED: f"The download of {name} was cancelled.",
        }.get(state, f"{name}: {status_text(status)}")
        if state is DownloadState.FAILED:
            text += " Resume to try again; what was downloaded is kept."
        self.label.setText(text)
        running = state in (DownloadState.ACTIVE, DownloadState.QUEUED)
        self.pause_button.setVisible(running or state in (DownloadState.PAUSED, DownloadState.FAILED))
        self.pause_button.setText("Pause" if running else "Resume")
        self.finished = status.installed.path if status.installed is not None else None
        self.start_button.setVisible(state is DownloadState.DONE and self.finished is not None)
        # One download at a time from here; a cancelled one (in Settings → Models) can be started again.
        self._set_offering(state is DownloadState.CANCELLED)

    def _show_text(self, text: str) -> None:
        self.show()
        self.error.hide()
        self.bar.hide()
        self.pause_button.hide()
        self.start_button.hide()
        self.label.setText(text)
        self.label.show()

    def _set_offering(self, offering: bool) -> None:
        if offering != self.offering:
            self.offering = offering
            self.offering_changed.emit()

    def _pause_or_resume(self) -> None:
        if self.key is None:
            return
        if self.pause_button.text() == "Pause":
            self.models.pause(self.key)
        else:
            self.models.resume(self.key)

    def _start_chatting(self) -> None:
        if self.finished is not None:
            self.ready.emit(str(self.finished))
