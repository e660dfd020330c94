"""OpenAI's harmony prompt format for gpt-oss: a Moss conversation as the prompt the model reads.

The reference is ``openai/harmony`` (``src/encoding.rs``; its ``test-data/*.txt`` are the expected output). The
GGUF's embedded Jinja template renders the same conversation with a few whitespace differences, and the model
was trained on the reference's output, so Moss renders prompts itself: the conversation becomes the reference's
messages (app.engine.formats.harmony_messages), rendered as the reference renders them.

A prompt is a list of :class:`~app.engine.formats.base.PromptPart`. Everything the format writes (markers such as
``<|start|>``, role names, channel names, the system message) is ``special``: its marker text becomes harmony's
special tokens. Everything from outside (user turns, the system prompt, earlier answers, tool descriptions, tool
calls and results) is a separate part that is *not* special, tokenized as plain text, so that a message
containing ``<|end|>`` stays text and cannot forge the conversation's structure.

Conversation rules (what Moss keeps of a chat):

* the system message states the model's identity, knowledge cutoff, today's date (unless told not to), the
  reasoning effort, the built-in tools offered (Moss's Python tool) and the valid channels, adding that function
  calls go to the commentary channel when functions are offered;
* the user's system prompt (all system messages, joined by a blank line) becomes the developer message's
  ``# Instructions``, followed by the offered functions as ``# Tools``; there is no developer message without
  either;
* an assistant turn that ended with a final answer keeps only that answer (and the tool calls and results on the
  way to it): its reasoning is dropped, as the reference does once a final answer closes a turn. While a tool
  chain is under way (no final answer after a tool call yet) its reasoning is kept, so the model can go on
  from it. A turn with neither an answer nor a tool call (stopped before either) leaves nothing;
* a tool call is ``<|start|>assistant to=functions.NAME<|channel|>commentary <|constrain|>json<|message|>ARGS
  <|call|>``; what the assistant said before calling is a ``commentary`` message (a preamble for the person);
  a tool's result is a message from the tool to the assistant on the channel of its call (commentary for
  functions, analysis for the Python tool);
* messages follow each other with no separator, and the prompt ends with ``<|start|>assistant`` where the model
  writes its reply, channel first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from app.core.types import Message, ReasoningEffort, Role, ToolCall, ToolOffer
from app.engine.formats.base import PromptPart, prompt_text
from app.engine.formats.harmony_messages import (
    CALL,
    CHANNEL,
    CONSTRAIN,
    DEFAULT_IDENTITY,
    END,
    HARMONY_MARKERS,
    KNOWLEDGE_CUTOFF,
    MESSAGE,
    RETURN,
    START,
    DeveloperContent,
    HarmonyMessage,
    SystemContent,
    render_for_completion,
)
from app.engine.formats.harmony_tools import builtin_namespace, functions_namespace

__all__ = [
    "CALL",
    "CHANNEL",
    "CONSTRAIN",
    "DEFAULT_IDENTITY",
    "END",
    "HARMONY_MARKERS",
    "KNOWLEDGE_CUTOFF",
    "MESSAGE",
    "RETURN",
    "START",
    "harmony_messages",
    "render_harmony",
    "render_harmony_parts",
]

# The author of a tool result whose tool is unknown (a result without its call): still a message to the assistant.
_UNKNOWN_TOOL = "tool"


def _system_prompt(messages: Sequence[Message]) -> str | None:
    """The user's system prompt: every non-blank system message, in order, joined by a blank line."""
    texts = [m.content for m in messages if m.role is Role.SYSTEM and m.content.strip()]
    return "\n\n".join(texts) if texts else None


def _is_final_answer(message: Message) -> bool:
    return message.role is Role.ASSISTANT and not message.tool_calls and bool(message.content.strip())


def _call_message(call: ToolCall) -> HarmonyMessage:
    content_type = call.content_type
    if content_type is not None and call.constrained:
        content_type = CONSTRAIN + content_type
    return HarmonyMessage(
        "assistant", call.arguments, recipient=call.recipient, channel=call.channel, content_type=content_type
    )


def _assistant_messages(message: Message, *, keep_reasoning: bool) -> list[HarmonyMessage]:
    if not message.tool_calls:
        # Only the final answer is kept: a turn with no answer (stopped, or failed, before it) leaves nothing.
        return [HarmonyMessage("assistant", message.content, channel="final")] if message.content.strip() else []
    out = []
    if keep_reasoning and message.reasoning and message.reasoning.strip():
        out.append(HarmonyMessage("assistant", message.reasoning, channel="analysis"))
    if message.content.strip():
        out.append(HarmonyMessage("assistant", message.content, channel="commentary"))
    return out + [_call_message(call) for call in message.tool_calls]


