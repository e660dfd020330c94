"""What a download keeps on disk beside the model, and what goes wrong with disks, in plain words.

Beside ``models/org/name/NAME.gguf`` a download keeps ``NAME.gguf.part`` (the bytes so far), a manifest
``NAME.download.json`` (what is being fetched, pinned to a commit, so a later run can continue it) and, while
it runs, a lock ``NAME.download.lock``. The lock is an OS file lock (``filelock``: ``flock`` on Linux and
macOS, ``LockFileEx`` on Windows): two Moss processes, or the window and ``moss models pull``, never write one
``.part`` at once (they did, and made a "verified" file with 524,288 bytes too many), and the OS drops the lock
of a process that dies, so a killed download never blocks the next one. The file is removed while still
held when the download ends; ``filelock`` retries when a file it locked was removed under it.

Everything read back from disk (manifests, partial files) was written by some earlier run, maybe another
version, maybe half-written, maybe edited: it is checked before it is trusted.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import math
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import filelock

from app.core.errors import UserError
from app.core.units import format_size
from app.hub.repo_files import RemoteFile, RemoteModel

log = logging.getLogger(__name__)

PART_SUFFIX = ".part"
MANIFEST_SUFFIX = ".download.json"
LOCK_SUFFIX = ".download.lock"
DISK_MARGIN = 256 * 1024 * 1024  # kept free after a big download: a full disk breaks everything else too
HASH_CHUNK = 8 * 1024 * 1024
_MANIFEST_MAX = 1024 * 1024  # a manifest lists a few files; a bigger one is not Moss's
# A repository id as the Hub spells them: OWNER/NAME, letters, digits, "-", "_", ".", no ".." to climb out of
# the models folder with.
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")


class DownloadError(UserError):
    """A download that cannot go on; the partial file is kept unless the message says otherwise."""


class DiskFullError(DownloadError):
    pass


class ChecksumError(DownloadError):
    pass


class DownloadBusyError(DownloadError):
    """Another Moss (the window or ``moss models pull``) is downloading the same model right now."""


def safe_repo_id(repo_id: str) -> bool:
    return bool(_REPO_ID.fullmatch(repo_id)) and ".." not in repo_id


def safe_file_name(name: str) -> bool:
    """A plain file name: nothing that would put a file outside its model's folder on any system."""
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\:\0") and name == name.strip()


def target_folder(models_dir: Path, repo_id: str) -> Path:
    """Where a repository's files go: ``models/org/name/``, as LM Studio lays them out."""
    if not safe_repo_id(repo_id):
        raise DownloadError(f"{repo_id!r} is not a Hugging Face repository name (OWNER/NAME); nothing was downloaded.")
    return models_dir.joinpath(*repo_id.split("/"))


def manifest_path(models_dir: Path, model: RemoteModel) -> Path:
    return target_folder(models_dir, model.repo_id) / (model.name + MANIFEST_SUFFIX)


def lock_path(models_dir: Path, model: RemoteModel) -> Path:
    return target_folder(models_dir, model.repo_id) / (model.name + LOCK_SUFFIX)


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + PART_SUFFIX)


