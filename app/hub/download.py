"""Downloading one model from the Hub: resumable across crashes, checked against the Hub's sha256.

huggingface_hub 2.x throws partial downloads away when its process ends, which would restart a 40%-done
12 GB download from zero after a crash. So Moss keeps its own files: each part is written to ``NAME.part``
beside where it will end up, and a small manifest (``NAME.download.json``) records what is being fetched.
A later attempt (in this process or the next) re-hashes the bytes already there and continues with an HTTP
``Range`` request. The manifest pins the commit, so the bytes cannot change between attempts; the sha256 is
computed while streaming and compared with the LFS hash before the file is moved into place; a mismatch
deletes the partial file and says so. Dropped connections and 5xx answers are retried with backoff.

The token goes only to the Hub: the HTTP client drops ``Authorization`` when the Hub redirects to its CDN.
"""

from __future__ import annotations

import collections
import contextlib
import enum
import errno
import hashlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.errors import UserError
from app.core.units import format_size
from app.hub.hub_client import HubClient
from app.hub.repo_files import RemoteFile, RemoteModel

log = logging.getLogger(__name__)

CHUNK = 1 << 20
PART_SUFFIX = ".part"
MANIFEST_SUFFIX = ".download.json"
DISK_MARGIN = 256 * 1024 * 1024  # left free after the download: a full disk breaks everything else too
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
PROGRESS_INTERVAL_S = 0.25
_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class DownloadError(UserError):
    """A download that cannot go on; the partial file is kept unless the message says otherwise."""


class DiskFullError(DownloadError):
    pass


class ChecksumError(DownloadError):
    pass


class StopReason(enum.Enum):
    PAUSE = "pause"  # keep the partial file
    CANCEL = "cancel"  # delete it


class Stopped(Exception):
    """The download was paused or cancelled on request."""

    def __init__(self, reason: StopReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


class Phase(enum.StrEnum):
    CHECKING = "checking"  # hashing the bytes a previous attempt left
    DOWNLOADING = "downloading"
    RETRYING = "retrying"
    VERIFYING = "verifying"


@dataclass(frozen=True, slots=True)
class Progress:
    phase: Phase
    done: int  # bytes of the whole model
    total: int
    speed: float  # bytes per second, smoothed
    eta_s: float | None
    note: str = ""

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


class StopSignal:
    """Set from any thread to pause or cancel a running download."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = StopReason.PAUSE

    def stop(self, reason: StopReason) -> None:
        self.reason = reason
        self._event.set()

    @property
    def pending(self) -> StopReason | None:
        """The stop asked for and not yet acted on (None if none)."""
        return self.reason if self._event.is_set() else None

    def check(self) -> None:
        if self._event.is_set():
            raise Stopped(self.reason)

    def wait(self, seconds: float) -> None:
        """Sleep (for a retry) but wake at once on a stop."""
        if self._event.wait(seconds):
            raise Stopped(self.reason)


def target_folder(models_dir: Path, repo_id: str) -> Path:
    """Where a repository's files go: ``models/org/name/``, as LM Studio lays them out."""
    return models_dir.joinpath(*repo_id.split("/"))


def manifest_path(models_dir: Path, model: RemoteModel) -> Path:
    return target_folder(models_dir, model.repo_id) / (model.name + MANIFEST_SUFFIX)


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + PART_SUFFIX)


