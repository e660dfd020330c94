"""A loopback HTTP server that answers as a test tells it: canned statuses and streams (what a real server would
send in a case llama-cpp-python's own server cannot show: usage with cached tokens, ``reasoning_content``, a 429),
or a proxy in front of a real server that drops or stalls the stream part-way.

Each request is recorded (method, path, headers, JSON body) so a test can check what Moss sent.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Respond = Callable[["Handler", "Request"], None]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FaultServer:
    base_url: str = ""
    respond: Respond | None = None
    requests: list[Request] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)  # ends every stall


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: FaultServer

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        request = Request(self.command, self.path, dict(self.headers), body)
        self.server_state.requests.append(request)
        respond = self.server_state.respond
        assert respond is not None, "the test gave the fault server no answer"
        respond(self, request)

    # -- ways to answer ------------------------------------------------------------------------------------

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def send_text(self, status: int, text: str, content_type: str = "text/html") -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def send_event(self, data: str) -> None:
        payload = f"data: {data}\n\n".encode()
        self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
        self.wfile.flush()

    def end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def drop(self) -> None:
        """Cut the connection where it is, as a crashed server or a broken network does."""
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def stall(self) -> None:
        """Send nothing more until the test ends."""
        self.server_state.release.wait()
        self.close_connection = True


def stream(chunks: list[dict[str, Any]], *, then: str = "done") -> Respond:
    """Answer a chat request with ``chunks`` as server-sent events, then ``done`` ([DONE]), ``drop`` or ``stall``;
    answer GET /models with the model the chunks name."""

    def respond(handler: Handler, request: Request) -> None:
        if request.method == "GET":
            handler.send_json(200, {"object": "list", "data": [{"id": "gpt-oss-20b", "object": "model"}]})
            return
        handler.start_stream()
        for chunk in chunks:
            handler.send_event(json.dumps(chunk))
        if then == "drop":
            handler.drop()
        elif then == "stall":
            handler.stall()
        else:
            handler.send_event("[DONE]")
            handler.end_stream()

    return respond


def chunk(
    content: str | None = None,
    *,
    reasoning_content: str | None = None,
    reasoning: str | None = None,
    finish: str | None = None,
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One chat.completion.chunk as servers send it (usage chunks have no choices)."""
    delta: dict[str, Any] = {}
    if content is not None:
        delta["content"] = content
    if reasoning_content is not None:
        delta["reasoning_content"] = reasoning_content
    if reasoning is not None:
        delta["reasoning"] = reasoning
    body: dict[str, Any] = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-oss-20b"}
    body["choices"] = [] if usage is not None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    if usage is not None:
        body["usage"] = usage
    return body


def status(code: int, body: Any = None, headers: dict[str, str] | None = None) -> Respond:
    """Answer every request with ``code`` (and an OpenAI-style error body unless given one)."""

    def respond(handler: Handler, request: Request) -> None:
        handler.send_json(code, body if body is not None else {"error": {"message": f"status {code}"}}, headers)

    return respond


def proxy(upstream: str, *, events: int, then: str) -> Respond:
    """Pass requests to the real server at ``upstream`` (its base URL); a chat stream is cut (``drop``) or left
    silent (``stall``) after ``events`` of its events."""
    target = urllib.parse.urlsplit(upstream)

    def respond(handler: Handler, request: Request) -> None:
        connection = http.client.HTTPConnection(target.hostname or "", target.port, timeout=60)
        body = json.dumps(request.body).encode() if request.body is not None else None
        headers = {"Content-Type": "application/json"} if body else {}
        headers.update({k: v for k, v in request.headers.items() if k.lower() == "authorization"})
        path = target.path + request.path.removeprefix("/v1")
        connection.request(request.method, path, body=body, headers=headers)
        answer = connection.getresponse()
        if request.method == "GET":
            handler.send_json(answer.status, json.loads(answer.read()))
            connection.close()
            return
        handler.start_stream()
        sent = 0
        while sent < events:
            line = answer.readline().decode()
            if not line:
                break
            if line.startswith("data: "):
                handler.send_event(line.removeprefix("data: ").strip())
                sent += 1
        connection.close()
        handler.drop() if then == "drop" else handler.stall()

    return respond


@contextmanager
def fault_server(tls: ssl.SSLContext | None = None) -> Iterator[FaultServer]:
    state = FaultServer()
    handler = type("BoundHandler", (Handler,), {"server_state": state})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    httpd.handle_error = lambda request, address: None  # type: ignore[method-assign]  # (a refused TLS handshake)
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    scheme = "https" if tls is not None else "http"
    state.base_url = f"{scheme}://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        httpd.shutdown()
        httpd.server_close()
