"""The main window's status bar: the model's state in words (loading and how far, ready or answering, its
context), a progress bar while it loads, and how fast the last reply came."""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QWidget

from app.qt.engine_worker import EngineController
from app.ui.models.picker import model_label


class ModelStatusBar(QStatusBar):
    """Follows the load under way by itself; the owner calls ``refresh`` when the model's state changes and
    ``show_speed`` when a reply is finished."""

    def __init__(self, engine: EngineController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._engine = engine
        self.state_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # busy until llama.cpp reports how far the load is
        self.progress.setMaximumWidth(160)
        self.progress.setAccessibleName("Model loading progress")
        self.speed_label = QLabel()
        self.addWidget(self.state_label, 1)
        self.addPermanentWidget(self.progress)
        self.addPermanentWidget(self.speed_label)
        engine.loading_started.connect(self._on_loading_started)
        engine.load_progress.connect(self._on_load_progress)

    @Slot(str)
    def _on_loading_started(self, path: str) -> None:
        self.progress.setRange(0, 0)  # busy until llama.cpp reports its first percent
        self.state_label.setText(f"Loading {model_label(path)}…")

    @Slot(str, int)
    def _on_load_progress(self, path: str, percent: int) -> None:
        self.progress.setRange(0, 100)
        self.progress.setValue(percent)
        self.state_label.setText(f"Loading {model_label(path)}… {percent}%")

    def refresh(self) -> None:
        """The model's state as the model thread's controller knows it now."""
        c = self._engine
        model = c.model
        self.progress.setVisible(c.loading_path is not None)
        if c.loading_path is not None:
            percent = f" {c.load_percent}%" if c.load_percent is not None else ""
            self.state_label.setText(f"Loading {model_label(c.loading_path)}…{percent}")
        elif model is None:
            self.state_label.setText("No model loaded")
        else:
            state = "Answering…" if c.generating else "Ready"
            self.state_label.setText(f"{state} · {model_label(model.path)} · context {model.n_ctx:,} tokens")

    def show_speed(self, tokens_per_second: float | None) -> None:
        """The speed of the reply last written or shown (blank when unknown)."""
        self.speed_label.setText(f"{tokens_per_second:.1f} tokens/s" if tokens_per_second else "")
