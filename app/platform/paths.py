"""Where Moss keeps its files.

By default the platform's conventional folders (platformdirs): on Windows under %LOCALAPPDATA%\\Moss, on macOS
under ~/Library/Application Support/Moss and friends. ``--data-dir DIR`` (or ``MOSS_DATA_DIR``) re-roots all of
them under one folder, for portable installs and for tests.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

import platformdirs

from app import APP_NAME

DATA_DIR_ENV = "MOSS_DATA_DIR"


@dataclass(frozen=True, slots=True)
class AppPaths:
    config: Path
    data: Path
    models: Path
    cache: Path
    logs: Path

    @classmethod
    def resolve(cls, data_dir: str | os.PathLike[str] | None = None) -> AppPaths:
        """The folders for ``data_dir`` if given, else for ``$MOSS_DATA_DIR``, else the platform's own."""
        root = data_dir or os.environ.get(DATA_DIR_ENV)
        if root:
            base = Path(root).expanduser().resolve()
            return cls(base / "config", base / "data", base / "models", base / "cache", base / "logs")
        dirs = platformdirs.PlatformDirs(APP_NAME, appauthor=False)
        data = Path(dirs.user_data_dir)
        return cls(
            config=Path(dirs.user_config_dir),
            data=data,
            models=data / "models",
            cache=Path(dirs.user_cache_dir),
            logs=Path(dirs.user_log_dir),
        )

    @property
    def settings_file(self) -> Path:
        return self.config / "settings.json"

    @property
    def history_file(self) -> Path:
        """The conversation history (SQLite, app.storage.history)."""
        return self.data / "history.db"

    @property
    def log_file(self) -> Path:
        return self.logs / "moss.log"

    def all(self) -> dict[str, Path]:
        """Every folder by name (config, data, models, cache, logs)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def ensure(self) -> None:
        """Create every folder (private to the user where the OS supports it)."""
        for path in self.all().values():
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
