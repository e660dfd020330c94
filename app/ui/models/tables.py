"""The two tables of the Models pane: models on this computer, and models to get (catalog or Hub search).

Plain ``QTreeWidget`` s: sortable columns, keyboard navigation and screen-reader names come with them. Each
row keeps the object it shows in ``Qt.UserRole``. An empty table says why it is empty (its placeholder), and
the "Fits here" cell of a model always says something: yes, with a shorter context, no (and what it needs),
or unknown (and why).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QResizeEvent
from PySide6.QtWidgets import QHeaderView, QLabel, QTreeWidget, QTreeWidgetItem, QWidget

from app.core.units import format_size as size_text
from app.hub.catalog import CatalogRow
from app.hub.hub_client import RepoListing, RepoSummary
from app.hub.model_details import Fit, InstalledRow, format_parameters
from app.hub.repo_files import RemoteModel

ROLE = Qt.ItemDataRole.UserRole
STATE = Qt.ItemDataRole.UserRole + 1  # a repository row's listing: "" not asked, "asking", "listed"
_GOOD, _BAD = QColor("#4f9d5d"), QColor("#d0574b")  # readable on light and dark

NOT_CHECKED = "unknown: not checked yet"
NOT_CHECKED_TIP = (
    "Moss plans a model from its file's header. It reads the headers of the recommended models from the Hub; "
    "for other models, the list of models on this computer says whether one fits once it is downloaded."
)
SIZE_UNKNOWN = "unknown: size not known yet"
SIZE_UNKNOWN_TIP = "Moss has not reached the Hub for this model's files yet; search again when you are online."


def fit_cell(item: QTreeWidgetItem, column: int, fit: Fit | None, unknown: str, unknown_tip: str) -> None:
    if fit is None:
        item.setText(column, unknown)
        item.setToolTip(column, unknown_tip)
        return
    item.setText(column, fit.label)
    if fit.known:
        item.setForeground(column, QBrush(_GOOD if fit.fits else _BAD))
    item.setToolTip(column, fit.summary)


class _ModelTree(QTreeWidget):
    """A tree with a placeholder: a wrapped line in the middle of the empty table that says why it is empty."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.placeholder = QLabel(self.viewport())
        self.placeholder.setObjectName("hintLabel")
        self.placeholder.setWordWrap(True)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.hide()

    def set_placeholder(self, text: str) -> None:
        self.placeholder.setText(text)
        self.placeholder.setAccessibleName(text)
        self._place()

    def _place(self) -> None:
        empty = self.topLevelItemCount() == 0 and bool(self.placeholder.text())
        self.placeholder.setGeometry(self.viewport().rect().adjusted(24, 16, -24, -16))
        self.placeholder.setVisible(empty)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._place()


