"""What the command groups (``moss models …``, ``moss history …``) share: how a group and its sub-commands are
declared, each with ``--json``, and how JSON is printed, so that every command reads and answers alike."""

from __future__ import annotations

import argparse
import json
import math
import stat
from collections.abc import Callable
from pathlib import Path
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


def whole_number(low: int, high: int, hint: str = "") -> Callable[[str], int]:
    """An argparse ``type`` for a whole number from ``low`` to ``high``: anything else (a word, -1, 10^30) is
    refused by the parser with one line naming the range, before a value a C library or SQLite cannot hold
    reaches it. ``hint`` is added to that line (what to do instead, such as leaving the option out)."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip(), 10)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"expected a whole number from {low:,} to {high:,}, not {text!r}" + (f"; {hint}" if hint else "")
            )
        return value

    return parse


def real_number(low: float, high: float, *, above_low: bool = False) -> Callable[[str], float]:
    """An argparse ``type`` for a finite number from ``low`` (excluded when ``above_low``) to ``high``: nan,
    inf and numbers out of range are refused with one line."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        too_low = value <= low if above_low else value < low
        if not math.isfinite(value) or too_low or value > high:
            bound = "above" if above_low else "from"
            raise argparse.ArgumentTypeError(f"expected a number {bound} {low:g} to {high:g}, not {text!r}")
        return value

    return parse


def input_file(text: str) -> str:
    """An argparse ``type`` for a file a command reads (a model, a conversation, an export to import).

    Something at the path that is not a regular file is refused here, in one line, before any reader opens it:
    a folder, or a FIFO (opening one blocks until another program writes to it) or a device (/dev/zero never
    ends). A path that does not exist, or cannot be looked at, is passed on: the command says what is wrong
    with it in its own words ("Model file not found: ...")."""
    if not text.strip():
        raise argparse.ArgumentTypeError("the path is empty; name a file")
    try:
        mode = Path(text).expanduser().stat().st_mode
    except (OSError, ValueError):
        return text
    if stat.S_ISDIR(mode):
        raise argparse.ArgumentTypeError(f"{text} is a folder; name a file in it")
    if not stat.S_ISREG(mode):
        raise argparse.ArgumentTypeError(f"{text} is not a regular file (a pipe, a socket or a device); name a file")
    return text


def model_file_or_url(text: str) -> str:
    """:func:`input_file`, for an argument that may also be a web address (``moss plan --model``)."""
    return text if text.startswith(("http://", "https://")) else input_file(text)


def output_folder(text: str) -> str:
    """An argparse ``type`` for a folder a command writes into (created if missing): an empty path, or something
    at the path that is not a folder (a file, a FIFO, a device), is refused in one line."""
    if not text.strip():
        raise argparse.ArgumentTypeError("the path is empty; name a folder")
    try:
        mode = Path(text).expanduser().stat().st_mode
    except (OSError, ValueError):
        return text
    if not stat.S_ISDIR(mode):
        raise argparse.ArgumentTypeError(f"{text} is not a folder; name a folder (it is created if missing)")
    return text
