"""What the command groups (``moss models …``, ``moss history …``) share: how a group and its sub-commands are
declared, each with ``--json``, and how JSON is printed, so that every command reads and answers alike."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

AddCommand = Callable[[str, str], argparse.ArgumentParser]


def command_group(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str, dest: str
) -> AddCommand:
    """Declare ``moss NAME COMMAND``, the command chosen landing in ``args.<dest>``. Returns the function that
    declares one command (its name and help) with the ``--json`` option every command has."""
    group = subparsers.add_parser(name, help=help_text)
    sub = group.add_subparsers(dest=dest, required=True, metavar="COMMAND")

    def add_command(command: str, command_help: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(command, help=command_help)
        parser.add_argument("--json", action="store_true", help="print JSON instead of text")
        return parser

    return add_command


def print_json(value: Any) -> None:
    """``--json`` output: readable, one key a line, non-ASCII text as itself."""
    print(json.dumps(value, ensure_ascii=False, indent=1))
