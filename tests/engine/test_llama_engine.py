"""The engine on real llama.cpp: streaming, stopping, KV-cache reuse, context limits and bad files."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from app.core.errors import ModelFileError, UserError
from app.core.types import Delta, FinishReason, GenerationParams, LoadOptions, LoadParams, Message, Role
from app.engine.llama_engine import LlamaEngine
from tests.conftest import TEST_LOAD
from tests.helpers import bad_models
from tests.helpers.scripted import StopAfter

QUESTION = [
    Message(Role.SYSTEM, "You are a helpful assistant."),
    Message(Role.USER, "What is the capital of France?"),
]
GREEDY = GenerationParams(max_tokens=40, temperature=0.0)


def test_reply_streams_in_order(smollm2_engine: LlamaEngine) -> None:
    deltas: list[Delta] = []
    result = smollm2_engine.generate(QUESTION, GREEDY, on_delta=deltas.append)
    assert len(deltas) > 3
    assert {d.kind for d in deltas} == {"content"}
    assert "".join(d.text for d in deltas) == result.content
    assert "Paris" in result.content
    assert result.finish_reason in (FinishReason.STOP, FinishReason.LENGTH)
    assert "<|im_end|>" not in result.content and "<|im_start|>" not in result.content
    stats = result.stats
    assert stats.completion_tokens >= len([d for d in deltas if d.text.strip()]) > 0
    assert stats.time_to_first_token_s is not None and stats.tokens_per_second


def test_same_seed_same_reply(smollm2_engine: LlamaEngine) -> None:
    params = GenerationParams(max_tokens=24, seed=123, temperature=1.0)
    first = smollm2_engine.generate(QUESTION, params)
    smollm2_engine.generate([Message(Role.USER, "Something else entirely.")], GenerationParams(max_tokens=8))
    assert smollm2_engine.generate(QUESTION, params).content == first.content


def test_stop_mid_reply(smollm2_engine: LlamaEngine) -> None:
    cancel = threading.Event()
    seen: list[str] = []

    def on_delta(delta: Delta) -> None:
        seen.append(delta.text)
        if len(seen) == 3:
            cancel.set()

    long_task = [Message(Role.USER, "Write a long story about a dragon who learns to bake bread.")]
    result = smollm2_engine.generate(long_task, GenerationParams(max_tokens=400), cancel=cancel, on_delta=on_delta)
    assert result.finish_reason == FinishReason.CANCELLED
    assert result.stats.completion_tokens == 3  # stopped within a token of the request
    assert result.content == "".join(seen)


def test_stop_mid_prefill_then_continue(smollm2: Path) -> None:
    engine = LlamaEngine()
    engine.load(smollm2, LoadOptions(LoadParams(n_ctx=2048, n_batch=32)))
    try:
        long_prompt = [Message(Role.USER, "Summarise this. " + "The quick brown fox jumps over the lazy dog. " * 40)]
        stopped = engine.generate(long_prompt, GenerationParams(max_tokens=8), cancel=StopAfter(3))
        assert stopped.finish_reason == FinishReason.CANCELLED
        assert stopped.stats.completion_tokens == 0
        # Two chunks of 32 were evaluated before the third check stopped the prefill.
        assert stopped.stats.prompt_tokens_evaluated == 64 < stopped.stats.prompt_tokens
        resumed = engine.generate(long_prompt, GenerationParams(max_tokens=8))
        # The part already evaluated is reused, not evaluated again.
        assert resumed.stats.prompt_tokens_evaluated == resumed.stats.prompt_tokens - 64
        assert resumed.stats.completion_tokens > 0
    finally:
        engine.unload()


def test_second_turn_evaluates_only_new_tokens(smollm2_engine: LlamaEngine) -> None:
    first = smollm2_engine.generate(QUESTION, GREEDY)
    history = [*QUESTION, Message(Role.ASSISTANT, first.content), Message(Role.USER, "And of Germany?")]
    second = smollm2_engine.generate(history, GenerationParams(max_tokens=20, seed=1))
    new_text_tokens = second.stats.prompt_tokens - first.stats.prompt_tokens
    assert second.stats.prompt_tokens_evaluated < second.stats.prompt_tokens
    # Only the previous reply's end, the new user turn and the assistant header are evaluated.
    assert second.stats.prompt_tokens_evaluated <= new_text_tokens + 2


def test_full_context_ends_the_reply(smollm2: Path) -> None:
    engine = LlamaEngine()
    n_ctx = engine.load(smollm2, LoadOptions(LoadParams(n_ctx=128, n_batch=64))).n_ctx  # llama.cpp may round it up
    try:
        story = [Message(Role.USER, "Tell me a very long story about the sea.")]
        result = engine.generate(story, GenerationParams(max_tokens=1000, seed=3, temperature=1.0))
        if result.finish_reason == FinishReason.STOP:
            pytest.skip("the model ended its story before the context filled")  # pragma: no cover
        assert result.finish_reason == FinishReason.CONTEXT
        assert result.stats.prompt_tokens + result.stats.completion_tokens == n_ctx
        with pytest.raises(UserError, match=f"too long for the model's context .* of {n_ctx}"):
            engine.generate([Message(Role.USER, "word " * n_ctx)], GenerationParams(max_tokens=4))
    finally:
        engine.unload()


def test_max_tokens_ends_the_reply(smollm2_engine: LlamaEngine) -> None:
    story = [Message(Role.USER, "Tell me a very long story about the sea.")]
    result = smollm2_engine.generate(story, GenerationParams(max_tokens=5, seed=3))
    assert result.finish_reason == FinishReason.LENGTH
    assert result.stats.completion_tokens == 5


def test_tiny_gpt_oss_loads_and_generates(tiny_gpt_oss: Path) -> None:
    engine = LlamaEngine()
    info = engine.load(tiny_gpt_oss, LoadOptions(LoadParams(n_ctx=512, n_batch=64)))
    try:
        assert info.architecture == "gpt-oss"
        prompt = engine.render_prompt(QUESTION)
        assert prompt.endswith("<|start|>assistant")
        result = engine.generate(QUESTION, GenerationParams(max_tokens=12, seed=1))
        assert result.stats.prompt_tokens == len(engine.tokenize(prompt))
        assert result.finish_reason in (FinishReason.STOP, FinishReason.LENGTH)
        again = engine.generate(QUESTION, GenerationParams(max_tokens=4, seed=1))
        assert again.stats.prompt_tokens_evaluated == 1  # the whole prompt was cached
    finally:
        engine.unload()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d, src: bad_models.write_not_gguf(d), "is not a model, although its name ends in .gguf"),
        (lambda d, src: bad_models.write_truncated(src, d), "is incomplete"),
        (lambda d, src: bad_models.write_vocab_only(d), "only a tokenizer vocabulary"),
        (lambda d, src: bad_models.write_unknown_architecture(d), "architecture this version of llama.cpp"),
    ],
    ids=["not-gguf", "truncated", "vocab-only", "unknown-architecture"],
)
def test_bad_models_fail_to_load_with_a_clear_error(tmp_path: Path, smollm2: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path, smollm2)
    engine = LlamaEngine()
    with pytest.raises(ModelFileError, match=message) as caught:
        engine.load(path, LoadOptions(TEST_LOAD))
    assert path.name in str(caught.value)
    assert engine.info is None


def test_generating_without_a_model_is_a_user_error() -> None:
    with pytest.raises(UserError, match="No model is loaded"):
        LlamaEngine().generate(QUESTION)


def test_run_setting_overrides_reach_llama_cpp(smollm2: Path) -> None:
    from app.engine import backend

    engine = LlamaEngine()
    info = engine.load(smollm2, LoadOptions(TEST_LOAD, n_threads=2, n_batch=64))
    try:
        llama_cpp = backend.llama()
        ctx = engine._llm.ctx  # what llama.cpp's context was created with
        assert llama_cpp.llama_n_batch(ctx) == 64
        assert llama_cpp.llama_n_threads(ctx) == 2 and llama_cpp.llama_n_threads_batch(ctx) == 2
        assert (info.load_params.n_threads, info.load_params.n_batch, info.n_ctx) == (2, 64, TEST_LOAD.n_ctx)
        assert info.plan[-1] == "As you set it: 2 CPU threads and prompt batches of 64 tokens."
    finally:
        engine.unload()


def test_a_bad_run_setting_is_refused_and_keeps_the_model(smollm2_engine: LlamaEngine, smollm2: Path) -> None:
    with pytest.raises(UserError, match="threads must be at least 1"):
        smollm2_engine.load(smollm2, LoadOptions(TEST_LOAD, n_threads=0))
    with pytest.raises(UserError, match="batch size must be at least 1"):
        smollm2_engine.load(smollm2, LoadOptions(TEST_LOAD, n_batch=0))
    assert smollm2_engine.info is not None  # refused before anything was unloaded
