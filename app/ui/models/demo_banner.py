"""The notice shown while the small demo model is loaded: what it is, and where gpt-oss-20b comes from."""

from __future__ import annotations

import html

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget

from app.hub.starter import GPT_OSS_20B_REPO, GPT_OSS_20B_SIZE_GB, GPT_OSS_20B_URL
from app.ui.banner import Banner
from app.ui.models.picker import model_label


class DemoBanner(Banner):
    """One compact line above the chat (it wraps only when the window is too narrow for it): the demo model is
    a toy, and Moss is made for gpt-oss-20b, with the one action that gets it.

    Signals: dismissed() when the person closes it (the window remembers that, so it does not come back at
    every start); and Banner's own: action_triggered("get" | "open"), link_activated(href)."""

    dismissed = Signal()

    def __init__(self, *, can_download: bool, parent: QWidget | None = None) -> None:
        super().__init__("banner", parent)
        self._can_download = can_download
        if can_download:
            get = self.add_action("get", "Get gpt-oss…")
            get.setToolTip(f"Download gpt-oss-20b ({GPT_OSS_20B_SIZE_GB:.1f} GB) from {GPT_OSS_20B_REPO}")
        else:  # no model manager here: the text links to the file, and this opens it once downloaded
            opener = self.add_action("open", "Open a model file…")
            opener.setToolTip(f"Open gpt-oss-20b once downloaded from {GPT_OSS_20B_REPO}")
        layout = self.layout()
        if layout is not None:
            layout.setContentsMargins(10, 3, 4, 3)  # a notice, not a dialog: as little height as a button
        self.close_button.clicked.connect(self.dismissed)

    def offer(self, model_path: str) -> None:
        """Say that ``model_path`` (the demo model) is a toy, and how to get the model Moss is made for."""
        size = f"{GPT_OSS_20B_SIZE_GB:.1f} GB"
        if self._can_download:
            where = f"<b>gpt-oss-20b</b> ({size})."
        else:
            where = f"<b>gpt-oss-20b</b> (<a href='{GPT_OSS_20B_URL}'>from Hugging Face</a>, {size})."
        name = html.escape(model_label(model_path))
        self.show_message(f"<b>{name}</b> is a demo: quick, but often wrong. Moss is made for {where}")
