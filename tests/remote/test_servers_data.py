"""Servers as data (names, URLs, kinds, settings), their keys in the secret store, and a reply's text read from
raw harmony split anywhere. No server is needed."""

from __future__ import annotations

import json

import pytest

from app.core.errors import UserError
from app.core.servers import (
    PRESETS,
    RemoteServer,
    ServerKind,
    api_key_name,
    check_base_url,
    check_server_name,
    guess_kind,
    is_gpt_oss_name,
    is_local_address,
    parse_remote_ref,
    remote_model_ref,
)
from app.core.settings import Settings
from app.core.types import Delta, DeltaKind
from app.engine.remote_stream import ReplyText
from app.hub.servers import add_server, find_server, forget_server_keys, remove_server, saved_key, server_for
from app.platform.secrets import MemorySecretStore


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("http://gpu-box:8000/v1/", "http://gpu-box:8000/v1"),
        ("  https://my-res.openai.azure.com/openai/v1 ", "https://my-res.openai.azure.com/openai/v1"),
        ("http://[::1]:8080/v1", "http://[::1]:8080/v1"),
        ("http://localhost:11434/v1", "http://localhost:11434/v1"),
    ],
)
def test_base_urls_kept(url: str, kept: str) -> None:
    assert check_base_url(url) == kept


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("gpu-box:8000/v1", "is not a server address: give the API's base URL, starting with http:// or https://"),
        ("ftp://gpu-box/v1", "starting with http:// or https://"),
        ("http:///v1", "starting with http:// or https://"),
        ("http://gpu box/v1", "starting with http:// or https://"),
        ("http://gpu-box/\nv1", "is not a server address"),
        ("http://me:sk-123@gpu-box/v1", "Put no name or key in the server's URL"),
        ("http://gpu-box/v1?key=sk-123", "has a ?query or #fragment"),
        ("http://gpu-box:99999/v1", "has a port that is not a number from 0 to 65535"),
        ("http://HOST:8000/v1", "Replace HOST in 'http://HOST:8000/v1' with your server's host."),
        ("https://RESOURCE.openai.azure.com/openai/v1", "Replace RESOURCE in"),
        ("https://bedrock-runtime.REGION.amazonaws.com/openai/v1", "with your server's region."),
    ],
)
def test_base_urls_refused_in_one_line(url: str, says: str) -> None:
    with pytest.raises(UserError) as refused:
        check_base_url(url)
    assert says in refused.value.message and "\n" not in refused.value.message


def test_no_key_is_ever_echoed_from_a_refused_url() -> None:
    with pytest.raises(UserError) as refused:
        check_base_url("http://me:sk-secret-123@gpu-box/v1")
    assert "sk-secret-123" not in refused.value.message


@pytest.mark.parametrize(("name", "says"), [("", "needs a name"), ("a" * 65, "64 characters"), ("a\nb", "one line"),
                                             ("http://x", "looks like a URL")])  # fmt: skip
def test_server_names_refused(name: str, says: str) -> None:
    with pytest.raises(UserError, match=says):
        check_server_name(name)


def test_presets_have_the_documented_shapes() -> None:
    assert {kind: preset.url for kind, preset in PRESETS.items()} == {
        ServerKind.VLLM: "http://HOST:8000/v1",
        ServerKind.LLAMA_CPP: "http://HOST:8080/v1",
        ServerKind.OLLAMA: "http://localhost:11434/v1",
        ServerKind.LMSTUDIO: "http://localhost:1234/v1",
        ServerKind.AZURE: "https://RESOURCE.openai.azure.com/openai/v1",
        ServerKind.BEDROCK: "https://bedrock-runtime.REGION.amazonaws.com/openai/v1",
        ServerKind.OTHER: "https://HOST/v1",
    }
    assert all(preset.help and "\n" not in preset.help for preset in PRESETS.values())
    # A preset's URL with its placeholder filled in is accepted, and guessed as its own kind where it can be.
    assert guess_kind(PRESETS[ServerKind.OLLAMA].url) is ServerKind.OLLAMA
    assert guess_kind(PRESETS[ServerKind.LMSTUDIO].url) is ServerKind.LMSTUDIO
    assert guess_kind("https://acme.openai.azure.com/openai/v1") is ServerKind.AZURE
    assert guess_kind("https://bedrock-runtime.us-west-2.amazonaws.com/openai/v1") is ServerKind.BEDROCK
    assert guess_kind("http://gpu-box:8000/v1") is ServerKind.OTHER


def test_model_names_and_addresses() -> None:
    for name in ("openai/gpt-oss-120b", "gpt-oss:20b", "openai.gpt-oss-20b-1:0", "/models/gpt_oss-20b.gguf"):
        assert is_gpt_oss_name(name)
    assert not is_gpt_oss_name("smollm2") and not is_gpt_oss_name("llama-3.1-8b")
    assert is_local_address("http://localhost:1234/v1") and is_local_address("http://127.0.0.2:1/v1")
    assert is_local_address("http://[::1]:80/v1") and not is_local_address("http://gpu-box:8000/v1")


