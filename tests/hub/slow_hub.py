"""A loopback "Hub" that answers its root (the reachability check) at once and then either never answers an
API request until released (a stalled server) or answers every API request with one HTTP status (429, 503…).
For the time limits and the words of failures, which the fake Hub (app/devtools/fake_hub.py) cannot stage."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    server: _SlowServer

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        status, body = self.server.status, b'{"error": "busy"}'
        if status is None:
            self.server.release.wait(30)  # stalled until the test is over, then an empty answer
            status, body = 200, b"[]"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _SlowServer(ThreadingHTTPServer):
    daemon_threads = True
    status: int | None
    release: threading.Event


@contextmanager
def slow_hub(status: int | None = None) -> Iterator[str]:
    """The endpoint of a Hub that stalls (``status`` None) or answers ``status`` to every GET."""
    server = _SlowServer(("127.0.0.1", 0), _Handler)
    server.status = status
    server.release = threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.release.set()
        # A request that outlived its time limit ends now that the server answers; let it end here, before
        # the server goes, so that it cannot reset huggingface_hub's shared client under a later test.
        for _ in range(200):
            if not any(t.name == "hub request" and t.is_alive() for t in threading.enumerate()):
                break
            time.sleep(0.05)
        server.shutdown()
        server.server_close()