def write_manifest(path: Path, model: RemoteModel, revision: str) -> None:
    payload = {"version": 1, "revision": revision, **model.to_json()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    tmp.replace(path)


def read_manifest(path: Path) -> tuple[RemoteModel, str] | None:
    """The model a manifest describes and its revision; None for one that is unreadable or does not make sense
    (a file name that would leave the folder, a negative size, a repository that is not where the file is)."""
    try:
        if path.stat().st_size > _MANIFEST_MAX:
            raise ValueError("too big for a manifest")
        raw = json.loads(path.read_text(encoding="utf-8"))
        files = tuple(
            RemoteFile(str(f["path"]), int(f["size_bytes"]), str(f["sha256"]) if f.get("sha256") else None)
            for f in raw["files"]
        )
        model = RemoteModel(str(raw["repo_id"]), files, str(raw.get("quantization", "")))
        revision = str(raw["revision"])
        sensible = (
            files
            and safe_repo_id(model.repo_id)
            and all(safe_file_name(f.name) and 0 <= f.size < 1 << 50 for f in files)
            and path.name == model.name + MANIFEST_SUFFIX
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError):
        sensible = False
    if not sensible:
        log.warning("ignoring an unreadable download manifest: %s", path)
        return None
    return model, revision


def unfinished_downloads(models_dir: Path) -> list[tuple[RemoteModel, str, int]]:
    """Downloads a previous run left unfinished: (model, revision, bytes already on disk)."""
    found: list[tuple[RemoteModel, str, int]] = []
    try:
        manifests = sorted(models_dir.rglob("*" + MANIFEST_SUFFIX)) if models_dir.is_dir() else []
    except OSError as exc:
        log.warning("cannot look for unfinished downloads in %s: %s", models_dir, exc)
        return found
    for manifest in manifests:
        read = read_manifest(manifest)
        if read is None:
            continue
        model, revision = read
        if manifest.parent != models_dir.joinpath(*model.repo_id.split("/")):
            log.warning("ignoring a download manifest outside its repository's folder: %s", manifest)
            continue
        found.append((model, revision, bytes_on_disk(manifest.parent, model)))
    return found


def bytes_on_disk(folder: Path, model: RemoteModel) -> int:
    """How much of ``model`` is in ``folder``: whole files of the right size, and partial files (at most the
    file's size: a longer one is discarded when the download runs)."""
    have = 0
    for file in model.files:
        dest = folder / file.name
        with contextlib.suppress(OSError):  # another Moss may move or delete a file between two looks
            if dest.is_file() and dest.stat().st_size == file.size:
                have += file.size
            elif part_path(dest).is_file():
                size = part_path(dest).stat().st_size
                have += size if size <= file.size else 0
    return have


def free_bytes(folder: Path) -> int:
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def space_margin(needed: int) -> int:
    """Space kept free after a download of ``needed`` bytes: 256 MiB for a big model, no more than the download
    itself for a small one (a 0.6 MB file must not ask for 256 MB)."""
    return min(DISK_MARGIN, needed)


def space_problem(name: str, needed: int, free: int, folder: Path) -> str | None:
    """Why ``needed`` more bytes do not fit in ``free`` (with the margin), in words; None when they fit."""
    margin = space_margin(needed)
    short = needed + margin - free
    if needed <= 0 or short <= 0:
        return None
    return (
        f"Not enough disk space for {name}: it needs {format_size(needed)} and {format_size(free)} is free on the "
        f"drive of {folder}; free at least {_size_up(short)} more (Moss leaves {format_size(margin)} spare so the "
        "disk does not fill up), or choose another models folder in Settings → Models."
    )


def _size_up(n: int) -> str:
    """``format_size`` rounded up, so a shortfall of a few bytes never reads "0.0 MB"."""
    step = 1e8 if n >= 1e8 else 1e5
    return format_size(int(math.ceil(n / step) * step))


def disk_error(exc: OSError, folder: Path) -> DownloadError:
    """An error writing the download into ``folder``, as a message that says what to do."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(
            f"The disk filled up while downloading into {folder}. The partial file is kept: free some space and "
            "download again to continue."
        )
    if exc.errno == errno.EFBIG:
        return DiskFullError(
            f"The drive of {folder} cannot hold a file this large ({reason}; a FAT32 drive holds at most 4 GB). "
            "The partial file is kept: choose another models folder in Settings → Models."
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return DownloadError(
            f"Moss cannot write to {folder} ({reason}). Choose another models folder in Settings → Models."
        )
    return DownloadError(f"Could not write the download into {folder} ({reason}). Try again; the partial file is kept.")


def hash_file(path: Path, on_bytes: Callable[[int], None]) -> str:
    """The sha256 of what is on disk at ``path``; ``on_bytes(done)`` after each chunk (it may raise to stop)."""
    digest = hashlib.sha256()
    done = 0
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
            done += len(chunk)
            on_bytes(done)
    return digest.hexdigest()


class DownloadLock:
    """The lock of one model's download, across threads and processes; never waits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = filelock.FileLock(str(path), timeout=0)

    @contextlib.contextmanager
    def hold(self, name: str) -> Iterator[None]:
        """Hold the lock for the block, or raise :class:`DownloadBusyError` at once if someone else holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except filelock.Timeout:
            raise DownloadBusyError(
                f"{name} is already being downloaded by another Moss (the window or `moss models pull`). Let that "
                "download finish, or pause it there, then try again."
            ) from None
        try:
            yield
        finally:
            with contextlib.suppress(OSError):  # removed while held, so no one is left holding a stale name
                self.path.unlink()
            self._lock.release()
