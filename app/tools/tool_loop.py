"""The tool loop: generate → the model calls a tool → the person decides → the tool runs → its result goes back
→ generate again, within one reply, until the model answers without a call.

Runs on the thread that owns the engine (the model thread in the window, the main thread of ``moss chat``). It
knows the engine only as a ``generate`` function, so each caller keeps its own way of streaming, stopping and
(for tests) scripting the model. Each generation re-renders the whole conversation, the calls and results so far
included; the engine reuses its KV cache for the common prefix, so each step evaluates only what is new.

Nothing a tool or the model does ends the chat: an unknown tool, arguments that are not JSON, a denied call, a
tool that fails, hangs or is stopped — each becomes the tool's answer, which the model reads and acts on. The
chain ends when the model answers, when Stop is pressed (cancel), or at the step limit: the call after the last
allowed one is shown but not run.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from app.core.tool_steps import ToolDecision, ToolStep, turn_messages
from app.core.types import (
    FinishReason,
    GenerationParams,
    GenerationResult,
    Message,
    ToolCall,
    ToolOffer,
)
from app.tools.mcp_results import ToolOutcome

log = logging.getLogger(__name__)

DEFAULT_MAX_STEPS = 10

Generate = Callable[[Sequence[Message], GenerationParams], GenerationResult]
"""Writes one step of the reply for these messages (an engine's ``generate`` with the caller's streaming)."""
Approve = Callable[[ToolCall], ToolDecision]
"""Asks the person about a call before it runs (the window's prompt, the terminal's, or ``--yes``)."""

DENIED_TEXT = "The person using Moss did not allow this call, so it did not run. Do not call it again unless they ask."


class ToolSet(Protocol):
    """The tools of one chat: what the model is offered, and running a call."""

    def offer(self) -> ToolOffer: ...

    def check(self, call: ToolCall) -> str | None:
        """Why ``call`` cannot run (no such tool, arguments the tool cannot take), said to the model; None when
        it can. Checked before the person is asked: a malformed call is never put to them."""
        ...

    def run(self, call: ToolCall, cancel: threading.Event) -> ToolOutcome: ...


@dataclass(frozen=True)
class ChainResult:
    result: GenerationResult
    """The last step's generation: its content is the final answer (empty when the chain was stopped)."""
    steps: tuple[ToolStep, ...]
    evaluated: tuple[int, ...]
    """Prompt tokens each generation evaluated (the rest came from the KV cache)."""
    step_limit_reached: bool = False

    @property
    def finish_reason(self) -> FinishReason:
        return self.result.finish_reason


def run_tool_chain(
    generate: Generate,
    messages: Sequence[Message],
    params: GenerationParams,
    tools: ToolSet,
    approve: Approve,
    *,
    cancel: threading.Event | None = None,
    on_step: Callable[[ToolStep], None] | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
) -> ChainResult:
    """Replies to ``messages``, running the tools the model calls; ``on_step`` hears each step as it ends (the
    window saves it then, so a crash loses nothing already shown)."""
    cancel = cancel or threading.Event()
    params = replace(params, tools=tools.offer())
    conversation = list(messages)
    steps: list[ToolStep] = []
    evaluated: list[int] = []
    while True:
        result = generate(conversation, params)
        evaluated.append(result.stats.prompt_tokens_evaluated)
        call = result.tool_call
        if call is None or cancel.is_set() or result.finish_reason is FinishReason.CANCELLED:
            return ChainResult(result, tuple(steps), tuple(evaluated))
        if len(steps) >= max_steps:
            log.info("tool chain stopped at its limit of %d calls; %s not run", max_steps, call.recipient)
            return ChainResult(result, tuple(steps), tuple(evaluated), step_limit_reached=True)
        step = _take_step(replace(call, id=call.id or _new_call_id()), result, tools, approve, cancel)
        if len(steps) + 1 == max_steps:
            step = replace(step, result=step.result + _limit_note(max_steps))
        steps.append(step)
        log.info("tool %s: %s in %.2f s (%s)", step.call.recipient, step.decision.value, step.seconds, _ok(step))
        if on_step is not None:
            on_step(step)
        conversation += turn_messages([step], None)


def _take_step(
    call: ToolCall, result: GenerationResult, tools: ToolSet, approve: Approve, cancel: threading.Event
) -> ToolStep:
    step = ToolStep(call, "", preamble=result.content, reasoning=result.reasoning or "")
    why_not = tools.check(call)
    if why_not is not None:
        return replace(step, result=why_not, ok=False, decision=ToolDecision.INVALID)
    decision = approve(call)
    if decision is ToolDecision.DENIED:
        return replace(step, result=DENIED_TEXT, ok=False, decision=decision)
    if cancel.is_set():
        return replace(step, result="Stopped before it ran.", ok=False, decision=decision)
    outcome = tools.run(call, cancel)
    return replace(step, result=outcome.text, ok=not outcome.is_error, seconds=outcome.seconds, decision=decision)


def _limit_note(max_steps: int) -> str:
    return f"\n[Moss: that was the last of the {max_steps} tool calls one reply may make; answer with what you have.]"


def _new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:16]}"


def _ok(step: ToolStep) -> str:
    return "ok" if step.ok else "failed"


def function_arguments(call: ToolCall) -> dict[str, object] | str:
    """A function call's arguments as the JSON object they must be, or why they are not one (said to the model)."""
    text = call.arguments.strip() or "{}"
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        return f"The arguments of {call.recipient} are not valid JSON{where}; call it again with a JSON object."
    if not isinstance(value, dict):
        return f"The arguments of {call.recipient} must be a JSON object, not {type(value).__name__}."
    return value
