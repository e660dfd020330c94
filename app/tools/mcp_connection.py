"""One MCP server's connection: a single task on the MCP client's event loop that starts the server (or reaches
its address), holds the SDK's session, and serves the requests put in its queue, each in a task of its own.

It is one task because anyio's cancel scopes, which the SDK's ``stdio_client`` and ``ClientSession`` enter, must
be left by the task that entered them. Everything here runs on the event loop's thread; requests are answered
through a ``concurrent.futures.Future`` that the caller's thread waits on.

A connection ends when the server stops (its output closes: a crash, or an exit), when a call runs out of time
(a hung server is stopped rather than left holding the next calls), or when Moss stops it. Requests still waiting
are answered with why; the next request starts a new connection.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio
import mcp_types
from anyio.streams.memory import MemoryObjectSendStream
from mcp import ClientSession, MCPError, StdioServerParameters, stdio_client
from mcp.client._transport import TransportStreams
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.message import SessionMessage

from app import __version__
from app.core.errors import one_line
from app.tools.mcp_config import HttpTransport, McpServerConfig, StdioTransport
from app.tools.mcp_results import McpLimits, ToolOutcome, describe_error, result_text, stderr_tail

log = logging.getLogger(__name__)

_CLIENT_INFO = mcp_types.Implementation(name="moss", version=__version__)
_MAX_LOG_BYTES = 1 << 20  # a server's stderr log is started afresh past this
# What the SDK answers every request with once the server's output has ended.
_CLOSED = "Connection closed"
# One streamed (SSE) answer of an HTTP server may be this large: the SDK's 1 MiB would turn a few megabytes of
# tool output into a broken-off answer rather than a long one that Moss cuts to size.
_MAX_HTTP_EVENT_BYTES = 64 << 20


@dataclass(eq=False)
class Request:
    """One thing asked of a server: its tools, or a call. Answered once, through ``future``."""

    kind: Literal["list", "call"]
    tool: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    future: concurrent.futures.Future[Any] = field(default_factory=concurrent.futures.Future)
    cancelled: bool = False
    created: float = field(default_factory=time.monotonic)
    _scope: anyio.CancelScope | None = None

    def cancel(self) -> None:
        """Stops the request (on the loop's thread): a Stop from the person. One still waiting for its server to
        start is answered at once."""
        self.cancelled = True
        if self._scope is not None:
            self._scope.cancel()
        else:
            self.fail(self.stopped_line())

    def stopped_line(self) -> str:
        return f"The call to {self.tool} was stopped by the user." if self.kind == "call" else "Stopped by the user."

    def seconds(self) -> float:
        return time.monotonic() - self.created

    def answer(self, value: Any) -> None:
        if not self.future.done():
            self.future.set_result(value)

    def fail(self, message: str) -> None:
        """Answers with a failure: an error outcome for a call, a message for a listing (raised by the caller)."""
        self.answer(ToolOutcome(message, True, self.seconds()) if self.kind == "call" else Failure(message))


@dataclass(frozen=True)
class Failure:
    """A listing that failed, with the line to show."""

    message: str


class ServerConnection:
    """The task that owns one server's session. Create and use it on the event loop's thread only."""

    def __init__(self, config: McpServerConfig, limits: McpLimits, log_file: Path | None) -> None:
        self.config = config
        self.limits = limits
        self.accepting = True
        """False once it is ending: new requests then go to a new connection."""
        self._queue: asyncio.Queue[Request | None] = asyncio.Queue()
        self._lifetime: anyio.CancelScope | None = None  # made in the task: anyio needs a running task for it
        self._handlers: anyio.abc.TaskGroup | None = None
        self._started = False
        self._closed_by_moss = False
        self._end_reason = ""
        self._log_file = log_file
        self._log_offset = 0
        self.task: asyncio.Task[None] = asyncio.get_running_loop().create_task(self._run(), name=f"mcp:{config.name}")

    @property
    def name(self) -> str:
        return self.config.name

    def submit(self, request: Request) -> None:
        self._queue.put_nowait(request)

    def stop(self, reason: str, *, abandon_calls: bool = False) -> None:
        """Ends the connection once the calls under way are answered (or at once, with ``abandon_calls``)."""
        self.accepting = False
        self._end_reason = self._end_reason or reason
        self._queue.put_nowait(None)
        if abandon_calls and self._handlers is not None:
            self._handlers.cancel_scope.cancel()

    def close(self) -> None:
        """Ends the connection now, whatever is under way (Moss is closing the client)."""
        self.accepting = False
        self._closed_by_moss = True
        self._end_reason = self._end_reason or "Moss closed its connection to the server"
        if self._lifetime is not None:
            self._lifetime.cancel()

    # -- the task ------------------------------------------------------------------------------------------

    async def _run(self) -> None:
        failure = ""
        try:
            with anyio.CancelScope() as lifetime:
                self._lifetime = lifetime
                if self._closed_by_moss:
                    lifetime.cancel()
                async with self._transport() as (read, write):
                    relay_send, relay_receive = anyio.create_memory_object_stream[SessionMessage | Exception](0)
                    async with anyio.create_task_group() as relay:
                        relay.start_soon(self._relay, read, relay_send)
                        async with ClientSession(relay_receive, write, client_info=_CLIENT_INFO) as session:
                            failure = await self._start(session)
                            if not failure:
                                await self._serve(session)
                        relay.cancel_scope.cancel()
        except Exception as error:
            failure = self._start_failure(describe_error(error)) if not self._started else self._stopped_line()
            log.warning("MCP server %r: %s", self.name, failure)
        finally:
            self.accepting = False
            self._answer_waiting(failure or self._stopped_line())

    async def _start(self, session: ClientSession) -> str:
        """The handshake: "" once done, else the line that says why not. Requests waiting for the server are
        answered at once (stopping a server that will not start can take the SDK a few seconds more)."""
        try:
            with anyio.move_on_after(self.limits.start_timeout_s) as handshake:
                await session.initialize()
            if not handshake.cancelled_caught:
                self._started = True
                log.info("MCP server %r is ready", self.name)
                return ""
            failure = self._start_failure(f"it did not answer within {self.limits.start_timeout_s:g} s of starting")
        except Exception as error:
            failure = self._start_failure(describe_error(error))
        log.warning("MCP server %r: %s", self.name, failure)
        self.accepting = False
        self._answer_waiting(failure)
        return failure

    async def _relay(
        self,
        read: Any,
        relay_send: MemoryObjectSendStream[SessionMessage | Exception],
    ) -> None:
        """Passes the server's messages to the session; when they end (the server stopped), ends the connection."""
        async with relay_send:
            with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream):
                async for message in read:
                    await relay_send.send(message)
        if not self._closed_by_moss:
            self.stop("the server stopped")

    async def _serve(self, session: ClientSession) -> None:
        async with anyio.create_task_group() as handlers:
            self._handlers = handlers
            while (request := await self._queue.get()) is not None:
                handlers.start_soon(self._handle, session, request)

    async def _handle(self, session: ClientSession, request: Request) -> None:
        if request.future.done():  # stopped while it waited for the server to start
            return
        timeout = self.limits.call_timeout_s if request.kind == "call" else self.limits.list_timeout_s
        try:
            with anyio.CancelScope(deadline=anyio.current_time() + timeout) as scope:
                request._scope = scope
                if request.cancelled:
                    scope.cancel()
                request.answer(await self._ask(session, request))
            if scope.cancelled_caught and request.cancelled:
                request.fail(request.stopped_line())
            elif scope.cancelled_caught:
                what = f"The tool {request.tool}" if request.kind == "call" else "Listing its tools"
                stopped = "disconnected from" if isinstance(self.config.transport, HttpTransport) else "stopped"
                request.fail(
                    f'{what} of the MCP server "{one_line(self.name)}" took longer than {timeout:g} s; Moss {stopped} '
                    "the server (it starts again when next needed)."
                )
                self.stop("it did not answer in time", abandon_calls=True)
        except MCPError as error:
            if error.code == mcp_types.CONNECTION_CLOSED and error.message == _CLOSED:
                self.stop("the server stopped")
                request.fail(self._stopped_line(during=request))
            elif error.code == mcp_types.CONNECTION_CLOSED:  # one HTTP answer broke off; the server is still there
                what = f"its answer to {request.tool}" if request.kind == "call" else "its list of tools"
                request.fail(f'The MCP server "{one_line(self.name)}" broke off {what}: {describe_error(error)}.')
            else:
                request.fail(self._refused_line(request, describe_error(error)))
        except Exception as error:
            log.warning("MCP server %r: %s failed", self.name, request.kind, exc_info=True)
            request.fail(self._refused_line(request, describe_error(error)))
        finally:
            # Cancelled by the connection's end (a crash, close()): answered with why.
            request.fail(self._stopped_line(during=request))

    async def _ask(self, session: ClientSession, request: Request) -> Any:
        if request.kind == "list":
            tools: list[mcp_types.Tool] = []
            cursor: str | None = None
            while True:
                params = mcp_types.PaginatedRequestParams(cursor=cursor) if cursor else None
                page = await session.list_tools(params=params)
                tools.extend(page.tools)
                if not (cursor := page.next_cursor):
                    return tools
        result = await session.call_tool(request.tool, request.arguments)
        text = result_text(result, self.limits.max_result_chars)
        return ToolOutcome(text, result.is_error, request.seconds())

    @contextlib.asynccontextmanager
    async def _transport(self) -> AsyncIterator[TransportStreams]:
        transport = self.config.transport
        if isinstance(transport, HttpTransport):
            async with (
                create_mcp_http_client(headers=dict(transport.headers)) as http,
                streamable_http_client(
                    transport.url, http_client=http, max_sse_event_size=_MAX_HTTP_EVENT_BYTES
                ) as streams,
            ):
                yield streams
            return
        if transport.cwd is not None and not Path(transport.cwd).is_dir():
            raise NotADirectoryError(f"its working folder {transport.cwd} does not exist")
        with self._open_log() as errlog:
            parameters = StdioServerParameters(
                command=transport.command, args=list(transport.args), env=dict(transport.env) or None, cwd=transport.cwd
            )
            async with stdio_client(parameters, errlog=errlog) as streams:
                yield streams

    @contextlib.contextmanager
    def _open_log(self) -> Any:
        """The file the server's standard error goes to (a new run appends, marked with the time)."""
        if self._log_file is None:
            with Path(os.devnull).open("w") as null:
                yield null
            return
        self._log_file.parent.mkdir(parents=True, exist_ok=True)
        fresh = not self._log_file.exists() or self._log_file.stat().st_size > _MAX_LOG_BYTES
        with self._log_file.open("w" if fresh else "a", encoding="utf-8") as errlog:
            errlog.write(
                f"--- Moss started {_describe(self.config.transport)} at {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
            )
            errlog.flush()
            self._log_offset = errlog.tell()
            yield errlog

    # -- what each failure says ----------------------------------------------------------------------------

    def _last_words(self) -> str:
        tail = stderr_tail(self._log_file, self._log_offset)
        return f" Its last output: {tail}" if tail else ""

    def _start_failure(self, why: str) -> str:
        fix = (
            "check its address and headers"
            if isinstance(self.config.transport, HttpTransport)
            else ("check its command, arguments and environment")
        )
        if why == _CLOSED:
            why = "it stopped as it started"
        elif isinstance(self.config.transport, HttpTransport):
            why = f"{self.config.transport.url} did not answer as an MCP server ({why})"
        return f'The MCP server "{one_line(self.name)}" could not start: {why}; {fix}.{self._last_words()}'

    def _stopped_line(self, during: Request | None = None) -> str:
        name = one_line(self.name)
        again = "" if self._closed_by_moss else " Moss starts it again when next needed."
        if self._end_reason == "the server stopped" and during is not None and during.kind == "call":
            return f'The MCP server "{name}" stopped during the call to {during.tool}.{again}{self._last_words()}'
        reason = self._end_reason or "the server stopped"
        return f'The MCP server "{name}" is not connected: {reason}.{again}{self._last_words()}'

    def _refused_line(self, request: Request, why: str) -> str:
        what = f"the call to {request.tool}" if request.kind == "call" else "listing its tools"
        return f'The MCP server "{one_line(self.name)}" refused {what}: {why}.'

    def _answer_waiting(self, message: str) -> None:
        while not self._queue.empty():
            request = self._queue.get_nowait()
            if request is not None:
                request.fail(message)


def _describe(transport: StdioTransport | HttpTransport) -> str:
    if isinstance(transport, HttpTransport):
        return transport.url
    return " ".join([transport.command, *transport.args])
