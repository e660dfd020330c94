"""MCP servers as data: a server a person configured (its name, how to reach it, whether it is on, which of its
tools are off), read from an ``mcp.json`` in the format Claude Desktop and LM Studio use, and kept in Moss's
settings as JSON.

``mcp.json``::

    {"mcpServers": {
        "clock": {"command": "uvx", "args": ["mcp-clock"], "env": {"TZ": "UTC"}, "cwd": "/tmp"},
        "search": {"url": "https://example.com/mcp", "headers": {"Authorization": "Bearer …"}}}}

Every malformed entry becomes one :class:`McpConfigError` naming the server and what is wrong, so the person can
fix that line. A settings entry is the same object with ``name``, ``enabled`` and ``disabled_tools`` added.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from app.core.errors import UserError, one_line

MAX_NAME_LENGTH = 64

# What other apps write for the transport ("type" in Claude Code and VS Code, "transport" elsewhere).
_STDIO_TYPES = {"stdio"}
_HTTP_TYPES = {"http", "streamable-http", "streamable_http", "streamablehttp"}
_SSE_TYPES = {"sse"}


class McpConfigError(UserError):
    """An MCP server entry that cannot be used as written: which server, and what to change."""


_Complaint = Callable[[str], McpConfigError]


@dataclass(frozen=True)
class StdioTransport:
    """A server Moss runs as a child process and speaks to over its standard input and output."""

    command: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    """Set on top of a small safe environment (PATH, HOME, …), as the SDK does: API keys go here."""
    cwd: str | None = None


@dataclass(frozen=True)
class HttpTransport:
    """A server already running somewhere, reached by streamable HTTP."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)


Transport = StdioTransport | HttpTransport


@dataclass(frozen=True)
class McpServerConfig:
    """One configured server. Its tools are on unless listed in ``disabled_tools`` (so a tool a server adds later
    appears switched on; each call is still approved by the person)."""

    name: str
    transport: Transport
    enabled: bool = True
    disabled_tools: frozenset[str] = frozenset()

    def tool_enabled(self, tool: str) -> bool:
        return self.enabled and tool not in self.disabled_tools

    def with_tool_enabled(self, tool: str, enabled: bool) -> McpServerConfig:
        disabled = self.disabled_tools - {tool} if enabled else self.disabled_tools | {tool}
        return replace(self, disabled_tools=frozenset(disabled))

    def describe(self) -> str:
        """One line for a list of servers: what runs or where it is."""
        if isinstance(self.transport, StdioTransport):
            return " ".join([self.transport.command, *self.transport.args])
        return self.transport.url


# -- reading ------------------------------------------------------------------------------------------------


