"""Who is writing a streaming reply, and whether that process is still there.

A reply is saved as it streams (about once a second) with the status "streaming". When the window writing it
is killed, the row stays "streaming" in the file; the next window start used to be the only thing that marked
it interrupted, so ``moss history show`` called a dead reply "(being written now)" for as long as the window
stayed closed. Now every streaming row names its writer: the process id and the time that process started
(a process id alone could have been given to another program since). A reader asks whether that process is
still running; if it is not, the reply is interrupted, whoever reads it (the window, ``moss history``, an
export). SQL reads it through the function :data:`ALIVE_FUNCTION`, which :func:`register` adds to a
connection.
"""

from __future__ import annotations

import os
import sqlite3
from functools import cache

ALIVE_FUNCTION = "moss_writer_alive"
# How far apart two readings of one process's start time may be: they come from the boot time plus a tick
# count, and the boot time can move by a second when the clock is adjusted. A process id handed to another
# program within the same two seconds is not a real risk.
_START_TOLERANCE_S = 2.0


@cache
def this_writer() -> str:
    """This process as a writer: ``"<pid>:<start time>"``."""
    pid = os.getpid()
    return f"{pid}:{_started(pid) or 0.0:.3f}"


def writer_alive(writer: object) -> bool:
    """Whether the process named by ``writer`` (as :func:`this_writer` wrote it) is still running.

    A missing or unreadable name is a writer that is gone: rows from before writers were recorded, or a
    damaged value. A process that cannot be asked (another user's) is not the one that wrote the row."""
    if not isinstance(writer, str):
        return False
    pid_text, _, start_text = writer.partition(":")
    try:
        pid, start = int(pid_text), float(start_text)
    except ValueError:
        return False
    if writer == this_writer():
        return True
    started = _started(pid)
    return started is not None and abs(started - start) <= _START_TOLERANCE_S


def register(connection: sqlite3.Connection) -> None:
    """Make :data:`ALIVE_FUNCTION` available to SQL on ``connection`` (1 for a live writer, else 0)."""
    connection.create_function(ALIVE_FUNCTION, 1, lambda writer: int(writer_alive(writer)))


def _started(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), or None when there is no such process to ask."""
    import psutil  # only when a streaming reply is read: most commands never need it

    if pid <= 0:
        return None
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError, ValueError, OverflowError):
        return None
