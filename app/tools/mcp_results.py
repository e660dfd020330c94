"""What an MCP tool's answer becomes for the model: text, at most so long, with every piece that is not text
described in one line, and what every failure of a server becomes: one line that says what happened.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import mcp_types

from app.core.errors import UserError, one_line

STDERR_TAIL_LINES = 3
_STDERR_TAIL_BYTES = 4096


class McpServerError(UserError):
    """An MCP server that cannot be used right now: it did not start, stopped, or did not answer in time."""


@dataclass(frozen=True)
class McpLimits:
    """How long Moss waits for a server and how much of an answer it keeps. Short in tests."""

    start_timeout_s: float = 30.0
    """From starting the program (or reaching the address) to its answer to the handshake."""
    call_timeout_s: float = 120.0
    """For one tool call; a server that runs out of it is stopped (it starts again on the next call)."""
    list_timeout_s: float = 30.0
    max_result_chars: int = 20_000


@dataclass(frozen=True)
class ToolOutcome:
    """A tool call's result as the model is given it. ``is_error``: the tool failed, the server failed, or the call
    was stopped; ``text`` then says which, in one line the person can read too."""

    text: str
    is_error: bool
    seconds: float


def result_text(result: mcp_types.CallToolResult, max_chars: int) -> str:
    """The model's view of a tool result: its text blocks, one line for each image, sound or binary resource,
    the structured result when there is no text, cut to ``max_chars`` with a note saying what was cut."""
    pieces = [_block_text(block) for block in result.content]
    has_text = any(isinstance(block, mcp_types.TextContent) for block in result.content)
    if not has_text and result.structured_content is not None:
        pieces.append(json.dumps(result.structured_content, ensure_ascii=False))
    text = "\n".join(pieces)
    if not text:
        return "[The tool returned nothing.]"
    return cap_text(text, max_chars)


def cap_text(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    return (
        f"{text[:max_chars]}\n[Cut: the tool returned {len(text):,} characters; Moss kept the first {max_chars:,} "
        f"and left out the other {len(text) - max_chars:,}.]"
    )


def _block_text(block: mcp_types.ContentBlock) -> str:
    if isinstance(block, mcp_types.TextContent):
        return block.text
    if isinstance(block, mcp_types.ImageContent):
        return f"[An image ({block.mime_type}, {_size(block.data)}) that Moss does not show to the model.]"
    if isinstance(block, mcp_types.AudioContent):
        return f"[A sound ({block.mime_type}, {_size(block.data)}) that Moss does not pass to the model.]"
    if isinstance(block, mcp_types.ResourceLink):
        return f"[A link to the resource {one_line(block.name)} at {one_line(block.uri)}.]"
    resource = block.resource
    if isinstance(resource, mcp_types.TextResourceContents):
        return f"[The resource {one_line(resource.uri)}:]\n{resource.text}"
    kind = resource.mime_type or "binary data"
    return f"[The resource {one_line(resource.uri)} ({kind}, {_size(resource.blob)}), which is not text.]"


def _size(base64_data: str) -> str:
    try:
        size = len(base64.b64decode(base64_data, validate=False))
    except (binascii.Error, ValueError):
        size = len(base64_data) * 3 // 4
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def stderr_tail(log_file: Path | None, start_offset: int) -> str:
    """The server's last lines on its standard error since ``start_offset`` (where this run began in its log),
    joined into one line; empty when it wrote nothing."""
    if log_file is None:
        return ""
    try:
        with log_file.open("rb") as handle:
            handle.seek(0, 2)
            end = handle.tell()
            handle.seek(max(start_offset, end - _STDERR_TAIL_BYTES))
            data = handle.read()
    except OSError:
        return ""
    lines = [line.strip() for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
    return one_line(" | ".join(lines[-STDERR_TAIL_LINES:]))


def leaf_exceptions(error: BaseException) -> Sequence[BaseException]:
    """The real failures inside the exception groups anyio's task groups wrap them in."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaf_exceptions(inner)]
    return [error]


def describe_error(error: BaseException) -> str:
    """One line for what went wrong, without a traceback: the first real failure's own words."""
    leaves = leaf_exceptions(error)
    leaf = next((e for e in leaves if not isinstance(e, _NOISE)), leaves[0])
    if isinstance(leaf, FileNotFoundError) and leaf.filename:
        return f"the program {one_line(str(leaf.filename))} was not found"
    if isinstance(leaf, PermissionError) and leaf.filename:
        return f"the program {one_line(str(leaf.filename))} may not be run (permission denied)"
    words = str(leaf) or type(leaf).__name__
    return one_line(words.rstrip("."))


# Failures that only follow another one (a stream closed because the first task failed).
_NOISE: tuple[type[BaseException], ...] = (GeneratorExit,)
