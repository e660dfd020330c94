"""Settings → Privacy: the Hugging Face token (only in the system keychain), what leaves this computer, and
"Delete all data…".

Deleting all data erases the history in place (HistoryStore.erase_all: every holder of the store keeps working),
clears the token, asks the window to put the settings back to their defaults, and deletes the log files and
cached Hub listings on the task pool; with the box ticked, the models Moss downloaded or copied go too.
"""

from __future__ import annotations

import html
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QLineEdit, QMessageBox, QPushButton, QWidget

from app.core.errors import UserError
from app.core.units import format_size
from app.hub.download_queue import DownloadState
from app.platform.paths import AppPaths
from app.qt.models_controller import ModelsController
from app.qt.task_runner import TaskRunner
from app.storage.history import HistoryStore
from app.ui.settings.common import Card, SettingsPage, hint

# (title, text, check box text or "") -> (confirmed, check box ticked); tests answer it instead of a person.
Confirm = Callable[[str, str, str], tuple[bool, bool]]

WHAT_GOES = (
    "This deletes, from this computer:\n"
    "• every conversation: the history, its backups and any damaged copies set aside\n"
    "• your settings, which go back to their defaults\n"
    "• the Hugging Face token\n"
    "• the log files and the cached model lists from Hugging Face\n\n"
    "This cannot be undone."
)


def erase_logs(log_file: Path) -> None:
    """Delete ``log_file`` and its rotated copies. A handler writing to it is closed first (Windows cannot delete
    an open file) and opens a new, empty file with the next record."""
    folder = log_file.parent.resolve()
    root = logging.getLogger()
    handlers = [
        h
        for h in root.handlers
        if isinstance(h, logging.FileHandler) and Path(h.baseFilename).resolve().parent == folder
    ]
    for handler in handlers:
        handler.acquire()
    try:
        for handler in handlers:
            handler.close()
        for file in folder.glob(f"{log_file.name}*"):
            file.unlink(missing_ok=True)
    finally:
        for handler in handlers:
            handler.release()


def erase_files(paths: AppPaths) -> None:
    """Pool thread: the log files, the cache folder's contents and settings files set aside as unreadable."""
    erase_logs(paths.log_file)
    if paths.cache.is_dir():
        for item in paths.cache.iterdir():
            if item.is_dir() and not item.is_symlink():
                shutil.rmtree(item)
            else:
                item.unlink(missing_ok=True)
    for aside in paths.config.glob(f"{paths.settings_file.name}.corrupt-*"):
        aside.unlink(missing_ok=True)