class InstalledTable(_ModelTree):
    """The models Moss has. Columns: model, quantization, size, fit, where from."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("installedModels")
        self.setAccessibleName("Installed models")
        self.setHeaderLabels(["Model", "Quantization", "Parameters", "Size", "Fits here", "From"])
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, 6):
            self.header().setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.header().setStretchLastSection(False)

    def set_rows(self, rows: list[InstalledRow]) -> None:
        selected = self.selected()
        self.clear()
        for row in rows:
            model, details = row.model, row.details
            item = QTreeWidgetItem(
                [
                    model.id,
                    details.quantization if details else "",
                    format_parameters(details.parameters) if details and details.parameters else "",
                    size_text(model.size_bytes),
                    "",
                    model.repo_id or model.origin,
                ]
            )
            item.setData(0, ROLE, row)
            item.setToolTip(0, str(model.path))
            if row.problem:
                item.setText(4, "no: unusable file")
                item.setForeground(4, QBrush(_BAD))
                item.setToolTip(4, row.problem)
            else:
                fit_cell(item, 4, row.fit, NOT_CHECKED, "Moss is still reading this model's header.")
            self.addTopLevelItem(item)
            if selected is not None and selected.model.id == model.id:
                self.setCurrentItem(item)
        self._place()

    def selected(self) -> InstalledRow | None:
        item = self.currentItem()
        row = item.data(0, ROLE) if item is not None else None
        return row if isinstance(row, InstalledRow) else None


class RemoteTable(_ModelTree):
    """Models to get: the curated catalog, or the Hub's search results (each repository expands into its
    models, one per quantization, when opened). The catalog's notes are sentences: they are in the tooltips and
    under the list for the picked row, not in a column too narrow for them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("remoteModels")
        self.setAccessibleName("Models to download")
        self.setHeaderLabels(["Model", "Quantization", "Size", "Fits here", "Notes"])
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        for column in (0, 1, 2, 3):
            self.header().setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.header().setStretchLastSection(True)
        self.revisions: dict[str, str] = {}  # repo -> commit the listing came from
        self.showing = ""  # "catalog", "search" or "" (cleared, waiting for an answer)

    def clear_for(self, placeholder: str) -> None:
        """Empty the list while a new answer is awaited (the old one must not pass for it)."""
        self.clear()
        self.showing = ""
        self.set_placeholder(placeholder)

    def show_catalog(self, rows: list[CatalogRow]) -> None:
        self.clear()
        self.showing = "catalog"
        self.setRootIsDecorated(False)
        self.setColumnHidden(4, True)
        for row in rows:
            size = size_text(row.size) if row.model else f"about {size_text(row.size)}"
            name = f"{row.entry.family}  ·  {row.entry.repo_id}"
            item = QTreeWidgetItem([name, row.entry.quantization, size, "", row.entry.note])
            for column in (0, 1):
                item.setToolTip(column, row.entry.note + (f"\n\n{row.problem}" if row.problem else ""))
            item.setToolTip(2, "" if row.model else "The usual size; the Hub has not been asked yet.")
            if row.model is None:
                fit_cell(item, 3, row.fit, SIZE_UNKNOWN, SIZE_UNKNOWN_TIP)
            else:
                fit_cell(item, 3, row.fit, NOT_CHECKED, NOT_CHECKED_TIP)
            item.setData(0, ROLE, row)
            self.addTopLevelItem(item)
        self._place()

    def remember_revision(self, repo_id: str, commit: str) -> None:
        self.revisions[repo_id] = commit

    def show_search(self, results: list[RepoSummary]) -> None:
        self.clear()
        self.showing = "search"
        self.setRootIsDecorated(True)
        self.setColumnHidden(4, False)
        for repo in results:
            item = QTreeWidgetItem([repo.repo_id, "", "", "", f"{repo.downloads:,} downloads"])
            if repo.gated:
                item.setText(4, item.text(4) + " · needs a token")
            item.setData(0, ROLE, repo.repo_id)
            item.setChildIndicatorPolicy(QTreeWidgetItem.ChildIndicatorPolicy.ShowIndicator)
            self.addTopLevelItem(item)
        self._place()

    def _repo_item(self, repo_id: str) -> QTreeWidgetItem | None:
        for index in range(self.topLevelItemCount()):
            item = self.topLevelItem(index)
            if item is not None and item.data(0, ROLE) == repo_id:
                return item
        return None

    def needs_listing(self, item: QTreeWidgetItem) -> bool:
        return isinstance(item.data(0, ROLE), str) and not item.data(0, STATE)

    def show_listing_pending(self, repo_id: str, text: str) -> None:
        parent = self._repo_item(repo_id)
        if parent is not None:
            parent.setData(0, STATE, "asking")
            parent.takeChildren()
            parent.addChild(QTreeWidgetItem([text]))
            parent.setExpanded(True)
            self._span_children(parent)

    def show_listing_failed(self, repo_id: str) -> None:
        """Back to unasked and closed: opening it again asks again (the reason is in the pane's banner)."""
        parent = self._repo_item(repo_id)
        if parent is not None:
            parent.setData(0, STATE, "")
            parent.takeChildren()
            parent.setExpanded(False)

    def show_listing(self, listing: RepoListing) -> None:
        self.remember_revision(listing.repo_id, listing.commit)
        parent = self._repo_item(listing.repo_id)
        if parent is None:
            return
        parent.setData(0, STATE, "listed")
        parent.takeChildren()
        for model in listing.models:
            parts = f" ({len(model.files)} parts)" if len(model.files) > 1 else ""
            child = QTreeWidgetItem([model.name, model.quantization, size_text(model.size), "", parts.strip()])
            fit_cell(child, 3, None, NOT_CHECKED, NOT_CHECKED_TIP)
            child.setData(0, ROLE, model)
            parent.addChild(child)
        if not listing.models:
            parent.addChild(QTreeWidgetItem(["No GGUF models in this repository."]))
            self._span_children(parent)
        parent.setExpanded(True)

    @staticmethod
    def _span_children(parent: QTreeWidgetItem) -> None:
        """A line of text under a repository (asking, nothing there) uses the whole row."""
        for index in range(parent.childCount()):
            child = parent.child(index)
            if child is not None:
                child.setFirstColumnSpanned(True)

    def selected_model(self) -> RemoteModel | None:
        item = self.currentItem()
        value = item.data(0, ROLE) if item is not None else None
        if isinstance(value, CatalogRow):
            return value.model
        return value if isinstance(value, RemoteModel) else None

    def selected_row(self) -> object:
        """What the current row shows: a CatalogRow, a repository id, a RemoteModel, or None."""
        item = self.currentItem()
        return item.data(0, ROLE) if item is not None else None