def parse_mcp_json(text: str, source: str = "mcp.json") -> list[McpServerConfig]:
    """The servers of an ``mcp.json`` (Claude Desktop / LM Studio format), in the file's order.

    Raises McpConfigError for the first thing wrong, saying where (``source``), which server and what."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise McpConfigError(
            f"{source} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("mcpServers"), dict):
        raise McpConfigError(
            f'{source} has no "mcpServers" object; an MCP configuration looks like '
            '{"mcpServers": {"name": {"command": …, "args": […]}}}.'
        )
    servers = [_entry(name, entry, source) for name, entry in document["mcpServers"].items()]
    if not servers:
        raise McpConfigError(f'{source} lists no servers in "mcpServers".')
    return servers


def to_mcp_json(servers: Iterable[McpServerConfig]) -> str:
    """The servers as an ``mcp.json`` other apps can read (what is on or off is Moss's own and is left out)."""
    entries = {server.name: _transport_json(server.transport) for server in servers}
    return json.dumps({"mcpServers": entries}, indent=2, ensure_ascii=False)


def server_to_json(server: McpServerConfig) -> dict[str, Any]:
    """A server as a settings entry: its mcp.json entry plus ``name``, ``enabled`` and ``disabled_tools``."""
    entry: dict[str, Any] = {"name": server.name, **_transport_json(server.transport), "enabled": server.enabled}
    if server.disabled_tools:
        entry["disabled_tools"] = sorted(server.disabled_tools)
    return entry


def server_from_json(entry: object, source: str = "the settings") -> McpServerConfig:
    """The inverse of :func:`server_to_json`; raises McpConfigError for an entry that is not one."""
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise McpConfigError(f"An MCP server in {source} has no name; remove it and add it again.")
    name: str = entry["name"]
    rest = {key: value for key, value in entry.items() if key != "name"}
    return _entry(name, rest, source)


def servers_to_json(servers: Iterable[McpServerConfig]) -> list[dict[str, Any]]:
    return [server_to_json(server) for server in servers]


def servers_from_json(entries: object, source: str = "the settings") -> list[McpServerConfig]:
    if not isinstance(entries, list):
        raise McpConfigError(f"The MCP servers in {source} are not a list; add them again.")
    servers = [server_from_json(entry, source) for entry in entries]
    check_unique_names(servers)
    return servers


def check_unique_names(servers: Iterable[McpServerConfig]) -> None:
    seen: set[str] = set()
    for server in servers:
        if server.name.casefold() in seen:
            raise McpConfigError(f'Two MCP servers are named "{one_line(server.name)}"; give each its own name.')
        seen.add(server.name.casefold())


def check_name(name: str, source: str = "mcp.json") -> None:
    if not name.strip():
        raise McpConfigError(f"An MCP server in {source} has an empty name; give it a name.")
    if len(name) > MAX_NAME_LENGTH:
        raise McpConfigError(
            f'The MCP server name "{one_line(name[:20])}…" in {source} is longer than {MAX_NAME_LENGTH} characters; '
            "shorten it."
        )
    if one_line(name) != name:
        raise McpConfigError(
            f'The MCP server name "{one_line(name)}" in {source} holds a line break or control character; rename it.'
        )


# -- one entry ----------------------------------------------------------------------------------------------


def _entry(name: str, entry: object, source: str) -> McpServerConfig:
    check_name(name, source)

    def wrong(what: str) -> McpConfigError:
        return McpConfigError(f'MCP server "{one_line(name)}" in {source}: {what}')

    if not isinstance(entry, dict):
        raise wrong('its entry is not an object; write {"command": …} or {"url": …}.')
    kind = entry.get("type", entry.get("transport"))
    if kind is not None and not isinstance(kind, str):
        raise wrong('"type" is not text; write "stdio" or "http".')
    kind = kind.lower() if isinstance(kind, str) else None
    if kind in _SSE_TYPES:
        raise wrong(
            'the old SSE transport is not supported; use the server\'s streamable HTTP address ("type": "http").'
        )
    if kind is not None and kind not in _STDIO_TYPES | _HTTP_TYPES:
        raise wrong(f'"type" is "{one_line(kind)}"; Moss knows "stdio" and "http".')
    has_command, has_url = "command" in entry, "url" in entry
    if has_command and has_url:
        raise wrong('it has both "command" and "url"; keep the one that reaches the server.')
    if not (has_command or has_url):
        raise wrong('it has neither "command" (a program to run) nor "url" (a server to reach).')
    if (kind in _HTTP_TYPES and has_command) or (kind in _STDIO_TYPES and has_url):
        raise wrong(f'"type" is "{kind}" but it has a "{"command" if has_command else "url"}".')
    transport = _stdio(entry, wrong) if has_command else _http(entry, wrong)
    disabled = entry.get("disabled", False)  # Cline's and Claude Code's way to keep a server but not run it
    enabled = entry.get("enabled", not disabled)
    for key, value in (("disabled", disabled), ("enabled", enabled)):
        if not isinstance(value, bool):
            raise wrong(f'"{key}" is not true or false.')
    disabled_tools = entry.get("disabled_tools", [])
    if not isinstance(disabled_tools, list) or not all(isinstance(tool, str) for tool in disabled_tools):
        raise wrong('"disabled_tools" is not a list of tool names.')
    return McpServerConfig(name, transport, enabled, frozenset(disabled_tools))


def _stdio(entry: dict[str, Any], wrong: _Complaint) -> StdioTransport:
    command = entry["command"]
    if not isinstance(command, str) or not command.strip():
        raise wrong('"command" is not the name or path of a program.')
    args = entry.get("args", [])
    if not isinstance(args, list) or not all(isinstance(arg, str) for arg in args):
        raise wrong('"args" is not a list of text arguments (write numbers in quotes: ["--port", "8080"]).')
    env = _text_map(entry, "env", wrong)
    cwd = entry.get("cwd")
    if cwd is not None and (not isinstance(cwd, str) or not cwd.strip()):
        raise wrong('"cwd" is not a folder path.')
    return StdioTransport(command, tuple(args), env, cwd)


def _http(entry: dict[str, Any], wrong: _Complaint) -> HttpTransport:
    url = entry["url"]
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        raise wrong('"url" is not an http:// or https:// address.')
    return HttpTransport(url, _text_map(entry, "headers", wrong))


def _text_map(entry: dict[str, Any], key: str, wrong: _Complaint) -> dict[str, str]:
    value = entry.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(item, str) for item in value.values()):
        raise wrong(f'"{key}" is not an object of text values (write numbers in quotes: {{"PORT": "8080"}}).')
    return dict(value)


def _transport_json(transport: Transport) -> dict[str, Any]:
    if isinstance(transport, HttpTransport):
        return {"url": transport.url, **({"headers": dict(transport.headers)} if transport.headers else {})}
    entry: dict[str, Any] = {"command": transport.command, "args": list(transport.args)}
    if transport.env:
        entry["env"] = dict(transport.env)
    if transport.cwd is not None:
        entry["cwd"] = transport.cwd
    return entry
