"""The one owner of the person's settings while the app runs.

Before, the main window, the settings window, each of its sections and the model manager each kept a copy of
the settings and reconciled them; a copy that was a step behind could undo another's change. Now this object
holds the only live ``Settings``: everyone reads ``settings`` when they need a value (never keeping it), and
changes come back whole (``submit``, an edited copy) or as a few fields (``update``). Each change is saved to
the settings file at once and announced, so whoever shows a setting follows it.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.core.errors import UserError
from app.core.settings import Settings
from app.platform.settings_store import load_settings, save_settings

log = logging.getLogger(__name__)


class SettingsController(QObject):
    """Holds, saves and announces the settings. Lives on the GUI thread; call it from there.

    Signals:
        changed(Settings, Settings): the settings now and just before, after each change (even one whose saving
            failed: it is in use for this session all the same). A change to the same values is not one.
        save_failed(message): the settings file could not be written (a full disk, a read-only folder); the
            message says so and what to do. Nothing is raised into the slot that made the change.
    """

    changed = Signal(object, object)
    save_failed = Signal(str)

    def __init__(self, path: Path | None, settings: Settings | None = None, parent: QObject | None = None) -> None:
        """Own the settings saved at ``path`` (read from it unless ``settings`` are given to start from);
        ``path`` None keeps them in memory only (benchmarks)."""
        super().__init__(parent)
        self._path = path
        if settings is None:
            settings = load_settings(path) if path is not None else Settings()
        self._settings = settings

    @property
    def settings(self) -> Settings:
        """The settings now. Read it when a value is needed rather than keeping it: it changes."""
        return self._settings

    def submit(self, edited: Settings) -> None:
        """Make ``edited`` (a copy of ``settings`` with changes) the settings: saved, then announced."""
        before = self._settings
        if edited == before:
            return
        self._settings = edited
        self._save()
        self.changed.emit(edited, before)

    def update(self, **changes: Any) -> None:
        """Change a few fields, by name (``update(theme="dark")``)."""
        self.submit(dataclasses.replace(self._settings, **changes))

    def _save(self) -> None:
        if self._path is None:
            return
        try:
            save_settings(self._path, self._settings)
        except UserError as exc:  # a full disk must not stop the chat: say so, keep going
            log.warning("could not save settings: %s", exc.message)
            self.save_failed.emit(exc.message)
        except Exception as exc:  # a bug: logged with its traceback, told briefly, the app carries on
            log.exception("saving the settings failed")
            self.save_failed.emit(f"Could not save settings ({type(exc).__name__}: {exc}). Details are in the log.")
