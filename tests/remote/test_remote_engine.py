"""The remote engine against real servers on loopback: llama-cpp-python's own server for streaming, stop, keys
and raw harmony; the fault server for what llama_cpp.server does not send (usage, reasoning fields)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest

from app.core.servers import RemoteServer, ServerError
from app.core.types import Delta, DeltaKind, FinishReason, GenerationParams, Message, ReasoningEffort, Role
from app.engine.protocol import Engine, LoadCancelled
from app.engine.remote_engine import RemoteEngine, openai_messages
from tests.remote.conftest import SMOL_KEY, TEST_TIMEOUTS, LlamaServer, OpenRemote
from tests.remote.fault_server import Handler, Request, chunk, fault_server, status, stream

pytestmark = pytest.mark.model

HELLO = [Message(Role.SYSTEM, "You are a helpful assistant."), Message(Role.USER, "What is the capital of France?")]
GREEDY = GenerationParams(max_tokens=24, temperature=0.0)
# A GBNF grammar that llama.cpp's sampler must follow: the tiny model writes exactly this, markers included.
HARMONY_REPLY = (
    "<|channel|>analysis<|message|>The user greets.<|end|><|start|>assistant<|channel|>final<|message|>Hello there!"
)


def grammar_for(text: str) -> dict[str, str]:
    return {"grammar": f"root ::= {json.dumps(text)}"}


@pytest.fixture
def smol(smol_server: LlamaServer) -> Iterator[RemoteEngine]:
    with RemoteEngine(smol_server.server(), SMOL_KEY, timeouts=TEST_TIMEOUTS) as engine:
        engine.load(smol_server.model)
        yield engine


def test_is_an_engine(smol: RemoteEngine) -> None:
    assert isinstance(smol, Engine)


def test_streams_a_reply_from_a_real_server(smol: RemoteEngine) -> None:
    deltas: list[Delta] = []
    result = smol.generate(HELLO, GREEDY, on_delta=deltas.append)
    assert result.content.strip()  # (what it says depends on the server's own sampling defaults and cache)
    assert result.finish_reason in (FinishReason.STOP, FinishReason.LENGTH)
    assert len(deltas) > 3 and "".join(d.text for d in deltas) == result.content  # streamed piece by piece
    assert result.stats.completion_tokens == len(deltas)  # no usage from llama_cpp.server: one chunk a token
    assert result.stats.time_to_first_token_s is not None and result.stats.time_to_first_token_s > 0
    assert result.stats.tokens_per_second is not None and result.stats.tokens_per_second > 0
    assert smol.last_usage is None  # and the engine says that no counts were reported


def test_stop_closes_the_stream_mid_reply(smol: RemoteEngine) -> None:
    cancel = threading.Event()
    deltas: list[Delta] = []

    def on_delta(delta: Delta) -> None:
        deltas.append(delta)
        if len(deltas) == 3:
            cancel.set()

    result = smol.generate(HELLO, GenerationParams(max_tokens=200), cancel=cancel, on_delta=on_delta)
    assert result.finish_reason == FinishReason.CANCELLED
    assert len(deltas) == 3 and result.content == "".join(d.text for d in deltas)
    again = smol.generate(HELLO, GREEDY)  # the server is free for the next reply
    assert again.finish_reason in (FinishReason.STOP, FinishReason.LENGTH) and again.content.strip()


def test_load_checks_the_model_is_served(remote: OpenRemote, smol_server: LlamaServer) -> None:
    engine = remote(smol_server.server("gpu-box"), SMOL_KEY)
    progress: list[float] = []
    info = engine.load(smol_server.model, on_progress=progress.append)
    assert progress == [0.0, 1.0]
    assert info.path == info.name == "smollm2" and not info.supports_reasoning_effort
    assert info.plan[0].startswith("Runs in a server on this computer (gpu-box (127.0.0.1:")
    with pytest.raises(ServerError) as refused:
        engine.load("gpt-oss-120b")
    assert str(refused.value) == (
        f"gpu-box ({smol_server.base_url.split('/')[2]}) does not serve gpt-oss-120b. It serves: smollm2. Pick one of "
        "those."
    )
    assert engine.info == info  # the model in use before stays


def test_load_cancelled_before_it_asks(remote: OpenRemote, smol_server: LlamaServer) -> None:
    engine = remote(smol_server.server(), SMOL_KEY)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(LoadCancelled):
        engine.load(smol_server.model, cancel=cancel)
    assert engine.info is None


def test_a_wrong_key_is_refused_in_one_line(remote: OpenRemote, smol_server: LlamaServer) -> None:
    engine = remote(smol_server.server(), "sk-wrong")
    with pytest.raises(ServerError) as refused:
        engine.load(smol_server.model)
    assert "refused the API key (HTTP 401)" in str(refused.value)
    assert "--api-key-env" in str(refused.value)


def test_raw_harmony_from_the_server_is_parsed(remote: OpenRemote, gpt_oss_server: LlamaServer) -> None:
    """llama_cpp.server returns gpt-oss's channels as text: Moss parses them, and no marker reaches the chat."""
    engine = remote(gpt_oss_server.server())
    info = engine.load(gpt_oss_server.model)
    assert info.supports_reasoning_effort and info.default_params.temperature == 1.0
    deltas: list[Delta] = []
    result = engine.generate(
        HELLO, GenerationParams(max_tokens=200), on_delta=deltas.append, extra_body=grammar_for(HARMONY_REPLY)
    )
    assert result.reasoning == "The user greets."
    assert result.content == "Hello there!"
    assert result.finish_reason == FinishReason.STOP
    assert not any("<|" in d.text or "|>" in d.text for d in deltas)
    assert {d.kind for d in deltas} == {DeltaKind.REASONING, DeltaKind.CONTENT}


