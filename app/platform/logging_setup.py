"""Logging: a rotating log file in the logs folder, and stderr only when asked (``--verbose``)."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

_FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"
_MAX_BYTES = 2 * 1024 * 1024
_BACKUPS = 3


# Libraries that log every step at DEBUG: markdown-it logs each rule it applies, thousands of records per
# streamed reply, which cost the GUI thread more than rendering the Markdown itself.
_CHATTY = ("markdown_it",)


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
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler: logging.Handler = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=_MAX_BYTES, backupCount=_BACKUPS, encoding="utf-8"
        )
        file_handler.setLevel(logging.DEBUG)
    except OSError as exc:  # read-only or full disk: keep going, say it once on stderr
        print(f"moss: cannot write the log file {log_file}: {exc}", file=sys.stderr)
        file_handler = logging.NullHandler()
    file_handler.setFormatter(logging.Formatter(_FORMAT))
    file_handler._moss = True  # type: ignore[attr-defined]
    root.addHandler(file_handler)
    if verbose:
        stream = logging.StreamHandler(sys.stderr)
        stream.setLevel(logging.DEBUG)
        stream.setFormatter(logging.Formatter(_FORMAT))
        stream._moss = True  # type: ignore[attr-defined]
        root.addHandler(stream)
