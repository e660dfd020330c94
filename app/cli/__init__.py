"""Headless sub-commands (``moss chat``, ``moss models …``, ``moss history …``). No Qt is imported here.

They run the same engine and hub code as the GUI. A :class:`UserError` becomes one line on stderr naming
the problem and what to do, and exit code 2; no traceback.
"""

from __future__ import annotations

import argparse

from app.cli import chat, gui_commands, history, models, servers
from app.cli.chat import EXIT_INTERRUPTED, load_conversation
from app.core.errors import EXIT_BUG, EXIT_USER_ERROR, run_command
from app.platform.paths import AppPaths

__all__ = ["EXIT_BUG", "EXIT_INTERRUPTED", "EXIT_USER_ERROR", "add_commands", "load_conversation", "run"]


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    chat.add_commands(subparsers)
    servers.add_commands(subparsers)  # also gives `chat` its --server options
    models.add_commands(subparsers)
    history.add_commands(subparsers)
    gui_commands.add_commands(subparsers)  # run by app.devtools.commands (see app.__main__), not by run() below


def run(args: argparse.Namespace, paths: AppPaths) -> int:
    """Run the sub-command in ``args``; returns the process exit code."""

    def dispatch() -> int:
        for module in (servers, chat, models, history):  # servers first: it runs `chat --server`
            code: int | None = module.run(args, paths)
            if code is not None:
                return code
        raise AssertionError(f"unknown command {args.command!r}")

    return run_command(args.command, dispatch, paths.log_file)