def test_usage_reasoning_and_effort_as_vllm_sends_them(remote: OpenRemote) -> None:
    chunks = [
        chunk(reasoning_content="Think"),
        chunk(reasoning_content="ing."),
        chunk("Hi"),
        chunk(" there", finish="stop"),
        chunk(usage={"prompt_tokens": 50, "completion_tokens": 9, "prompt_tokens_details": {"cached_tokens": 32}}),
    ]
    with fault_server() as server:
        server.respond = stream(chunks)
        engine = remote(_named(server.base_url))
        engine.load("gpt-oss-20b")
        result = engine.generate(HELLO, GenerationParams(reasoning_effort=ReasoningEffort.HIGH, seed=7))
        sent = server.requests[-1].body
    assert (result.reasoning, result.content) == ("Thinking.", "Hi there")
    assert (result.stats.prompt_tokens, result.stats.prompt_tokens_evaluated, result.stats.completion_tokens) == (
        50, 18, 9,
    )  # fmt: skip
    assert engine.last_usage is not None and engine.last_usage.cached_tokens == 32
    assert sent["reasoning_effort"] == "high" and sent["seed"] == 7
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["messages"] == [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is the capital of France?"},
    ]


def test_reasoning_field_of_ollama(remote: OpenRemote) -> None:
    with fault_server() as server:
        server.respond = stream([chunk(reasoning="Hmm."), chunk("Yes.", finish="stop")])
        engine = remote(_named(server.base_url))
        engine.load("gpt-oss-20b")
        result = engine.generate(HELLO)
    assert (result.reasoning, result.content) == ("Hmm.", "Yes.")


def test_a_server_refusing_reasoning_effort_is_asked_again_without_it(
    remote: OpenRemote, caplog: pytest.LogCaptureFixture
) -> None:
    def respond(handler: Handler, request: Request) -> None:
        if request.method == "POST" and "reasoning_effort" in request.body:
            status(400, {"error": {"message": "Unrecognized request argument: reasoning_effort"}})(handler, request)
        else:
            stream([chunk("Fine.", finish="stop")])(handler, request)

    with fault_server() as server:
        server.respond = respond
        engine = remote(_named(server.base_url))
        engine.load("gpt-oss-20b")
        first = engine.generate(HELLO)
        second = engine.generate(HELLO)
        posts = [r.body for r in server.requests if r.method == "POST"]
    assert first.content == second.content == "Fine."
    assert ["reasoning_effort" in body for body in posts] == [True, False, False]  # once, then never again
    assert "refused a request with reasoning_effort (HTTP 400); asking again without it" in caplog.text


def test_the_environment_s_openai_credentials_never_reach_a_server(
    remote: OpenRemote, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-for-openai-only")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-secret")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-secret")
    monkeypatch.setenv("OPENAI_CUSTOM_HEADERS", "Authorization: Bearer sk-custom\nX-Team-Token: t0ken")
    with fault_server() as server:
        server.respond = stream([chunk("ok", finish="stop")])
        remote(_named(server.base_url)).load("gpt-oss-20b")
        remote(_named(server.base_url), "sk-mine").load("gpt-oss-20b")
        keyless, keyed = ({k.lower(): v for k, v in r.headers.items()} for r in server.requests)
    for headers in (keyless, keyed):
        assert not {"openai-organization", "openai-project", "x-team-token"} & set(headers)
    assert "authorization" not in keyless
    assert keyed["authorization"] == "Bearer sk-mine"


def test_render_prompt_shows_what_is_sent(remote: OpenRemote) -> None:
    with fault_server() as server:
        server.respond = stream([])
        engine = remote(_named(server.base_url))
        engine.load("gpt-oss-20b")
        shown = json.loads(engine.render_prompt(HELLO))
    assert shown == {"model": "gpt-oss-20b", "messages": openai_messages(HELLO), "reasoning_effort": "medium"}


def test_openai_messages_leave_out_reasoning_and_blank_instructions() -> None:
    messages = [
        Message(Role.SYSTEM, "  "),
        Message(Role.USER, "Hi"),
        Message(Role.ASSISTANT, "Hello!", reasoning="They greet me."),
        Message(Role.USER, "Bye"),
    ]
    assert openai_messages(messages) == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Bye"},
    ]


def _named(base_url: str) -> RemoteServer:
    return RemoteServer("box", base_url)
