"""The models Moss knows: downloaded into its models folder, copied or moved there, or used in place.

A small JSON registry (``data/models.json``) records each model once, with a short id for the command line.
Files inside the models folder are Moss's own: they are stored relative to it, so moving the folder is a
matter of moving files, and removing such a model deletes them. Files used in place (a model LM Studio
downloaded, a GGUF in the user's Downloads) stay where they are; removing one only forgets it unless the
person asks for the file to be deleted. A GGUF dropped into the models folder by hand is picked up on the
next listing. One file is never registered twice: imports are matched by real path and by a cheap
fingerprint (size plus hashes of the first and last MiB), so copying a model that is already here is refused.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from app.core.errors import UserError
from app.engine.file_check import check_model_file
from app.hub.download import MANIFEST_SUFFIX, PART_SUFFIX
from app.hub.repo_files import SPLIT_NAME, is_model_file, model_stem

log = logging.getLogger(__name__)

REGISTRY_VERSION = 1
_FINGERPRINT_SPAN = 1 << 20


class ImportMode(StrEnum):
    IN_PLACE = "in-place"  # use the file where it is
    COPY = "copy"  # copy it into the models folder
    MOVE = "move"  # move it into the models folder


@dataclass(frozen=True, slots=True)
class InstalledModel:
    id: str
    path: Path  # the model's (first) file
    parts: tuple[Path, ...]
    size_bytes: int
    managed: bool  # inside the models folder: removing the model deletes its files
    origin: str  # "Hugging Face", "LM Studio", "imported", "models folder"…
    repo_id: str | None = None
    sha256: tuple[str | None, ...] = ()  # per part, when known (downloads: the Hub's LFS hashes)
    added: str = ""
    available: bool = True  # False when the file has gone (a USB disk unplugged, deleted elsewhere)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": str(self.path),
            "parts": [str(p) for p in self.parts],
            "size_bytes": self.size_bytes,
            "managed": self.managed,
            "origin": self.origin,
            "repo_id": self.repo_id,
            "sha256": self.sha256[0] if len(self.sha256) == 1 else list(self.sha256) or None,
            "added": self.added,
            "available": self.available,
        }


@dataclass(frozen=True, slots=True)
class ImportResult:
    model: InstalledModel
    already_there: bool  # the file was already in the library: nothing was copied or registered


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-.") or "model"


def model_parts(first: Path) -> tuple[Path, ...]:
    """Every file of the model whose first file is ``first`` (itself, or each split part in order)."""
    match = SPLIT_NAME.match(first.name)
    if match is None:
        return (first,)
    total = int(match.group("total"))
    stem = match.group("stem")
    return tuple(first.with_name(f"{stem}-{n:05d}-of-{total:05d}.gguf") for n in range(1, total + 1))


def fingerprint(parts: tuple[Path, ...]) -> str:
    """Cheap identity of a model's files: total size, and hashes of the first and last MiB of the first."""
    first = parts[0]
    size = sum(p.stat().st_size for p in parts)
    digest = hashlib.sha256(str(size).encode())
    with first.open("rb") as handle:
        digest.update(handle.read(_FINGERPRINT_SPAN))
        handle.seek(max(0, first.stat().st_size - _FINGERPRINT_SPAN))
        digest.update(handle.read(_FINGERPRINT_SPAN))
    return digest.hexdigest()