def test_remote_model_references() -> None:
    ref = remote_model_ref("gpu box", "openai/gpt-oss-120b")
    assert ref == "moss-server://gpu%20box/openai%2Fgpt-oss-120b"
    assert parse_remote_ref(ref) == ("gpu box", "openai/gpt-oss-120b")
    assert parse_remote_ref(remote_model_ref("bedrock", "openai.gpt-oss-20b-1:0")) == (
        "bedrock",
        "openai.gpt-oss-20b-1:0",
    )
    for other in ("/models/gpt-oss-20b.gguf", "moss-server://box", "moss-server:///m", "C:\\models\\x.gguf"):
        assert parse_remote_ref(other) is None


def test_servers_in_the_settings_file() -> None:
    servers = (
        RemoteServer("gpu-box", "http://gpu-box:8000/v1", ServerKind.VLLM),
        RemoteServer("corp", "https://llm.corp.example/v1", ServerKind.OTHER, "/etc/corp-ca.pem"),
    )
    settings = Settings(servers=servers)
    stored = json.loads(json.dumps(settings.to_dict()))
    assert stored["servers"][0] == {"name": "gpu-box", "base_url": "http://gpu-box:8000/v1", "kind": "vllm",
                                    "ca_file": ""}  # fmt: skip
    assert Settings.from_dict(stored) == settings


def test_a_hand_edited_servers_list_keeps_what_is_usable() -> None:
    raw = {
        "servers": [
            {"name": "ok", "base_url": "http://ok:1/v1", "kind": "ollama"},
            {"name": "OK", "base_url": "http://second:1/v1"},  # the same name again
            {"name": "bad-url", "base_url": "gpu-box"},
            {"name": "bad-kind", "base_url": "http://x/v1", "kind": "mainframe"},
            "not an object",
            {"name": 5, "base_url": "http://x/v1"},
        ]
    }
    assert Settings.from_dict(raw).servers == (RemoteServer("ok", "http://ok:1/v1", ServerKind.OLLAMA),)
    assert Settings.from_dict({"servers": "gpu-box"}).servers == ()


def test_keys_live_in_the_secret_store_only() -> None:
    store = MemorySecretStore()
    box = RemoteServer("box", "http://gpu-box:8000/v1")
    settings = add_server(Settings(), box, store, "sk-123")
    assert "sk-123" not in json.dumps(settings.to_dict())
    assert store.get(api_key_name("box")) == "sk-123" and saved_key(store, box) == "sk-123"
    # Changed without a key, at the same address: the key stays.
    settings = add_server(settings, RemoteServer("box", "http://gpu-box:8000/v1", ca_file="/ca.pem"), store, None)
    assert saved_key(store, box) == "sk-123" and len(settings.servers) == 1
    # Moved to another host: the key was given for the old one, so it is forgotten.
    moved = RemoteServer("box", "http://elsewhere:8000/v1")
    settings = add_server(settings, moved, store, None)
    assert saved_key(store, moved) is None and find_server(settings, "BOX") == moved
    settings = add_server(settings, moved, store, "sk-456")
    settings, removed = remove_server(settings, "box", store)
    assert removed == moved and settings.servers == () and store.get(api_key_name("box")) is None


def test_forget_every_key() -> None:
    store = MemorySecretStore()
    settings = add_server(Settings(), RemoteServer("a", "http://a/v1"), store, "k1")
    settings = add_server(settings, RemoteServer("b", "http://b/v1"), store, "k2")
    forget_server_keys(settings, store)
    assert store.get(api_key_name("a")) is None and store.get(api_key_name("b")) is None


def test_server_for_a_name_or_a_url() -> None:
    settings = Settings(servers=(RemoteServer("box", "http://gpu-box:8000/v1"),))
    assert server_for(settings, "box").name == "box"
    assert server_for(settings, "http://other:1/v1/") == RemoteServer("", "http://other:1/v1")
    with pytest.raises(UserError, match=r"No server is called 'boxx'\. The servers added are: box\."):
        server_for(settings, "boxx")
    with pytest.raises(UserError, match="No server is called 'x'"):
        remove_server(settings, "x", MemorySecretStore())


def _read(pieces: list[str]) -> tuple[str, str, list[Delta]]:
    text = ReplyText()
    deltas = [d for piece in pieces for d in text.feed(piece)] + text.finish()
    joined = {kind: "".join(d.text for d in deltas if d.kind == kind) for kind in DeltaKind}
    return joined[DeltaKind.REASONING], joined[DeltaKind.CONTENT], deltas


HARMONY = "<|channel|>analysis<|message|>Let me think.<|end|><|start|>assistant<|channel|>final<|message|>42.<|return|>"


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 100])
def test_raw_harmony_split_anywhere(size: int) -> None:
    pieces = [HARMONY[i : i + size] for i in range(0, len(HARMONY), size)]
    reasoning, content, deltas = _read(pieces)
    assert (reasoning, content) == ("Let me think.", "42.")
    assert not any("<|" in d.text or "|>" in d.text for d in deltas)


def test_plain_text_passes_as_it_is() -> None:
    assert _read(["  <", "b>bold</b> and <|", "x"])[1] == "  <b>bold</b> and <|x"
    assert _read(["\n", "Hello"])[1] == "\nHello"
    assert _read(["   "])[1] == ""  # only whitespace: no answer
