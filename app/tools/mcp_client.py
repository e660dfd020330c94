"""Moss's client of MCP servers, for callers on ordinary threads (the tool loop on the model's thread, the Tools
pane through the task runner, the command line).

The SDK is asyncio, so the connections live on one event loop running on a thread of its own, started when a
server is first needed; each call here hands a request to the server's connection (app.tools.mcp_connection)
and waits for its answer, watching the caller's cancel event. Every failure comes back as one line: a tool call's
as its :class:`ToolOutcome` (``is_error``), a listing's as an :class:`McpServerError`; nothing hangs for longer
than the limits, and :meth:`McpClient.close` stops every server it started.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import functools
import hashlib
import logging
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.errors import one_line
from app.core.types import FunctionTool
from app.tools.mcp_config import McpServerConfig, StdioTransport
from app.tools.mcp_connection import Failure, Request, ServerConnection
from app.tools.mcp_names import FunctionNames, function_name
from app.tools.mcp_results import McpLimits, McpServerError, ToolOutcome, describe_error

log = logging.getLogger(__name__)

_POLL_S = 0.05
_GRACE_S = 5.0  # beyond the limits, for a connection to answer that it ran out of them
_CLOSE_TIMEOUT_S = 15.0  # the SDK gives a server 2 s to exit on its own and 2 more after SIGTERM


@dataclass(frozen=True)
class McpTool:
    """A tool a server offers: what the model is told of it, and whether the person left it on."""

    server: str
    name: str
    description: str
    input_schema: dict[str, Any]
    enabled: bool = True

    @property
    def function_name(self) -> str:
        """The name the model calls it by (app.tools.mcp_names)."""
        return function_name(self.server, self.name)

    def as_function_tool(self) -> FunctionTool:
        return FunctionTool(self.function_name, self.description, self.input_schema or None)


class McpClient:
    """Connections to the configured MCP servers. Thread-safe: any thread may call any method."""

    def __init__(self, servers: Iterable[McpServerConfig], log_folder: Path, limits: McpLimits | None = None) -> None:
        self.limits = limits or McpLimits()
        self.log_folder = log_folder
        self._configs = {server.name: server for server in servers}
        # Touched on the loop's thread only: the connection serving each server, and every connection not yet
        # ended (a stopped one may still be waiting for its server to exit).
        self._connections: dict[str, ServerConnection] = {}
        self._live: set[ServerConnection] = set()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- configuration -------------------------------------------------------------------------------------

    @property
    def servers(self) -> list[McpServerConfig]:
        with self._lock:
            return list(self._configs.values())

    def set_servers(self, servers: Iterable[McpServerConfig]) -> None:
        """Replaces the configuration. A server removed or changed is stopped (a changed one starts again, as
        changed, when next needed); calls under way on it are answered first."""
        with self._lock:
            self._configs = {server.name: server for server in servers}
            configs = dict(self._configs)
            loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self._drop_stale, configs)

    def log_file(self, server: str) -> Path:
        """Where a stdio server's standard error goes: what to open when it misbehaves."""
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", server)
        if safe != server:
            safe += "-" + hashlib.sha256(server.encode()).hexdigest()[:8]
        return self.log_folder / f"mcp-{safe}.log"

    # -- what callers ask -----------------------------------------------------------------------------------

    def tools(self, server: str) -> list[McpTool]:
        """The server's tools (each with ``enabled`` as configured), starting the server if it is not running.

        Raises McpServerError, in one line, when the server cannot be started or reached or does not answer."""
        config = self._config(server)
        waited = self.limits.start_timeout_s + self.limits.list_timeout_s + _GRACE_S
        answer = self._wait(self._submit(config, Request("list")), None, waited)
        if isinstance(answer, Failure):
            raise McpServerError(answer.message)
        if answer is None:
            raise McpServerError(f'The MCP server "{one_line(server)}" did not list its tools in time; try again.')
        return [
            McpTool(server, tool.name, tool.description or "", dict(tool.input_schema), config.tool_enabled(tool.name))
            for tool in answer
        ]

    def available_tools(self) -> tuple[list[McpTool], list[str]]:
        """The tools the model may be offered: every enabled tool of every enabled server; and one line for each
        server that could not list its tools (the others are still offered)."""
        tools: list[McpTool] = []
        problems: list[str] = []
        for config in self.servers:
            if not config.enabled:
                continue
            try:
                tools += [tool for tool in self.tools(config.name) if tool.enabled]
            except McpServerError as error:
                problems.append(error.message)
        return tools, problems

    def call(
        self, server: str, tool: str, arguments: dict[str, Any], cancel: threading.Event | None = None
    ) -> ToolOutcome:
        """Calls a tool and waits for its answer; never raises for what a server or tool does. ``cancel`` (a Stop)
        stops the call: the outcome then says it was stopped."""
        started = time.monotonic()
        with self._lock:
            config = self._configs.get(server)
        if config is None:
            return ToolOutcome(f'There is no MCP server named "{one_line(server)}" in Moss\'s settings.', True, 0.0)
        if not config.tool_enabled(tool):
            why = "the server" if not config.enabled else "this tool"
            return ToolOutcome(f'{tool} of the MCP server "{one_line(server)}" is off: {why} is switched off.', True, 0)
        request = Request("call", tool, arguments)
        waited = self.limits.start_timeout_s + self.limits.call_timeout_s + _GRACE_S
        answer = self._wait(self._submit(config, request), cancel, waited)
        if isinstance(answer, ToolOutcome):
            return answer
        return ToolOutcome(
            f'The MCP server "{one_line(server)}" did not answer the call to {tool} in time.',
            True,
            time.monotonic() - started,
        )

    def call_function(
        self, name: str, arguments: dict[str, Any], names: FunctionNames, cancel: threading.Event | None = None
    ) -> ToolOutcome:
        """Calls the tool the model named, as offered in ``names``; an unknown name is answered as an error."""
        found = names.lookup(name)
        if found is None:
            return ToolOutcome(f"There is no tool named {one_line(name)}; call one of the functions offered.", True, 0)
        return self.call(found[0], found[1], arguments, cancel)

    def close(self) -> None:
        """Stops every server (waiting for each to exit, within seconds) and the event loop. Idempotent."""
        with self._lock:
            self._closed = True
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        atexit.unregister(self.close)
        finished = asyncio.run_coroutine_threadsafe(self._close_all(), loop)
        try:
            finished.result(_CLOSE_TIMEOUT_S)
        except (concurrent.futures.TimeoutError, RuntimeError):
            log.warning("MCP servers did not all stop within %g s", _CLOSE_TIMEOUT_S)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_CLOSE_TIMEOUT_S)
        if not thread.is_alive():
            loop.close()

    # -- the loop -----------------------------------------------------------------------------------------

    def _config(self, server: str) -> McpServerConfig:
        with self._lock:
            config = self._configs.get(server)
        if config is None:
            raise McpServerError(f'There is no MCP server named "{one_line(server)}"; add it in Settings → Tools.')
        return config

    def _submit(self, config: McpServerConfig, request: Request) -> Request:
        loop = self._running_loop()
        if loop is None:
            request.fail("Moss has closed its MCP client; nothing can be called any more.")
        else:
            loop.call_soon_threadsafe(self._enqueue, config, request)
        return request

    def _wait(self, request: Request, cancel: threading.Event | None, timeout: float) -> Any:
        """Waits for the answer, passing on a Stop; None when the connection never answered."""
        deadline = time.monotonic() + timeout
        cancel_sent = False
        while True:
            try:
                return request.future.result(_POLL_S)
            except concurrent.futures.TimeoutError:
                pass
            out_of_time = time.monotonic() > deadline
            if cancel_sent and out_of_time:
                return None
            if not cancel_sent and (out_of_time or (cancel is not None and cancel.is_set())):
                loop = self._running_loop()
                if loop is None:
                    return None
                loop.call_soon_threadsafe(request.cancel)
                cancel_sent = True
                deadline = time.monotonic() + _GRACE_S  # for the answer that says it was stopped

    def _running_loop(self) -> asyncio.AbstractEventLoop | None:
        with self._lock:
            if self._closed:
                return None
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever, name="moss-mcp", daemon=True)
                self._thread.start()
                # A server is a child process in its own session: it would outlive Moss if nobody stopped it.
                atexit.register(self.close)
            return self._loop

    def _enqueue(self, config: McpServerConfig, request: Request) -> None:
        """On the loop: hands the request to the server's connection, starting one when none is running."""
        try:
            self._connection_for(config).submit(request)
        except Exception as error:  # a bug: the caller is answered rather than left waiting
            log.exception("could not hand a request to the MCP server %r", config.name)
            request.fail(f'Moss could not reach the MCP server "{one_line(config.name)}": {describe_error(error)}.')

    def _connection_for(self, config: McpServerConfig) -> ServerConnection:
        connection = self._connections.get(config.name)
        if connection is not None and connection.accepting and connection.config != config:
            connection.stop("its settings changed")
        if connection is None or not connection.accepting or connection.config != config:
            log_file = self.log_file(config.name) if isinstance(config.transport, StdioTransport) else None
            connection = ServerConnection(config, self.limits, log_file)
            self._connections[config.name] = connection
            self._live.add(connection)
            connection.task.add_done_callback(functools.partial(self._ended, connection))
        return connection

    def _drop_stale(self, configs: dict[str, McpServerConfig]) -> None:
        for name, connection in list(self._connections.items()):
            if configs.get(name) != connection.config:
                connection.stop("its settings changed" if name in configs else "it was removed from Moss")
                del self._connections[name]

    def _ended(self, connection: ServerConnection, _task: asyncio.Task[None]) -> None:
        self._live.discard(connection)

    async def _close_all(self) -> None:
        connections = list(self._live)
        self._connections.clear()
        for connection in connections:
            connection.close()
        tasks = [connection.task for connection in connections]
        if tasks:
            await asyncio.wait(tasks)
