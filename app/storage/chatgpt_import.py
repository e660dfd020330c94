"""Read ChatGPT's data export (``conversations.json``) into Moss's import records.

ChatGPT keeps each conversation as a tree of nodes (``mapping``): editing a message or regenerating a reply
adds a sibling, exactly like Moss, so the whole tree is imported and ``current_node`` becomes the current
leaf. Much of the tree is not conversation text: system prompts, custom instructions, memory, tool calls
and their output. Those nodes are dropped and their kept children hang from the nearest kept ancestor; the
tool calls (the assistant's messages to ``python``, ``browser``, a plugin...) and their output become the
steps of the answer they led to (app.core.tool_steps), as Moss stores a tool chain of its own. A chain that
no answer followed (the person wrote again, or the branch ends there) is left out, as stray thoughts are.

Pure stdlib and pure data: the caller reads the file and stores the records. All walks are iterative
because a branch can be thousands of messages deep, and the work per node is constant because an export
can hold millions of nodes. Values outside the history's bounds (app.storage.bounds) are read as missing, as
values of the wrong type are: a time Moss could not show is no time, an id or model name too long to be one is
replaced or left out.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

from app.core.errors import ImportFormatError
from app.core.history import ImportedConversation, ImportedMessage, MessageStatus, ReplyFacts
from app.core.tool_steps import ToolDecision, ToolStep
from app.core.types import FinishReason, Role, ToolCall
from app.storage.bounds import MAX_NAME_CHARS, sane_time, valid_text

SOURCE = "chatgpt"
UNTITLED = "Untitled chat"
_NOT_AN_EXPORT = (
    "This file is not a ChatGPT export: conversations.json holds a list of conversations. "
    "Choose the conversations.json from ChatGPT's data export."
)
_ROLES: dict[object, Role] = {"user": Role.USER, "assistant": Role.ASSISTANT}
_FINISH_REASONS: dict[object, FinishReason] = {"stop": FinishReason.STOP, "max_tokens": FinishReason.LENGTH}
# What a non-text part of a multimodal message becomes; anything else is an "[attachment]".
_PLACEHOLDERS: dict[object, str] = {
    "image_asset_pointer": "[image]",
    "audio_asset_pointer": "[audio]",
    "real_time_user_audio_video_asset_pointer": "[audio]",
    "video_container_asset_pointer": "[video]",
}


class _Malformed(Exception):
    """A message whose fields have the wrong types: it is skipped, and counted."""


@dataclass(frozen=True, slots=True)
class _Tool:
    """A message of a tool chain: the assistant's call of a tool (``call``), or the output of one (``output``)."""

    call: ToolCall | None = None
    output: str = ""
    ok: bool = True
    seconds: float = 0.0  # how long the code ran, where ChatGPT noted it (its Python tool does)


@dataclass(frozen=True, slots=True)
class _Kept:
    """A message worth importing, before it knows its place in the tree."""

    role: Role
    content: str
    created_at: float | None
    metadata: dict[str, Any]


def looks_like_chatgpt_export(data: object) -> bool:
    """True when ``data`` (parsed JSON) has the shape of ChatGPT's conversations.json: a list whose items
    are dicts with a ``mapping`` dict. An empty list is False: nothing tells it apart from other lists."""
    return (
        isinstance(data, list)
        and bool(data)
        and all(isinstance(item, dict) and isinstance(item.get("mapping"), dict) for item in data)
    )


def parse_chatgpt_export(data: object) -> list[ImportedConversation]:
    """Every conversation of the export that has at least one message to show, in file order.

    Raises :class:`ImportFormatError` when ``data`` is not a ChatGPT export or one conversation in it is
    damaged (naming it by its 1-based position and title), so that an import is all or nothing.
    Conversations without any user or assistant text (only a system prompt, say) are left out silently.
    An empty list is a valid export of an account without chats and gives an empty list.

    A conversation's ``current_key`` is the nearest kept message at or above ChatGPT's ``current_node``
    (often a tool message or an empty reply that is not imported). Without a usable ``current_node``, it is
    the newest message by creation time: the last thing written, so a leaf in practice.
    """
    if not isinstance(data, list):
        raise ImportFormatError(_NOT_AN_EXPORT)
    if data and not any(isinstance(item, dict) and isinstance(item.get("mapping"), dict) for item in data):
        raise ImportFormatError(_NOT_AN_EXPORT)  # a list, but of something else entirely
    conversations = []
    for index, item in enumerate(data, start=1):
        conversation = _parse_conversation(index, item)
        if conversation is not None:
            conversations.append(conversation)
    return conversations


