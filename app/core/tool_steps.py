"""A tool chain as conversation data: the steps of one assistant turn (a call, the person's decision, the result)
and how such a turn reads back as the messages a chat format renders.

One assistant turn in the history is the whole chain: the steps, then the final answer (``content``). Each step
keeps what the model said before its call (``preamble``, the commentary channel) and its reasoning, so that a
chain still under way renders with its reasoning, as the model was trained, and a closed one without it
(app.engine.formats.harmony_render applies that rule).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.core.types import Message, Role, ToolCall


class ToolDecision(enum.StrEnum):
    """How a call came to run, or not."""

    ALLOWED = "allowed"  # the person allowed it once
    ALWAYS = "always"  # the person allows this tool always (remembered), or allowed it so before
    AUTO = "auto"  # approved without asking (`moss chat --yes`)
    DENIED = "denied"  # the person said no: the call did not run
    INVALID = "invalid"  # not run: no such tool, or arguments that are not what the tool takes


@dataclass(frozen=True, slots=True)
class ToolStep:
    call: ToolCall
    result: str
    """What the model was given back: the tool's output, or why it did not run."""
    ok: bool = True
    seconds: float = 0.0
    decision: ToolDecision = ToolDecision.ALLOWED
    preamble: str = ""
    reasoning: str = ""

    @property
    def ran(self) -> bool:
        return self.decision not in (ToolDecision.DENIED, ToolDecision.INVALID)

    def to_json(self) -> dict[str, Any]:
        call = self.call
        return {
            "call": {
                "recipient": call.recipient,
                "arguments": call.arguments,
                "channel": call.channel,
                "content_type": call.content_type,
                "constrained": call.constrained,
                "id": call.id,
            },
            "result": self.result,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "decision": self.decision.value,
            "preamble": self.preamble,
            "reasoning": self.reasoning,
        }

    @classmethod
    def from_json(cls, item: Any) -> ToolStep:
        """A step as ``to_json`` wrote it; raises ValueError for anything else (a damaged history row)."""
        if not isinstance(item, dict) or not isinstance(item.get("call"), dict):
            raise ValueError("a tool step must be an object with a 'call'")
        raw = item["call"]
        recipient, arguments = raw.get("recipient"), raw.get("arguments")
        if not isinstance(recipient, str) or not recipient or not isinstance(arguments, str):
            raise ValueError("a tool call needs a 'recipient' and its 'arguments' as text")
        channel, content_type = raw.get("channel"), raw.get("content_type")
        call = ToolCall(
            recipient,
            arguments,
            channel=channel if isinstance(channel, str) else None,
            content_type=content_type if isinstance(content_type, str) else None,
            constrained=bool(raw.get("constrained", content_type is not None)),
            id=str(raw.get("id") or ""),
        )
        decision = next((d for d in ToolDecision if d.value == item.get("decision")), ToolDecision.ALLOWED)
        seconds = item.get("seconds")
        return cls(
            call,
            _text(item.get("result")),
            ok=bool(item.get("ok", True)),
            seconds=float(seconds) if isinstance(seconds, int | float) and 0 <= seconds < 1e9 else 0.0,
            decision=decision,
            preamble=_text(item.get("preamble")),
            reasoning=_text(item.get("reasoning")),
        )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def turn_messages(steps: Sequence[ToolStep], content: str | None, reasoning: str | None = None) -> list[Message]:
    """The messages one assistant turn stands for: each step's call and its result, then the final answer
    (``content``; None while the chain is still under way, when the turn ends with a result)."""
    messages: list[Message] = []
    for step in steps:
        messages.append(Message(Role.ASSISTANT, step.preamble, step.reasoning or None, tool_calls=(step.call,)))
        messages.append(Message(Role.TOOL, step.result, tool_name=step.call.recipient, tool_call_id=step.call.id))
    if content is not None:
        messages.append(Message(Role.ASSISTANT, content, reasoning))
    return messages
