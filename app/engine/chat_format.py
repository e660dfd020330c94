"""Chat formats: how a conversation becomes prompt text, and how generated tokens become reply text.

A strategy is chosen per model (:func:`select_chat_format`). v1 has one: the Jinja chat template embedded in
the GGUF (rendered by llama-cpp-python's own Transformers-compatible formatter). gpt-oss's harmony format
(issue 3) plugs in beside it with its own renderer and a channel-aware stream parser.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from app.core.errors import UserError
from app.core.types import Message
from app.engine.gguf_header import GGUFHeader

# Used when a GGUF carries no chat template: ChatML is what most instruction-tuned GGUFs expect.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of reply text for one destination.

    ``kind`` is ``content`` (the answer), ``reasoning`` (the model's visible thinking) or ``tool_call`` (a
    whole tool-call attempt, emitted once when it ends, formatted for display: ``functions.name({...})``).
    """

    kind: str
    text: str


@dataclass(frozen=True, slots=True)
class PromptPart:
    """A piece of prompt text. ``special`` parts are format markup whose special-token text (``<|start|>``)
    becomes special tokens; other parts are what people wrote, tokenized as plain text so that a message
    containing ``<|end|>`` cannot forge the conversation's structure."""

    text: str
    special: bool


class StreamParser(Protocol):
    """Turns generated tokens (id and decoded text) into reply deltas, one token at a time."""

    def feed(self, token: int, text: str) -> list[Delta]: ...

    def finish(self) -> list[Delta]: ...


class ChatFormat(Protocol):
    name: str

    def render(self, messages: Sequence[Message], *, today: dt.date | None = None) -> str:
        """The prompt text for ``messages``, ending where the assistant's reply begins."""
        ...

    def new_parser(self) -> StreamParser: ...


class PlainTextParser:
    """Everything the model says is the answer (control tokens decode to nothing)."""

    def feed(self, token: int, text: str) -> list[Delta]:
        return [Delta("content", text)] if text else []

    def finish(self) -> list[Delta]:
        return []


class TemplateChatFormat:
    """The chat template embedded in the GGUF, rendered exactly as Transformers and llama-cpp-python do."""

    def __init__(self, template: str, bos_token: str, eos_token: str, *, fallback: bool = False) -> None:
        # Imported here: llama_cpp loads the native library, which the GUI must not pay for at start-up.
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.name = "chatml (the file has no chat template)" if fallback else "embedded chat template"
        try:
            self._formatter: Any = Jinja2ChatFormatter(template=template, eos_token=eos_token, bos_token=bos_token)
        except Exception as exc:  # jinja2.TemplateSyntaxError and friends
            raise UserError(
                f"The model's chat template cannot be read ({exc}). Use another GGUF of this model."
            ) from exc

    def render(self, messages: Sequence[Message], *, today: dt.date | None = None) -> str:
        day = today or dt.date.today()
        payload = [{"role": m.role.value, "content": m.content} for m in messages]
        formatter = self._formatter
        # The formatter hands the template `strftime_now`; pin it to `day` so `--date` is honoured.
        formatter.strftime_now = lambda fmt: dt.datetime.combine(day, dt.time()).strftime(fmt)
        try:
            prompt: str = formatter(messages=payload).prompt
        except Exception as exc:  # the template's raise_exception() and Jinja runtime errors
            raise UserError(f"The model's chat template rejected this conversation: {exc}") from exc
        return prompt

    def new_parser(self) -> StreamParser:
        return PlainTextParser()


def select_chat_format(header: GGUFHeader) -> ChatFormat:
    """The chat format for the model described by ``header``."""
    template = header.chat_template
    bos, eos = header.token_text("bos"), header.token_text("eos")
    if template is None:
        return TemplateChatFormat(CHATML_TEMPLATE, bos, eos, fallback=True)
    return TemplateChatFormat(template, bos, eos)