def _damaged(index: int, title: object, problem: str) -> ImportFormatError:
    name = f"Conversation {index}"
    if isinstance(title, str) and title.strip():
        short = " ".join(valid_text(title).split())
        name += f" (“{short[:60] + '…' if len(short) > 60 else short}”)"
    return ImportFormatError(f"{name} in the ChatGPT export is damaged: {problem}. Nothing was imported.")


def _time(value: object) -> float | None:
    # JSON numbers only, in the range Moss can show: bool is an int in Python but never a time, NaN/inf could
    # sneak in via json.load, and 1e30 would break every later read of the history.
    return sane_time(value)


def _name(value: object) -> str:
    """A short name (a model's), or "" when it is not text or too long to be one."""
    return value if isinstance(value, str) and len(value) <= MAX_NAME_CHARS else ""


def _parse_conversation(index: int, item: object) -> ImportedConversation | None:
    if not isinstance(item, dict):
        raise _damaged(index, None, "it is not a conversation")
    title = item.get("title")
    mapping = item.get("mapping")
    if not isinstance(mapping, dict):
        raise _damaged(index, title, "its list of messages is missing")

    roots, kids = _tree(mapping)
    messages: list[ImportedMessage] = []
    anchor: dict[str, str | None] = {}  # node id -> nearest kept node at or above it
    malformed = 0
    # Depth-first, children in ChatGPT's order; each entry carries the nearest kept ancestor, the reasoning
    # (o1/o3 thoughts) and the tool steps waiting for the next assistant message on this branch.
    stack: list[tuple[str, str | None, str | None, tuple[ToolStep, ...]]] = [
        (root, None, None, ()) for root in reversed(roots)
    ]
    while stack:
        node_id, kept_parent, reasoning, steps = stack.pop()
        node = mapping[node_id]
        # A node that is not a dict is read as a broken message (counted), unless it is null.
        message = node.get("message") if isinstance(node, dict) else node
        try:
            kept, thoughts, tool = _read(message)
        except _Malformed:
            kept, thoughts, tool = None, None, None
            malformed += 1
        if thoughts:
            reasoning = f"{reasoning}\n\n{thoughts}" if reasoning else thoughts
        if tool is not None:
            steps, reasoning = _chain(steps, tool, reasoning)
        if kept is not None:
            messages.append(_imported(node_id, kept_parent, kept, reasoning, steps))
            # Used by this answer, or (after a user message) left by an earlier turn that never answered.
            reasoning, steps = None, ()
            kept_parent = node_id
        anchor[node_id] = kept_parent
        children = kids.get(node_id)
        if children:  # most nodes are leaves or have one child: keep this loop tight
            stack.extend([(child, kept_parent, reasoning, steps) for child in reversed(children)])

    if len(anchor) < len(mapping):
        # Every node has one parent, so the nodes no root reaches are those on (or under) a parent loop.
        raise _damaged(index, title, "its messages form a loop")
    if not messages:
        if malformed:
            raise _damaged(index, title, "none of its messages can be read")
        return None
    return _conversation(item, title, messages, anchor)


def _tree(mapping: dict[str, Any]) -> tuple[list[str], dict[str, list[str]]]:
    """The roots and each node's ordered children. The ``parent`` fields are the truth (a node has one),
    ``children`` only give the order: ChatGPT lists siblings oldest first, as Moss does."""
    roots: list[str] = []
    kids: dict[str, list[str]] = {}
    for node_id, node in mapping.items():
        parent = node.get("parent") if isinstance(node, dict) else None
        if not isinstance(parent, str) or parent not in mapping:
            parent = None  # a root, or an orphan whose parent was lost: tolerated, it becomes a root
        if parent is None:
            roots.append(node_id)
        else:
            kids.setdefault(parent, []).append(node_id)
    for parent, children in kids.items():
        listed = mapping[parent].get("children") if isinstance(mapping[parent], dict) else None
        if len(children) > 1 and isinstance(listed, list):
            order = {child: position for position, child in enumerate(listed) if isinstance(child, str)}
            children.sort(key=lambda child: order.get(child, len(order)))  # stable: unlisted keep file order
    return roots, kids


