"""Keeping a damaged write-ahead log before SQLite throws it away.

The history runs in WAL mode: a commit is appended to ``history.db-wal`` and copied into the database later.
After a crash, the next connection replays the log up to the first frame whose checksum fails, and ignores
the rest, silently; when the last connection closes, the log is deleted. One bad byte in the log (a disk
error, a power cut mid-write) therefore lost every chat committed after it, without a word and without a
trace. So before the history is opened, a log that is not empty is copied aside; once SQLite has read it,
the frames it accepted are compared with those in the copy. If a commit of the log's current generation
lies beyond what SQLite accepted (or the log's header itself is damaged), the copy is kept
(``history.db-wal.damaged-<time>``) and the person is told; otherwise the copy is deleted.

Frames after the accepted ones are normal in two cases, which are not reported: frames of an earlier
generation of the log (other salts: the log is reused from its start after a checkpoint), and the frames of
a transaction that never committed (no commit frame among them: nothing committed was lost).
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import struct
import time
from pathlib import Path

log = logging.getLogger(__name__)

_HEADER, _FRAME_HEADER = 32, 24
_MAGICS = (0x377F0682, 0x377F0683)  # the low bit says the checksums are big-endian


def hold(path: Path) -> Path | None:
    """Copy the log of the database at ``path`` aside when it holds frames; returns the copy (None: no log)."""
    wal = path.with_name(path.name + "-wal")
    try:
        if wal.stat().st_size <= _HEADER:
            return None
    except OSError:
        return None
    copy = path.with_name(f"{path.name}-wal.checking-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        shutil.copyfile(wal, copy)
    except OSError as exc:  # a full disk: open the history anyway, as before
        log.warning("could not copy %s before opening the history: %s", wal, exc)
        copy.unlink(missing_ok=True)
        return None
    return copy


def check(connection: sqlite3.Connection, path: Path, copy: Path) -> str | None:
    """After ``connection`` has read the history: keep ``copy`` and return a notice when SQLite left out
    committed transactions of the log; otherwise delete the copy and return None."""
    try:
        accepted = int(connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])
        lost = _lost_commits(copy, accepted) and _same_generation(copy, path.with_name(path.name + "-wal"))
    except (sqlite3.Error, OSError, struct.error) as exc:
        log.warning("could not check the history's log %s: %s", copy, exc)
        lost = False
    if not lost:
        copy.unlink(missing_ok=True)
        return None
    kept = copy.with_name(copy.name.replace("-wal.checking-", "-wal.damaged-"))
    copy.rename(kept)
    log.error("the history's log was damaged; SQLite accepted %d frames; a copy is at %s", accepted, kept)
    return (
        f"Part of what Moss last saved could not be read back: the history's journal ({path.name}-wal) was "
        f"damaged, so the changes saved after the damage are missing. A copy of the journal is kept at {kept}."
    )


def _lost_commits(copy: Path, accepted: int) -> bool:
    """Whether the log in ``copy`` holds a commit of its current generation beyond the ``accepted`` frames."""
    size = copy.stat().st_size
    with copy.open("rb") as wal:
        header = wal.read(_HEADER)
        magic, _version, page_size, _sequence, salt1, salt2, sum1, sum2 = struct.unpack(">8I", header)
        if magic not in _MAGICS or page_size < 512 or page_size & (page_size - 1):
            return True  # not even a log header: SQLite ignored every frame in it
        frame = _FRAME_HEADER + int(page_size)
        if _checksum(header[:24], big_endian=bool(magic & 1)) != (sum1, sum2):
            return size >= _HEADER + frame  # a damaged header: SQLite ignored the frames after it
        for index in range(max(accepted, 0), (size - _HEADER) // frame):
            wal.seek(_HEADER + index * frame)
            _page, commit_size, frame_salt1, frame_salt2 = struct.unpack(">4I", wal.read(16))
            if commit_size and (frame_salt1, frame_salt2) == (salt1, salt2):
                return True
    return False


def _same_generation(copy: Path, wal: Path) -> bool:
    """Whether the live log still has the copy's salts: another process may have restarted the log since the
    copy was made (then the copy's later frames were checkpointed, not lost). A log now gone was not restarted."""
    try:
        with wal.open("rb") as live:
            now = live.read(_HEADER)
    except OSError:
        return True
    with copy.open("rb") as held:
        before = held.read(_HEADER)
    return len(now) < _HEADER or now[16:24] == before[16:24]


def _checksum(data: bytes, *, big_endian: bool) -> tuple[int, int]:
    """SQLite's WAL checksum of ``data`` (a multiple of 8 bytes), from zero."""
    words = struct.unpack(f"{'>' if big_endian else '<'}{len(data) // 4}I", data)
    s0 = s1 = 0
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1
