"""Logging: a rotating log file in the logs folder, and stderr only when asked (``--verbose``).

Logging must never be the reason Moss fails or floods a terminal. Python's handlers print a
"--- Logging error ---" traceback on stderr for every record they cannot write, so a full disk turned one
`moss chat` into 125 tracebacks. Moss's handlers stop at their first failed write instead and say so once,
in one line on stderr; the program carries on without them. Text that a strict codec refuses (lone
surrogates from undecodable file names) is written escaped rather than refused.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import sys
from pathlib import Path
from typing import TextIO

_FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"
_MAX_BYTES = 2 * 1024 * 1024
_BACKUPS = 3


# Libraries that log every step at DEBUG: markdown-it logs each rule it applies, thousands of records per
# streamed reply, which cost the GUI thread more than rendering the Markdown itself. The openai SDK logs each
# request's whole body at DEBUG (a remote chat's conversation: no place in a log file), httpcore2 each step.
_CHATTY = ("markdown_it", "openai", "httpcore2")


def _say(line: str) -> None:
    """One line on stderr, if stderr can take it (it may be the very thing that broke)."""
    with contextlib.suppress(Exception):
        print(line, file=sys.stderr, flush=True)


class _QuietFileHandler(logging.handlers.RotatingFileHandler):
    """The log file. At its first failed write (full disk, file size limit, file gone) it closes, says so once
    on stderr, and ignores every later record: the rest of Moss goes on without a log."""

    broken = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.broken:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        exc = sys.exc_info()[1]
        if not isinstance(exc, OSError):  # a bad format string: a bug, reported as logging does
            super().handleError(record)
            return
        self.broken = True
        reason = exc.strerror or str(exc)
        _say(f"moss: cannot write the log file {self.baseFilename} ({reason}); logging stops for this run.")
        with contextlib.suppress(Exception):
            self.close()


class _QuietStreamHandler(logging.StreamHandler[TextIO]):
    """``--verbose`` records on stderr; a stderr that breaks (a closed pipe) is dropped silently: it is where
    the complaint would go."""

    broken = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.broken:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            self.broken = True
        else:
            super().handleError(record)


def setup_logging(log_file: Path, *, verbose: bool = False) -> None:
    """Route every log record to ``log_file`` (rotated at 2 MB, 3 kept) and, with ``verbose``, to stderr.

    Idempotent: handlers installed by an earlier call are replaced, so tests and the self-test can call it
    more than once.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_moss", False):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(logging.DEBUG)
    for chatty in _CHATTY:
        logging.getLogger(chatty).setLevel(logging.INFO)
    # llama.cpp's debug lines (every tensor, every graph node: megabytes in minutes) only with --verbose; its
    # warnings and errors, which explain a failed load, always.
    logging.getLogger("llama.cpp").setLevel(logging.DEBUG if verbose else logging.INFO)
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler: logging.Handler = _QuietFileHandler(
            log_file, maxBytes=_MAX_BYTES, backupCount=_BACKUPS, encoding="utf-8", errors="backslashreplace"
        )
        file_handler.setLevel(logging.DEBUG)
    except OSError as exc:  # read-only or full disk: keep going, say it once on stderr
        _say(f"moss: cannot write the log file {log_file} ({exc.strerror or exc}); logging is off for this run.")
        file_handler = logging.NullHandler()
    file_handler.setFormatter(logging.Formatter(_FORMAT))
    file_handler._moss = True  # type: ignore[attr-defined]
    root.addHandler(file_handler)
    if verbose:
        stream = _QuietStreamHandler(sys.stderr)
        stream.setLevel(logging.DEBUG)
        stream.setFormatter(logging.Formatter(_FORMAT))
        stream._moss = True  # type: ignore[attr-defined]
        root.addHandler(stream)