def _read(message: object) -> tuple[_Kept | None, str | None, _Tool | None]:
    """What a message contributes: a visible user/assistant message, reasoning text, a tool call or a tool's
    output, or nothing."""
    if message is None:
        return None, None, None  # the root node, and nodes ChatGPT emptied
    if not isinstance(message, dict):
        raise _Malformed
    author, content, metadata = message.get("author"), message.get("content"), message.get("metadata") or {}
    if not isinstance(author, dict) or not isinstance(content, dict) or not isinstance(metadata, dict):
        raise _Malformed
    author_role = _key(author.get("role"))
    role = _ROLES.get(author_role)
    kind = content.get("content_type")
    if role is Role.ASSISTANT and kind == "thoughts":
        return None, _thoughts(content.get("thoughts")), None
    recipient = message.get("recipient", "all")
    if role is Role.ASSISTANT and recipient not in ("all", None):
        return None, None, _call(recipient, content)  # to the browser, python, DALL·E, memory, a plugin...
    if author_role == "tool":
        return None, None, _output(content, metadata)
    if role is None or metadata.get("is_visually_hidden_from_conversation") is True:
        return None, None, None  # system messages, custom instructions, memory
    if kind in ("text", "multimodal_text"):
        text = _parts(content.get("parts"))
    elif kind == "code":
        text = _code(content.get("text"), content.get("language"))
    else:
        return None, None, None  # quotes, recaps...
    if not text:
        return None, None, None
    return _Kept(role, text, _time(message.get("create_time")), metadata), None, None


def _call(recipient: object, content: dict[str, Any]) -> _Tool | None:
    """The assistant's message to a tool as a tool call: code (Python, a browser command) as harmony writes a
    call of the built-in tools, anything else (JSON for a plugin or DALL·E) as a function's call."""
    if not isinstance(recipient, str) or not recipient.strip() or len(recipient) > MAX_NAME_CHARS:
        return None
    text = content.get("text")
    if content.get("content_type") == "code" and isinstance(text, str):
        return _Tool(ToolCall(recipient, text, channel="analysis", content_type="code", constrained=False))
    arguments = text if isinstance(text, str) else _parts(_list(content.get("parts")))
    return _Tool(ToolCall(recipient, arguments))


def _output(content: dict[str, Any], metadata: dict[str, Any]) -> _Tool:
    """A tool's message as its output: the text of the execution, the page or the quote; "[image]" and the like
    for what is not text (a DALL·E picture). The Python tool's run (``aggregate_result``) tells whether the
    code failed and how long it ran."""
    text = next((content[name] for name in ("text", "result") if isinstance(content.get(name), str)), None)
    if text is None:
        text = _parts(_list(content.get("parts")))
    ok = content.get("content_type") != "system_error"
    seconds = 0.0
    run = metadata.get("aggregate_result")
    if isinstance(run, dict):
        ok = ok and run.get("status") != "failed" and run.get("in_kernel_exception") is None
        start, end = _time(run.get("start_time")), _time(run.get("end_time"))
        seconds = end - start if start is not None and end is not None and end >= start else 0.0
    return _Tool(output=text.strip("\n"), ok=ok, seconds=seconds)


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _chain(steps: tuple[ToolStep, ...], tool: _Tool, reasoning: str | None) -> tuple[tuple[ToolStep, ...], str | None]:
    """The steps waiting for the answer, and the reasoning waiting, once ``tool`` is read: a call starts a step
    (taking the reasoning before it, as gpt-oss's steps keep theirs), an output completes the last step (more
    than one output, as browsing writes, are joined). An output no call asked for is left out."""
    if tool.call is not None:
        return (*steps, ToolStep(tool.call, "", decision=ToolDecision.AUTO, reasoning=reasoning or "")), None
    if not steps:
        return steps, reasoning
    last = steps[-1]
    result = f"{last.result}\n\n{tool.output}" if last.result and tool.output else last.result or tool.output
    took = last.seconds + tool.seconds
    return (*steps[:-1], replace(last, result=result, ok=last.ok and tool.ok, seconds=took)), reasoning


def _key(value: object) -> str | None:
    """``value`` as a key of the tables above: a list or an object in its place (a damaged or hand-made file)
    cannot be looked up, and is no known role or kind."""
    return value if isinstance(value, str) else None


def _parts(parts: object) -> str:
    if not isinstance(parts, list):
        raise _Malformed
    pieces = []
    for part in parts:
        if isinstance(part, str):
            piece = part.strip()
        elif isinstance(part, dict):
            kind = part.get("content_type")
            transcript = part.get("text")  # voice mode keeps what was said next to the audio
            if kind == "audio_transcription" and isinstance(transcript, str):
                piece = transcript.strip()
            else:
                piece = _PLACEHOLDERS.get(_key(kind), "[attachment]")
        else:
            continue  # null and numbers carry nothing to show
        if piece:
            pieces.append(piece)
    return "\n\n".join(pieces)


