"""The request handling of the fake Hub (``app.devtools.fake_hub``): its two loopback HTTP servers, the hub's API
answers and the CDN's ranged, throttled, fault-injected file bodies."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import sys
import threading
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote

if TYPE_CHECKING:
    from app.devtools.fake_hub import FakeHub, FakeRepo

_DATE = "2025-01-02T03:04:05.000Z"
_CHUNK = 64 * 1024
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_API_REPO = re.compile(r"/api/models/([^/]+/[^/]+)(?:/revision/([^/]+)|/tree/([^/]+)(/.+)?)?/?")
_RESOLVE = re.compile(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)")
_CDN_FILE = re.compile(r"/repos/([^/]+/[^/]+)/([0-9a-f]{64})/(.+)")
_INVALID_TOKEN = "Invalid credentials in Authorization header"


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class _Headers(dict[str, str]):
    """Request headers: names stored lower-case, looked up in any case."""

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(key.lower(), default)


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins the connection threads: nothing outlives the server
    block_on_close = True

    def __init__(self, port: int, hub: FakeHub, role: str) -> None:
        self.hub, self.role = hub, role
        self.connections: set[socket.socket] = set()
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # a client that hangs up is no error
            super().handle_error(request, client_address)


class Loop:
    """One server and its thread; can stop and start again on the same port."""

    def __init__(self, hub: FakeHub, role: str) -> None:
        self.hub, self.role, self.port = hub, role, 0
        self.server: _Server | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.server = _Server(self.port, self.hub, self.role)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(0.02,), name=f"fake-{self.role}", daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        server, thread, self.server, self.thread = self.server, self.thread, None, None
        if server is None or thread is None:
            return
        server.shutdown()
        server.stopping.set()
        with server.lock:
            for connection in server.connections:  # wake threads waiting on keep-alive or throttled
                with suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
        server.server_close()
        thread.join()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms delayed-ACK stalls
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections.add(self.connection)
            if self.server.stopping.is_set():
                with suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        with self.server.lock:
            self.server.connections.discard(self.connection)
        with suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        hub = self.server.hub
        hub._record(
            self.command, self.path, _Headers((k.lower(), v) for k, v in self.headers.items()), self.server.role
        )
        path, _, query = self.path.partition("?")
        params = parse_qs(query, keep_blank_values=True)
        if self.server.role == "cdn":
            return self._cdn(path)
        auth = self.headers.get("Authorization")
        if auth is not None and auth != f"Bearer {hub.token}":
            return self._error(401, None, _INVALID_TOKEN)
        authed = auth is not None
        if path.rstrip("/") == "/api/models":
            return self._json(200, self._search(params, authed))
        if match := _API_REPO.fullmatch(path):
            repo_id, info_rev, tree_rev, tree_path = match.groups()
            repo = self._repo(unquote(repo_id), authed, files=False)
            if repo is None or not self._revision(repo, unquote(info_rev or tree_rev or "main")):
                return None
            if tree_rev is None:
                return self._json(200, self._model(repo, params, blobs=_flag(params, "blobs")))
            return self._tree(repo, unquote(tree_path or "").strip("/"), params)
        if match := _RESOLVE.fullmatch(path):
            return self._resolve(unquote(match[1]), unquote(match[2]), unquote(match[3]), authed)
        return self._error(404, None, "Not Found")

    # --- the hub ---------------------------------------------------------------------------------------------

    def _repo(self, repo_id: str, authed: bool, *, files: bool) -> FakeRepo | None:
        """The repository, or None once an error has been answered (missing, private, gated)."""
        hub = self.server.hub
        repo = hub.repos.get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound", "Repository not found")
        elif repo.private and not authed:
            self._error(401, "RepoNotFound", "Repository not found")
        elif repo.gated and (files or hub.gate_metadata) and not authed:
            message = f"Access to model {repo_id} is restricted. You must have access to it and be authenticated to "
            self._error(401, "GatedRepo", message + "access it. Please log in.")
        elif repo.gated and files and not hub.access_granted:
            message = f"Access to model {repo_id} is restricted and you are not in the authorized list. "
            self._error(403, "GatedRepo", message + f"Visit {hub.endpoint}/{repo_id} to ask for access.")
        else:
            return repo
        return None

    def _revision(self, repo: FakeRepo, revision: str) -> bool:
        if revision in ("main", repo.commit):
            return True
        self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return False

    def _search(self, params: dict[str, list[str]], authed: bool) -> list[dict[str, Any]]:
        search = params.get("search", [""])[0].lower()
        author = params.get("author", [""])[0]
        found = [
            repo
            for repo in self.server.hub.repos.values()
            if search in repo.repo_id.lower()
            and all(tag in repo.tags for tag in params.get("filter", []))
            and (not author or repo.repo_id.split("/")[0] == author)
            and (authed or not repo.private)
        ]
        sort = params.get("sort", [""])[0]
        if sort in ("downloads", "likes"):
            descending = params.get("direction", ["-1"])[0] != "1"
            found.sort(key=lambda repo: getattr(repo, sort), reverse=descending)
        limit = int(params.get("limit", ["1000"])[0])
        full = _flag(params, "full")
        return [self._model(repo, params, blobs=False, listing=not full) for repo in found[:limit]]

    def _model(self, repo: FakeRepo, params: dict[str, list[str]], *, blobs: bool, listing: bool = False) -> Any:
        siblings: list[dict[str, Any]] = []
        for path in sorted(repo.files):
            sha, size, oid, pointer_size = repo.lfs(path)
            lfs = {"sha256": sha, "size": size, "pointerSize": pointer_size}
            siblings.append(
                {"rfilename": path, "size": size, "blobId": oid, "lfs": lfs} if blobs else {"rfilename": path}
            )
        model = {
            "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": repo.commit,
            "lastModified": _DATE,
            "createdAt": _DATE,
            "private": repo.private,
            "gated": "auto" if repo.gated else False,
            "disabled": False,
            "downloads": repo.downloads,
            "likes": repo.likes,
            "tags": list(repo.tags),
            "cardData": {"license": repo.license},
            "siblings": siblings,
            "usedStorage": sum(len(data) for data in repo.files.values()),
        }
        expand = params.get("expand", []) + params.get("expand[]", [])
        if expand:
            return {key: value for key, value in model.items() if key in ("_id", "id", *expand)}
        if listing:
            for key in ("sha", "cardData", "siblings", "usedStorage", "disabled"):
                del model[key]
        return model

    def _tree(self, repo: FakeRepo, base: str, params: dict[str, list[str]]) -> None:
        folders = repo.folders()
        if base and base not in folders:
            return self._error(404, "EntryNotFound", f"{base} does not exist on main")
        prefix = f"{base}/" if base else ""
        recursive, expand = _flag(params, "recursive"), _flag(params, "expand")
        entries: list[dict[str, Any]] = []
        for path in sorted(folders | set(repo.files)):
            if not path.startswith(prefix) or (not recursive and "/" in path[len(prefix) :]):
                continue
            if path in folders:
                entry: dict[str, Any] = {"type": "directory", "oid": git_oid(path.encode()), "size": 0, "path": path}
            else:
                sha, size, oid, pointer_size = repo.lfs(path)
                lfs = {"oid": sha, "size": size, "pointerSize": pointer_size}
                entry = {"type": "file", "oid": oid, "size": size, "path": path, "lfs": lfs}
            if expand:
                entry["lastCommit"] = {"id": repo.commit, "title": "Upload", "date": _DATE}
            entries.append(entry)
        return self._json(200, entries)

    def _resolve(self, repo_id: str, revision: str, filename: str, authed: bool) -> None:
        hub = self.server.hub
        repo = self._repo(repo_id, authed, files=True)
        if repo is None or not self._revision(repo, revision):
            return None
        if filename not in repo.files:
            return self._error(404, "EntryNotFound", "Entry not found")
        if fault := hub._take_fault("hub", self.path):
            return self._error(int(fault.kind), None, "Internal Error - We're working hard to fix this.")
        sha, size, _, _ = repo.lfs(filename)
        signature = hashlib.sha256(f"{repo_id}/{sha}".encode()).hexdigest()[:32]
        location = (
            f"{hub.cdn_endpoint}/repos/{repo_id}/{sha}/{quote(filename)}?Expires=4102444800&Signature={signature}"
        )
        headers = {
            "Location": location,
            "X-Repo-Commit": repo.commit,
            "X-Linked-Etag": f'"{sha}"',
            "X-Linked-Size": str(size),
            "ETag": f'"{sha}"',
            "Accept-Ranges": "bytes",
        }
        return self._send(302, f"Found. Redirecting to {location}".encode(), headers, "text/plain; charset=utf-8")

    # --- the CDN ---------------------------------------------------------------------------------------------

    def _cdn(self, path: str) -> None:
        hub = self.server.hub
        match = _CDN_FILE.fullmatch(path)
        repo = hub.repos.get(unquote(match[1])) if match else None
        filename = unquote(match[3]) if match else ""
        if match is None or repo is None or filename not in repo.files or repo.sha256(filename) != match[2]:
            return self._send(404, b"NoSuchKey", {}, "text/plain")
        fault = hub._take_fault("cdn", self.path) if self.command == "GET" else None
        if fault is not None and fault.kind in ("500", "503"):
            return self._send(int(fault.kind), b"Service unavailable", {}, "text/plain")
        data, etag = repo.files[filename], f'"{match[2]}"'
        size, start, end = len(data), 0, len(data) - 1
        headers = {"Accept-Ranges": "bytes", "ETag": etag, "Last-Modified": "Thu, 02 Jan 2025 03:04:05 GMT"}
        wanted = _RANGE.fullmatch(self.headers.get("Range", "").strip())
        # A Range that does not parse, or whose If-Range is not the current ETag, is ignored: the whole file, 200.
        if wanted and (wanted[1] or wanted[2]) and self.headers.get("If-Range", etag) == etag:
            if wanted[1]:  # bytes=first-[last]
                first, last = int(wanted[1]), int(wanted[2]) if wanted[2] else size - 1
            else:  # bytes=-suffix
                first, last = (size - min(int(wanted[2]), size) if int(wanted[2]) else size), size - 1
            if first >= size:
                return self._send(416, b"", {**headers, "Content-Range": f"bytes */{size}"}, "text/plain")
            if last >= first:
                start, end = first, min(last, size - 1)
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        body = data[start : end + 1]
        if fault is not None and fault.kind == "corrupt" and body:
            flipped = bytearray(body)
            flipped[len(body) // 2] ^= 0xFF
            body = bytes(flipped)
        status = 206 if "Content-Range" in headers else 200
        self._send_headers(status, len(body), headers, "application/octet-stream")
        if self.command == "HEAD":
            return None
        drop = fault is not None and fault.kind == "drop"
        limit = min(fault.after_bytes, max(len(body) - 1, 0)) if fault is not None and drop else len(body)
        self._write_body(body[:limit])
        if drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        return None

    def _write_body(self, body: bytes) -> None:
        hub, sent = self.server.hub, 0
        while sent < len(body):
            rate = hub.throttle_bytes_per_s
            step = min(_CHUNK, max(rate // 20, 1)) if rate else _CHUNK
            chunk = body[sent : sent + step]
            self.wfile.write(chunk)
            sent += len(chunk)
            hub._count(len(chunk))
            if rate and self.server.stopping.wait(len(chunk) / rate):
                raise ConnectionAbortedError("the fake hub is stopping")

    # --- responses -------------------------------------------------------------------------------------------

    def _send_headers(self, status: int, length: int, headers: dict[str, str], content_type: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _send(self, status: int, body: bytes, headers: dict[str, str], content_type: str) -> None:
        self._send_headers(status, len(body), headers, content_type)
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), headers or {}, "application/json; charset=utf-8")

    def _error(self, status: int, code: str | None, message: str) -> None:
        headers = {"X-Error-Message": message} if code is None else {"X-Error-Code": code, "X-Error-Message": message}
        self._json(status, {"error": message}, headers)


def _flag(params: dict[str, list[str]], name: str) -> bool:
    return params.get(name, ["false"])[0].lower() in ("1", "true")
