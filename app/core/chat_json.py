"""Conversations and tools lists as JSON, read into core types: Moss's ``{role, content[, reasoning]}`` messages,
and OpenAI's Chat Completions shapes for tool traffic.

* An assistant message may hold ``tool_calls``: ``[{"id", "type": "function", "function": {"name",
  "arguments"}}]``, its ``content`` then null, absent or text (what it said before calling). ``arguments`` is the
  JSON text the model wrote, kept verbatim.
* A ``tool`` message is a result: ``{"role": "tool", "tool_call_id", "content"}``. The tool it comes from is the
  one the earlier call with that id named.
* A tools list is the ``tools`` array of a request: ``[{"type": "function", "function": {"name",
  "description", "parameters"}}]``, ``parameters`` a JSON Schema object.

Whatever the JSON holds, reading gives the values or an :class:`ItemError` naming the item and saying in a short
line what is wrong with it; nothing here recurses into a value deeper than :data:`MAX_SCHEMA_DEPTH`.
"""

from __future__ import annotations

import re
from typing import Any

from app.core.types import FUNCTIONS_NAMESPACE, FunctionTool, Message, Role, ToolCall, brief, check_utf8

# OpenAI's rule for function names; it also keeps a name one word, as harmony's headers need it.
_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
# How deeply a tool's parameters may nest (objects and lists): far more than any real schema, and little enough
# for the prompt renderer's recursion.
MAX_SCHEMA_DEPTH = 64


class ItemError(ValueError):
    """Item ``index`` (from 0) of a list is not what it should be: ``problem`` says why, in a short line."""

    def __init__(self, index: int, problem: str) -> None:
        super().__init__(problem)
        self.index = index
        self.problem = problem


def messages_from_json(items: list[Any]) -> list[Message]:
    """The messages of a conversation's JSON list (see the module docstring for the shapes)."""
    messages: list[Message] = []
    tools_by_call_id: dict[str, str] = {}
    for index, item in enumerate(items):
        try:
            role = item.get("role") if isinstance(item, dict) else None
            if role == Role.TOOL.value:
                message = _tool_result(item, tools_by_call_id)
            elif role == Role.ASSISTANT.value and item.get("tool_calls"):
                message = _calling_assistant(item)
                tools_by_call_id.update((call.id, call.recipient) for call in message.tool_calls if call.id)
            elif isinstance(role, str) and role not in {r.value for r in Role}:
                raise ValueError(f"unknown role {brief(role)}; use system, user, assistant or tool")
            else:
                message = Message.from_json(item)
        except ValueError as exc:
            raise ItemError(index, str(exc)) from None
        messages.append(message)
    return messages


def _text_field(item: dict[str, Any], name: str, *, optional: bool = False) -> str:
    value = item.get(name)
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"'{name}' must be text{' or null' if optional else ''}, not {brief(value)}")
    check_utf8(name, value)
    return value


def _calling_assistant(item: dict[str, Any]) -> Message:
    calls = item["tool_calls"]
    if not isinstance(calls, list):
        raise ValueError(f"'tool_calls' must be a list of calls, not {brief(calls)}")
    content = _text_field(item, "content", optional=True)
    reasoning = _text_field(item, "reasoning", optional=True) or None
    return Message(Role.ASSISTANT, content, reasoning, tool_calls=tuple(_tool_call(call) for call in calls))


def _tool_call(raw: Any) -> ToolCall:
    if not isinstance(raw, dict) or not isinstance(raw.get("function"), dict):
        raise ValueError('each tool call must be an object with a "function": {name, arguments}')
    if raw.get("type", "function") != "function":
        raise ValueError(f"a tool call's type must be 'function', not {brief(raw.get('type'))}")
    call_id = raw.get("id", "")
    if not isinstance(call_id, str):
        raise ValueError(f"a tool call's 'id' must be text, not {brief(call_id)}")
    function = raw["function"]
    name = _function_name(function.get("name"))
    arguments = function.get("arguments")
    if not isinstance(arguments, str):
        raise ValueError(
            f"the arguments of the call to {name} must be JSON text (a string, as the model wrote them), "
            f"not {brief(arguments)}"
        )
    check_utf8("arguments", arguments)
    return ToolCall(f"{FUNCTIONS_NAMESPACE}.{name}", arguments, id=call_id)


def _tool_result(item: dict[str, Any], tools_by_call_id: dict[str, str]) -> Message:
    call_id = item.get("tool_call_id")
    if not isinstance(call_id, str):
        raise ValueError(f"a tool message needs 'tool_call_id' as text, not {brief(call_id)}")
    if call_id not in tools_by_call_id:
        raise ValueError(
            f"no earlier tool call has the id {brief(call_id)}; a tool message answers a call of an assistant "
            "message before it"
        )
    content = _text_field(item, "content")
    return Message(Role.TOOL, content, tool_name=tools_by_call_id[call_id], tool_call_id=call_id)


def _function_name(name: Any) -> str:
    if not isinstance(name, str) or not _FUNCTION_NAME.fullmatch(name):
        raise ValueError(f"a function's name must be 1 to 64 letters, digits, _ or -, not {brief(name)}")
    return name


def function_tools_from_json(items: list[Any]) -> tuple[FunctionTool, ...]:
    """The functions of a tools list (see the module docstring), each name once."""
    tools: list[FunctionTool] = []
    for index, item in enumerate(items):
        try:
            tool = function_tool_from_json(item)
            if any(t.name == tool.name for t in tools):
                raise ValueError(f"{tool.name} is offered twice; give each function once")
        except ValueError as exc:
            raise ItemError(index, str(exc)) from None
        tools.append(tool)
    return tuple(tools)


def function_tool_from_json(item: Any) -> FunctionTool:
    """One ``{"type": "function", "function": {name, description, parameters}}``; raises ValueError."""
    if not isinstance(item, dict) or item.get("type") != "function" or not isinstance(item.get("function"), dict):
        raise ValueError('each tool must be {"type": "function", "function": {name, description, parameters}}')
    function = item["function"]
    name = _function_name(function.get("name"))
    description = function.get("description", "")
    if not isinstance(description, str):
        raise ValueError(f"the description of {name} must be text, not {brief(description)}")
    check_utf8("description", description)
    parameters = function.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise ValueError(f"the parameters of {name} must be a JSON Schema object, not {brief(parameters)}")
    if parameters is not None and _nesting(parameters) > MAX_SCHEMA_DEPTH:
        raise ValueError(f"the parameters of {name} nest deeper than {MAX_SCHEMA_DEPTH} levels")
    return FunctionTool(name, description or "", parameters)


def _nesting(value: Any) -> int:
    """How deeply objects and lists nest in ``value`` (no recursion: a parsed JSON can be deeper than Python's
    stack allows); stops counting past the limit."""
    deepest = 0
    todo = [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if depth > MAX_SCHEMA_DEPTH:
            return depth
        deepest = max(deepest, depth)
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        todo += [(child, depth + 1) for child in children if isinstance(child, dict | list)]
    return deepest
