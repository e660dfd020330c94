"""The names gpt-oss calls MCP tools by. Harmony addresses a function as ``functions.NAME`` and the developer
message declares it as a TypeScript-like ``type NAME = …``, so NAME must be an identifier: letters, digits and
``_``, starting with a letter. MCP names may hold anything (``my-server``, ``files.read``, spaces, non-Latin
letters) and two servers may offer tools of the same name, so a tool becomes ``server__tool``:

- a name that is already safe stays readable (``clock__get_time``);
- anything else is spelled with ``_`` for each other character and ends in a short hash of the real names, so it
  is still unique and the same in every session (``my_server__files_read_3f2a9c1b``);
- at most 64 characters (the OpenAI API's limit, which other front ends also apply).

The way back is :class:`FunctionNames`, made from the tools offered to the model: a name cannot be split back on its
own (``a__b__c`` could be server ``a`` or ``a__b``, and a spelled name has lost characters).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

MAX_FUNCTION_NAME_LENGTH = 64
_SEPARATOR = "__"
_SAFE_SERVER = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*")  # no "__", no "_" at either end
_SAFE_TOOL = re.compile(r"[A-Za-z0-9_]+")
_UNSAFE_CHARACTER = re.compile(r"[^A-Za-z0-9_]")
_HASH_LENGTH = 8


def function_name(server: str, tool: str) -> str:
    """The function name the model sees for ``tool`` of ``server``: safe, unique and stable."""
    plain = f"{server}{_SEPARATOR}{tool}"
    if _SAFE_SERVER.fullmatch(server) and _SAFE_TOOL.fullmatch(tool) and len(plain) <= MAX_FUNCTION_NAME_LENGTH:
        return plain
    digest = hashlib.sha256(f"{server}\0{tool}".encode()).hexdigest()[:_HASH_LENGTH]
    server_part = _UNSAFE_CHARACTER.sub("_", server).strip("_")[:20] or "mcp"
    if not server_part[0].isalpha():
        server_part = f"mcp_{server_part}"
    server_part = re.sub("_+", "_", server_part)  # keeps the first "__" the separator
    room = MAX_FUNCTION_NAME_LENGTH - len(server_part) - len(_SEPARATOR) - 1 - _HASH_LENGTH
    tool_part = _UNSAFE_CHARACTER.sub("_", tool)[:room].strip("_") or "tool"
    return f"{server_part}{_SEPARATOR}{tool_part}_{digest}"


class FunctionNames:
    """The way back from the function names offered to the model to (server, tool)."""

    def __init__(self, tools: Iterable[tuple[str, str]] = ()) -> None:
        self._by_name: dict[str, tuple[str, str]] = {}
        for server, tool in tools:
            self.add(server, tool)

    def add(self, server: str, tool: str) -> str:
        name = function_name(server, tool)
        self._by_name[name] = (server, tool)
        return name

    def lookup(self, name: str) -> tuple[str, str] | None:
        """The (server, tool) a function name stands for, or None for a name that was not offered."""
        return self._by_name.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __len__(self) -> int:
        return len(self._by_name)
