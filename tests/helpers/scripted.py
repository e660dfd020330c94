"""Scripted replies from a real model: a logits processor that allows only the next token of a given text.

llama.cpp runs the real model (prefill, KV cache, sampling, EOG handling); only the choice of each token is
forced, so the output is known and the parsing and plumbing behind it can be checked exactly.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from app.core.types import GenerationParams, GenerationResult, Message
from app.engine.llama_engine import DeltaCallback, LlamaEngine


class ScriptedLogits:
    """Forces the tokens of ``text`` (harmony markup included) one by one, then keeps forcing the last."""

    def __init__(self, engine: LlamaEngine, text: str) -> None:
        self.tokens = engine.tokenize(text, special=True)
        self.position = 0

    def __call__(self, _input_ids: Any, logits: Any) -> Any:
        wanted = self.tokens[min(self.position, len(self.tokens) - 1)]
        self.position += 1
        forced = np.full_like(logits, -np.inf)
        forced[wanted] = 0.0
        return forced


class ScriptedEngine(LlamaEngine):
    """A real LlamaEngine whose next replies follow ``script`` (a queue of reply texts), for GUI tests.

    It also records each prompt as the model saw it, so a test can check what a setting changed.
    """

    def __init__(self) -> None:
        super().__init__()
        self.script: list[str] = []
        self.prompts: list[str] = []
        self.lock = threading.Lock()

    def generate(
        self,
        messages: Sequence[Message],
        params: GenerationParams | None = None,
        *,
        cancel: threading.Event | None = None,
        on_delta: DeltaCallback | None = None,
        today: dt.date | None = None,
        logits_processor: Any = None,
    ) -> GenerationResult:
        params = params or GenerationParams()
        self.prompts.append(self.render_prompt(messages, today=today, reasoning_effort=params.reasoning_effort))
        with self.lock:
            text = self.script.pop(0) if self.script else None
        if text is not None:
            logits_processor = ScriptedLogits(self, text)
        return super().generate(
            messages, params, cancel=cancel, on_delta=on_delta, today=today, logits_processor=logits_processor
        )


def answer(text: str, thinking: str = "") -> str:
    """A gpt-oss reply in harmony markup, for a :class:`ScriptedEngine` script: ``thinking`` (if any) on the
    analysis channel, then ``text`` as the final answer."""
    head = f"<|channel|>analysis<|message|>{thinking}<|end|><|start|>assistant" if thinking else ""
    return f"{head}<|channel|>final<|message|>{text}<|return|>"