def harmony_messages(
    messages: Sequence[Message],
    *,
    reasoning_effort: ReasoningEffort,
    current_date: str | None,
    identity: str = DEFAULT_IDENTITY,
    tools: ToolOffer | None = None,
) -> list[HarmonyMessage]:
    """The reference's messages for a Moss conversation, by the rules in the module docstring."""
    offer = tools or ToolOffer()
    system = SystemContent(
        identity=identity,
        current_date=current_date,
        reasoning_effort=reasoning_effort,
        tools=tuple(builtin_namespace(tool) for tool in offer.builtins),
    )
    out = [HarmonyMessage("system", system)]
    instructions = _system_prompt(messages)
    if instructions is not None or offer.functions:
        function_tools = (functions_namespace(offer.functions),) if offer.functions else ()
        out.append(HarmonyMessage("developer", DeveloperContent(instructions, function_tools)))
    # Reasoning after the last final answer belongs to a tool chain still under way.
    last_final = max((i for i, m in enumerate(messages) if _is_final_answer(m)), default=-1)
    # A tool answers on the channel it was called on (OpenAI's gpt-oss tools do): functions on commentary, the
    # Python tool on analysis.
    call_channels: dict[str, str] = {}
    for index, message in enumerate(messages):
        if message.role is Role.USER:
            out.append(HarmonyMessage("user", message.content))
        elif message.role is Role.ASSISTANT:
            out += _assistant_messages(message, keep_reasoning=index > last_final)
            for call in message.tool_calls:
                call_channels[call.id or call.recipient] = call.channel or "commentary"
        elif message.role is Role.TOOL:
            name = message.tool_name or _UNKNOWN_TOOL
            channel = call_channels.get(message.tool_call_id or "") or call_channels.get(name, "commentary")
            out.append(HarmonyMessage("tool", message.content, name=name, recipient="assistant", channel=channel))
        # System messages were gathered into the developer message above.
    return out


def _render_parts(
    messages: Sequence[Message],
    *,
    reasoning_effort: ReasoningEffort,
    current_date: str | None,
    identity: str,
    tools: ToolOffer | None = None,
) -> list[PromptPart]:
    """:func:`render_harmony_parts` with the date as text, or None for no date line (the reference's tests)."""
    converted = harmony_messages(
        messages, reasoning_effort=reasoning_effort, current_date=current_date, identity=identity, tools=tools
    )
    # Moss's rule above already left out the reasoning of finished turns.
    return render_for_completion(converted, auto_drop_analysis=False)


def render_harmony_parts(
    messages: Sequence[Message],
    *,
    reasoning_effort: ReasoningEffort = ReasoningEffort.MEDIUM,
    today: dt.date | None = None,
    identity: str = DEFAULT_IDENTITY,
    tools: ToolOffer | None = None,
    state_date: bool = True,
) -> list[PromptPart]:
    """The harmony prompt for ``messages`` as markup parts (``special``) and outside text (not special).

    ``today`` is the date the system message states (today's when None); ``state_date`` False leaves the date line
    out, as the reference does when no date is set. ``identity`` is the system message's first line (keep the
    default: gpt-oss was trained with it, and the system prompt goes in the developer message). ``tools`` is what
    the model may call. The parts' texts joined are :func:`render_harmony`.
    """
    day = (today if today is not None else dt.date.today()).isoformat() if state_date else None
    return _render_parts(messages, reasoning_effort=reasoning_effort, current_date=day, identity=identity, tools=tools)


def render_harmony(
    messages: Sequence[Message],
    *,
    reasoning_effort: ReasoningEffort = ReasoningEffort.MEDIUM,
    today: dt.date | None = None,
    identity: str = DEFAULT_IDENTITY,
    tools: ToolOffer | None = None,
    state_date: bool = True,
) -> str:
    """The harmony prompt for ``messages`` as one string, ending with ``<|start|>assistant``.

    For display, logs and tests; the engine tokenizes :func:`render_harmony_parts` instead, so that outside text
    is never parsed for special tokens.
    """
    parts = render_harmony_parts(
        messages, reasoning_effort=reasoning_effort, today=today, identity=identity, tools=tools, state_date=state_date
    )
    return prompt_text(parts)
