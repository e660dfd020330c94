"""An MCP server for Moss's tests, written with the SDK: well-behaved tools and every kind of misbehaviour.

Run over stdio (``python toolbox.py``) or streamable HTTP (``python toolbox.py --http PORT``).
"""

from __future__ import annotations

import datetime
import os
import sys
import time
from pathlib import Path

from mcp.server.mcpserver import Context, Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("toolbox")

# The smallest valid PNG: one transparent pixel.
PIXEL_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da6364f8ffbf1e0005fe02fe0dc7d5f00000000049454e44ae426082"
)


@server.tool()
def echo(text: str) -> str:
    """Returns the text it is given."""
    return text


@server.tool()
def add(a: int, b: int) -> int:
    """Adds two whole numbers."""
    return a + b


@server.tool()
def clock() -> str:
    """The time now, in UTC."""
    return datetime.datetime.now(datetime.UTC).isoformat()


@server.tool(name="files.read-all")
def read_all(folder: str = ".") -> str:
    """A tool whose name is awkward in harmony's functions.NAME."""
    return f"read {folder}"


@server.tool()
def process_id() -> int:
    """This server's process id."""
    return os.getpid()


@server.tool()
def huge(megabytes: int = 5) -> str:
    """Returns megabytes of text."""
    return "0123456789" * (megabytes * 100_000)


@server.tool()
def broken() -> str:
    """Always fails (the result has isError set)."""
    raise ToolError("the disk is full")


@server.tool()
def picture() -> Image:
    """Returns a PNG image."""
    return Image(data=PIXEL_PNG, format="png")


@server.tool()
def sleep_forever(started_file: str = "") -> str:
    """Never answers; writes ``started_file`` first, so a test knows the call is under way."""
    if started_file:
        Path(started_file).write_text(str(os.getpid()), encoding="utf-8")
    time.sleep(3600)
    return "woke up"


@server.tool()
def header(name: str, ctx: Context) -> str:
    """The value of an HTTP header of the request (empty over stdio)."""
    request = ctx.request_context.request
    headers = getattr(request, "headers", None)
    return "" if headers is None else str(headers.get(name, ""))


@server.tool()
def exit_now() -> str:
    """The process exits in the middle of the call."""
    print("toolbox: exiting in the middle of a call", file=sys.stderr, flush=True)
    os._exit(3)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
