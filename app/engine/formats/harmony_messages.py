"""Harmony messages rendered as OpenAI's reference renderer renders them, as prompt parts.

A port of ``openai/harmony`` v0.0.8 (``src/encoding.rs``: ``render_conversation_into``, ``Render<Message>``,
``Render<SystemContent>``, ``Render<DeveloperContent>``) over the reference's own message model: an author (a role,
or a tool's name), an optional recipient, channel and content type, and text or a system or developer message's
structured content. Its test data renders byte for byte from the messages its tests build; Moss's conversations
are first turned into these messages (app.engine.formats.harmony_render), where Moss's own rules apply.

Parts and tokens: the reference tokenizes each formatting token on its own and each piece of text it renders
with a separate call on its own, as ordinary text. Here a formatting token and the trusted text the format writes
(a role, a known channel, the system message Moss composes) are ``special`` parts, merged only across a
formatting token so that each text piece is still tokenized on its own; everything that comes from outside
(people's text, tool names, recipients, a tools list's descriptions, arguments, results) is a separate part that
is *not* special, so that no marker text in it can become structure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.core.types import FUNCTIONS_NAMESPACE, ReasoningEffort
from app.engine.formats.base import PromptPart
from app.engine.formats.harmony_tools import ToolNamespace, tools_section

# The reference's defaults for a system message (harmony src/chat.rs: SystemContent::default()).
DEFAULT_IDENTITY = "You are ChatGPT, a large language model trained by OpenAI."
KNOWLEDGE_CUTOFF = "2024-06"
VALID_CHANNELS = ("analysis", "commentary", "final")

START = "<|start|>"
END = "<|end|>"
MESSAGE = "<|message|>"
CHANNEL = "<|channel|>"
CONSTRAIN = "<|constrain|>"
RETURN = "<|return|>"
CALL = "<|call|>"

# The special-token texts of harmony's message structure; a prompt's non-special parts must not be parsed for them.
HARMONY_MARKERS: tuple[str, ...] = (START, END, MESSAGE, CHANNEL, CONSTRAIN, RETURN, CALL)

_FUNCTIONS_CHANNEL_LINE = "Calls to these tools must go to the commentary channel: 'functions'."
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})


class PartsBuilder:
    """Collects prompt parts: formatting tokens, the format's own text, and outside text (see the module doc)."""

    def __init__(self) -> None:
        self.parts: list[PromptPart] = []

    def token(self, marker: str) -> None:
        """A formatting token (``<|start|>``): special, merged into the special part before it."""
        self._special(marker, after_text=True)

    def markup(self, text: str) -> None:
        """Text the format writes itself (no marker in it): special, merged only right after a formatting token,
        so that it is tokenized on its own as the reference tokenizes each piece of text it renders."""
        if text:
            self._special(text, after_text=False)

    def text(self, text: str) -> None:
        """Text from outside the format, as its own part, tokenized as plain text. Empty text adds nothing."""
        if text:
            self.parts.append(PromptPart(text, special=False))

    def _special(self, text: str, *, after_text: bool) -> None:
        last = self.parts[-1] if self.parts else None
        if last is not None and last.special and (after_text or last.text.endswith(HARMONY_MARKERS)):
            self.parts[-1] = PromptPart(last.text + text, special=True)
        else:
            self.parts.append(PromptPart(text, special=True))


@dataclass(frozen=True, slots=True)
class SystemContent:
    """The system message's content (the reference's ``SystemContent``; None leaves a line out)."""

    identity: str | None = DEFAULT_IDENTITY
    knowledge_cutoff: str | None = KNOWLEDGE_CUTOFF
    current_date: str | None = None
    reasoning_effort: ReasoningEffort | None = ReasoningEffort.MEDIUM
    tools: tuple[ToolNamespace, ...] = ()  # built-in tools (browser, python)
    valid_channels: tuple[str, ...] = VALID_CHANNELS
    channel_required: bool = True

    def render(self, *, has_function_tools: bool) -> str:
        sections = []
        top = [self.identity] if self.identity is not None else []
        if self.knowledge_cutoff is not None:
            top.append(f"Knowledge cutoff: {self.knowledge_cutoff}")
        if self.current_date is not None:
            top.append(f"Current date: {self.current_date}")
        if top:
            sections.append("\n".join(top))
        if self.reasoning_effort is not None:
            sections.append(f"Reasoning: {self.reasoning_effort.value}")
        if self.tools:
            sections.append(tools_section(self.tools))
        if self.valid_channels:
            header = f"# Valid channels: {', '.join(self.valid_channels)}."
            if self.channel_required:
                header += " Channel must be included for every message."
            if has_function_tools:
                header += f"\n{_FUNCTIONS_CHANNEL_LINE}"
            sections.append(header)
        return "\n\n".join(sections)


