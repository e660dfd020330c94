"""The MCP client against a real streamable-HTTP server (the SDK's own, on uvicorn) on a free loopback port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.tools.mcp_client import McpClient
from app.tools.mcp_config import HttpTransport, McpServerConfig
from app.tools.mcp_results import McpLimits, McpServerError

TOOLBOX = Path(__file__).parent / "mcp_servers" / "toolbox.py"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(TOOLBOX), "--http", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60  # a readiness wait, not a timing: the server imports the SDK first
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("The test's MCP HTTP server did not start.")
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.kill()  # its sleep_forever thread would hold a graceful exit
        server.wait()


@pytest.fixture(scope="module")
def client(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpClient]:
    servers = [
        McpServerConfig("web", HttpTransport(server_url, {"X-Moss-Test": "sesame"})),
        McpServerConfig("wrong-path", HttpTransport(server_url.replace("/mcp", "/nothing-here"))),
        McpServerConfig("closed-port", HttpTransport(f"http://127.0.0.1:{free_port()}/mcp")),
    ]
    mcp = McpClient(servers, tmp_path_factory.mktemp("mcp-logs"), McpLimits(call_timeout_s=1.5, max_result_chars=100))
    yield mcp
    mcp.close()


def test_tools_are_listed_and_called_with_the_configured_headers(client: McpClient) -> None:
    assert {"echo", "header", "huge"} <= {tool.name for tool in client.tools("web")}
    assert client.call("web", "echo", {"text": "over HTTP"}).text == "over HTTP"
    assert client.call("web", "header", {"name": "X-Moss-Test"}).text == "sesame"


def test_megabytes_over_http_are_cut_rather_than_broken_off(client: McpClient) -> None:
    huge = client.call("web", "huge", {"megabytes": 5})
    assert not huge.is_error
    assert huge.text.endswith("Moss kept the first 100 and left out the other 4,999,900.]")


def test_a_hung_call_times_out_and_the_next_call_reconnects(client: McpClient) -> None:
    hung = client.call("web", "sleep_forever", {})
    assert hung.is_error
    assert hung.text == (
        'The tool sleep_forever of the MCP server "web" took longer than 1.5 s; Moss disconnected from the server '
        "(it starts again when next needed)."
    )
    assert client.call("web", "echo", {"text": "back"}).text == "back"


def test_an_address_that_is_no_mcp_server_is_one_line(client: McpClient, server_url: str) -> None:
    with pytest.raises(McpServerError) as wrong_path:
        client.tools("wrong-path")
    assert wrong_path.value.message == (
        f'The MCP server "wrong-path" could not start: {server_url.replace("/mcp", "/nothing-here")} did not answer '
        "as an MCP server (Not Found); check its address and headers."
    )
    refused = client.call("closed-port", "echo", {"text": "x"})
    assert refused.is_error
    assert refused.text.startswith('The MCP server "closed-port" could not start: http://127.0.0.1:')
    assert refused.text.endswith(
        "did not answer as an MCP server (All connection attempts failed); check its address and headers."
    )
