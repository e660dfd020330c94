"""Errors that a person can act on, as opposed to bugs.

A :class:`UserError` carries a message written for the person using Moss: what happened and what to do
about it. Front ends show it as it is (one line on the command line, a banner in the GUI) and carry on.
Anything else that escapes is a bug: logged with its traceback and reported briefly.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable
from pathlib import Path

EXIT_BUG = 1
EXIT_USER_ERROR = 2


class UserError(Exception):
    """Something the user can fix: a bad model file, a full disk, a model too big for the machine."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ModelFileError(UserError):
    """A model file that cannot be used: missing, not a GGUF, truncated, weightless or unsupported."""


class ModelTooBigError(UserError):
    """The model cannot fit in this machine's memory, whatever the plan."""


class NotEnoughFreeMemoryError(UserError):
    """The model fits this machine, but not the memory free right now: after closing programs (or a moment,
    when another program was just letting its memory go), trying again can work."""


class HistoryError(UserError):
    """The conversation history cannot be used as asked: a newer database, a missing conversation."""


class ImportFormatError(UserError):
    """A file to import is not a Moss or ChatGPT export, or is damaged. Nothing was imported."""


# What would break a message's one line (or drive the terminal): control characters and Unicode's line breaks.
_NOT_ONE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """``text`` as one line: a line break or another control character (from a file name, an argument, a title)
    is written as its escape (``\\n``), so a message stays one line and cannot move the terminal's cursor."""
    return _NOT_ONE_LINE.sub(lambda found: ascii(found.group())[1:-1], text)


def run_command(name: str, run: Callable[[], int], log_file: Path) -> int:
    """Run a command-line command and return its exit code: a :class:`UserError` becomes its message on one
    line and exit code 2; a bug, a line pointing to the log (which gets the traceback) and exit code 1."""
    try:
        return run()
    except UserError as exc:
        print(f"moss: {one_line(exc.message)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as exc:
        logging.getLogger(__name__).exception("moss %s failed", name)
        print(one_line(f"moss: unexpected error ({type(exc).__name__}: {exc}); details in {log_file}"), file=sys.stderr)
        return EXIT_BUG
