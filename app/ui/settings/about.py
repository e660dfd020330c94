"""Settings → About: the versions of Moss and what it runs on (llama.cpp's backend and the devices it found),
the folders it uses, and one button that copies all of it for a bug report.

Asking llama.cpp means importing llama_cpp (slow) and loading its device registry, so that part is collected
on the task pool the first time the section is shown; everything else is known at once.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from pathlib import Path

import PySide6
from PySide6.QtCore import Qt, QUrl, Signal, Slot, qVersion
from PySide6.QtGui import QDesktopServices, QGuiApplication, QShowEvent
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QWidget

from app import APP_NAME, __version__
from app.core.units import format_size
from app.engine import backend
from app.platform.paths import AppPaths
from app.qt.task_runner import TaskRunner
from app.ui.settings.common import LABEL_WIDTH, Card, SettingsPage, hint

Rows = list[tuple[str, str]]
OpenUrl = Callable[[QUrl], object]
_LOOKING = "Looking…"


def basic_versions() -> Rows:
    return [
        (APP_NAME, __version__),
        ("Python", platform.python_version()),
        ("Qt", qVersion()),
        ("PySide6", PySide6.__version__),
        ("System", platform.platform(terse=True)),
    ]


def backend_summary(system_info: str) -> str:
    """llama.cpp's "CPU : SSE3 = 1 | AVX2 = 1 | ... |" as "CPU (SSE3, AVX2, ...)", one entry per backend."""
    backends: list[tuple[str, list[str]]] = []
    for part in system_info.split("|"):
        name, colon, rest = part.partition(" : ")
        if colon:
            backends.append((name.strip(), []))
            part = rest
        key, equals, value = part.partition("=")
        if backends and equals and value.strip() not in ("0", ""):
            value = value.strip()
            backends[-1][1].append(key.strip() if value == "1" else f"{key.strip()} {value}")
    return "; ".join(f"{name} ({', '.join(features)})" if features else name for name, features in backends)


def llama_versions() -> Rows:
    """Pool thread: llama-cpp-python's version, the backends it was built with and the devices it sees."""
    rows = [("llama-cpp-python", backend.version()), ("llama.cpp backend", backend_summary(backend.system_info()))]
    for index, device in enumerate(backend.list_devices()):
        details = [device.name]
        if device.total_bytes:
            details.append(f"{format_size(device.total_bytes)}, {format_size(device.free_bytes)} free")
        rows.append(("Devices" if index == 0 else "", f"{device.description or device.name} ({', '.join(details)})"))
    return rows


class AboutPane(SettingsPage):
    """Signals: collected() once llama.cpp's part has arrived (or could not be found out)."""

    collected = Signal()

    def __init__(self, paths: AppPaths, models_dir: Path, tasks: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__("About", f"{APP_NAME}: chat with OpenAI's open-weight gpt-oss models, offline.", parent)
        self.open_url: OpenUrl = QDesktopServices.openUrl  # tests record the addresses instead
        self._paths, self._tasks = paths, tasks
        self._started = False
        self.versions: Rows = [*basic_versions(), ("llama-cpp-python", _LOOKING)]
        self.folders = [("Data", paths.data), ("Models", models_dir), ("Logs", paths.logs)]
        card = self.add_card(Card("Versions"))
        self._grid = QGridLayout()
        self._grid.setHorizontalSpacing(18)  # as a card's own rows, so the values line up with the folders
        self._grid.setVerticalSpacing(6)
        self._grid.setColumnMinimumWidth(0, LABEL_WIDTH)
        self._grid.setColumnStretch(1, 1)
        card.add_wide(self._grid)
        actions = QHBoxLayout()
        self.copied = QLabel()
        self.copied.setObjectName("hintLabel")
        self.copy_button = QPushButton("Copy")
        self.copy_button.setAccessibleName("Copy the versions and folders as text")
        self.copy_button.setToolTip("Puts all of this on the clipboard, for a bug report")
        actions.addWidget(hint("For a bug report: Copy puts all of this on the clipboard as text."), 1)
        actions.addWidget(self.copied)
        actions.addWidget(self.copy_button)
        card.add_wide(actions)
        folders = self.add_card(Card("Folders"))
        self.open_buttons: dict[str, QPushButton] = {}
        self._path_labels: dict[str, QLabel] = {}
        for name, folder in [*self.folders, ("Log file", paths.log_file)]:
            row = QHBoxLayout()
            where = QLabel(str(folder))
            where.setObjectName("pathLabel")
            where.setWordWrap(True)
            where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            button = QPushButton("Open")
            button.setAccessibleName(f"Open the {name.lower()}" + ("" if name == "Log file" else " folder"))
            row.addWidget(where, 1)
            row.addWidget(button)
            folders.add_row(name, row)
            self.open_buttons[name], self._path_labels[name] = button, where
            if name == "Log file":
                button.clicked.connect(self.open_log)
            else:
                button.clicked.connect(lambda _c=False, n=name: self.open_folder(dict(self.folders)[n]))
        self.finish()
        self._show_versions()
        self.copy_button.clicked.connect(self.copy)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()

    def refresh(self) -> None:
        """Ask llama.cpp for its part, on the task pool (once)."""
        if self._started:
            return
        self._started = True
        self._tasks.run(llama_versions, self._on_llama, self._on_llama_failed, name="about llama.cpp")

    def _on_llama(self, rows: object) -> None:
        assert isinstance(rows, list)
        self.versions = [*basic_versions(), *rows]
        self._show_versions()
        self.collected.emit()

    def _on_llama_failed(self, message: str) -> None:
        self.versions = [*basic_versions(), ("llama-cpp-python", f"could not be loaded: {message}")]
        self._show_versions()
        self.collected.emit()

    def _show_versions(self) -> None:
        while self._grid.count():
            item = self._grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        for index, (name, value) in enumerate(self.versions):
            label = QLabel(name)
            label.setObjectName("rowLabel")
            text = QLabel(value)
            text.setWordWrap(True)
            text.setAccessibleName(name)
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self._grid.addWidget(label, index, 0)
            self._grid.addWidget(text, index, 1)

    def as_text(self) -> str:
        """Everything on this page as plain text, for a bug report."""
        lines, last = [], ""
        for name, value in self.versions:
            last = name or last  # the second device and on are listed without repeating "Devices"
            lines.append(f"{last}: {value}")
        lines += [f"{name} folder: {folder}" for name, folder in self.folders]
        lines.append(f"Log file: {self._paths.log_file}")
        return "\n".join(lines) + "\n"

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.as_text())
        self.copied.setText("Copied to the clipboard.")

    @Slot(str)
    def set_models_folder(self, folder: str) -> None:
        """The models folder moved (Settings → Models → Move folder…)."""
        self.folders[1] = ("Models", Path(folder))
        self._path_labels["Models"].setText(folder)

    def open_folder(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)  # a folder not made yet (no logs so far) opens empty
        self.open_url(QUrl.fromLocalFile(str(folder)))

    def open_log(self) -> None:
        log_file = self._paths.log_file
        self.open_url(QUrl.fromLocalFile(str(log_file if log_file.exists() else log_file.parent)))
