"""Moss's engine against bare llama-cpp-python on one loaded model, without Qt (the GPU machine has none).

Both contenders reply to the same chat from an empty KV cache, with the same prompt tokens (the engine's own
rendering, as ``moss bench --model`` does), greedy, for the same number of tokens: a full-size replica never
produces an end-of-generation token (app/devtools/replicas.py, ``live``), so every reply has exactly the tokens
asked for. Each reply is timed in two parts, measured the same way for both:
- prompt processing: from the request to the first token sampled, over the prompt's tokens;
- decoding: from the first token to the last, over the tokens after the first (each one evaluated, then sampled).
After a warm-up of each, the contenders alternate ``repeat`` times; medians are reported and their ratios
(engine ÷ bare; the issue's target is 0.97 or more).
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Sequence
from typing import Any

from app.core.types import GenerationParams, Message, Role
from app.devtools.bench_baseline import prompt_tokens
from app.engine import backend
from app.engine.formats.harmony import GPT_OSS_SAMPLING
from app.engine.llama_engine import LlamaEngine

SYSTEM = "You are a helpful assistant."
FILLER = (
    "The lighthouse keeper wrote down every ship that passed, the colour of its sails, the hour, the wind, "
    "and whether the gulls followed it into the harbour or turned back towards the open sea. "
)
QUESTIONS = (
    "What is the capital of France?",
    "And what river runs through it?",
    "Name three famous museums there.",
    "Which one holds the Mona Lisa?",
    "Who painted it?",
    "When did he live?",
    "What else did he design?",
    "Which of those was the most practical?",
    "Could it be built today?",
    "Summarise our conversation in one sentence.",
)


@dataclasses.dataclass(frozen=True)
class Timing:
    prompt_tokens: int
    prompt_s: float  # request to the first token sampled
    tokens: int  # tokens generated (no end-of-generation token counted)
    decode_s: float  # first token to the last
    text: str

    @property
    def prompt_tps(self) -> float:
        return self.prompt_tokens / self.prompt_s if self.prompt_s > 0 else 0.0

    @property
    def decode_tps(self) -> float:
        return (self.tokens - 1) / self.decode_s if self.tokens > 1 and self.decode_s > 0 else 0.0


def greedy(max_tokens: int) -> GenerationParams:
    """gpt-oss's sampling made greedy, so that both contenders produce the same tokens."""
    return dataclasses.replace(GPT_OSS_SAMPLING, temperature=0.0, max_tokens=max_tokens, seed=1)


