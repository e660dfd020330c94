"""Frozen dataclasses that cross layer and thread boundaries.

Everything here is plain data: safe to send through a queued Qt signal, to print as JSON, and to compare in
tests.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Role(enum.StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"  # a tool's result, answering an assistant's tool call


# The roles a person's conversation file or history holds as plain {role, content} messages.
_TEXT_ROLES = (Role.SYSTEM, Role.USER, Role.ASSISTANT)


FUNCTIONS_NAMESPACE = "functions"  # where the functions of a tools list live (harmony's ``functions.NAME``)


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call of a tool by the model, as it wrote it.

    ``recipient`` is the tool's full name as the model addresses it: ``functions.NAME`` for a function offered in
    the tools list, ``python`` for the built-in Python tool. ``arguments`` is the call's body verbatim (for a
    function, JSON text; for ``python``, code), never parsed or re-serialized here. ``channel`` and the data type
    (``content_type``, written after harmony's ``<|constrain|>`` token when ``constrained``) are kept so the call
    goes back into the next prompt exactly as it was written. ``id`` pairs the call with its result
    (OpenAI's ``tool_call_id``); harmony itself has none.
    """

    recipient: str
    arguments: str
    channel: str | None = "commentary"
    content_type: str | None = "json"
    constrained: bool = True
    id: str = ""

    @property
    def function_name(self) -> str | None:
        """The name of the function called (``get_weather`` of ``functions.get_weather``); None for a built-in tool."""
        namespace, _, name = self.recipient.partition(".")
        return name if namespace == FUNCTIONS_NAMESPACE and name else None

    def display(self) -> str:
        """The call as shown to a person: ``functions.get_weather({"city": "Paris"})``."""
        return f"{self.recipient}({self.arguments.strip()})"


@dataclass(frozen=True, slots=True)
class FunctionTool:
    """A function the model may call: its name, what it does, and its arguments as a JSON Schema object (None:
    it takes none). The schema is kept as parsed JSON, its keys in the order written."""

    name: str
    description: str = ""
    parameters: dict[str, Any] | None = None


class BuiltinTool(enum.StrEnum):
    """Tools gpt-oss was trained to use by name, described in its system message rather than as functions."""

    PYTHON = "python"  # Moss's Python sandbox
    BROWSER = "browser"  # OpenAI's browsing tool: described only to reproduce OpenAI's prompts, Moss has none


@dataclass(frozen=True, slots=True)
class ToolOffer:
    """What the model may call in one reply: functions (a tools list) and built-in tools."""

    functions: tuple[FunctionTool, ...] = ()
    builtins: tuple[BuiltinTool, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.functions or self.builtins)


@dataclass(frozen=True, slots=True)
class Message:
    """One turn of a conversation. ``reasoning`` is an assistant's visible thinking, never fed back once a final
    answer follows it (while a tool chain is under way, it is).

    Tool traffic: an assistant message may end in ``tool_calls`` (its ``content`` then is what it told the person
    before calling, often nothing); a ``TOOL`` message is a tool's result: ``content`` is its output,
    ``tool_name`` the caller's recipient (``functions.get_weather``), ``tool_call_id`` the call it answers.
    """

    role: Role
    content: str
    reasoning: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_name: str | None = None
    tool_call_id: str | None = None

    @classmethod
    def from_json(cls, item: Any) -> Message:
        """Build a message from a ``{role, content[, reasoning]}`` mapping; raises ValueError, saying what is
        wrong in a short line, if it is malformed (whatever it holds: nothing here recurses into it)."""
        if not isinstance(item, dict):
            raise ValueError(f"each message must be an object with 'role' and 'content', not {brief(item)}")
        value = item.get("role")
        role = next((r for r in _TEXT_ROLES if r.value == value), None) if isinstance(value, str) else None
        if role is None:
            raise ValueError(f"unknown role {brief(value)}; use system, user or assistant")
        content = item.get("content")
        if not isinstance(content, str):
            raise ValueError(f"each message needs 'content' as text, not {brief(content)}")
        reasoning = item.get("reasoning")
        if reasoning is not None and not isinstance(reasoning, str):
            raise ValueError(f"'reasoning' must be text when given, not {brief(reasoning)}")
        check_utf8("content", content)
        check_utf8("reasoning", reasoning or "")
        return cls(role, content, reasoning)


