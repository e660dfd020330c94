"""Real OpenAI-compatible servers on loopback for the remote-engine tests: llama-cpp-python's own server
(``python -m llama_cpp.server``) serving SmolLM2 (behind an API key) and the tiny gpt-oss model; one process each
for the whole session."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.core.servers import RemoteServer
from app.engine.remote_client import Timeouts
from app.engine.remote_engine import RemoteEngine

SMOL_KEY = "sk-moss-test-3f9a1c7e52"  # the SmolLM2 server's API key: a test greps files for it
# Short waits: the tests that need a timeout to fire need not wait long; the others answer at once.
TEST_TIMEOUTS = Timeouts(connect_s=5.0, read_s=60.0, write_s=5.0)
STALL_TIMEOUTS = Timeouts(connect_s=5.0, read_s=0.5, write_s=5.0)
STARTUP_LIMIT_S = 120


@dataclass(frozen=True)
class LlamaServer:
    base_url: str
    model: str
    api_key: str | None = None

    def server(self, name: str = "box") -> RemoteServer:
        return RemoteServer(name, self.base_url)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _start(model: Path, alias: str, log: Path, api_key: str | None = None) -> Iterator[LlamaServer]:
    port = free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", alias,
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--verbose", "False",
    ]  # fmt: skip
    if api_key:
        command += ["--api_key", api_key]
    with log.open("w") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_up(process, base_url, api_key, log)
        yield LlamaServer(base_url, alias, api_key)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(process: subprocess.Popen[bytes], base_url: str, api_key: str | None, log: Path) -> None:
    """Start-up, not a measurement: wait (up to a generous limit) until the server lists its model."""
    deadline = time.monotonic() + STARTUP_LIMIT_S
    request = urllib.request.Request(f"{base_url}/models", headers={"Authorization": f"Bearer {api_key or ''}"})
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"llama_cpp.server exited ({process.returncode}): {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                if json.load(answer)["data"]:
                    return
        except (OSError, urllib.error.URLError, ValueError):
            time.sleep(0.2)
    pytest.fail(f"llama_cpp.server did not start within {STARTUP_LIMIT_S} s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def smol_server(smollm2: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """SmolLM2 on llama_cpp.server, which refuses requests without ``SMOL_KEY``."""
    yield from _start(smollm2, "smollm2", tmp_path_factory.mktemp("servers") / "smol.log", SMOL_KEY)


@pytest.fixture(scope="session")
def gpt_oss_server(tiny_gpt_oss: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """The tiny gpt-oss model on llama_cpp.server, which returns its output as raw harmony text."""
    yield from _start(tiny_gpt_oss, "gpt-oss-tiny", tmp_path_factory.mktemp("servers") / "gpt-oss.log")


OpenRemote = Callable[..., RemoteEngine]


@pytest.fixture
def remote() -> Iterator[OpenRemote]:
    """Opens RemoteEngines (the test's short timeouts unless given) and closes them after the test: an engine left
    open keeps its sockets, which fails a later test with a ResourceWarning."""
    opened: list[RemoteEngine] = []

    def open_remote(
        server: RemoteServer, api_key: str | None = None, timeouts: Timeouts = TEST_TIMEOUTS
    ) -> RemoteEngine:
        engine = RemoteEngine(server, api_key, timeouts=timeouts)
        opened.append(engine)
        return engine

    yield open_remote
    for engine in opened:
        engine.close()