def write_manifest(path: Path, model: RemoteModel, revision: str) -> None:
    payload = {"version": 1, "revision": revision, **model.to_json()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    tmp.replace(path)


def read_manifest(path: Path) -> tuple[RemoteModel, str] | None:
    """The model a manifest describes and its revision; None for an unreadable one."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        files = tuple(RemoteFile(f["path"], int(f["size_bytes"]), f.get("sha256")) for f in raw["files"])
        return RemoteModel(str(raw["repo_id"]), files, str(raw.get("quantization", ""))), str(raw["revision"])
    except (OSError, ValueError, KeyError, TypeError):
        log.warning("ignoring an unreadable download manifest: %s", path)
        return None


def unfinished_downloads(models_dir: Path) -> list[tuple[RemoteModel, str, int]]:
    """Downloads a previous run left unfinished: (model, revision, bytes already on disk)."""
    found: list[tuple[RemoteModel, str, int]] = []
    if not models_dir.is_dir():
        return found
    for manifest in sorted(models_dir.rglob("*" + MANIFEST_SUFFIX)):
        read = read_manifest(manifest)
        if read is None:
            continue
        model, revision = read
        folder = manifest.parent
        have = 0
        for f in model.files:
            dest = folder / f.name
            if dest.is_file():
                have += f.size
            elif part_path(dest).is_file():
                have += part_path(dest).stat().st_size
        found.append((model, revision, have))
    return found


def _free_bytes(folder: Path) -> int:
    probe = folder
    while not probe.exists():
        probe = probe.parent
    return shutil.disk_usage(probe).free


class ModelDownload:
    """Fetches every file of ``model`` into ``models_dir/org/name/``; :meth:`run` blocks until done.

    ``on_progress`` is called from the downloading thread a few times a second."""

    def __init__(
        self,
        client: HubClient,
        model: RemoteModel,
        models_dir: Path,
        *,
        revision: str = "main",
        on_progress: Callable[[Progress], None] | None = None,
        stop: StopSignal | None = None,
        free_bytes: Callable[[Path], int] = _free_bytes,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
    ) -> None:
        self.client, self.model, self.revision = client, model, revision
        self.folder = target_folder(models_dir, model.repo_id)
        self.manifest = manifest_path(models_dir, model)
        self.stop = stop or StopSignal()
        self._on_progress = on_progress or (lambda _p: None)
        self._free_bytes = free_bytes
        self._retry_delays = retry_delays
        self._done_before = 0  # bytes of the files before the current one
        self._speed = _Speed()
        self._last_report = 0.0
        self.resumed_from = 0  # bytes found on disk at the start (for the closing message)

    @property
    def destination(self) -> Path:
        return self.folder / self.model.first.name

    def run(self) -> Path:
        """Download, verify and move into place; the path of the model's first file."""
        try:
            self._check_space()
            write_manifest(self.manifest, self.model, self.revision)
            for file in self.model.files:
                dest = self.folder / file.name
                if not (dest.is_file() and dest.stat().st_size == file.size):
                    self._fetch(file, dest)
                self._done_before += file.size
        except Stopped as stopped:
            if stopped.reason is StopReason.CANCEL:
                self.discard()
            raise
        self.manifest.unlink(missing_ok=True)
        return self.destination

    def discard(self) -> None:
        """Delete what this download left: partial files, the manifest, and parts already finished."""
        for file in self.model.files:
            part_path(self.folder / file.name).unlink(missing_ok=True)
            if len(self.model.files) > 1:  # a lone finished part is useless without the rest
                (self.folder / file.name).unlink(missing_ok=True)
        self.manifest.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.folder.rmdir()  # only if nothing else is there
            self.folder.parent.rmdir()

    def _on_disk(self) -> int:
        have = 0
        for file in self.model.files:
            dest = self.folder / file.name
            if dest.is_file():
                have += file.size
            elif part_path(dest).is_file():
                have += min(part_path(dest).stat().st_size, file.size)
        return have

    def _check_space(self) -> None:
        have = self._on_disk()
        self.resumed_from = have
        needed = self.model.size - have
        free = self._free_bytes(self.folder)
        if needed + DISK_MARGIN > free:
            raise DiskFullError(
                f"Not enough disk space for {self.model.name}: it needs {format_size(needed)} more and "
                f"{format_size(free)} is free on the drive of {self.folder}. Free some space, or choose another models "
                "folder in Settings → Models."
            )

    def _fetch(self, file: RemoteFile, dest: Path) -> None:
        part = part_path(dest)
        part.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        have = self._rehash(part, digest, file)
        failures = 0
        while True:
            self.stop.check()
            if have < file.size:
                try:
                    have, digest = self._stream(file, part, have, digest)
                    failures = 0
                except _Retryable as exc:
                    have = part.stat().st_size if part.exists() else 0
                    if failures >= len(self._retry_delays):
                        raise DownloadError(
                            f"The download of {file.name} keeps failing ({exc}). The partial file is kept: "
                            "try again later and it continues where it stopped."
                        ) from exc
                    delay = self._retry_delays[failures]
                    failures += 1
                    log.warning("download of %s interrupted (%s); retry %d in %.0f s", file.path, exc, failures, delay)
                    self._report(Phase.RETRYING, have, force=True, note=f"{exc}; retrying in {delay:.0f} s")
                    self.stop.wait(delay)
                    continue
            break
        self._verify(file, part, dest, digest, have)

    def _rehash(self, part: Path, digest: Any, file: RemoteFile) -> int:
        """Feed the bytes a previous attempt left into ``digest``; their count."""
        if not part.exists():
            return 0
        size = part.stat().st_size
        if size > file.size:
            part.unlink()
            return 0
        done = 0
        with part.open("rb") as handle:
            while chunk := handle.read(8 * CHUNK):
                digest.update(chunk)
                done += len(chunk)
                self._report(Phase.CHECKING, done)
                self.stop.check()
        log.info("resuming %s from %d of %d bytes", file.path, done, file.size)
        return done

    def _stream(self, file: RemoteFile, part: Path, have: int, digest: Any) -> tuple[int, Any]:
        import httpx2
        from huggingface_hub import get_session, hf_raise_for_status
        from huggingface_hub.errors import HfHubHTTPError

        url = self.client.file_url(self.model.repo_id, file.path, revision=self.revision)
        headers = {**self.client.auth_headers(), "Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
        timeout = httpx2.Timeout(30.0, read=60.0)
        try:
            with get_session().stream("GET", url, headers=headers, timeout=timeout, follow_redirects=True) as response:
                status = response.status_code
                if status in _RETRYABLE_STATUS:
                    raise _Retryable(f"HTTP {status}")
                if status == 416 and have == file.size:
                    return have, digest
                if status not in (200, 206):
                    response.read()
                    hf_raise_for_status(response)  # the Hub's own errors: gated, not found…
                    raise DownloadError(f"The Hub answered HTTP {status} for {file.path}; try again later.")
                if status == 200 and have:  # the server sent the whole file: start over
                    log.info("%s: the server ignored the range; restarting the file", file.path)
                    have, digest = 0, hashlib.sha256()
                mode = "ab" if have else "wb"
                with part.open(mode) as out:
                    for chunk in response.iter_bytes():  # as received: a drop loses nothing already here
                        out.write(chunk)
                        digest.update(chunk)
                        have += len(chunk)
                        self._speed.add(len(chunk))
                        self._report(Phase.DOWNLOADING, have)
                        self.stop.check()
                    out.flush()
                    os.fsync(out.fileno())
        except (httpx2.HTTPStatusError, HfHubHTTPError) as exc:  # before OSError, its base class
            what = f"download {file.path}"
            raise self.client.explain(exc, what=what, repo_id=self.model.repo_id, path=file.path) from exc
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise DiskFullError(
                    f"The disk filled up while downloading {file.name}. The partial file is kept: free some "
                    "space and download again to continue."
                ) from exc
            raise
        except httpx2.TransportError as exc:  # dropped connection, timeout, refused
            raise _Retryable(type(exc).__name__ + (f": {exc}" if str(exc) else "")) from exc
        if have < file.size:
            raise _Retryable(f"the connection closed after {have} of {file.size} bytes")
        return have, digest

    def _verify(self, file: RemoteFile, part: Path, dest: Path, digest: Any, have: int) -> None:
        self._report(Phase.VERIFYING, have, force=True)
        if have != file.size:
            part.unlink(missing_ok=True)
            raise ChecksumError(
                f"{file.name} arrived with {have} bytes instead of {file.size}; the partial file was deleted. "
                "Download it again."
            )
        if file.sha256 and digest.hexdigest() != file.sha256.lower():
            part.unlink(missing_ok=True)
            raise ChecksumError(
                f"{file.name} did not match the Hub's checksum (sha256), so it was deleted: the data was "
                "damaged on the way. Download it again."
            )
        part.replace(dest)

    def _report(self, phase: Phase, file_done: int, *, force: bool = False, note: str = "") -> None:
        now = time.monotonic()
        if not force and now - self._last_report < PROGRESS_INTERVAL_S:
            return
        self._last_report = now
        done = self._done_before + file_done
        speed = self._speed.rate(now)
        left = self.model.size - done
        eta = left / speed if speed > 0 and phase is Phase.DOWNLOADING else None
        self._on_progress(Progress(phase, done, self.model.size, speed, eta, note))


class _Retryable(Exception):
    pass


class _Speed:
    """Bytes per second over the last few seconds (a plain average jumps around on Wi-Fi)."""

    WINDOW_S = 5.0

    def __init__(self) -> None:
        self._samples: collections.deque[tuple[float, int]] = collections.deque()

    def add(self, n: int) -> None:
        now = time.monotonic()
        self._samples.append((now, n))
        cutoff = now - self.WINDOW_S
        while self._samples and self._samples[0][0] < cutoff:
            self._samples.popleft()

    def rate(self, now: float) -> float:
        if len(self._samples) < 2:
            return 0.0
        span = max(now - self._samples[0][0], 0.25)
        return sum(n for _t, n in self._samples) / span
