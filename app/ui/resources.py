"""Locating the top-level resources/ folder, from a source checkout or a packaged (frozen) app."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtGui import QIcon


def resources_dir() -> Path:
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"


def app_icon() -> QIcon:
    return QIcon(str(resources_dir() / "icons" / "moss.svg"))
