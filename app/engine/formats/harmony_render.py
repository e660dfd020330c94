"""OpenAI's harmony prompt format for gpt-oss, rendered byte for byte as the reference renderer does.

The reference is ``openai/harmony`` (``src/encoding.rs``; its ``test-data/*.txt`` are the expected output). The
GGUF's embedded Jinja template renders the same conversation with a few whitespace differences, and the model
was trained on the reference's output, so Moss renders prompts itself.

A prompt is a list of :class:`~app.engine.formats.base.PromptPart`. Everything the format writes (markers such as
``<|start|>``, role names, channel names, the system message) is ``special``: its marker text becomes harmony's
special tokens. Everything a person wrote (user turns, the system prompt, earlier answers) is a separate part
that is *not* special, tokenized as plain text, so that a message containing ``<|end|>`` stays text and cannot
forge the conversation's structure.

Conversation rules (what Moss keeps of a chat):

* the system message states the model's identity, knowledge cutoff, today's date, the reasoning effort and the
  valid channels, exactly as the reference writes a system message with no tools;
* the user's system prompt (all system messages, joined by a blank line) becomes the developer message's
  ``# Instructions``; there is no developer message without one;
* earlier assistant turns keep only their final answer: their reasoning (the ``analysis`` channel) is dropped, as
  the reference does once a turn has ended with a final answer;
* messages follow each other with no separator, and the prompt ends with ``<|start|>assistant`` where the model
  writes its reply, channel first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from app.core.types import Message, ReasoningEffort, Role
from app.engine.formats.base import PromptPart, prompt_text

# The reference's defaults for a system message (harmony src/chat.rs: SystemContent::default()).
DEFAULT_IDENTITY = "You are ChatGPT, a large language model trained by OpenAI."
KNOWLEDGE_CUTOFF = "2024-06"

START = "<|start|>"
END = "<|end|>"
MESSAGE = "<|message|>"
CHANNEL = "<|channel|>"
CONSTRAIN = "<|constrain|>"
RETURN = "<|return|>"
CALL = "<|call|>"

# The special-token texts of harmony's message structure; a prompt's non-special parts must not be parsed for them.
HARMONY_MARKERS: tuple[str, ...] = (START, END, MESSAGE, CHANNEL, CONSTRAIN, RETURN, CALL)

_VALID_CHANNELS = "# Valid channels: analysis, commentary, final. Channel must be included for every message."


class _PartsBuilder:
    """Collects prompt parts, merging adjacent special parts (fewer, longer tokenizer calls; same tokens)."""

    def __init__(self) -> None:
        self.parts: list[PromptPart] = []

    def markup(self, text: str) -> None:
        """Append text the format writes; its marker text becomes special tokens."""
        if self.parts and self.parts[-1].special:
            self.parts[-1] = PromptPart(self.parts[-1].text + text, special=True)
        else:
            self.parts.append(PromptPart(text, special=True))

    def text(self, text: str) -> None:
        """Append text a person wrote, as its own part, tokenized as plain text. Empty text adds nothing."""
        if text:
            self.parts.append(PromptPart(text, special=False))


def _system_message(identity: str, effort: ReasoningEffort, current_date: str | None) -> str:
    """The system message's content, sections joined by a blank line as the reference joins them.

    ``current_date`` None leaves the date line out, as the reference does when no conversation start date is
    set (its own test data is rendered that way); Moss always states the date.
    """
    top = [identity, f"Knowledge cutoff: {KNOWLEDGE_CUTOFF}"]
    if current_date is not None:
        top.append(f"Current date: {current_date}")
    return "\n\n".join(["\n".join(top), f"Reasoning: {effort.value}", _VALID_CHANNELS])


def _system_prompt(messages: Sequence[Message]) -> str | None:
    """The user's system prompt: every non-blank system message, in order, joined by a blank line."""
    texts = [m.content for m in messages if m.role is Role.SYSTEM and m.content.strip()]
    return "\n\n".join(texts) if texts else None


def _render_parts(
    messages: Sequence[Message],
    *,
    reasoning_effort: ReasoningEffort,
    current_date: str | None,
    identity: str,
) -> list[PromptPart]:
    """:func:`render_harmony_parts` with the date as text, or None for no date line (the reference's tests)."""
    out = _PartsBuilder()
    out.markup(f"{START}system{MESSAGE}{_system_message(identity, reasoning_effort, current_date)}{END}")

    instructions = _system_prompt(messages)
    if instructions is not None:
        out.markup(f"{START}developer{MESSAGE}")
        # The reference renders "# Instructions\n\n" and the instructions as one piece of text. They stay one
        # (non-special) part here too: tokenized separately, a prompt that starts with a newline would split
        # differently at the seam. The header holds no marker, so it tokenizes the same either way.
        out.text(f"# Instructions\n\n{instructions}")
        out.markup(END)

    for message in messages:
        if message.role is Role.USER:
            out.markup(f"{START}user{MESSAGE}")
            out.text(message.content)
            out.markup(END)
        elif message.role is Role.ASSISTANT:
            # Only the final answer is kept: the reasoning of a finished turn is dropped (harmony's
            # auto_drop_analysis), and a turn with no answer (stopped, or failed, before it) leaves nothing.
            if not message.content.strip():
                continue
            out.markup(f"{START}assistant{CHANNEL}final{MESSAGE}")
            out.text(message.content)
            out.markup(END)
        # System messages were gathered into the developer message above.

    out.markup(f"{START}assistant")
    return out.parts


def render_harmony_parts(
    messages: Sequence[Message],
    *,
    reasoning_effort: ReasoningEffort = ReasoningEffort.MEDIUM,
    today: dt.date | None = None,
    identity: str = DEFAULT_IDENTITY,
) -> list[PromptPart]:
    """The harmony prompt for ``messages`` as markup parts (``special``) and people's text (not special).

    ``today`` is the date the system message states (today's when None); ``identity`` is the system message's
    first line (keep the default: gpt-oss was trained with it, and the system prompt goes in the developer
    message). The parts' texts joined are :func:`render_harmony`.
    """
    day = today if today is not None else dt.date.today()
    return _render_parts(messages, reasoning_effort=reasoning_effort, current_date=day.isoformat(), identity=identity)


def render_harmony(
    messages: Sequence[Message],
    *,
    reasoning_effort: ReasoningEffort = ReasoningEffort.MEDIUM,
    today: dt.date | None = None,
    identity: str = DEFAULT_IDENTITY,
) -> str:
    """The harmony prompt for ``messages`` as one string, ending with ``<|start|>assistant``.

    For display, logs and tests; the engine tokenizes :func:`render_harmony_parts` instead, so that people's text
    is never parsed for special tokens.
    """
    parts = render_harmony_parts(messages, reasoning_effort=reasoning_effort, today=today, identity=identity)
    return prompt_text(parts)