class PrivacyPane(SettingsPage):
    """Signals: settings_reset() once the history and token are gone (the window resets the settings);
    erased() when everything has been deleted; failed(message) if some of it could not be."""

    settings_reset = Signal()
    history_erased = Signal()  # at once, before the rest: whoever shows the history lets go of it
    erased = Signal()

    def __init__(
        self,
        paths: AppPaths,
        store: HistoryStore,
        models: ModelsController | None,
        tasks: TaskRunner,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Privacy", "Moss runs entirely on this computer. Here is what it keeps, and how to remove it.")
        self.confirm: Confirm = self._message_box
        self._paths, self._store, self._models, self._tasks = paths, store, models, tasks
        if models is not None:
            self._build_token(models)
        leaves = self.add_card(Card("What leaves this computer"))
        leaves.add_wide(
            hint(
                "Nothing but the Hugging Face requests you start: searching for models, listing their files, and "
                "downloads. Your conversations, settings and models stay here, and Moss sends no usage data."
            )
        )
        erase = self.add_card(Card("Delete all data"))
        erase.add_wide(
            hint(
                "Deletes every conversation (with its backups), your settings, the Hugging Face token and the "
                "log files. You choose whether the downloaded models go too."
            )
        )
        row = QHBoxLayout()
        self.delete_button = QPushButton("Delete all data…")
        self.delete_button.setObjectName("dangerButton")
        self.delete_button.setAccessibleName("Delete all data")
        row.addWidget(self.delete_button)
        row.addStretch(1)
        erase.add_wide(row)
        self.erase_status = QLabel()
        self.erase_status.setObjectName("hintLabel")
        self.erase_status.setWordWrap(True)
        self.erase_status.hide()
        erase.add_wide(self.erase_status)
        self.finish()
        self.delete_button.clicked.connect(self.delete_all_data)

    # -- the token ----------------------------------------------------------------------------------------

    def _build_token(self, models: ModelsController) -> None:
        card = self.add_card(Card("Hugging Face token"))
        self.token_hint = hint("")
        card.add_wide(self.token_hint)
        row = QHBoxLayout()
        self.token_edit = QLineEdit()
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_edit.setPlaceholderText("hf_…")
        self.token_edit.setAccessibleName("Hugging Face token")
        self.save_button = QPushButton("Save token")
        self.clear_button = QPushButton("Remove token")
        row.addWidget(self.token_edit, 1)
        row.addWidget(self.save_button)
        row.addWidget(self.clear_button)
        card.add_wide(row)
        self.status = QLabel()
        self.status.setObjectName("hintLabel")
        self.status.setWordWrap(True)
        card.add_wide(self.status)
        self.save_button.clicked.connect(self.save)
        self.clear_button.clicked.connect(lambda: models.set_token(""))
        self.token_edit.returnPressed.connect(self.save)
        models.token_changed.connect(self._update_token)
        self._update_token()

    def save(self) -> None:
        if self._models is not None and self.token_edit.text().strip():
            self._models.set_token(self.token_edit.text())
            self.token_edit.clear()

    def _update_token(self) -> None:
        c = self._models
        if c is None:
            return
        # Where the token is kept is said once, and truly: a machine without a usable keychain keeps it in memory.
        kept = (
            "It is kept in the system keychain"
            if c.token_persistent
            else "This computer has no system keychain Moss can use, so a token is kept only while Moss runs"
        )
        self.token_hint.setText(
            "Needed only for gated or private models. Create a read token at huggingface.co/settings/tokens. "
            f"{kept}; it is sent only to the Hugging Face Hub, and never written to a file or a log."
        )
        if not c.has_token:
            self.status.setText("No token saved.")
        elif c.token_persistent:
            self.status.setText(f"A token is saved in the {c.token_storage}.")
        else:
            self.status.setText("A token is saved for this session: Moss forgets it when it closes.")
        self.clear_button.setEnabled(c.has_token)

    # -- deleting everything ------------------------------------------------------------------------------

    def delete_all_data(self) -> None:
        """Ask, then delete. The history goes at once (on this thread: deleting files is instant); the rest on
        the task pool, after which ``erased`` is emitted."""
        models = self._models
        text, also_models = WHAT_GOES, ""
        if models is not None:
            text += (
                f"\n\nThe models you downloaded, in {models.library.models_dir}, stay unless you tick the box. "
                "Models used from other apps' folders always stay where they are."
            )
            also_models = f"Also delete the downloaded models ({format_size(models.usage)})"
        confirmed, with_models = self.confirm("Delete all of Moss's data?", text, also_models)
        if not confirmed:
            return
        self.delete_button.setEnabled(False)
        problems: list[str] = []
        try:
            self._store.erase_all()
        except UserError as exc:
            problems.append(exc.message)
        self.history_erased.emit()
        if models is not None:
            models.set_token("")
            if with_models:
                self._delete_models(models)
        self.settings_reset.emit()
        paths = self._paths

        def done(_result: object) -> None:
            self._finish(problems)

        def failed(message: str) -> None:
            self._finish([*problems, message])

        self._tasks.run(lambda: erase_files(paths), done, failed, name="delete all data")

    @staticmethod
    def _delete_models(models: ModelsController) -> None:
        """Downloads stop (their partial files go), Moss's own model files are deleted, and models used where
        they are (another app's folder) are forgotten, never deleted."""
        for status in models.queue.statuses():
            if status.state not in (DownloadState.DONE, DownloadState.CANCELLED, DownloadState.FAILED):
                models.cancel(status.key)
        for row in list(models.rows):
            models.remove(row.model.id)  # a loaded model is unloaded first

    def _finish(self, problems: list[str]) -> None:
        self.delete_button.setEnabled(True)
        if problems:
            self.erase_status.setText("Not everything could be deleted: " + " ".join(problems))
        else:
            self.erase_status.setText("All your data was deleted. Moss starts afresh from here.")
        self.erase_status.show()
        self.erased.emit()

    def _message_box(self, title: str, text: str, check: str) -> tuple[bool, bool]:
        box = QMessageBox(QMessageBox.Icon.Warning, "Delete all data", f"<b>{html.escape(title)}</b>", parent=self)
        box.setInformativeText(text)
        delete = box.addButton("Delete everything", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        checkbox = None
        if check:
            checkbox = QCheckBox(check)
            box.setCheckBox(checkbox)
        box.exec()
        return box.clickedButton() is delete, checkbox is not None and checkbox.isChecked()
