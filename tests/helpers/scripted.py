"""Scripted replies from a real model: a logits processor that allows only the next token of a given text; and
scripted stops: a cancel event that trips at an exact check.

llama.cpp runs the real model (prefill, KV cache, sampling, EOG handling); only the choice of each token is
forced, so the output is known and the parsing and plumbing behind it can be checked exactly.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from app.core.types import GenerationParams, GenerationResult, Message
from app.engine.llama_engine import LlamaEngine


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
        self, messages: Sequence[Message], params: GenerationParams | None = None, **options: Any
    ) -> GenerationResult:
        """LlamaEngine.generate (same keywords), the next scripted reply forced when there is one."""
        effort = (params or GenerationParams()).reasoning_effort
        self.prompts.append(self.render_prompt(messages, today=options.get("today"), reasoning_effort=effort))
        with self.lock:
            text = self.script.pop(0) if self.script else None
        if text is not None:
            options["logits_processor"] = ScriptedLogits(self, text)
        return super().generate(messages, params, **options)


class StopAfter(threading.Event):
    """A cancel event that reads as set from its ``n``-th check on: stops at an exact point, no timing."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.checks = 0
        self._n = n

    def is_set(self) -> bool:
        self.checks += 1
        return self.checks >= self._n or super().is_set()


def answer(text: str, thinking: str = "") -> str:
    """A gpt-oss reply in harmony markup, for a :class:`ScriptedEngine` script: ``thinking`` (if any) on the
    analysis channel, then ``text`` as the final answer."""
    head = f"<|channel|>analysis<|message|>{thinking}<|end|><|start|>assistant" if thinking else ""
    return f"{head}<|channel|>final<|message|>{text}<|return|>"