def chat_of_length(engine: LlamaEngine, n_tokens: int, params: GenerationParams) -> tuple[Message, ...]:
    """A system prompt and one user message whose rendered prompt is about ``n_tokens`` tokens long."""
    length = max(1, n_tokens * 4)
    for _ in range(4):  # the tokens per character of the filler, measured, converge in two or three steps
        messages = (Message(Role.SYSTEM, SYSTEM), Message(Role.USER, _filler(length)))
        measured = len(prompt_tokens(engine, messages, params))
        if abs(measured - n_tokens) <= max(4, n_tokens // 100):
            break
        length = max(1, round(length * n_tokens / measured))
    return messages


def _filler(length: int) -> str:
    return (FILLER * (length // len(FILLER) + 1))[:length]


def bare_reply(engine: LlamaEngine, messages: Sequence[Message], params: GenerationParams) -> Timing:
    """The plainest llama-cpp-python loop (``Llama.generate``, each token detokenized) on the engine's model."""
    llama_cpp = backend.llama()
    llm = engine.llama
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    tokens = prompt_tokens(engine, messages, params)
    engine.forget_cache()
    llm.set_seed(params.seed if params.seed is not None else llama_cpp.LLAMA_DEFAULT_SEED)
    pieces: list[bytes] = []
    started = time.perf_counter()
    first = started
    stream = llm.generate(
        tokens,
        top_k=params.top_k,
        top_p=params.top_p,
        min_p=params.min_p,
        temp=params.temperature,
        repeat_penalty=params.repeat_penalty,
    )
    try:
        for token in stream:
            if not pieces:
                first = time.perf_counter()
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                break
            pieces.append(llm.detokenize([token]))
            if len(pieces) >= params.max_tokens:
                break
        ended = time.perf_counter()
    finally:
        stream.close()
        llm._sampler = None  # Llama.generate leaves its sampler chain behind; the engine sets its own
        engine.forget_cache()
    text = b"".join(pieces).decode("utf-8", errors="replace")
    return Timing(len(tokens), first - started, len(pieces), ended - first, text)


def engine_reply(engine: LlamaEngine, messages: Sequence[Message], params: GenerationParams) -> Timing:
    """``LlamaEngine.generate`` from an empty cache, timed as the engine times itself (ReplyCollector)."""
    engine.forget_cache()
    started = time.perf_counter()
    result = engine.generate(messages, params)
    ended = time.perf_counter()
    stats = result.stats
    first = stats.time_to_first_token_s if stats.time_to_first_token_s is not None else ended - started
    text = (result.reasoning or "") + result.content
    return Timing(stats.prompt_tokens_evaluated, first, stats.completion_tokens, ended - started - first, text)


def compare(engine: LlamaEngine, prompt_size: int, decode_tokens: int, repeat: int) -> dict[str, Any]:
    """Both contenders on a ``prompt_size``-token chat for ``decode_tokens`` tokens, alternating (see the doc)."""
    params = greedy(decode_tokens)
    messages = chat_of_length(engine, prompt_size, params)
    bare_reply(engine, messages, params)  # warm-up: CUDA graphs, caches, the first use of every kernel
    engine_reply(engine, messages, params)
    runs: dict[str, list[Timing]] = {"bare": [], "engine": []}
    for _ in range(max(1, repeat)):
        runs["bare"].append(bare_reply(engine, messages, params))
        runs["engine"].append(engine_reply(engine, messages, params))
    medians = {
        name: {
            "prompt_tps": round(statistics.median(t.prompt_tps for t in timings), 1),
            "decode_tps": round(statistics.median(t.decode_tps for t in timings), 2),
        }
        for name, timings in runs.items()
    }
    bare, mine = medians["bare"], medians["engine"]
    return {
        "prompt_tokens": runs["bare"][0].prompt_tokens,
        "engine_prompt_tokens": runs["engine"][0].prompt_tokens,
        "decode_tokens": decode_tokens,
        "generated": sorted({t.tokens for timings in runs.values() for t in timings}),
        # Greedy: each contender repeats itself exactly (their texts differ: the engine's is parsed, without markup).
        "deterministic": all(len({t.text for t in timings}) == 1 for timings in runs.values()),
        "repeat": repeat,
        "bare": bare,
        "engine": mine,
        "decode_ratio": _ratio(mine["decode_tps"], bare["decode_tps"]),
        "prompt_ratio": _ratio(mine["prompt_tps"], bare["prompt_tps"]),
        "runs": {name: [dataclasses.asdict(t) | {"text": None} for t in timings] for name, timings in runs.items()},
    }


def _ratio(mine: float, bare: float) -> float | None:
    return round(mine / bare, 3) if bare > 0 else None


def first_token(engine: LlamaEngine, n_tokens: int) -> dict[str, Any]:
    """Time to the first token of a reply to an ``n_tokens``-token chat, from an empty cache: the engine's
    and the bare loop's."""
    params = greedy(2)
    messages = chat_of_length(engine, n_tokens, params)
    mine = engine_reply(engine, messages, params)
    bare = bare_reply(engine, messages, params)
    return {
        "prompt_tokens": mine.prompt_tokens,
        "engine_s": round(mine.prompt_s, 4),
        "bare_s": round(bare.prompt_s, 4),
        "engine_prompt_tps": round(mine.prompt_tps, 1),
    }


def conversation(engine: LlamaEngine, turns: int, turn_tokens: int) -> list[dict[str, Any]]:
    """A conversation of ``turns`` questions from an empty cache: per turn the prompt's tokens, those llama.cpp
    evaluated (the rest came from the KV cache) and the time to the first token."""
    engine.forget_cache()
    params = greedy(turn_tokens)
    history = [Message(Role.SYSTEM, SYSTEM)]
    items = []
    for number in range(turns):
        history.append(Message(Role.USER, QUESTIONS[number % len(QUESTIONS)]))
        result = engine.generate(history, params)
        stats = result.stats
        items.append(
            {
                "prompt_tokens": stats.prompt_tokens,
                "evaluated_tokens": stats.prompt_tokens_evaluated,
                "ttft_s": stats.time_to_first_token_s,
                "completion_tokens": stats.completion_tokens,
            }
        )
        history.append(Message(Role.ASSISTANT, result.content, reasoning=result.reasoning))
    return items
