"""`moss servers …` and `moss chat --server`, run as real processes against real servers on loopback. A key saved
by one process is used by the next through a file-backed keyring (tests/remote/file_keyring.py), as the system
keychain would be; and it is found nowhere in Moss's own files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.remote.conftest import SMOL_KEY, LlamaServer, free_port
from tests.remote.fault_server import chunk, fault_server, stream

ROOT = Path(__file__).resolve().parents[2]
REPLY_FIELDS = {
    "content", "reasoning", "finish_reason", "prompt_tokens", "prompt_tokens_evaluated", "completion_tokens",
    "tokens_per_second", "time_to_first_token_s", "params", "server", "model",
}  # fmt: skip


def moss(data_dir: Path, *args: str, keyring: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ, PYTHONUNBUFFERED="1", **env)
    if keyring is not None:  # a keychain that outlives the process, instead of the tests' in-memory store
        environment.pop("MOSS_SECRET_STORE", None)
        environment.update(
            PYTHON_KEYRING_BACKEND="tests.remote.file_keyring.FileKeyring", MOSS_TEST_KEYRING=str(keyring)
        )
    return subprocess.run(
        [sys.executable, "-m", "app", "--data-dir", str(data_dir), *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
    )


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a failed command printed (exit code 2)."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.model
def test_add_chat_list_and_remove_a_server(tmp_path: Path, smol_server: LlamaServer) -> None:
    data, keyring = tmp_path / "data", tmp_path / "keyring.json"
    added = moss(data, "servers", "add", "box", smol_server.base_url, "--preset", "llama.cpp",
                 "--api-key-env", "BOX_KEY", keyring=keyring, BOX_KEY=SMOL_KEY)  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith(f"Added box: {smol_server.base_url} (llama.cpp server).")
    listed = moss(data, "servers", "list", "--json", keyring=keyring)
    assert json.loads(listed.stdout) == [
        {"name": "box", "base_url": smol_server.base_url, "kind": "llama.cpp", "ca_file": "", "key_saved": True}
    ]
    models = moss(data, "servers", "models", "box", keyring=keyring)
    assert models.returncode == 0 and models.stdout.split() == ["smollm2"]

    # The saved key is used: no key is given to this command.
    chat = moss(data, "chat", "--server", "box", "--model", "smollm2", "--json", "--max-tokens", "12", "Hello!",
                keyring=keyring)  # fmt: skip
    assert chat.returncode == 0, chat.stderr
    reply = json.loads(chat.stdout)
    assert set(reply) == REPLY_FIELDS
    assert reply["content"] and reply["finish_reason"] in ("stop", "length")
    assert reply["prompt_tokens"] is None and reply["prompt_tokens_evaluated"] is None  # none reported
    assert reply["completion_tokens"] > 0 and reply["time_to_first_token_s"] > 0
    assert reply["server"] == {"name": "box", "base_url": smol_server.base_url} and reply["model"] == "smollm2"
    assert reply["params"]["max_tokens"] == 12

    removed = moss(data, "servers", "rm", "box", keyring=keyring)
    assert removed.returncode == 0 and removed.stdout.strip() == "Removed box and its saved key."
    assert json.loads(moss(data, "servers", "list", "--json", keyring=keyring).stdout) == []
    assert SMOL_KEY not in keyring.read_text()

    # Nowhere in Moss's files (settings, log, history), nor in anything it printed.
    for path in data.rglob("*"):
        if path.is_file():
            assert SMOL_KEY.encode() not in path.read_bytes(), path
    assert (data / "config" / "settings.json").is_file() and list((data / "logs").iterdir())
    for result in (added, listed, models, chat, removed):
        assert SMOL_KEY not in result.stdout + result.stderr


@pytest.mark.model
def test_chat_with_a_url_and_the_key_from_the_environment(tmp_path: Path, smol_server: LlamaServer) -> None:
    chat = moss(tmp_path, "--verbose", "chat", "--server", smol_server.base_url, "--model", "smollm2",
                "--api-key-env", "KEY", "--max-tokens", "8", "Hi", KEY=SMOL_KEY)  # fmt: skip
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout.strip()
    assert SMOL_KEY not in chat.stderr  # --verbose logs to the terminal too
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SMOL_KEY.encode() not in path.read_bytes(), path


def test_chat_json_with_the_usage_a_server_reports(tmp_path: Path) -> None:
    usage = {"prompt_tokens": 40, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 30}}
    with fault_server() as server:
        server.respond = stream([chunk(reasoning_content="Hm."), chunk("Hi!", finish="stop"), chunk(usage=usage)])
        chat = moss(tmp_path, "chat", "--server", server.base_url, "--model", "gpt-oss-20b", "--json",
                    "--reasoning", "low", "Hi")  # fmt: skip
        sent = server.requests[-1].body
    assert chat.returncode == 0, chat.stderr
    reply = json.loads(chat.stdout)
    assert (reply["content"], reply["reasoning"], reply["finish_reason"]) == ("Hi!", "Hm.", "stop")
    assert (reply["prompt_tokens"], reply["prompt_tokens_evaluated"], reply["completion_tokens"]) == (40, 10, 3)
    assert reply["server"] == {"name": None, "base_url": server.base_url}
    assert sent["reasoning_effort"] == "low" and sent["temperature"] == 1.0  # gpt-oss's recommended sampling


def test_a_cut_stream_prints_what_arrived_then_one_line(tmp_path: Path) -> None:
    with fault_server() as server:
        server.respond = stream([chunk("Once upon a"), chunk(" time")], then="drop")
        chat = moss(tmp_path, "chat", "--server", server.base_url, "--model", "gpt-oss-20b", "--json", "Hi")
    line = error_line(chat)
    assert "broke in the middle of the reply. What had arrived is kept." in line
    reply = json.loads(chat.stdout)
    assert (reply["content"], reply["finish_reason"]) == ("Once upon a time", "error")


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["servers", "add", "box", "gpu-box:8000"], {}, "is not a server address: give the API's base URL"),
        (["servers", "add", "box", "http://HOST:8000/v1"], {}, "Replace HOST in"),
        (["servers", "add", "box", "http://gpu-box/v1", "--api-key-env", "NOPE"], {},
         "The environment variable NOPE is not set (or empty)"),
        (["servers", "rm", "box"], {}, "No server is called 'box'. No server has been added yet."),
        (["chat", "--server", "box", "--model", "m", "Hi"], {}, "No server is called 'box'."),
        (["servers", "models", "http://127.0.0.1:PORT/v1"], {}, "refused the connection: nothing is listening at"),
        (["chat", "--server", "http://no-such-box.invalid/v1", "--model", "m", "Hi"], {},
         "Moss cannot find the server no-such-box.invalid"),
    ],
)  # fmt: skip
def test_mistakes_and_failures_in_one_line(tmp_path: Path, args: list[str], env: dict[str, str], expected: str) -> None:
    port = str(free_port())
    line = error_line(moss(tmp_path, *(a.replace("PORT", port) for a in args), **env))
    assert line.startswith("moss: ") and expected in line


@pytest.mark.model
def test_a_rejected_key_in_one_line(tmp_path: Path, smol_server: LlamaServer) -> None:
    line = error_line(moss(tmp_path, "servers", "models", smol_server.base_url, "--api-key-env", "KEY", KEY="sk-no"))
    assert "refused the API key (HTTP 401)" in line and "sk-no" not in line


def test_add_without_a_keychain_says_the_key_is_not_kept(tmp_path: Path) -> None:
    added = moss(tmp_path, "servers", "add", "cloud", "https://acme.openai.azure.com/openai/v1", "--api-key-env",
                 "AZ", AZ="sk-az")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("Added cloud: https://acme.openai.azure.com/openai/v1 (Azure AI Foundry).")
    assert "no system keychain Moss can use, so the key is not kept" in added.stderr
