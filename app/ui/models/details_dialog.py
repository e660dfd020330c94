"""A model's details, from its GGUF header: architecture, size, quantization, context, licence, checksum."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QVBoxLayout, QWidget

from app.core.units import format_size as size_text
from app.hub.model_details import InstalledRow


class ModelDetailsDialog(QDialog):
    def __init__(self, row: InstalledRow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        model, details = row.model, row.details
        self.setWindowTitle(f"{model.id} — details")
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.fields: dict[str, str] = {}
        values = [
            ("Name", details.name if details else ""),
            ("Architecture", details.architecture if details else ""),
            ("Parameters", f"{details.parameters / 1e9:.2f} billion" if details and details.parameters else ""),
            ("Quantization", details.quantization if details else ""),
            ("Context length", f"{details.context_length:,} tokens" if details and details.context_length else ""),
            ("Chat template", ("yes" if details.has_chat_template else "no") if details else ""),
            ("Licence", (details.license or "not stated") if details else ""),
            ("Size", size_text(model.size_bytes) + (f" in {len(model.parts)} files" if len(model.parts) > 1 else "")),
            ("SHA-256", ", ".join(h for h in model.sha256 if h) or "not known (not downloaded by Moss)"),
            ("From", model.repo_id or model.origin),
            ("File", str(model.path)),
            ("Fits here", row.fit.summary if row.fit else ""),
            ("Problem", row.problem),
        ]
        for label, value in values:
            if not value:
                continue
            text = QLabel(value)
            text.setWordWrap(True)
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(label + ":", text)
            self.fields[label] = value
        layout.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(560, self.sizeHint().height())
