"""Settings persisted as JSON, written atomically so a crash mid-write never leaves a broken file."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from app.core.files import write_text_file
from app.core.settings import Settings

log = logging.getLogger(__name__)


def load_settings(path: Path) -> Settings:
    """Read settings; a missing file gives the defaults, a corrupt one is set aside (never lost) and replaced."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settings()
    # ValueError: not UTF-8, not JSON, a number over 4,300 digits; RecursionError: nested too deeply to parse.
    except (OSError, ValueError, RecursionError) as exc:
        aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
        log.warning("settings file %s is unreadable (%s); moved to %s, using defaults", path, exc, aside)
        try:
            path.replace(aside)
        except OSError:
            log.exception("could not move the unreadable settings file aside")
        return Settings()
    if not isinstance(raw, dict):
        log.warning("settings file %s does not hold an object; using defaults", path)
        return Settings()
    return Settings.from_dict(raw)


def save_settings(path: Path, settings: Settings) -> None:
    """Write settings atomically: a temporary file in the same folder, flushed, then renamed over the old one."""
    text = json.dumps(settings.to_dict(), indent=2, sort_keys=True) + "\n"
    write_text_file(path, text, f"Could not save settings to {path}")
