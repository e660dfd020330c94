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
from app.core.errors import UserError

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
        """The folders for ``data_dir`` if given, else for ``$MOSS_DATA_DIR``, else the platform's own.

        An empty ``data_dir`` is refused (a UserError) rather than read as "not given": ``--data-dir ""`` from a
        script whose variable was unset would otherwise write into the person's real folders. An empty
        ``$MOSS_DATA_DIR`` is read as unset, as shells and most programs read empty variables."""
        if data_dir is not None and not os.fspath(data_dir).strip():
            raise UserError(
                "The data folder given is empty. Name the folder Moss should keep its files in, or leave "
                "--data-dir out to use the usual folders."
            )
        from_env = os.environ.get(DATA_DIR_ENV, "")
        root = data_dir or (from_env if from_env.strip() else None)
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
        """Create every folder (private to the user where the OS supports it); a UserError naming the folder
        when one cannot be made (a file, a FIFO or a device in its place, no permission, a full disk)."""
        for path in self.all().values():
            try:
                path.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as exc:
                blocker = next((p for p in (path, *path.parents) if _is_not_a_folder(p)), None)
                if blocker is not None:
                    raise UserError(
                        f"Cannot create the folder {path}: {blocker} is not a folder. Choose another data folder."
                    ) from exc
                raise UserError(
                    f"Cannot create the folder {path}: {exc.strerror or exc}. Check the permissions and free space, "
                    "or choose another data folder."
                ) from exc


def _is_not_a_folder(path: Path) -> bool:
    """Whether something other than a folder (a file, a FIFO, a device) is at ``path``."""
    try:
        return path.exists() and not path.is_dir()
    except OSError:  # no permission to look: not known to be in the way
        return False