def _code(text: object, language: object) -> str:
    if not isinstance(text, str):
        raise _Malformed
    if not text.strip():
        return ""
    tag = language if isinstance(language, str) and language != "unknown" else ""
    return f"```{tag}\n{text.strip(chr(10))}\n```"


def _thoughts(thoughts: object) -> str | None:
    """o1/o3 thoughts as plain reasoning: each summary on its own line above its text, blank lines between."""
    if not isinstance(thoughts, list):
        raise _Malformed
    items = []
    for thought in thoughts:
        if not isinstance(thought, dict):
            continue
        summary, body = thought.get("summary"), thought.get("content")
        # Summaries sometimes come wrapped in Markdown bold; the heading line stays plain.
        heading = summary.strip().removeprefix("**").removesuffix("**").strip() if isinstance(summary, str) else ""
        text = body.strip() if isinstance(body, str) else ""
        item = "\n".join(line for line in (heading, text) if line)
        if item:
            items.append(item)
    return "\n\n".join(items) or None


def _imported(
    key: str, parent_key: str | None, kept: _Kept, reasoning: str | None, steps: tuple[ToolStep, ...]
) -> ImportedMessage:
    assistant = kept.role is Role.ASSISTANT
    model = kept.metadata.get("model_slug")
    finish = kept.metadata.get("finish_details")
    finish_type = finish.get("type") if isinstance(finish, dict) else None
    return ImportedMessage(
        key=key,
        parent_key=parent_key,
        role=kept.role,
        content=kept.content,
        reasoning=reasoning if assistant else None,
        model=_name(model) if assistant else "",
        created_at=kept.created_at,
        facts=ReplyFacts(finish_reason=_FINISH_REASONS.get(finish_type) if isinstance(finish_type, str) else None),
        status=MessageStatus.COMPLETE,
        steps=steps if assistant else (),
    )


def _conversation(
    item: dict[str, Any], title: object, messages: list[ImportedMessage], anchor: dict[str, str | None]
) -> ImportedConversation:
    clean_title = title.strip() if isinstance(title, str) else ""
    create_time = _time(item.get("create_time"))
    times = [message.created_at for message in messages if message.created_at is not None]
    created_at = create_time if create_time is not None else min(times, default=0.0)
    updated_at = _time(item.get("update_time"))
    if updated_at is None:
        updated_at = max(times, default=created_at)

    current = item.get("current_node")
    current_key = anchor.get(current) if isinstance(current, str) else None
    if current_key is None:
        # No usable current_node: the newest message. Untimed ones count as oldest; ties go to the later
        # one in tree order, which for a conversation without any times is the end of the last branch.
        times_or_none = [message.created_at for message in messages]
        newest = max(range(len(messages)), key=lambda i: (times_or_none[i] is not None, times_or_none[i] or 0.0, i))
        current_key = messages[newest].key

    uid = next((v for v in (item.get("conversation_id"), item.get("id")) if isinstance(v, str) and v), None)
    if uid is None:  # never seen in real exports; stable, so that importing twice still adds it once
        seed = f"{clean_title}\n{item.get('create_time')!r}".encode("utf-8", "surrogatepass")
        uid = hashlib.sha1(seed, usedforsecurity=False).hexdigest()
    elif len(uid) > MAX_NAME_CHARS // 2:  # not a real id: a short stand-in, the same on every import
        uid = hashlib.sha1(uid.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()

    return ImportedConversation(
        uid=f"chatgpt-{uid}",
        title=clean_title or UNTITLED,
        created_at=created_at,
        updated_at=updated_at,
        messages=tuple(messages),
        current_key=current_key,
        model=_model(item, messages, current_key),
        source=SOURCE,
    )


def _model(item: dict[str, Any], messages: list[ImportedMessage], current_key: str) -> str:
    """The conversation's model: ChatGPT's default for it, else the last one that answered on the active
    path, else the last one that answered anywhere."""
    default = _name(item.get("default_model_slug"))
    if default:
        return default
    by_key = {message.key: message for message in messages}
    key: str | None = current_key
    while key is not None:
        if by_key[key].model:
            return by_key[key].model
        key = by_key[key].parent_key
    return next((message.model for message in reversed(messages) if message.model), "")
