"""Settings → Models: what is installed (size, fit), downloads with progress, the catalog and Hub search,
import (button or drag and drop), models found in other apps' folders, removal, and the models folder.

All work goes through :class:`~app.qt.models_controller.ModelsController`; this widget only shows and asks.
Confirmations go through ``self.ask`` (a message box by default), so tests can answer them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QDesktopServices, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTabWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.units import format_size as size_text
from app.hub.catalog import CatalogRow
from app.hub.download_queue import DownloadStatus
from app.hub.hub_client import RepoListing, RepoSummary
from app.hub.library import ImportMode
from app.hub.local_scan import FoundModel
from app.hub.model_details import InstalledRow, short_path
from app.qt.models_controller import ModelsController
from app.ui.banner import Banner
from app.ui.models.details_dialog import ModelDetailsDialog
from app.ui.models.downloads import DownloadList
from app.ui.models.tables import ROLE, InstalledTable, RemoteTable

# ask(title, text, buttons) -> the chosen button's label, or "" when dismissed.
Ask = Callable[[str, str, list[str]], str]


class ModelsPane(QWidget):
    """Signals: use_model(path) when the person picks "Use" on an installed model."""

    use_model = Signal(str)

    def __init__(self, controller: ModelsController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.ask: Ask = self._message_box
        self.setAcceptDrops(True)
        self._build()
        self._connect()
        for status in controller.queue.statuses():
            self.downloads.update_status(status)
        self._on_installed(controller.rows)
        self._on_usage(str(controller.library.models_dir), controller.usage)

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 14)
        folder_row = QHBoxLayout()
        self.folder_label = QLabel()
        self.folder_label.setObjectName("hintLabel")
        self.folder_label.setWordWrap(True)
        self.open_folder_button = QPushButton("Open folder")
        self.change_folder_button = QPushButton("Move folder…")
        self.change_folder_button.setToolTip("Move the models folder, and every model in it, somewhere else")
        folder_row.addWidget(self.folder_label, 1)
        folder_row.addWidget(self.open_folder_button)
        folder_row.addWidget(self.change_folder_button)
        layout.addLayout(folder_row)
        self.message = Banner("banner")
        self.error = Banner("errorBanner")
        layout.addWidget(self.message)
        layout.addWidget(self.error)
        self.downloads = DownloadList()
        layout.addWidget(self.downloads)

        self.tabs = QTabWidget()
        layout.addWidget(self.tabs, 1)
        installed = QWidget()
        column = QVBoxLayout(installed)
        column.setContentsMargins(0, 8, 0, 0)
        self.installed = InstalledTable()
        column.addWidget(self.installed, 1)
        buttons = QHBoxLayout()
        self.use_button = QPushButton("Use")
        self.details_button = QPushButton("Details…")
        self.remove_button = QPushButton("Remove…")
        self.import_button = QPushButton("Import a file…")
        self.import_button.setToolTip("Add a .gguf you already have (or drop it on this pane)")
        self.scan_button = QPushButton("Find models from other apps")
        self.scan_button.setToolTip("Look in the Hugging Face cache and LM Studio's, Jan's and GPT4All's folders")
        for button in (self.use_button, self.details_button, self.remove_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.scan_button)
        buttons.addWidget(self.import_button)
        column.addLayout(buttons)
        self.tabs.addTab(installed, "On this computer")

        remote = QWidget()
        column = QVBoxLayout(remote)
        column.setContentsMargins(0, 8, 0, 0)
        search_row = QHBoxLayout()
        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText("Search Hugging Face for GGUF models (empty: recommended gpt-oss models)")
        self.search_box.setAccessibleName("Search Hugging Face")
        self.search_button = QPushButton("Search")
        search_row.addWidget(self.search_box, 1)
        search_row.addWidget(self.search_button)
        column.addLayout(search_row)
        self.remote = RemoteTable()
        column.addWidget(self.remote, 1)
        row = QHBoxLayout()
        self.remote_hint = QLabel("Pick a model, then Download. Sizes and fit come from the Hub.")
        self.remote_hint.setObjectName("hintLabel")
        self.download_button = QPushButton("Download")
        self.download_button.setObjectName("primaryButton")
        row.addWidget(self.remote_hint, 1)
        row.addWidget(self.download_button)
        column.addLayout(row)
        self.tabs.addTab(remote, "Download")
        self._update_buttons()

    def _connect(self) -> None:
        c = self.controller
        c.installed_changed.connect(self._on_installed)
        c.download_changed.connect(self._on_download)
        c.catalog_changed.connect(self._on_catalog)
        c.search_finished.connect(self._on_search)
        c.listing_finished.connect(self._on_listing)
        c.scan_finished.connect(self._on_scan)
        c.problem.connect(self.show_problem)
        c.notice.connect(self.show_notice)
        c.usage_changed.connect(self._on_usage)
        self.downloads.action.connect(self._on_download_action)
        self.installed.itemSelectionChanged.connect(self._update_buttons)
        self.installed.itemDoubleClicked.connect(lambda *_: self.use_selected())
        self.remote.itemSelectionChanged.connect(self._update_buttons)
        self.remote.itemExpanded.connect(self._on_expanded)
        self.use_button.clicked.connect(self.use_selected)
        self.details_button.clicked.connect(self.show_details)
        self.remove_button.clicked.connect(self.remove_selected)
        self.import_button.clicked.connect(self._choose_import)
        self.scan_button.clicked.connect(self.controller.scan_other_apps)
        self.search_button.clicked.connect(self.run_search)
        self.search_box.returnPressed.connect(self.run_search)
        self.download_button.clicked.connect(self.download_selected)
        self.open_folder_button.clicked.connect(
            lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.controller.library.models_dir)))
        )
        self.change_folder_button.clicked.connect(self._choose_folder)

    # -- messages -----------------------------------------------------------------------------------------

    def show_problem(self, text: str) -> None:
        self.message.hide()
        self.error.show_message(text)

    def show_notice(self, text: str) -> None:
        self.error.hide()
        self.message.show_message(text)

    @staticmethod
    def _message_box(title: str, text: str, buttons: list[str]) -> str:
        box = QMessageBox(QMessageBox.Icon.Question, title, text)
        chosen = [(box.addButton(label, QMessageBox.ButtonRole.AcceptRole), label) for label in buttons]
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        for button, label in chosen:
            if box.clickedButton() is button:
                return label
        return ""

    # -- installed ----------------------------------------------------------------------------------------

    def _on_installed(self, rows: list[InstalledRow]) -> None:
        self.installed.set_rows(rows)
        self.tabs.setTabText(0, f"On this computer ({len(rows)})")
        self._update_buttons()

    def _on_usage(self, folder: str, used: object) -> None:
        self.folder_label.setText(f"Models folder: {short_path(Path(folder))} · {size_text(int(used))} used")  # type: ignore[call-overload]
        self.folder_label.setToolTip(folder)

    def _update_buttons(self) -> None:
        row = self.installed.selected()
        usable = row is not None and not row.problem
        self.use_button.setEnabled(usable)
        self.details_button.setEnabled(usable)
        self.remove_button.setEnabled(row is not None)
        self.download_button.setEnabled(self.remote.selected_model() is not None)

    def use_selected(self) -> None:
        row = self.installed.selected()
        if row is not None and not row.problem:
            self.use_model.emit(str(row.model.path))

    def show_details(self) -> ModelDetailsDialog | None:
        row = self.installed.selected()
        if row is None:
            return None
        dialog = ModelDetailsDialog(row, self)
        dialog.open()
        return dialog

    def remove_selected(self) -> None:
        row = self.installed.selected()
        if row is None:
            return
        model = row.model
        if model.managed:
            text = f"Delete {model.id} from the models folder? This frees {size_text(model.size_bytes)}."
            choices = ["Delete"]
        else:
            text = (
                f"{model.id} is used where it is ({model.path}). Forget it, or delete the file too "
                f"(frees {size_text(model.size_bytes)})?"
            )
            choices = ["Forget", "Delete the file"]
        answer = self.ask("Remove model", text, choices)
        if answer:
            self.controller.remove(model.id, delete_file=answer == "Delete the file")

    # -- import -------------------------------------------------------------------------------------------

    def _choose_import(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Import GGUF models", str(Path.home()), "GGUF models (*.gguf)")
        if paths:
            self.import_paths([Path(p) for p in paths])

    def import_paths(self, paths: list[Path]) -> None:
        """Ask where the files should live, then import them."""
        answer = self.ask(
            "Import models",
            "Use the file where it is, or copy or move it into Moss's models folder?",
            ["Use in place", "Copy", "Move"],
        )
        mode = {"Use in place": ImportMode.IN_PLACE, "Copy": ImportMode.COPY, "Move": ImportMode.MOVE}.get(answer)
        if mode is not None:
            self.controller.import_files(paths, mode)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if urls and all(u.isLocalFile() and u.toLocalFile().lower().endswith(".gguf") for u in urls):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        event.acceptProposedAction()
        if paths:
            self.import_paths(paths)

    def _on_scan(self, found: list[FoundModel]) -> None:
        if not found:
            self.show_notice("No new models in the Hugging Face cache or LM Studio's, Jan's or GPT4All's folders.")
            return
        listing = "\n".join(f"• {f.path.name} ({f.source}, {size_text(f.size_bytes)})" for f in found[:12])
        more = f"\n… and {len(found) - 12} more" if len(found) > 12 else ""
        answer = self.ask(
            "Models found",
            f"Found {len(found)} model(s) other apps downloaded:\n{listing}{more}\n\n"
            "Add them? They are used where they are: nothing is copied.",
            ["Add"],
        )
        if answer:
            self.controller.add_found(found)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Move the models folder to", str(Path.home()))
        if folder:
            self.controller.move_folder(Path(folder))

    # -- getting models -----------------------------------------------------------------------------------

    def run_search(self) -> None:
        query = self.search_box.text().strip()
        self.remote_hint.setText("Asking the Hub…")
        if query:
            self.controller.search(query)
        else:
            self.controller.refresh_catalog()

    def _on_catalog(self, rows: list[CatalogRow]) -> None:
        self.remote.show_catalog(rows)
        checked = max((r.checked for r in rows), default="")
        self.remote_hint.setText(
            "Recommended gpt-oss models." + (f" Last checked {checked[:16].replace('T', ' ')} UTC." if checked else "")
        )
        for row in rows:
            if row.commit:
                self.remote.remember_revision(row.entry.repo_id, row.commit)
        self._update_buttons()

    def _on_search(self, query: str, results: list[RepoSummary]) -> None:
        self.remote.show_search(results)
        self.remote_hint.setText(
            f"{len(results)} repositories match {query!r}; open one to see its models."
            if results
            else f"No GGUF repositories match {query!r}."
        )

    def _on_expanded(self, item: QTreeWidgetItem) -> None:
        repo = item.data(0, ROLE)
        if isinstance(repo, str) and item.childCount() == 0:
            self.controller.list_repo(repo)

    def _on_listing(self, _repo: str, listing: RepoListing) -> None:
        self.remote.show_listing(listing)

    def download_selected(self) -> None:
        model = self.remote.selected_model()
        if model is None:
            return
        revision = self.remote.revisions.get(model.repo_id, "main")
        self.controller.download(model, revision)

    def _on_download(self, status: DownloadStatus) -> None:
        self.downloads.update_status(status)

    def _on_download_action(self, key: str, action: str) -> None:
        if action == "pause":
            self.controller.pause(key)
        elif action == "resume":
            self.controller.resume(key)
        elif action == "cancel":
            if self.ask("Cancel download", "Cancel it and delete what was downloaded so far?", ["Cancel download"]):
                self.controller.cancel(key)
        elif action == "dismiss":
            self.controller.queue.dismiss(key)
            self.downloads.remove(key)
