"""Downloading one model from the Hub: resumable across crashes, checked against the Hub's sha256.

huggingface_hub 2.x throws partial downloads away when its process ends, which would restart a 40%-done
12 GB download from zero after a crash. So Moss keeps its own files (``download_files``): each part is written to
``NAME.part`` beside where it will end up, a manifest records what is being fetched, and a lock keeps a second
Moss (the window and ``moss models pull``, or two pulls) from writing the same part at once. A later attempt
continues with an HTTP ``Range`` request from the bytes already there; the manifest pins the commit, so they
cannot change between attempts.

"Verified" means what is on disk was hashed: each file is hashed where it lies before it is moved into place,
and a file already in place is hashed again before a pull calls it done. A mismatch is never kept: the file
is downloaded again from the start once (a damaged partial file from an earlier attempt, a byte flipped on the
way, a file damaged on disk), and a second mismatch deletes it and says so. Dropped connections and 5xx
answers are retried with backoff.

The token goes only to the Hub: the HTTP client drops ``Authorization`` when the Hub redirects to its CDN.
"""

from __future__ import annotations

import collections
import contextlib
import enum
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.core.errors import UserError
from app.hub.download_files import (
    MANIFEST_SUFFIX,
    PART_SUFFIX,
    ChecksumError,
    DiskFullError,
    DownloadBusyError,
    DownloadError,
    DownloadLock,
    disk_error,
    free_bytes,
    hash_file,
    lock_path,
    manifest_path,
    part_path,
    safe_file_name,
    space_problem,
    target_folder,
    unfinished_downloads,
    write_manifest,
)
from app.hub.hub_client import HubClient
from app.hub.repo_files import RemoteFile, RemoteModel

log = logging.getLogger(__name__)

__all__ = [  # the download's files and errors are part of its interface
    "MANIFEST_SUFFIX",
    "PART_SUFFIX",
    "ChecksumError",
    "DiskFullError",
    "DownloadBusyError",
    "DownloadError",
    "ModelDownload",
    "Phase",
    "Progress",
    "StopReason",
    "StopSignal",
    "Stopped",
    "manifest_path",
    "part_path",
    "target_folder",
    "unfinished_downloads",
]

CHUNK = 1 << 20
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
PROGRESS_INTERVAL_S = 0.25
_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


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


