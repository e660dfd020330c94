"""gpt-oss's chat format: harmony prompts rendered by Moss itself, output parsed channel by channel.

The GGUF's embedded Jinja template differs from OpenAI's reference renderer in whitespace; the reference
wins (app.engine.formats.harmony_render). Special-token ids are never hard-coded: they are found by tokenizing
their text with ``special=True`` once the model is loaded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from app.core.errors import ModelFileError
from app.core.types import GenerationParams, Message, ReasoningEffort, ToolOffer
from app.engine.formats.base import PromptPart, StreamParser
from app.engine.formats.harmony_parse import HarmonyStreamParser, HarmonyTokens
from app.engine.formats.harmony_render import render_harmony_parts
from app.engine.gguf_header import GGUFHeader

# OpenAI's recommended sampling for gpt-oss: temperature 1, top_p 1, and no other filter.
GPT_OSS_SAMPLING = GenerationParams(temperature=1.0, top_p=1.0, top_k=0, min_p=0.0, repeat_penalty=1.0)

_TOKEN_TEXTS = {
    "start": "<|start|>",
    "end": "<|end|>",
    "message": "<|message|>",
    "channel": "<|channel|>",
    "constrain": "<|constrain|>",
    "return_": "<|return|>",
    "call": "<|call|>",
}


def is_harmony_model(header: GGUFHeader) -> bool:
    """gpt-oss, or any model whose chat template speaks harmony's channels."""
    return header.architecture == "gpt-oss" or "<|channel|>" in (header.chat_template or "")


def find_harmony_tokens(tokenize: Callable[[str], list[int]], path_name: str) -> HarmonyTokens:
    """The ids of harmony's special tokens in this vocabulary; each must be a single token."""
    ids: dict[str, int] = {}
    for field, text in _TOKEN_TEXTS.items():
        tokens = tokenize(text)
        if len(tokens) != 1:
            raise ModelFileError(
                f"{path_name} looks like a gpt-oss model but its vocabulary has no {text} token. "
                "Use a gpt-oss GGUF from ggml-org, unsloth or bartowski."
            )
        ids[field] = tokens[0]
    return HarmonyTokens(**ids)


class HarmonyChatFormat:
    """Harmony for gpt-oss. ``tokens`` is None until a model is loaded (rendering alone needs none)."""

    name = "harmony (gpt-oss)"
    supports_reasoning_effort = True
    default_params = GPT_OSS_SAMPLING
    tokenizes_whole = False  # OpenAI's renderer tokenizes each piece of text on its own
    notes: tuple[str, ...] = ()
    offers_tools = True

    def __init__(self, tokens: HarmonyTokens | None = None) -> None:
        self._tokens = tokens

    def render_parts(
        self,
        messages: Sequence[Message],
        *,
        today: dt.date | None = None,
        reasoning_effort: ReasoningEffort = ReasoningEffort.MEDIUM,
        tools: ToolOffer | None = None,
        state_date: bool = True,
    ) -> list[PromptPart]:
        return render_harmony_parts(
            messages, reasoning_effort=reasoning_effort, today=today, tools=tools, state_date=state_date
        )

    def new_parser(self) -> StreamParser:
        if self._tokens is None:
            raise RuntimeError("the harmony parser needs the loaded model's special tokens")
        return HarmonyStreamParser(self._tokens)
