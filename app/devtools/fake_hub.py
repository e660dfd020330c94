"""A fake Hugging Face Hub on 127.0.0.1: the API that ``huggingface_hub`` uses for metadata, plus a CDN.

Two real HTTP servers, as on the real Hub: the *hub* answers ``/api/models`` (search), ``/api/models/{repo}``
(model info, ``?blobs=true`` for file sizes and sha256), ``/api/models/{repo}/tree/{rev}[/{path}]`` and
``/{repo}/resolve/{rev}/{file}``, which redirects (302) to the *cdn* on another port, which serves the bytes
with Range support and without asking for a token (a signed URL). Point ``huggingface_hub`` at it with
``endpoint=hub.endpoint`` (``HF_ENDPOINT`` is read once, when ``huggingface_hub`` is imported).

Every file is served as an LFS file (tree and siblings carry its sha256; the resolve redirect carries
``X-Linked-Etag``/``X-Linked-Size``); no Xet headers are ever sent, so ``huggingface_hub`` never tries Xet.
Like the real Hub, a gated repo's metadata (info, tree, search) is public and only its files need the token
(set ``gate_metadata`` to gate the API too); any other bearer token is answered 401 "Invalid credentials".

``python -m app.devtools.fake_hub --spec spec.json [--throttle N]`` serves the repos of ``spec.json``
(``{"repos": [{"repo_id": ..., "files": {path: "base64:..." or a local file path}, "gated": ...}]}``) and prints
the endpoint as the first line of stdout, until killed. The two servers' request handling is in
``app.devtools.fake_hub_http``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote

from app.devtools.fake_hub_http import Loop, git_oid

TOKEN = "hf_test_token_123"


@dataclass
class FakeRepo:
    """A model repository. Every file is LFS-style: listed with its sha256, its bytes served by the CDN."""

    repo_id: str  # "org/name"
    files: dict[str, bytes]  # path in repo -> content
    gated: bool = False  # the files (and with FakeHub.gate_metadata the API) need the token
    license: str = "apache-2.0"
    downloads: int = 0
    likes: int = 0
    tags: tuple[str, ...] = ("gguf",)
    commit: str = ""  # 40 hex; derived from repo_id when left empty
    private: bool = False  # hidden from search; 401 RepoNotFound everywhere without the token
    _sha256: dict[str, tuple[bytes, str]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.commit:
            self.commit = hashlib.sha1(f"commit:{self.repo_id}".encode()).hexdigest()

    def sha256(self, path: str) -> str:
        data = self.files[path]
        cached = self._sha256.get(path)
        if cached is None or cached[0] is not data:
            cached = self._sha256[path] = (data, hashlib.sha256(data).hexdigest())
        return cached[1]

    def lfs(self, path: str) -> tuple[str, int, str, int]:
        """(sha256, size, git oid of the LFS pointer, pointer size), as the Hub describes an LFS file."""
        sha, size = self.sha256(path), len(self.files[path])
        pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {size}\n".encode()
        return sha, size, git_oid(pointer), len(pointer)

    def folders(self) -> set[str]:
        return {path.rsplit("/", i)[0] for path in self.files for i in range(1, path.count("/") + 1)}


@dataclass
class Recorded:
    method: str
    path: str  # with the query string
    headers: dict[str, str]  # case-insensitive lookups
    server: str  # "hub" or "cdn"


@dataclass
class _Fault:
    kind: str
    path_contains: str
    times: int
    after_bytes: int


class FakeHub:
    """The fake Hub and its CDN. Start it with ``serve_fake_hub()``."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.endpoint = ""
        self.cdn_endpoint = ""
        self.requests: list[Recorded] = []
        self.bytes_sent = 0
        self.throttle_bytes_per_s: int | None = None
        self.gate_metadata = False  # True: a gated repo's API answers also need the token (the real Hub's don't)
        self.access_granted = True  # False: the token is valid but its user has not been granted gated repos (403)
        self.repos: dict[str, FakeRepo] = {}
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._loops = {"hub": Loop(self, "hub"), "cdn": Loop(self, "cdn")}
        self._offline = False

    def add_repo(self, repo: FakeRepo) -> FakeRepo:
        self.repos[repo.repo_id] = repo
        return repo

    def url(self, repo_id: str, filename: str, revision: str = "main") -> str:
        """The resolve URL, as ``hf_hub_url(repo_id, filename, revision=..., endpoint=hub.endpoint)`` builds it."""
        return f"{self.endpoint}/{repo_id}/resolve/{quote(revision, safe='')}/{quote(filename)}"

    def fail_next(self, kind: str, *, path_contains: str = "", times: int = 1, after_bytes: int = 0) -> None:
        """Make the next ``times`` matching requests fail.

        "500"/"503": answer that status; "drop": send the headers and ``after_bytes`` bytes of the body (at most
        all but one), then close the connection; "corrupt": the body with a byte flipped (same length). Faults
        apply to CDN file GETs whose path contains ``path_contains`` (the CDN path holds repo id, sha256 and file
        name); a 500/503 with a non-empty ``path_contains`` also applies to hub resolve requests (HEAD or GET).
        """
        if kind not in ("500", "503", "drop", "corrupt"):
            raise ValueError(f"unknown fault {kind!r}")
        with self._lock:
            self._faults.append(_Fault(kind, path_contains, times, after_bytes))

    def set_offline(self, offline: bool) -> None:
        """Offline: both servers stop listening (connections are refused); back online on the same ports."""
        if offline != self._offline:
            self._offline = offline
            for loop in self._loops.values():
                if offline:
                    loop.stop()
                else:
                    loop.start()

    def start(self) -> None:
        for loop in self._loops.values():
            loop.start()
        self.endpoint = f"http://127.0.0.1:{self._loops['hub'].port}"
        self.cdn_endpoint = f"http://127.0.0.1:{self._loops['cdn'].port}"

    def close(self) -> None:
        for loop in self._loops.values():
            loop.stop()

    def _record(self, method: str, path: str, headers: dict[str, str], server: str) -> None:
        with self._lock:
            self.requests.append(Recorded(method, path, headers, server))

    def _count(self, sent: int) -> None:
        with self._lock:
            self.bytes_sent += sent

    def _take_fault(self, server: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if server == "hub" and (fault.kind not in ("500", "503") or not fault.path_contains):
                    continue
                if fault.path_contains in path or fault.path_contains in unquote(path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None


@contextmanager
def serve_fake_hub(*repos: FakeRepo, token: str = TOKEN) -> Iterator[FakeHub]:
    """A started fake Hub (hub and CDN), stopped on exit."""
    hub = FakeHub(token)
    for repo in repos:
        hub.add_repo(repo)
    hub.start()
    try:
        yield hub
    finally:
        hub.close()


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m app.devtools.fake_hub", description="Serve a fake Hugging Face Hub."
    )
    parser.add_argument("--spec", type=Path, required=True, help='{"repos": [{"repo_id": ..., "files": {...}}]}')
    parser.add_argument("--throttle", type=int, default=None, help="CDN bytes per second")
    args = parser.parse_args(argv)
    spec = json.loads(args.spec.read_text())
    with serve_fake_hub() as hub:
        hub.throttle_bytes_per_s = args.throttle
        for entry in spec["repos"] if isinstance(spec, dict) else spec:
            files = {
                path: base64.b64decode(value[7:]) if value.startswith("base64:") else Path(value).read_bytes()
                for path, value in entry.pop("files").items()
            }
            hub.add_repo(FakeRepo(files=files, **{**entry, "tags": tuple(entry.get("tags", ("gguf",)))}))
        print(hub.endpoint, flush=True)
        with suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    _main()
