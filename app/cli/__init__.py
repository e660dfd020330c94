"""Headless sub-commands (``moss chat``, ``moss models …``, ``moss history …``). No Qt is imported here.

They run the same engine and hub code as the GUI. A :class:`UserError` becomes one line on stderr naming
the problem and what to do, and exit code 2; no traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys

from app.cli import chat, gui_commands, history, models
from app.cli.chat import EXIT_INTERRUPTED, load_conversation
from app.core.errors import UserError
from app.platform.paths import AppPaths

log = logging.getLogger(__name__)

EXIT_BUG = 1
EXIT_USER_ERROR = 2
__all__ = ["EXIT_BUG", "EXIT_INTERRUPTED", "EXIT_USER_ERROR", "add_commands", "load_conversation", "run"]


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    chat.add_commands(subparsers)
    models.add_commands(subparsers)
    history.add_commands(subparsers)
    gui_commands.add_commands(subparsers)  # run by app.ui.commands (see app.__main__), not by run() below


def run(args: argparse.Namespace, paths: AppPaths) -> int:
    """Run the sub-command in ``args``; returns the process exit code."""
    try:
        code = chat.run(args, paths)
        if code is None:
            code = models.run(args, paths)
        if code is None:
            code = history.run(args, paths)
        if code is not None:
            return code
    except UserError as exc:
        print(f"moss: {exc.message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as exc:  # a bug: the traceback goes to the log file, one line to the person
        log.exception("moss %s failed", args.command)
        print(f"moss: unexpected error ({type(exc).__name__}: {exc}); details in {paths.log_file}", file=sys.stderr)
        return EXIT_BUG
    raise AssertionError(f"unknown command {args.command!r}")
