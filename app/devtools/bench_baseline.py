"""The reference that ``moss bench --model`` compares Moss with: llama.cpp driven by the plainest
llama-cpp-python loop there is, ``Llama.generate`` over prompt tokens with each token detokenized.

It runs on the ``Llama`` object the engine already loaded (a second copy of a 12 GB model would not fit, and
would not be the same thing measured), fed exactly the tokens the engine would evaluate for the same chat,
rendered by the engine's own chat format. No Qt here: the benchmark's window code calls it while the model
thread is idle.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from app.core.types import GenerationParams, Message
from app.engine import backend
from app.engine.llama_engine import LlamaEngine


@dataclass(frozen=True)
class BaselineRun:
    tokens: int  # generated, the end-of-generation token not counted (as the engine counts them)
    seconds: float  # from the call to the last token detokenized, prompt evaluation included
    text: str

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


def prompt_tokens(engine: LlamaEngine, messages: Sequence[Message], params: GenerationParams) -> list[int]:
    """The token ids the engine evaluates for ``messages`` (when the chat fits its context, as a short one
    does): rendered by its chat format, tokenized as it tokenizes."""
    chat_format = engine.chat_format
    if chat_format is None:
        raise ValueError("no model is loaded")
    parts = chat_format.render_parts(messages, reasoning_effort=params.reasoning_effort)
    return engine.tokenize_prompt(parts, whole=chat_format.tokenizes_whole)


def run_baseline(engine: LlamaEngine, tokens: Sequence[int], params: GenerationParams) -> BaselineRun:
    """Generate up to ``params.max_tokens`` tokens after ``tokens`` with a bare ``Llama.generate`` loop, from an
    empty KV cache, with ``params``' sampling. Stops early only at an end-of-generation token, as the engine
    does, so that greedy sampling gives both the same tokens. Call it on the engine's thread or while the
    engine is idle; the engine's cache is forgotten before and after (``LlamaEngine.forget_cache``)."""
    llama_cpp = backend.llama()
    llm = engine.llama
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    engine.forget_cache()  # every contender starts from an empty cache and evaluates the whole prompt
    llm.set_seed(params.seed if params.seed is not None else llama_cpp.LLAMA_DEFAULT_SEED)
    pieces: list[bytes] = []
    started = time.perf_counter()
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
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                break
            pieces.append(llm.detokenize([token]))
            if len(pieces) >= params.max_tokens:
                break
        seconds = time.perf_counter() - started
    finally:
        stream.close()
        llm._sampler = None  # Llama.generate leaves its sampler chain behind; the engine sets its own
        engine.forget_cache()
    return BaselineRun(len(pieces), seconds, b"".join(pieces).decode("utf-8", errors="replace"))
