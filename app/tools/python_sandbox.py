"""gpt-oss's ``python`` tool: the model's code runs in a separate process, one per chat, that keeps its state
between calls (as the model expects of a notebook), with a time limit, a memory limit, the chat's own folder as
its working folder, and no network where the operating system lets Moss forbid it (app.tools.confinement says
exactly what is enforced where).

The time limit interrupts the cell (KeyboardInterrupt, the state is kept); code that ignores the interrupt is
killed two seconds later and the next call starts a fresh process (the result says the state was lost). A
crash, a Stop and a memory error are reported the same way: as the tool's answer, never as an error of the chat.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from app.tools import sandbox_child
from app.tools.confinement import Confinement

log = logging.getLogger(__name__)

_INTERRUPT_GRACE_S = 2.0
_START_TIMEOUT_S = 60.0
_POLL_S = 0.05


@dataclass(frozen=True)
class PythonLimits:
    timeout_s: float = 60.0
    memory_bytes: int = 2 << 30
    max_output_chars: int = 12_000


@dataclass(frozen=True)
class PythonResult:
    output: str
    """What the model is given: the cell's output, with a note when it was stopped or its state was lost."""
    ok: bool
    """False for an exception, a timeout, a stop or a crash."""
    seconds: float
    timed_out: bool = False
    stopped: bool = False
    state_lost: bool = False


class PythonSandbox:
    """One chat's Python process, started on the first call. Not thread-safe: one call at a time."""

    def __init__(self, folder: Path, limits: PythonLimits | None = None) -> None:
        self.folder = folder
        self.limits = limits or PythonLimits()
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self.confinement: Confinement | None = None

    def run(self, code: str, cancel: threading.Event | None = None) -> PythonResult:
        started = time.monotonic()
        fresh = self._process is None
        try:
            conn = self._ensure_started()
        except (OSError, RuntimeError, EOFError) as exc:
            log.exception("the Python tool did not start")
            return PythonResult(f"The Python tool could not start: {exc}", False, time.monotonic() - started)
        conn.send(code)
        deadline = started + self.limits.timeout_s
        stopped = timed_out = False
        while not conn.poll(_POLL_S):
            if not self._alive():
                return self._lost(started, "The Python process ended unexpectedly")
            if (cancel is not None and cancel.is_set()) or time.monotonic() > deadline:
                stopped = not (timed_out := time.monotonic() > deadline)
                if not self._interrupt(conn):
                    why = f"Timed out after {self.limits.timeout_s:g} s" if timed_out else "Stopped"
                    return self._lost(started, f"{why}, and the code did not stop when interrupted", timed_out, stopped)
                break
        try:
            ok, output = conn.recv()
        except (EOFError, OSError):
            return self._lost(started, "The Python process ended unexpectedly", timed_out, stopped)
        if timed_out:
            output += f"\n[Timed out after {self.limits.timeout_s:g} s and interrupted; variables are kept.]"
        elif stopped:
            output += "\n[Stopped by the user; variables are kept.]"
        if fresh and self.confinement is not None:
            log.info("Python tool in %s: %s", self.folder, self.confinement.describe())
        return PythonResult(output, ok and not (timed_out or stopped), time.monotonic() - started, timed_out, stopped)

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError, ValueError):
                self._conn.send(None)  # asks the child to finish
            self._conn.close()
        if self._process is not None:
            self._process.join(timeout=1)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(timeout=5)
        self._process = self._conn = None

    # -- the process ---------------------------------------------------------------------------------------

    def _ensure_started(self) -> Connection:
        if self._conn is not None and self._alive():
            return self._conn
        self.close()
        self.folder.mkdir(parents=True, exist_ok=True)
        context = multiprocessing.get_context("spawn")
        mine, theirs = context.Pipe()
        args = (theirs, str(self.folder), self.limits.memory_bytes, self.limits.max_output_chars)
        process = context.Process(target=sandbox_child.main, args=args, daemon=True, name="moss-python-tool")
        process.start()
        theirs.close()
        self._process, self._conn = process, mine
        if not mine.poll(_START_TIMEOUT_S):
            self.close()
            raise RuntimeError(f"it did not answer within {_START_TIMEOUT_S:g} s")
        _ready, self.confinement = mine.recv()
        return mine

    def _alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def _interrupt(self, conn: Connection) -> bool:
        """Interrupts the running cell; True when it stopped and answered (its state kept)."""
        assert self._process is not None and self._process.pid is not None
        if sys.platform != "win32":  # Windows has no SIGINT for another process: there it is killed
            signal_number = signal.SIGINT
            self._process_kill(signal_number)
            if conn.poll(_INTERRUPT_GRACE_S):
                return True
        return False

    def _process_kill(self, signal_number: int) -> None:
        assert self._process is not None and self._process.pid is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._process.pid, signal_number)

    def _lost(self, started: float, why: str, timed_out: bool = False, stopped: bool = False) -> PythonResult:
        if self._process is not None:
            self._process.join(timeout=1)  # its exit code is known once it is joined
        code = self._process.exitcode if self._process is not None else None
        self.close()
        detail = f" (exit code {code})" if code not in (None, 0) else ""
        text = f"[{why}{detail}. The Python process was restarted: earlier variables and imports are gone.]"
        return PythonResult(text, False, time.monotonic() - started, timed_out, stopped, state_lost=True)