def check_utf8(name: str, text: str) -> None:
    """Raise ValueError, in a short line, if ``text`` (read from JSON as field ``name``) holds half of a UTF-16
    surrogate pair: no character, and no UTF-8 text for a model or a database."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"its '{name}' holds {text[exc.start]!r} at character {exc.start + 1:,}, half of a UTF-16 "
            "surrogate pair, which is no character; fix that \\u escape"
        ) from None


def brief(value: Any) -> str:
    """``value`` named for an error message in a few words, however large or deep it is."""
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:37]) + "…"
    if value is None or isinstance(value, bool | float):
        return repr(value)
    if isinstance(value, int):
        return "a number"  # (repr of a huge int is slow, and may be refused)
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else type(value).__name__


class ReasoningEffort(enum.StrEnum):
    """How hard a reasoning model (gpt-oss) thinks before it answers; stated in its system message."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class FinishReason(enum.StrEnum):
    """Why a reply ended. ERROR is never an engine's answer: it is how a reply that failed part-way is stored
    (what arrived before the failure is kept)."""

    STOP = "stop"  # the model ended its reply
    LENGTH = "length"  # max_tokens reached
    CONTEXT = "context"  # the context window is full
    CANCELLED = "cancelled"  # the user stopped it
    ERROR = "error"  # generating failed after part of the reply had arrived

    @classmethod
    def read(cls, value: object) -> FinishReason | None:
        """The member named by ``value`` as stored or exported; None for a missing or unknown one (a file from
        another version, a hand-edited database), which is shown as no particular ending rather than an error."""
        try:
            return cls(value) if isinstance(value, str) else None
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """Sampling and length settings for one reply."""

    max_tokens: int = 2048
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    seed: int | None = None
    reasoning_effort: ReasoningEffort = ReasoningEffort.MEDIUM
    tools: ToolOffer = ToolOffer()  # what the model may call in this reply (none: it is offered no tools)


@dataclass(frozen=True, slots=True)
class LoadParams:
    """How to load a model: normally the offload planner's choice for this machine (app.engine.planner)."""

    n_ctx: int = 8192
    n_gpu_layers: int = 0  # -1: every layer and the output head
    n_cpu_moe: int = 0  # of the GPU layers, how many (the first ones) keep their MoE experts in RAM
    n_batch: int = 512
    n_threads: int | None = None
    flash_attn: bool = True
    type_k: str = "f16"  # KV-cache types: f16 | q8_0
    type_v: str = "f16"
    swa_full: bool = True  # full-size sliding-window cache (False saves memory, see LlamaEngine._prefill)


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """What a person asked of a load: explicit ``params``, or None to let the offload planner size the load to
    the machine (up to ``wanted_ctx`` tokens of context when given); ``n_threads`` and ``n_batch`` override
    either (None: the plan's or ``params``' own). Built from the settings by ``app.core.settings.load_options``."""

    params: LoadParams | None = None
    wanted_ctx: int | None = None
    n_threads: int | None = None
    n_batch: int | None = None


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the engine knows about a loaded model."""

    path: str
    name: str
    architecture: str
    chat_format: str
    n_ctx: int
    n_ctx_train: int
    size_bytes: int
    supports_reasoning_effort: bool = False
    # Whether the engine can offer the model tools and return its calls to run (the tool loop): none can yet.
    supports_tools: bool = False
    default_params: GenerationParams = GenerationParams()
    plan: tuple[str, ...] = ()  # how it was loaded, in words (the first line is the summary)
    load_params: LoadParams = LoadParams()  # what it was loaded with


class DeltaKind(enum.StrEnum):
    """Where a piece of a streamed reply goes."""

    CONTENT = "content"  # the answer
    REASONING = "reasoning"  # the model's visible thinking
    TOOL_CALL = "tool_call"  # one whole tool call, sent once it is complete (see app.engine.protocol)


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of a reply as it streams, for one destination. A ``TOOL_CALL`` delta's text is the call formatted
    for display (``functions.name({...})``); its ``call`` is the call itself once it is complete (its message
    ended), None for a call cut off by the length limit or a stop, which must not be run."""

    kind: DeltaKind
    text: str
    call: ToolCall | None = None


@dataclass(frozen=True, slots=True)
class GenerationStats:
    """Token counts and timings of one reply."""

    prompt_tokens: int
    prompt_tokens_evaluated: int
    completion_tokens: int
    time_to_first_token_s: float | None
    tokens_per_second: float | None


@dataclass(frozen=True, slots=True)
class GenerationResult:
    """A finished reply: the text the user sees plus how it ended and what it cost."""

    content: str
    reasoning: str | None
    finish_reason: FinishReason
    stats: GenerationStats = field(default_factory=lambda: GenerationStats(0, 0, 0, None, None))
    dropped_messages: int = 0  # oldest messages left out to fit the context
    tool_calls: tuple[str, ...] = ()  # tool-call attempts, formatted for display (Moss offers no tools yet)
    tool_call: ToolCall | None = None  # the complete call the reply ended with, for the tool loop to run

    def to_json(self) -> dict[str, Any]:
        return {
            "content": self.content,
            "reasoning": self.reasoning,
            "finish_reason": self.finish_reason.value,
            "prompt_tokens": self.stats.prompt_tokens,
            "prompt_tokens_evaluated": self.stats.prompt_tokens_evaluated,
            "completion_tokens": self.stats.completion_tokens,
            "tokens_per_second": self.stats.tokens_per_second,
            "time_to_first_token_s": self.stats.time_to_first_token_s,
        }