class ModelLibrary:
    """The registry at ``registry_file`` over the models folder ``models_dir``. Thread-safe; every call
    reads the file afresh, so the GUI and a ``moss models`` command can work side by side."""

    def __init__(self, models_dir: Path, registry_file: Path, *, checked_models: Path | None = None) -> None:
        """``checked_models``: the folder where the load probe remembers the files it has read safely
        (app.engine.load_probe), so that a model checked on import is not probed again when it loads."""
        self.models_dir = models_dir
        self.registry_file = registry_file
        self.checked_models = checked_models
        self._lock = threading.RLock()

    # -- the registry file ------------------------------------------------------------------------------

    def _load(self) -> list[dict[str, Any]]:
        try:
            raw = json.loads(self.registry_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError):
            aside = self.registry_file.with_name(self.registry_file.name + ".corrupt")
            with contextlib.suppress(OSError):
                self.registry_file.replace(aside)
            log.warning("the model registry was unreadable and was set aside as %s", aside)
            return []
        entries = raw.get("models", []) if isinstance(raw, dict) else []
        return [e for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str) and e.get("path")]

    def _save(self, entries: list[dict[str, Any]]) -> None:
        self.registry_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.registry_file.with_name(self.registry_file.name + ".tmp")
        tmp.write_text(json.dumps({"version": REGISTRY_VERSION, "models": entries}, indent=1), encoding="utf-8")
        tmp.replace(self.registry_file)

    def _path_of(self, entry: dict[str, Any]) -> Path:
        path = Path(entry["path"])
        return path if path.is_absolute() else self.models_dir / path

    def _entry_path(self, path: Path) -> str:
        """How a path is stored: relative inside the models folder (so the folder can move), else absolute."""
        try:
            return path.resolve().relative_to(self.models_dir.resolve()).as_posix()
        except ValueError:
            return str(path.resolve())

    def _model(self, entry: dict[str, Any]) -> InstalledModel:
        path = self._path_of(entry)
        parts = model_parts(path)
        available = all(p.is_file() for p in parts)
        size = sum(p.stat().st_size for p in parts) if available else int(entry.get("size_bytes", 0))
        return InstalledModel(
            id=entry["id"],
            path=path,
            parts=parts,
            size_bytes=size,
            managed=not Path(entry["path"]).is_absolute(),
            origin=str(entry.get("origin", "")),
            repo_id=entry.get("repo_id"),
            sha256=tuple(entry.get("sha256") or ()),
            added=str(entry.get("added", "")),
            available=available,
        )

    # -- reading ------------------------------------------------------------------------------------------

    def models(self) -> list[InstalledModel]:
        """Every model, newest first; GGUFs put into the models folder by hand are registered on the way."""
        with self._lock:
            entries = self._load()
            known = {self._path_of(e).resolve() for e in entries}
            found = [p for p in self._loose_files() if p.resolve() not in known]
            for path in found:
                entries.append(self._new_entry(entries, path, origin="models folder"))
            if found:
                self._save(entries)
            return sorted((self._model(e) for e in entries), key=lambda m: m.added, reverse=True)

    def _loose_files(self) -> Iterator[Path]:
        if not self.models_dir.is_dir():
            return
        for path in sorted(self.models_dir.rglob("*")):
            name = path.name
            if not path.is_file() or not is_model_file(name) or name.endswith((PART_SUFFIX, MANIFEST_SUFFIX)):
                continue
            match = SPLIT_NAME.match(name)
            if match and int(match.group("part")) != 1:
                continue  # a later part: it belongs to the first
            if path.with_name(model_stem(name) + MANIFEST_SUFFIX).exists():
                continue  # still downloading (an earlier part of a split model is done)
            if all(p.is_file() for p in model_parts(path)):
                yield path

    def get(self, ref: str) -> InstalledModel:
        """The model with id ``ref`` (or at path ``ref``); a :class:`UserError` naming the choices if none."""
        models = self.models()
        for model in models:
            if model.id == ref:
                return model
        with contextlib.suppress(OSError):
            wanted = Path(ref).expanduser().resolve()
            for model in models:
                if model.path.resolve() == wanted:
                    return model
        ids = ", ".join(m.id for m in models) or "none yet"
        raise UserError(f"No model {ref!r} in the library (models: {ids}). Run `moss models list`.")

    def usage(self) -> int:
        """Bytes the models folder takes on disk, partial downloads included."""
        if not self.models_dir.is_dir():
            return 0
        return sum(p.stat().st_size for p in self.models_dir.rglob("*") if p.is_file())

    # -- adding -------------------------------------------------------------------------------------------

    def _new_entry(
        self,
        entries: list[dict[str, Any]],
        path: Path,
        *,
        origin: str,
        repo_id: str | None = None,
        sha256: tuple[str | None, ...] = (),
    ) -> dict[str, Any]:
        taken = {e["id"] for e in entries}
        base = slug(model_stem(path.name))
        model_id, n = base, 2
        while model_id in taken:
            model_id, n = f"{base}-{n}", n + 1
        parts = model_parts(path)
        return {
            "id": model_id,
            "path": self._entry_path(path),
            "origin": origin,
            "repo_id": repo_id,
            "sha256": list(sha256),
            "size_bytes": sum(p.stat().st_size for p in parts if p.exists()),
            "fingerprint": fingerprint(parts) if path.is_file() else "",
            "added": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }

    def add_download(self, path: Path, *, repo_id: str, sha256: tuple[str | None, ...]) -> InstalledModel:
        """Register a model just downloaded into the models folder (or return it, if it already is)."""
        with self._lock:
            entries = self._load()
            stored = self._entry_path(path)
            for entry in entries:
                if entry["path"] == stored:
                    entry.update(repo_id=repo_id, sha256=list(sha256), origin="Hugging Face")
                    self._save(entries)
                    return self._model(entry)
            entry = self._new_entry(entries, path, origin="Hugging Face", repo_id=repo_id, sha256=sha256)
            entries.append(entry)
            self._save(entries)
            return self._model(entry)

    def find_same(self, path: Path) -> InstalledModel | None:
        """The library's model that is this file (same real path) or a copy of it (same fingerprint)."""
        parts = model_parts(path)
        real = path.resolve()
        candidate_print: str | None = None
        for entry in self._load():
            if self._path_of(entry).resolve() == real:
                return self._model(entry)
            size = int(entry.get("size_bytes", -1))
            if entry.get("fingerprint") and size == sum(p.stat().st_size for p in parts):
                candidate_print = candidate_print or fingerprint(parts)
                if entry["fingerprint"] == candidate_print:
                    return self._model(entry)
        return None

    def import_model(
        self,
        path: Path,
        mode: ImportMode = ImportMode.IN_PLACE,
        *,
        origin: str = "imported",
        on_progress: Callable[[int, int], None] | None = None,
    ) -> ImportResult:
        """Add the GGUF at ``path``, checked first as a load checks it (without its weights): a file that
        ``moss chat`` or the window would refuse is refused here, with the same reason, and nothing is added."""
        path = path.expanduser()
        check_model_file(path, checked_models=self.checked_models)  # a later split part is refused too
        with self._lock:
            same = self.find_same(path)
            if same is not None:
                return ImportResult(same, already_there=True)
            parts = model_parts(path)
            if mode is not ImportMode.IN_PLACE and not self._inside_models_dir(path):
                path = self._bring_in(parts, mode, on_progress)
            entries = self._load()
            entry = self._new_entry(entries, path, origin=origin)
            entries.append(entry)
            self._save(entries)
            return ImportResult(self._model(entry), already_there=False)

    def _inside_models_dir(self, path: Path) -> bool:
        return path.resolve().is_relative_to(self.models_dir.resolve())

    def _bring_in(
        self, parts: tuple[Path, ...], mode: ImportMode, on_progress: Callable[[int, int], None] | None
    ) -> Path:
        folder = self.models_dir / "imported"
        folder.mkdir(parents=True, exist_ok=True)
        total = sum(p.stat().st_size for p in parts)
        free = shutil.disk_usage(folder).free
        if mode is ImportMode.COPY and total > free:
            raise UserError(
                f"Copying needs {total / 1e9:.1f} GB and {free / 1e9:.1f} GB is free in {folder}. Use the file "
                "in place instead, or free some space."
            )
        if any((folder / p.name).exists() for p in parts):
            raise UserError(f"{folder / parts[0].name} already exists. Rename one of the files and import again.")
        done = 0
        for part in parts:
            target = folder / part.name
            if mode is ImportMode.MOVE:
                shutil.move(part, target)
            else:
                _copy_with_progress(part, target, done, total, on_progress)
            done += target.stat().st_size
            if on_progress:
                on_progress(done, total)
        return folder / parts[0].name

    # -- removing and moving ------------------------------------------------------------------------------

    def remove(self, ref: str, *, delete_file: bool = False) -> int:
        """Forget the model; delete its files if Moss owns them (or ``delete_file``). The bytes freed."""
        with self._lock:
            model = self.get(ref)
            freed = 0
            if model.managed or delete_file:
                for part in model.parts:
                    with contextlib.suppress(FileNotFoundError):
                        freed += part.stat().st_size
                        part.unlink()
                self._prune_empty(model.path.parent)
            entries = [e for e in self._load() if e["id"] != model.id]
            self._save(entries)
            return freed

    def _prune_empty(self, folder: Path) -> None:
        root = self.models_dir.resolve()
        folder = folder.resolve()
        while folder != root and folder.is_relative_to(root):
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    def move_to(self, new_dir: Path, on_progress: Callable[[int, int], None] | None = None) -> None:
        """Move every file of the models folder (partial downloads too) into ``new_dir``."""
        old, new = self.models_dir.resolve(), new_dir.expanduser().resolve()
        if new == old:
            return
        if new.is_relative_to(old) or old.is_relative_to(new):
            raise UserError("Choose a models folder that is neither inside the current one nor contains it.")
        blocker = next((p for p in (new, *new.parents) if p.exists() and not p.is_dir()), None)
        if blocker is not None:  # a file, a FIFO or a device where a folder is to be
            raise UserError(f"{blocker} is not a folder. Choose a folder for the models.")
        files = [p for p in old.rglob("*") if p.is_file()] if old.is_dir() else []
        clashes = [p for p in files if (new / p.relative_to(old)).exists()]
        if clashes:
            raise UserError(f"{new / clashes[0].relative_to(old)} already exists. Choose an empty folder.")
        new.mkdir(parents=True, exist_ok=True)
        total = sum(p.stat().st_size for p in files)
        if total > shutil.disk_usage(new).free and new.stat().st_dev != old.stat().st_dev:
            raise UserError(f"{new} has too little free space for the models ({total / 1e9:.1f} GB).")
        done = 0
        with self._lock:
            for path in files:
                target = new / path.relative_to(old)
                target.parent.mkdir(parents=True, exist_ok=True)
                size = path.stat().st_size
                shutil.move(path, target)
                done += size
                if on_progress:
                    on_progress(done, total)
            for folder in sorted((p for p in old.rglob("*") if p.is_dir()), reverse=True):
                with contextlib.suppress(OSError):
                    folder.rmdir()
            self.models_dir = new


def _copy_with_progress(
    source: Path, target: Path, before: int, total: int, on_progress: Callable[[int, int], None] | None
) -> None:
    """Copy in 8 MiB blocks to a temporary name, then rename: a cancelled copy never looks like a model."""
    tmp = target.with_name(target.name + PART_SUFFIX)
    try:
        with source.open("rb") as src, tmp.open("wb") as dst:
            done = before
            while block := src.read(8 << 20):
                dst.write(block)
                done += len(block)
                if on_progress:
                    on_progress(done, total)
        shutil.copystat(source, tmp)
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
