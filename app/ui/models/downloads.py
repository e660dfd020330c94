"""Active and unfinished downloads, one row each: name, progress bar, bytes, speed, time left, and buttons."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from app.core.units import format_duration, format_size
from app.hub.download import Phase
from app.hub.download_queue import DownloadState, DownloadStatus


def status_text(status: DownloadStatus) -> str:
    """What a download is doing, in one line."""
    total = status.model.size
    p = status.progress
    done = p.done if p else status.done
    amount = f"{format_size(done)} of {format_size(total)}"
    if status.state is DownloadState.ACTIVE and p is not None:
        if p.phase is Phase.CHECKING:
            return f"Checking the part already downloaded… {format_size(p.done)} of {format_size(total)}"
        if p.phase is Phase.VERIFYING:
            return "Verifying the checksum…"
        if p.phase is Phase.RETRYING:
            return f"{amount} · connection lost, {p.note}"
        text = f"{amount} · {p.speed / 1e6:.1f} MB/s" if p.speed else amount
        return text + (f" · {format_duration(p.eta_s)} left" if p.eta_s is not None else "")
    return {
        DownloadState.QUEUED: f"Waiting · {amount}",
        DownloadState.ACTIVE: f"Starting · {amount}",
        DownloadState.PAUSED: f"Paused · {amount}",
        DownloadState.DONE: f"Downloaded and verified · {format_size(total)}",
        DownloadState.CANCELLED: "Cancelled; the partial file was deleted",
        DownloadState.FAILED: status.error,
    }[status.state]


class DownloadRow(QFrame):
    """Signals: action(key, name) with name pause | resume | cancel | dismiss."""

    action = Signal(str, str)

    def __init__(self, status: DownloadStatus, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("downloadRow")
        self.key = status.key
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        top = QHBoxLayout()
        self.title = QLabel()
        self.title.setObjectName("rowTitle")
        top.addWidget(self.title, 1)
        self.buttons: dict[str, QPushButton] = {}
        for name, label in (("pause", "Pause"), ("resume", "Resume"), ("cancel", "Cancel"), ("dismiss", "Dismiss")):
            button = QPushButton(label)
            button.setAccessibleName(f"{label} download")
            button.clicked.connect(lambda _=False, n=name: self.action.emit(self.key, n))
            top.addWidget(button)
            self.buttons[name] = button
        layout.addLayout(top)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.setFixedHeight(8)
        layout.addWidget(self.bar)
        self.detail = QLabel()
        self.detail.setObjectName("hintLabel")
        self.detail.setWordWrap(True)
        layout.addWidget(self.detail)
        self.update_status(status)

    def update_status(self, status: DownloadStatus) -> None:
        self.title.setText(f"{status.model.name}  ·  {status.model.repo_id}")
        total = status.model.size or 1
        done = status.progress.done if status.progress else status.done
        self.bar.setValue(int(1000 * min(done, total) / total))
        self.detail.setText(status_text(status))
        state = status.state
        self.buttons["pause"].setVisible(state in (DownloadState.ACTIVE, DownloadState.QUEUED))
        self.buttons["resume"].setVisible(state in (DownloadState.PAUSED, DownloadState.FAILED))
        self.buttons["cancel"].setVisible(state not in (DownloadState.DONE, DownloadState.CANCELLED))
        self.buttons["dismiss"].setVisible(state in (DownloadState.DONE, DownloadState.CANCELLED, DownloadState.FAILED))


class DownloadList(QWidget):
    """The downloads, newest last; hidden while there are none. Signals: action(key, name)."""

    action = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.rows: dict[str, DownloadRow] = {}
        self.hide()

    def update_status(self, status: DownloadStatus) -> None:
        row = self.rows.get(status.key)
        if row is None:
            row = DownloadRow(status, self)
            row.action.connect(self.action)
            self.rows[status.key] = row
            self._layout.addWidget(row)
        else:
            row.update_status(status)
        self.setVisible(bool(self.rows))

    def remove(self, key: str) -> None:
        row = self.rows.pop(key, None)
        if row is not None:
            row.deleteLater()
        self.setVisible(bool(self.rows))