@dataclass(frozen=True, slots=True)
class DeveloperContent:
    """The developer message's content: the instructions (a person's system prompt) and the function tools."""

    instructions: str | None = None
    tools: tuple[ToolNamespace, ...] = ()

    def render(self) -> str:
        sections = ["# Instructions", self.instructions] if self.instructions is not None else []
        if self.tools:
            sections.append(tools_section(self.tools))
        return "\n\n".join(sections)

    @property
    def has_function_tools(self) -> bool:
        return any(ns.name == FUNCTIONS_NAMESPACE and ns.tools for ns in self.tools)


@dataclass(frozen=True, slots=True)
class HarmonyMessage:
    """One message as the reference models it. ``role`` is system, developer, user, assistant or tool; a tool's
    message is written by its ``name`` (``functions.get_weather``). ``content_type`` is written as the reference
    stores it: ``<|constrain|>json`` for a constrained type, else a plain word (``code``)."""

    role: str
    content: str | SystemContent | DeveloperContent
    name: str | None = None
    recipient: str | None = None
    channel: str | None = None
    content_type: str | None = None

    def __post_init__(self) -> None:
        if self.role not in _ROLES:
            raise ValueError(f"unknown harmony role {self.role!r}")
        if self.role == "tool" and not self.name:
            raise ValueError("a tool's message needs the tool's name")


def render_message(message: HarmonyMessage, out: PartsBuilder, *, has_function_tools: bool = False) -> None:
    """One message, header to end token (the reference's ``Render<Message>``)."""
    out.token(START)
    if message.role == "tool":
        out.text(message.name or "")
    else:
        out.markup(message.role)
        if message.name is not None:
            out.text(f":{message.name}")
    if message.recipient is not None and message.recipient != "all":
        out.text(f" to={message.recipient}")
    if message.channel is not None:
        out.token(CHANNEL)
        # A channel the format knows is its own text; any other came from outside (a model's odd output).
        (out.markup if message.channel in VALID_CHANNELS else out.text)(message.channel)
    if message.content_type is not None:
        if message.content_type.startswith(CONSTRAIN):
            out.text(" ")
            out.token(CONSTRAIN)
            out.text(message.content_type.removeprefix(CONSTRAIN))
        else:
            out.text(f" {message.content_type}")
    out.token(MESSAGE)
    content = message.content
    if isinstance(content, SystemContent):
        out.markup(content.render(has_function_tools=has_function_tools))
    elif isinstance(content, DeveloperContent):
        out.text(content.render())
    else:
        out.text(content)
    out.token(CALL if message.role == "assistant" and message.recipient is not None else END)


def render_conversation(
    messages: Sequence[HarmonyMessage], out: PartsBuilder, *, auto_drop_analysis: bool = True
) -> None:
    """Messages in order (the reference's ``render_conversation_into``). With ``auto_drop_analysis``, when the
    last assistant message is on the final channel, the analysis messages before the first final message are left
    out (the reference's rule, kept as it is: its test data depends on it)."""
    has_function_tools = any(isinstance(m.content, DeveloperContent) and m.content.has_function_tools for m in messages)
    last_assistant = next((m for m in reversed(messages) if m.role == "assistant"), None)
    drop = auto_drop_analysis and last_assistant is not None and last_assistant.channel == "final"
    first_final = next((i for i, m in enumerate(messages) if m.channel == "final"), None)
    for index, message in enumerate(messages):
        if drop and first_final is not None and index < first_final and message.channel == "analysis":
            continue
        render_message(message, out, has_function_tools=has_function_tools)


def render_for_completion(
    messages: Sequence[HarmonyMessage], *, next_role: str = "assistant", auto_drop_analysis: bool = True
) -> list[PromptPart]:
    """The conversation then ``<|start|>`` and the next role: a prompt for the model to write that role's turn
    (the reference's ``render_conversation_for_completion``)."""
    out = PartsBuilder()
    render_conversation(messages, out, auto_drop_analysis=auto_drop_analysis)
    out.token(START)
    out.markup(next_role)
    return out.parts
