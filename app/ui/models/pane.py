"""Settings → Models: what is installed (size, fit), downloads with progress, the catalog and Hub search,
import (button or drag and drop), models found in other apps' folders, removal, and the models folder.

All work goes through :class:`~app.qt.models_controller.ModelsController`; this widget only shows and asks.
Confirmations go through ``self.ask`` (a message box by default), so tests can answer them.

It explains itself: an empty list says why, a greyed Download button says why beside it, a request to the
Hub says how long it may take, and a new search empties the list until its own answer (or failure) comes.
"""

from __future__ import annotations

import html
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
from app.hub.repo_files import RemoteModel
from app.hub.starter import STARTER_LABEL, starter_model_path
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
        self._list_problem = ""  # the banner text of the latest catalog or search failure
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
        self.remote_status = QLabel("Search, or press Search with the box empty for the recommended gpt-oss models.")
        self.remote_status.setObjectName("hintLabel")
        self.remote_status.setWordWrap(True)
        column.addWidget(self.remote_status)
        self.remote = RemoteTable()
        self.remote.set_placeholder("Press Search to see the recommended gpt-oss models, or type a name to search.")
        column.addWidget(self.remote, 1)
        row = QHBoxLayout()
        self.download_hint = QLabel()
        self.download_hint.setObjectName("hintLabel")
        self.download_hint.setWordWrap(True)
        self.download_button = QPushButton("Download")
        self.download_button.setObjectName("primaryButton")
        row.addWidget(self.download_hint, 1)
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
        c.search_failed.connect(self._on_search_failed)
        c.listing_finished.connect(self._on_listing)
        c.listing_failed.connect(self._on_listing_failed)
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
        self.error.show_message(html.escape(text, quote=False))  # plain text: a query or file name is not HTML

    def show_notice(self, text: str) -> None:
        self.error.hide()
        self.message.show_message(html.escape(text, quote=False))

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
        self.installed.set_placeholder(self._installed_placeholder())
        self.tabs.setTabText(0, f"On this computer ({len(rows)})")
        self._update_buttons()

    @staticmethod
    def _installed_placeholder() -> str:
        """Why the list is empty, and what the demo model is: it is always there and never listed."""
        demo = (
            f"{STARTER_LABEL} comes with Moss and is not listed here: it is for trying Moss out and is often wrong. "
            if starter_model_path() is not None
            else ""
        )
        return (
            f"No models downloaded or imported yet. {demo}Get gpt-oss in the Download tab, or import a .gguf "
            "file you already have (Import a file…, or drop it here)."
        )

    def _on_usage(self, folder: str, used: object) -> None:
        self.folder_label.setText(f"Models folder: {short_path(Path(folder))} · {size_text(int(used))} used")  # type: ignore[call-overload]
        self.folder_label.setToolTip(folder)

    def _update_buttons(self) -> None:
        row = self.installed.selected()
        usable = row is not None and not row.problem
        self.use_button.setEnabled(usable)
        self.details_button.setEnabled(usable)
        self.remove_button.setEnabled(row is not None)
        # A greyed button says why: nothing picked, or the picked model's problem.
        why_not = "Pick a model in the list first." if row is None else row.problem
        for button in (self.use_button, self.details_button, self.remove_button):
            button.setToolTip("" if button.isEnabled() else why_not)
        model = self.remote.selected_model()
        self.download_button.setEnabled(model is not None)
        hint = self._download_hint(model)
        self.download_hint.setText(hint)
        self.download_button.setToolTip(hint)

    def _download_hint(self, model: RemoteModel | None) -> str:
        """What Download will do, or why it cannot yet."""
        picked = self.remote.selected_row()
        about = f"{picked.entry.note} " if isinstance(picked, CatalogRow) else ""
        if model is not None:
            return f"{about}Download puts {model.name} ({size_text(model.size)}) in the models folder."
        if isinstance(picked, CatalogRow) and picked.offline:
            return about + (
                "Moss needs this model's file list from the Hub before it can download it: search again "
                "(with the box empty) when you are online."
            )
        if isinstance(picked, CatalogRow):
            return about + "The Hub gave no file for it just now (hover over the row to see why)."
        if isinstance(picked, str):
            return "Open the repository (its arrow) and pick one of its models to download."
        if self.remote.topLevelItemCount() == 0:
            return "Nothing to pick yet: the list is empty."
        return "Pick a model in the list to download it."

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

    def _waiting_text(self) -> str:
        return f"(gives up after {self.controller.hub_timeout_s:g} s)"

    def run_search(self) -> None:
        """Ask the Hub: the query, or with an empty box the recommended models. The list empties until the
        answer comes, so the previous answer never passes for this one."""
        query = self.search_box.text().strip()
        asking = f"Asking the Hub for {query!r}…" if query else "Asking the Hub about the recommended gpt-oss models…"
        self.remote_status.setText(f"{asking} {self._waiting_text()}")
        self.remote.clear_for("Waiting for the Hub's answer…")
        if self.error.text == self._list_problem:  # the last answer's failure is not this one's
            self.error.hide()
        self._update_buttons()
        if query:
            self.controller.search(query)
        else:
            self.controller.refresh_catalog()

    def _on_catalog(self, rows: list[CatalogRow]) -> None:
        self.remote.show_catalog(rows)
        problems = sorted({r.problem for r in rows if r.problem})
        self._list_problem = html.escape(problems[0], quote=False) if problems else ""  # as the banner shows it
        checked = max((r.checked for r in rows), default="")
        when = checked[:16].replace("T", " ") + " UTC"
        if not any(r.offline for r in rows):
            some = " Some could not be checked: see the message above." if any(r.problem for r in rows) else ""
            status = f"Recommended gpt-oss models, checked with the Hub just now.{some}"
        elif checked:
            status = f"Recommended gpt-oss models, as the Hub listed them on {when}: it could not be asked now."
        else:
            status = (
                "Recommended gpt-oss models, with their usual sizes: the Hub could not be asked yet. "
                "Search again when you are online to download one."
            )
        self.remote_status.setText(status)
        for row in rows:
            if row.commit:
                self.remote.remember_revision(row.entry.repo_id, row.commit)
        self._update_buttons()

    def _on_search(self, query: str, results: list[RepoSummary]) -> None:
        self.remote.show_search(results)
        self.remote.set_placeholder(f"No GGUF repositories match {query!r}. Try a shorter or different name.")
        count = "1 repository matches" if len(results) == 1 else f"{len(results)} repositories match"
        self.remote_status.setText(
            f"{count} {query!r}; open one to see its models." if results else f"No GGUF repositories match {query!r}."
        )
        self._update_buttons()

    def _on_search_failed(self, query: str, message: str) -> None:
        """The failure itself is in the error banner; the list stays empty and says so."""
        self._list_problem = html.escape(message, quote=False)
        asked = f"The search for {query!r}" if query else "Loading the recommended models"
        self.remote_status.setText(f"{asked} did not finish: see the message above.")
        self.remote.clear_for("No results: the search did not finish (see the message above). Search again later.")
        self._update_buttons()

    def _on_expanded(self, item: QTreeWidgetItem) -> None:
        repo = item.data(0, ROLE)
        if isinstance(repo, str) and self.remote.needs_listing(item):
            self.remote.show_listing_pending(repo, f"Asking the Hub for its files… {self._waiting_text()}")
            self.controller.list_repo(repo)

    def _on_listing(self, _repo: str, listing: RepoListing) -> None:
        self.remote.show_listing(listing)

    def _on_listing_failed(self, repo: str, _message: str) -> None:
        self.remote.show_listing_failed(repo)

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
