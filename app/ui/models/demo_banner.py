"""The notice shown while the small demo model is loaded: what it is, and where gpt-oss-20b comes from."""

from __future__ import annotations

import html

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget

from app.hub.starter import GPT_OSS_20B_REPO, GPT_OSS_20B_SIZE_GB, GPT_OSS_20B_URL
from app.ui.banner import Banner
from app.ui.models.picker import model_label


class DemoBanner(Banner):
    """Signals: dismissed() when the person closes it (the window remembers that, so it does not come back at
    every start); and Banner's own: action_triggered("get" | "open"), link_activated(href)."""

    dismissed = Signal()

    def __init__(self, *, can_download: bool, parent: QWidget | None = None) -> None:
        super().__init__("banner", parent)
        self._can_download = can_download
        if can_download:
            self.add_action("get", "Get gpt-oss…")
        self.add_action("open", "Open a model file…")
        self.close_button.clicked.connect(self.dismissed)

    def offer(self, model_path: str) -> None:
        """Say that ``model_path`` (the demo model) is a toy, and how to get the model Moss is made for."""
        self.show_message(
            f"<b>{html.escape(model_label(model_path))}</b> is a tiny model for trying Moss out: quick, but "
            f"often wrong. Moss is made for <b>gpt-oss-20b</b>: "
            f"<a href='{GPT_OSS_20B_URL}'>get it from {GPT_OSS_20B_REPO}</a> "
            f"({GPT_OSS_20B_SIZE_GB:.1f} GB)"
            + (" with Get gpt-oss…" if self._can_download else ", then open the .gguf file here.")
        )
