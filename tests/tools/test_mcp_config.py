"""MCP servers as data: mcp.json as Claude Desktop and LM Studio write it, one clear line for each bad entry, and
the settings' JSON round trip."""

from __future__ import annotations

import json

import pytest

from app.tools.mcp_config import (
    HttpTransport,
    McpConfigError,
    McpServerConfig,
    StdioTransport,
    parse_mcp_json,
    server_from_json,
    server_to_json,
    servers_from_json,
    servers_to_json,
    to_mcp_json,
)

CLAUDE_DESKTOP = """{
  "mcpServers": {
    "filesystem": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-filesystem", "/Users/me/Desktop"]
    },
    "weather": {"command": "uv", "args": ["run", "weather.py"], "env": {"API_KEY": "k-123"}, "cwd": "/srv/weather"},
    "search": {"url": "https://example.com/mcp", "headers": {"Authorization": "Bearer t"}},
    "typed": {"type": "stdio", "command": "clock"},
    "off": {"command": "clock", "disabled": true}
  }
}"""


def test_an_mcp_json_becomes_servers_in_its_order() -> None:
    servers = parse_mcp_json(CLAUDE_DESKTOP)
    assert [server.name for server in servers] == ["filesystem", "weather", "search", "typed", "off"]
    assert servers[0].transport == StdioTransport(
        "npx", ("-y", "@modelcontextprotocol/server-filesystem", "/Users/me/Desktop")
    )
    assert servers[1].transport == StdioTransport("uv", ("run", "weather.py"), {"API_KEY": "k-123"}, "/srv/weather")
    assert servers[2].transport == HttpTransport("https://example.com/mcp", {"Authorization": "Bearer t"})
    assert servers[3].transport == StdioTransport("clock")
    assert [server.enabled for server in servers] == [True, True, True, True, False]
    assert servers[1].describe() == "uv run weather.py"


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ('"x"', 'MCP server "bad" in mcp.json: its entry is not an object'),
        ("{}", 'MCP server "bad" in mcp.json: it has neither "command"'),
        ('{"command": "a", "url": "http://h"}', 'it has both "command" and "url"'),
        ('{"command": ""}', '"command" is not the name or path of a program.'),
        ('{"command": "a", "args": "--port 1"}', '"args" is not a list of text arguments'),
        ('{"command": "a", "args": ["--port", 1]}', '"args" is not a list of text arguments'),
        ('{"command": "a", "env": {"PORT": 8080}}', '"env" is not an object of text values'),
        ('{"command": "a", "cwd": 3}', '"cwd" is not a folder path.'),
        ('{"url": "ftp://h/mcp"}', '"url" is not an http:// or https:// address.'),
        ('{"url": "http://h", "headers": ["a"]}', '"headers" is not an object of text values'),
        ('{"type": "sse", "url": "http://h/sse"}', "the old SSE transport is not supported"),
        ('{"type": "websocket", "url": "ws://h"}', '"type" is "websocket"; Moss knows "stdio" and "http".'),
        ('{"type": "http", "command": "a"}', '"type" is "http" but it has a "command".'),
        ('{"command": "a", "disabled": "yes"}', '"disabled" is not true or false.'),
        ('{"command": "a", "enabled": 1}', '"enabled" is not true or false.'),
    ],
)
def test_each_bad_entry_is_one_line_naming_the_server_and_the_fault(entry: str, complaint: str) -> None:
    with pytest.raises(McpConfigError) as raised:
        parse_mcp_json(f'{{"mcpServers": {{"good": {{"command": "a"}}, "bad": {entry}}}}}')
    assert complaint in raised.value.message
    assert "\n" not in raised.value.message


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("{nope", "mcp.json is not valid JSON: Expecting property name enclosed in double quotes at line 1, column 2"),
        ('{"servers": {}}', 'mcp.json has no "mcpServers" object'),
        ('{"mcpServers": []}', 'mcp.json has no "mcpServers" object'),
        ('{"mcpServers": {}}', 'mcp.json lists no servers in "mcpServers".'),
        ('{"mcpServers": {"": {"command": "a"}}}', "An MCP server in mcp.json has an empty name"),
        ('{"mcpServers": {"a\\nb": {"command": "a"}}}', 'The MCP server name "a\\nb" in mcp.json holds a line break'),
    ],
)
def test_a_file_that_is_not_an_mcp_configuration_says_so(text: str, complaint: str) -> None:
    with pytest.raises(McpConfigError) as raised:
        parse_mcp_json(text)
    assert raised.value.message.startswith(complaint)


def test_settings_json_round_trips_with_what_is_on_and_off() -> None:
    servers = [
        McpServerConfig("weather", StdioTransport("uv", ("run", "w.py"), {"K": "v"}, "/srv"), True, frozenset({"b"})),
        McpServerConfig("search", HttpTransport("https://example.com/mcp", {"X-Key": "1"}), enabled=False),
    ]
    stored = json.loads(json.dumps(servers_to_json(servers)))
    assert servers_from_json(stored) == servers
    assert server_to_json(servers[0]) == {
        "name": "weather",
        "command": "uv",
        "args": ["run", "w.py"],
        "env": {"K": "v"},
        "cwd": "/srv",
        "enabled": True,
        "disabled_tools": ["b"],
    }
    assert parse_mcp_json(to_mcp_json(servers)) == [
        McpServerConfig("weather", servers[0].transport),
        McpServerConfig("search", servers[1].transport),
    ]


def test_bad_settings_entries_are_refused_in_one_line() -> None:
    with pytest.raises(McpConfigError, match="has no name"):
        server_from_json({"command": "a"})
    with pytest.raises(McpConfigError, match="are not a list"):
        servers_from_json({"name": "a"})
    with pytest.raises(McpConfigError, match='"disabled_tools" is not a list of tool names'):
        server_from_json({"name": "a", "command": "a", "disabled_tools": "echo"})
    with pytest.raises(McpConfigError, match='Two MCP servers are named "Clock"'):
        servers_from_json([{"name": "clock", "command": "a"}, {"name": "Clock", "command": "b"}])


def test_tools_are_switched_on_and_off_one_by_one() -> None:
    server = McpServerConfig("clock", StdioTransport("clock"))
    off = server.with_tool_enabled("now", False)
    assert not off.tool_enabled("now") and off.tool_enabled("zone")
    assert off.with_tool_enabled("now", True) == server
    assert not McpServerConfig("clock", StdioTransport("clock"), enabled=False).tool_enabled("zone")
