"""Chat formats: how a conversation becomes prompt text, and how generated tokens become reply text.

A format is chosen per model (app.engine.formats.selection.select_chat_format): harmony for gpt-oss
(app.engine.formats.harmony), else the Jinja chat template embedded in the GGUF (app.engine.formats.template).
This module holds what they share: the pieces a prompt is made of and the protocols a format and its stream
parser implement (a parser turns tokens into :class:`~app.core.types.Delta` pieces, what the engine streams).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from app.core.types import Delta, GenerationParams, Message, ReasoningEffort, ToolOffer


@dataclass(frozen=True, slots=True)
class PromptPart:
    """A piece of prompt text. ``special`` parts are format markup whose special-token text (``<|start|>``)
    becomes special tokens; other parts are what people wrote, tokenized as plain text so that a message
    containing ``<|end|>`` cannot forge the conversation's structure."""

    text: str
    special: bool


class StreamParser(Protocol):
    """Turns generated tokens (id and decoded text) into reply deltas, one token at a time. ``ended`` turns true
    where the reply is over though the model goes on (harmony: a complete tool call, or the model writing the
    user's next turn): the engine stops generating there."""

    @property
    def ended(self) -> bool: ...

    def feed(self, token: int, text: str) -> list[Delta]: ...

    def finish(self) -> list[Delta]: ...


class ChatFormat(Protocol):
    name: str
    supports_reasoning_effort: bool
    default_params: GenerationParams  # the sampling the model's makers recommend
    # True: the model's own tooling tokenizes the rendered prompt as one text (a Jinja template), and so does the
    # engine whenever people's text brings no special token of its own; False: part by part (harmony, as
    # OpenAI's reference renderer does).
    tokenizes_whole: bool
    notes: tuple[str, ...]  # what the format does differently for this model, for the model's details
    offers_tools: bool  # whether the prompt can describe tools to the model (harmony) and the parser read calls

    def render_parts(
        self,
        messages: Sequence[Message],
        *,
        today: dt.date | None = None,
        reasoning_effort: ReasoningEffort = ReasoningEffort.MEDIUM,
        tools: ToolOffer | None = None,
        state_date: bool = True,
    ) -> list[PromptPart]:
        """The prompt for ``messages``, ending where the assistant's reply begins, as markup and text parts.

        ``tools`` is what the model may call; ``state_date`` False leaves the date out of the prompt. A format that
        cannot do either (``offers_tools`` False) raises a UserError when asked to."""
        ...

    def new_parser(self) -> StreamParser: ...


def prompt_text(parts: Sequence[PromptPart]) -> str:
    """A rendered prompt as one string, exactly as the model is fed it (for display, logs and tests)."""
    return "".join(part.text for part in parts)