class ModelDownload:
    """Fetches every file of ``model`` into ``models_dir/org/name/``; :meth:`run` blocks until done.

    ``on_progress`` is called from the downloading thread a few times a second. After :meth:`run`,
    ``notes`` says what was found wrong and repaired on the way (a damaged file, an oversized partial file),
    ``fetched`` how many bytes came over the network, ``resumed_from`` how many were continued from partial
    files, and ``verified`` whether every file was checked against a sha256 (the Hub lists one for every
    LFS file; only small files kept in git have none)."""

    def __init__(
        self,
        client: HubClient,
        model: RemoteModel,
        models_dir: Path,
        *,
        revision: str = "main",
        on_progress: Callable[[Progress], None] | None = None,
        stop: StopSignal | None = None,
        free_bytes: Callable[[Path], int] = free_bytes,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
    ) -> None:
        if not model.files or not all(safe_file_name(f.name) for f in model.files):
            raise DownloadError(
                f"The Hub listed file names Moss cannot save for {model.repo_id}; nothing was downloaded."
            )
        self.client, self.model, self.revision = client, model, revision
        self.folder = target_folder(models_dir, model.repo_id)
        self.manifest = manifest_path(models_dir, model)
        self.lock_path = lock_path(models_dir, model)
        self.stop = stop or StopSignal()
        self._on_progress = on_progress or (lambda _p: None)
        self._free_bytes = free_bytes
        self._retry_delays = retry_delays
        self._lock = DownloadLock(self.lock_path)
        self._done_before = 0  # bytes of the files before the current one
        self._speed = _Speed()
        self._last_report = 0.0
        self._resumed: dict[str, int] = {}  # file path -> bytes of its partial file continued
        self.notes: list[str] = []
        self.fetched = 0
        self.verified = all(f.sha256 for f in model.files)

    @property
    def destination(self) -> Path:
        return self.folder / self.model.first.name

    @property
    def resumed_from(self) -> int:
        """Bytes continued from partial files (for the closing message): only what a Range request continued."""
        return sum(self._resumed.values())

    def run(self) -> Path:
        """Download what is missing, check every file against its sha256 and move it into place; the path of
        the model's first file. Raises a :class:`DownloadError` (a :class:`UserError`) for anything a person
        can act on, :class:`Stopped` when paused or cancelled."""
        try:
            with self._lock.hold(self.model.name):
                try:
                    self._run_locked()
                except Stopped as stopped:
                    if stopped.reason is StopReason.CANCEL:
                        self._delete_files()
                    raise
        except (UserError, Stopped):
            raise
        except OSError as exc:  # the disk, not the network (that is handled in _stream)
            log.warning("download of %s failed on disk", self.model.spec, exc_info=True)
            raise disk_error(exc, self.folder) from exc
        finally:
            if self.stop.pending is StopReason.CANCEL:
                self._remove_empty_folders()
        return self.destination

    def discard(self) -> bool:
        """Delete what this download left: partial files, the manifest, and parts already finished. False, and
        nothing deleted, when another Moss is downloading this model right now (they are its files); a
        :class:`DownloadError` when the files cannot be deleted."""
        if not self.folder.is_dir():
            return True
        try:
            with self._lock.hold(self.model.name):
                self._delete_files()
        except DownloadBusyError:
            log.info("not discarding %s: another Moss is downloading it", self.model.spec)
            return False
        except OSError as exc:
            log.warning("could not discard the download of %s: %s", self.model.spec, exc)
            raise disk_error(exc, self.folder) from exc
        self._remove_empty_folders()
        return True

    def _delete_files(self) -> None:
        for file in self.model.files:
            part_path(self.folder / file.name).unlink(missing_ok=True)
            if len(self.model.files) > 1:  # a lone finished part is useless without the rest
                (self.folder / file.name).unlink(missing_ok=True)
        self.manifest.unlink(missing_ok=True)

    def _remove_empty_folders(self) -> None:
        with contextlib.suppress(OSError):
            self.folder.rmdir()  # only if nothing else is there
            self.folder.parent.rmdir()

    def _run_locked(self) -> None:
        pending = self._survey()
        if not pending:
            self.manifest.unlink(missing_ok=True)
            return
        self._check_space(pending)
        write_manifest(self.manifest, self.model, self.revision)
        for file in self.model.files:
            if file in pending:
                self._fetch(file, self.folder / file.name)
            self._done_before += file.size
        self.manifest.unlink(missing_ok=True)

    def _survey(self) -> list[RemoteFile]:
        """The files still to fetch. A file in place is hashed again (one of the right size was called verified
        with a byte flipped) and deleted when it does not match; a partial file longer than its file is
        discarded (it once said "continued from 98.4 MB" while asking for byte 0)."""
        pending: list[RemoteFile] = []
        offset = 0
        for file in self.model.files:
            dest = self.folder / file.name
            part = part_path(dest)
            if dest.is_file():
                if dest.stat().st_size == file.size and self._matches(file, dest, Phase.CHECKING, offset):
                    part.unlink(missing_ok=True)  # a leftover of an earlier attempt; the file is whole
                    offset += file.size
                    continue
                dest.unlink()
                self._note(f"{file.name} on disk did not match the Hub's copy (sha256), so it was downloaded again.")
            if part.is_file():
                size = part.stat().st_size
                if size > file.size:
                    part.unlink()
                    self._note(
                        f"The partial file of {file.name} was larger than the file itself, so it was discarded and "
                        "the download started from the beginning."
                    )
                elif size:
                    self._resumed[file.path] = size
            pending.append(file)
            offset += file.size
        return pending

    def _check_space(self, pending: list[RemoteFile]) -> None:
        needed = sum(f.size - self._resumed.get(f.path, 0) for f in pending)
        problem = space_problem(self.model.name, needed, self._free_bytes(self.folder), self.folder)
        if problem:
            raise DiskFullError(problem)

    def _fetch(self, file: RemoteFile, dest: Path) -> None:
        """Download ``file`` into its partial file, check what is on disk and move it into place. A mismatch
        starts the file again from byte 0 once; a second one deletes it and raises."""
        part = part_path(dest)
        part.parent.mkdir(parents=True, exist_ok=True)
        have = self._resumed.get(file.path, 0)
        if have:
            log.info("resuming %s from %d of %d bytes", file.path, have, file.size)
        for attempt in (1, 2):
            self._download_rest(file, part, have)
            problem = self._check_part(file, part)
            if problem is None:
                part.replace(dest)
                return
            resumed = self._resumed.pop(file.path, 0)
            part.unlink(missing_ok=True)
            log.warning("%s: %s (attempt %d)", file.path, problem, attempt)
            if attempt == 2:
                raise ChecksumError(f"{file.name} {problem}, so it was deleted. Download it again.")
            self._note(
                f"The partial file of {file.name} from an earlier attempt was damaged, so it was downloaded again "
                "from the start."
                if resumed
                else f"{file.name} arrived damaged ({problem}), so it was downloaded again."
            )
            have = 0

    def _check_part(self, file: RemoteFile, part: Path) -> str | None:
        """What is wrong with the partial file as the finished ``file``, or None if it is right."""
        size = part.stat().st_size
        if size != file.size:
            return f"arrived with {size} bytes instead of {file.size}"
        if not self._matches(file, part, Phase.VERIFYING, self._done_before):
            return "did not match the Hub's checksum (sha256): the data was damaged"
        return None

    def _matches(self, file: RemoteFile, path: Path, phase: Phase, offset: int) -> bool:
        """Whether the bytes on disk at ``path`` hash to the file's sha256 (True when the Hub gave none)."""
        if not file.sha256:
            return True

        start = offset - self._done_before

        def progress(done: int) -> None:
            # Checking counts the bytes hashed; verifying a file just downloaded keeps the bar full.
            self._report(phase, start + (done if phase is Phase.CHECKING else file.size))
            self.stop.check()

        progress(0)
        matches = hash_file(path, progress) == file.sha256.lower()
        self._report(phase, start + file.size, force=True)
        return matches

    def _download_rest(self, file: RemoteFile, part: Path, have: int) -> None:
        """Fetch from byte ``have`` to the end, retrying dropped connections and 5xx answers with backoff."""
        failures = 0
        while have < file.size:
            self.stop.check()
            try:
                have = self._stream(file, part, have)
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

    def _stream(self, file: RemoteFile, part: Path, have: int) -> int:
        """One request for the bytes from ``have`` on, appended to ``part`` as they arrive; the new count."""
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
                    return have
                if status not in (200, 206):
                    response.read()
                    hf_raise_for_status(response)  # the Hub's own errors: gated, not found…
                    raise DownloadError(f"The Hub answered HTTP {status} for {file.path}; try again later.")
                if status == 206 and not response.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
                    raise _Retryable(f"the server sent another part of the file than asked for ({have}-)")
                if status == 200 and have:  # the server sent the whole file: start over
                    log.info("%s: the server ignored the range; restarting the file", file.path)
                    self._resumed.pop(file.path, None)
                    have = 0
                with part.open("ab" if have else "wb") as out:
                    for chunk in response.iter_bytes():  # as received: a drop loses nothing already here
                        out.write(chunk)
                        have += len(chunk)
                        self.fetched += len(chunk)
                        self._speed.add(len(chunk))
                        self._report(Phase.DOWNLOADING, have)
                        self.stop.check()
                    out.flush()
                    os.fsync(out.fileno())
        except (httpx2.HTTPStatusError, HfHubHTTPError) as exc:  # before OSError, its base class
            what = f"download {file.path}"
            raise self.client.explain(exc, what=what, repo_id=self.model.repo_id, path=file.path) from exc
        except httpx2.TransportError as exc:  # dropped connection, timeout, refused
            raise _Retryable(type(exc).__name__ + (f": {exc}" if str(exc) else "")) from exc
        if have < file.size:
            raise _Retryable(f"the connection closed after {have} of {file.size} bytes")
        return have

    def _note(self, text: str) -> None:
        log.info("%s: %s", self.model.spec, text)
        self.notes.append(text)

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
