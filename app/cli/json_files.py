"""The JSON files the chat commands read: a conversation (``--conversation``) and a tools list (``--tools``).

Whatever a file holds, reading gives its content or a UserError of one line (exit code 2): a file too large (read
no further, so /dev/zero is refused too), not UTF-8, not JSON (NaN and Infinity included: no JSON, and no tool
takes them), nested too deeply for the parser, a number too long for Python, or an item that is not what it
should be (which item, and why).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.core.chat_json import ItemError, function_tools_from_json, messages_from_json
from app.core.errors import UserError
from app.core.types import FunctionTool, Message

# The largest conversation file `moss chat --conversation` reads: far more than any model's context holds.
MAX_CONVERSATION_BYTES = 64 << 20
# The largest tools list: its descriptions all go into the prompt.
MAX_TOOLS_BYTES = 16 << 20


def _not_a_number(text: str) -> Any:
    raise ValueError(f"{text} is not a JSON value")


def _read_json(path: Path, *, what: str, limit: int, shape: str) -> Any:
    """The JSON value of ``path``, a ``what`` ("conversation") file of at most ``limit`` bytes holding ``shape``."""
    try:
        with path.open("rb") as stream:
            data = stream.read(limit + 1)
    except FileNotFoundError:
        raise UserError(f"{what.capitalize()} file not found: {path}.") from None
    except OSError as exc:
        raise UserError(f"Could not read the {what} file {path}: {exc.strerror or exc}.") from None
    if len(data) > limit:
        raise UserError(
            f"{path.name} is larger than {limit >> 20} MB, more than any {what} Moss reads: give it the part of the "
            f"{what} to use."
        )
    try:
        return json.loads(data.decode("utf-8-sig"), parse_constant=_not_a_number)
    except UnicodeDecodeError as exc:
        raise UserError(f"{path.name} is not UTF-8 text (byte {exc.start + 1:,}). Save it as UTF-8.") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path.name} is not valid JSON (line {exc.lineno}): {exc.msg}.") from None
    except RecursionError:
        raise UserError(f"{path.name} nests its JSON too deeply to read; a {what} is a flat list of {shape}.") from None
    except ValueError as exc:  # NaN/Infinity, or a number beyond Python's limit of 4,300 digits
        if "JSON value" in str(exc):
            raise UserError(f"{path.name} is not valid JSON: {exc}.") from None
        raise UserError(f"{path.name} holds a number too long to read; no {what} needs one.") from None


def load_conversation(path: str | Path) -> list[Message]:
    """Messages from a JSON file holding a list of ``{role, content[, reasoning]}``, and OpenAI's tool calls and
    tool results (app.core.chat_json)."""
    path = Path(path)
    raw = _read_json(path, what="conversation", limit=MAX_CONVERSATION_BYTES, shape="{role, content}")
    if not isinstance(raw, list):
        raise UserError(f"{path.name} must hold a JSON list of {{role, content}} messages.")
    try:
        return messages_from_json(raw)
    except ItemError as exc:
        raise UserError(f"{path.name}, message {exc.index + 1:,}: {exc.problem}.") from None


def load_tools(path: str | Path) -> tuple[FunctionTool, ...]:
    """The functions of a tools list: the ``tools`` array of an OpenAI Chat Completions request."""
    path = Path(path)
    raw = _read_json(path, what="tools", limit=MAX_TOOLS_BYTES, shape="tools")
    if not isinstance(raw, list):
        raise UserError(
            f'{path.name} must hold a JSON list of tools, each {{"type": "function", "function": {{name, '
            "description, parameters}}."
        )
    try:
        return function_tools_from_json(raw)
    except ItemError as exc:
        raise UserError(f"{path.name}, tool {exc.index + 1:,}: {exc.problem}.") from None
