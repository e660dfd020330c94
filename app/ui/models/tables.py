"""The two tables of the Models pane: models on this computer, and models to get (catalog or Hub search).

Plain ``QTreeWidget`` s: sortable columns, keyboard navigation and screen-reader names come with them. Each
row keeps the object it shows in ``Qt.UserRole``.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from app.core.units import format_size as size_text
from app.hub.catalog import CatalogRow
from app.hub.hub_client import RepoListing, RepoSummary
from app.hub.model_details import Fit, InstalledRow, format_parameters
from app.hub.repo_files import RemoteModel

ROLE = Qt.ItemDataRole.UserRole
_GOOD, _BAD = QColor("#4f9d5d"), QColor("#d0574b")  # readable on light and dark


def _fit_cell(item: QTreeWidgetItem, column: int, fit: Fit | None, unknown: str = "") -> None:
    if fit is None:
        item.setText(column, unknown)
        return
    item.setText(column, "Fits" if fit.fits else "Too big")
    item.setForeground(column, QBrush(_GOOD if fit.fits else _BAD))
    item.setToolTip(column, fit.summary)


class InstalledTable(QTreeWidget):
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
                item.setText(4, "Unusable")
                item.setForeground(4, QBrush(_BAD))
                item.setToolTip(4, row.problem)
            else:
                _fit_cell(item, 4, row.fit)
            self.addTopLevelItem(item)
            if selected is not None and selected.model.id == model.id:
                self.setCurrentItem(item)

    def selected(self) -> InstalledRow | None:
        item = self.currentItem()
        row = item.data(0, ROLE) if item is not None else None
        return row if isinstance(row, InstalledRow) else None


class RemoteTable(QTreeWidget):
    """Models to get: the curated catalog, or the Hub's search results (each repository expands into its
    models, one per quantization, when opened)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("remoteModels")
        self.setAccessibleName("Models to download")
        self.setHeaderLabels(["Model", "Quantization", "Size", "Fits here", "Notes"])
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        for column in (1, 2, 3):
            self.header().setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.header().setStretchLastSection(True)
        self.revisions: dict[str, str] = {}  # repo -> commit the listing came from

    def show_catalog(self, rows: list[CatalogRow]) -> None:
        self.clear()
        self.setRootIsDecorated(False)
        for row in rows:
            item = QTreeWidgetItem(
                [row.entry.family + "  ·  " + row.entry.repo_id, row.entry.quantization, size_text(row.size), ""]
            )
            item.setText(4, row.entry.note if not row.problem else row.problem)
            item.setToolTip(4, row.entry.note + (f"\n\n{row.problem}" if row.problem else ""))
            _fit_cell(item, 3, row.fit, "?" if row.model else "")
            item.setData(0, ROLE, row.model)
            self.addTopLevelItem(item)

    def remember_revision(self, repo_id: str, commit: str) -> None:
        self.revisions[repo_id] = commit

    def show_search(self, results: list[RepoSummary]) -> None:
        self.clear()
        self.setRootIsDecorated(True)
        for repo in results:
            item = QTreeWidgetItem([repo.repo_id, "", "", "", f"{repo.downloads:,} downloads"])
            if repo.gated:
                item.setText(4, item.text(4) + " · needs a token")
            item.setData(0, ROLE, repo.repo_id)
            item.setChildIndicatorPolicy(QTreeWidgetItem.ChildIndicatorPolicy.ShowIndicator)
            self.addTopLevelItem(item)

    def show_listing(self, listing: RepoListing) -> None:
        self.remember_revision(listing.repo_id, listing.commit)
        for index in range(self.topLevelItemCount()):
            parent = self.topLevelItem(index)
            if parent is None or parent.data(0, ROLE) != listing.repo_id:
                continue
            parent.takeChildren()
            for model in listing.models:
                parts = f" ({len(model.files)} parts)" if len(model.files) > 1 else ""
                child = QTreeWidgetItem([model.name, model.quantization, size_text(model.size), "", parts.strip()])
                child.setData(0, ROLE, model)
                parent.addChild(child)
            if not listing.models:
                parent.addChild(QTreeWidgetItem(["no GGUF models in this repository"]))
            parent.setExpanded(True)

    def selected_model(self) -> RemoteModel | None:
        item = self.currentItem()
        model = item.data(0, ROLE) if item is not None else None
        return model if isinstance(model, RemoteModel) else None
