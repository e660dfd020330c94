"""The chat template embedded in a GGUF, for every model that does not speak harmony: rendered exactly as
Transformers and llama-cpp-python do, its output taken as plain answer text."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from app.core.errors import UserError
from app.core.types import Delta, DeltaKind, GenerationParams, Message, ReasoningEffort
from app.engine.formats.base import PromptPart, StreamParser

# Used when a GGUF carries no chat template: ChatML is what most instruction-tuned GGUFs expect.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class PlainTextParser:
    """Everything the model says is the answer (control tokens decode to nothing), leading blanks dropped."""

    def __init__(self) -> None:
        self._started = False

    def feed(self, token: int, text: str) -> list[Delta]:
        if not self._started:
            text = text.lstrip()
            self._started = bool(text)
        return [Delta(DeltaKind.CONTENT, text)] if text else []

    def finish(self) -> list[Delta]:
        return []


class TemplateChatFormat:
    """The chat template embedded in the GGUF, rendered exactly as Transformers and llama-cpp-python do."""

    def __init__(self, template: str, bos_token: str, eos_token: str, *, fallback: bool = False) -> None:
        # Imported here: llama_cpp loads the native library, which the GUI must not pay for at start-up.
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.name = "chatml (the file has no chat template)" if fallback else "embedded chat template"
        self.supports_reasoning_effort = False
        self.default_params = GenerationParams()
        try:
            self._formatter: Any = Jinja2ChatFormatter(template=template, eos_token=eos_token, bos_token=bos_token)
        except Exception as exc:  # jinja2.TemplateSyntaxError and friends
            raise UserError(
                f"The model's chat template cannot be read ({exc}). Use another GGUF of this model."
            ) from exc

    def render_parts(
        self,
        messages: Sequence[Message],
        *,
        today: dt.date | None = None,
        reasoning_effort: ReasoningEffort = ReasoningEffort.MEDIUM,
    ) -> list[PromptPart]:
        # A Jinja template cannot tell its markup from the people's text, so the prompt is one part whose
        # special-token text is honoured (as llama-cpp-python and llama-server do).
        return [PromptPart(self._render(messages, today, reasoning_effort), special=True)]

    def _render(self, messages: Sequence[Message], today: dt.date | None, reasoning_effort: ReasoningEffort) -> str:
        day = today or dt.date.today()
        payload = [{"role": m.role.value, "content": m.content} for m in messages]
        formatter = self._formatter
        # The formatter hands the template `strftime_now`; pin it to `day` so `--date` is honoured.
        formatter.strftime_now = lambda fmt: dt.datetime.combine(day, dt.time()).strftime(fmt)
        try:
            # reasoning_effort reaches templates that read it (gpt-oss's own), and is ignored by others.
            prompt: str = formatter(messages=payload, reasoning_effort=reasoning_effort.value).prompt
        except Exception as exc:  # the template's raise_exception() and Jinja runtime errors
            raise UserError(f"The model's chat template rejected this conversation: {exc}") from exc
        return prompt

    def new_parser(self) -> StreamParser:
        return PlainTextParser()
