"""The chat template embedded in a GGUF, for every model that does not speak harmony: rendered exactly as
Transformers and llama-cpp-python do, its output taken as plain answer text.

Three things Moss does around the template itself:

* **People's text stays text.** The rendered prompt is split into the template's markup and the messages' text
  (app.engine.formats.template_split), and the engine tokenizes it whole, as llama.cpp does, only when that gives
  the messages no special token of their own; otherwise part by part, the messages as plain text.
* **Reasoning effort** reaches only templates that read ``reasoning_effort``, and only the values they accept (a
  template may check it: tencent's Hunyuan rejects ``medium``); others never see it.
* **System prompts** go into the first user message for templates that reject a system message (Gemma 2: "System
  role not supported"), found by trying once when the model is loaded; the model's details say so.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from app.core.errors import UserError
from app.core.types import Delta, DeltaKind, GenerationParams, Message, ReasoningEffort, Role, ToolOffer
from app.engine.formats.base import PromptPart, StreamParser
from app.engine.formats.template_split import Placeholders, split_rendering

log = logging.getLogger(__name__)

# Used when a GGUF carries no chat template: ChatML is what most instruction-tuned GGUFs expect.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
FOLDED_SYSTEM_NOTE = (
    "This model's chat template takes no system message, so Moss puts the instructions at the start of the first "
    "message."
)
# A short exchange to learn what the template accepts, once, when the model is loaded.
_PROBE_USER = {"role": "user", "content": "Hello"}
_PROBE_SYSTEM = {"role": "system", "content": "Answer briefly."}


class PlainTextParser:
    """Everything the model says is the answer (control tokens decode to nothing), leading blanks dropped."""

    ended = False  # the reply ends with generation: nothing in plain text says otherwise

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

    tokenizes_whole = True  # as llama.cpp and Transformers tokenize a rendered template (see LlamaEngine)
    offers_tools = False  # Moss offers tools to gpt-oss (harmony) only, so far

    def __init__(self, template: str, bos_token: str, eos_token: str, *, fallback: bool = False) -> None:
        # Imported here: llama_cpp loads the native library, which the GUI must not pay for at start-up.
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.name = "chatml (the file has no chat template)" if fallback else "embedded chat template"
        self.default_params = GenerationParams()
        self._placeholders = Placeholders()
        self._warned = False
        try:
            self._formatter: Any = Jinja2ChatFormatter(template=template, eos_token=eos_token, bos_token=bos_token)
        except Exception as exc:  # jinja2.TemplateSyntaxError and friends
            raise UserError(
                f"The model's chat template cannot be read ({exc}). Use another GGUF of this model."
            ) from exc
        today = dt.date.today()
        # A template that fails with a system message but not without one does not take system messages.
        self.takes_system = self._renders([_PROBE_SYSTEM, _PROBE_USER], today) or not self._renders(
            [_PROBE_USER], today
        )
        # The reasoning-effort values the template accepts, if it reads the variable at all.
        self._efforts: frozenset[str] = frozenset()
        if "reasoning_effort" in template:
            self._efforts = frozenset(
                e.value for e in ReasoningEffort if self._renders([_PROBE_USER], today, reasoning_effort=e.value)
            )
        self.supports_reasoning_effort = len(self._efforts) == len(ReasoningEffort)
        self.notes: tuple[str, ...] = () if self.takes_system else (FOLDED_SYSTEM_NOTE,)

    def render_parts(
        self,
        messages: Sequence[Message],
        *,
        today: dt.date | None = None,
        reasoning_effort: ReasoningEffort = ReasoningEffort.MEDIUM,
        tools: ToolOffer | None = None,
        state_date: bool = True,
    ) -> list[PromptPart]:
        """The prompt as the template's markup (special) and the messages' text (plain), verified to join into
        exactly what the template renders (see app.engine.formats.template_split)."""
        if tools:
            raise UserError("Moss offers tools to gpt-oss models only, so far; this model uses its own chat template.")
        if not state_date:
            raise UserError(
                "This model's chat template is given today's date whenever it uses one; give a date instead."
            )
        day = today or dt.date.today()
        if not self.takes_system:
            messages = fold_system(messages)
        roles = [m.role.value for m in messages]
        contents = [m.content for m in messages]
        extra: dict[str, str] = {}
        if reasoning_effort.value in self._efforts:
            extra["reasoning_effort"] = str(reasoning_effort.value)
        real = self._render(roles, contents, day, extra)
        try:
            layout = self._placeholders.layout(
                self._render(roles, self._placeholders.for_contents(contents), day, extra), len(contents)
            )
        except UserError:
            layout = None  # the template needs the real text to render: nothing of it can be verified
        parts = split_rendering(real, layout, contents)
        if not self._warned and not any(part.special for part in parts) and real:
            self._warned = True
            log.warning("the chat template's markup could not be told from the messages: all of it is plain text")
        return parts

    def new_parser(self) -> StreamParser:
        return PlainTextParser()

    def _render(self, roles: list[str], contents: list[str], day: dt.date, extra: dict[str, str]) -> str:
        payload = [{"role": role, "content": content} for role, content in zip(roles, contents, strict=True)]
        try:
            return self._call(payload, day, **extra)
        except Exception as exc:  # the template's raise_exception() and Jinja runtime errors
            raise UserError(f"The model's chat template rejected this conversation: {exc}") from exc

    def _renders(self, payload: list[dict[str, str]], day: dt.date, **extra: str) -> bool:
        try:
            self._call(payload, day, **extra)
        except Exception:
            return False
        return True

    def _call(self, payload: list[dict[str, str]], day: dt.date, **extra: str) -> str:
        formatter = self._formatter
        # The formatter hands the template `strftime_now`; pin it to `day` so `--date` is honoured.
        formatter.strftime_now = lambda fmt: dt.datetime.combine(day, dt.time()).strftime(fmt)
        prompt: str = formatter(messages=payload, **extra).prompt
        return prompt


def fold_system(messages: Sequence[Message]) -> list[Message]:
    """The conversation for a template without system messages: the system prompt (every non-blank system
    message, joined by a blank line) goes at the start of the first user message, followed by a blank line."""
    system = "\n\n".join(m.content for m in messages if m.role is Role.SYSTEM and m.content.strip())
    rest = [m for m in messages if m.role is not Role.SYSTEM]
    if not system:
        return rest
    for i, message in enumerate(rest):
        if message.role is Role.USER:
            rest[i] = Message(Role.USER, f"{system}\n\n{message.content}", message.reasoning)
            return rest
    return [Message(Role.USER, system), *rest]
