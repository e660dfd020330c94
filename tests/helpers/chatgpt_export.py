"""ChatGPT data exports (``conversations.json``) built in code, with the structure ChatGPT writes.

:class:`ExportBuilder` grows one conversation's node tree; :func:`trip_conversation` is a realistic one
with every kind of node the importer must handle (hidden system prompt, custom instructions, an edited
user message, a regenerated reply, a browsing tool call, an image, o1 thoughts), :func:`analysis_conversation`
one that runs code in ChatGPT's Python tool, and :func:`write_export`
writes a list of them as ChatGPT does, so tests read a real file back with ``json.load``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

BASE_TIME = 1_717_000_000.0  # June 2024, when ChatGPT exports looked like this


@dataclass
class ExportBuilder:
    """One conversation: ``add`` a message under a parent node, then ``build`` the export dict."""

    conversation_id: str | None
    title: str | None = "Untitled"
    create_time: float | None = BASE_TIME
    update_time: float | None = None
    default_model_slug: str | None = None
    mapping: dict[str, dict[str, Any]] = field(default_factory=dict)
    root: str = ""

    def __post_init__(self) -> None:
        # ChatGPT's tree starts with an empty node ("client-created-root" or a uuid) with message null.
        self.root = self._node(None, None)

    def _node(self, message: dict[str, Any] | None, parent: str | None) -> str:
        node_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.conversation_id}/{len(self.mapping)}"))
        if message is not None:
            message["id"] = node_id  # ChatGPT gives a message the id of its node
        self.mapping[node_id] = {"id": node_id, "message": message, "parent": parent, "children": []}
        if parent is not None:
            self.mapping[parent]["children"].append(node_id)
        return node_id

    def add(
        self,
        parent: str,
        role: str,
        content: dict[str, Any],
        *,
        recipient: str = "all",
        metadata: dict[str, Any] | None = None,
        author_name: str | None = None,
        create_time: float | Literal["auto"] | None = "auto",
        end_turn: bool | None = None,
    ) -> str:
        """A message node under ``parent``; returns its node id. Times go one minute per node unless given
        (None writes null, as ChatGPT does for some old messages)."""
        message: dict[str, Any] = {
            "id": "",
            "author": {"role": role, "name": author_name, "metadata": {}},
            "create_time": BASE_TIME + 60 * len(self.mapping) if create_time == "auto" else create_time,
            "update_time": None,
            "content": content,
            "status": "finished_successfully",
            "end_turn": end_turn,
            "weight": 1.0,
            "metadata": metadata if metadata is not None else {},
            "recipient": recipient,
            "channel": None,
        }
        return self._node(message, parent)

    def user(self, parent: str, text: str, **kwargs: Any) -> str:
        return self.add(parent, "user", text_content(text), **kwargs)

    def assistant(
        self, parent: str, text: str, *, model: str = "gpt-4o", finish: str | None = "stop", **kwargs: Any
    ) -> str:
        metadata: dict[str, Any] = {"model_slug": model, "default_model_slug": model, "parent_id": parent}
        if finish is not None:
            metadata["finish_details"] = {"type": finish, "stop_tokens": [200002]}
        return self.add(parent, "assistant", text_content(text), metadata=metadata, end_turn=True, **kwargs)

    def python_call(
        self, parent: str, code: str, output: str, *, seconds: float = 0.4, error: str | None = None
    ) -> tuple[str, str]:
        """The assistant's code sent to ChatGPT's Python tool (``recipient`` "python", content type "code"), then
        the tool's message with what it printed (``execution_output``) and its run (``aggregate_result``), as a
        data-analysis chat exports them; ``error``: the code raised it. Returns (call node, output node)."""
        call = self.add(
            parent,
            "assistant",
            {"content_type": "code", "language": "unknown", "text": code},
            recipient="python",
            metadata={"model_slug": "gpt-4o", "finish_details": {"type": "stop", "stop_tokens": [200007]}},
            end_turn=False,
        )
        started = BASE_TIME + 60 * len(self.mapping)
        run: dict[str, Any] = {
            "status": "failed" if error else "success",
            "run_id": f"run-{len(self.mapping)}",
            "start_time": started,
            "update_time": started + seconds,
            "end_time": started + seconds,
            "code": code,
            "final_expression_output": None if error else output,
            "in_kernel_exception": {"name": "Exception", "traceback": [error], "args": [error]} if error else None,
            "system_exception": None,
            "messages": [],
            "jupyter_messages": [],
            "timeout_triggered": None,
        }
        result = self.add(
            call,
            "tool",
            {"content_type": "execution_output", "text": output},
            author_name="python",
            metadata={"is_complete": True, "aggregate_result": run, "model_slug": "gpt-4o", "parent_id": call},
        )
        return call, result

    def build(self, current_node: str | None) -> dict[str, Any]:
        messages = [n["message"] for n in self.mapping.values() if n["message"] is not None]
        times = [m["create_time"] for m in messages if m["create_time"] is not None]
        return {
            "title": self.title,
            "create_time": self.create_time,
            "update_time": self.update_time if self.update_time is not None else max(times, default=None),
            "mapping": self.mapping,
            "moderation_results": [],
            "current_node": current_node,
            "plugin_ids": None,
            "conversation_id": self.conversation_id,
            "conversation_template_id": None,
            "gizmo_id": None,
            "is_archived": False,
            "safe_urls": [],
            "default_model_slug": self.default_model_slug,
            "id": self.conversation_id,
        }


def text_content(text: str) -> dict[str, Any]:
    return {"content_type": "text", "parts": [text]}


@dataclass
class Sample:
    """An export conversation and the node ids of its interesting messages, by name."""

    data: dict[str, Any]
    nodes: dict[str, str]


def trip_conversation(conversation_id: str = "6650a1b2-trip-4c1e-9d7a-000000000001") -> Sample:
    """A conversation with everything ChatGPT puts in a tree. The active path (``current_node``) runs:
    user ``ask`` → regenerated answer ``plan2`` → edited question ``weather2`` → (browser call and result)
    → ``weather_answer`` → image question ``photo`` → (o1 thoughts and recap) → ``tower``."""
    b = ExportBuilder(conversation_id, title="  Trip plan ", default_model_slug="gpt-4o")
    n: dict[str, str] = {"root": b.root}
    n["system"] = b.add(b.root, "system", text_content(""), metadata={"is_visually_hidden_from_conversation": True})
    n["context"] = b.add(
        n["system"],
        "user",
        {
            "content_type": "user_editable_context",
            "user_profile": "The user provided the following information about themselves: I live in Porto.",
            "user_instructions": "The user provided the additional info about how they would like you to "
            "respond: Be brief.",
        },
        metadata={"is_visually_hidden_from_conversation": True, "user_context_message_data": {}},
    )
    n["ask"] = b.user(n["context"], "Plan a 3-day trip to Lisbon.")
    # Regenerated: two assistant replies to the same question; the second is the one the user kept.
    n["plan1"] = b.assistant(n["ask"], "Day 1: Alfama. Day 2: Belém. Day 3: Sintra.")
    n["plan2"] = b.assistant(n["ask"], "Here is a relaxed plan: Baixa, Belém, then Cascais.", finish="max_tokens")
    # Edited: the user rewrote their question, which adds a second user child to the same reply.
    n["weather1"] = b.user(n["plan2"], "What's the weather like in May?")
    n["weather1_answer"] = b.assistant(n["weather1"], "Usually mild.")
    n["weather2"] = b.user(n["plan2"], "What's the weather like in Lisbon in May?")
    n["search"] = b.add(
        n["weather2"],
        "assistant",
        {"content_type": "code", "language": "unknown", "text": 'search("Lisbon weather May")'},
        recipient="browser",
        metadata={"model_slug": "gpt-4o", "finish_details": {"type": "stop"}},
    )
    n["browse"] = b.add(
        n["search"],
        "tool",
        {"content_type": "tether_browsing_display", "result": "# 【0†Lisbon climate】 May: 22 °C", "summary": None},
        author_name="browser",
        metadata={"command": "search", "status": "finished"},
    )
    n["weather_answer"] = b.assistant(n["browse"], "Lisbon in May averages 22 °C with little rain.")
    n["photo"] = b.add(
        n["weather_answer"],
        "user",
        {
            "content_type": "multimodal_text",
            "parts": [
                {
                    "content_type": "image_asset_pointer",
                    "asset_pointer": "file-service://file-AbC123",
                    "size_bytes": 183412,
                    "width": 1024,
                    "height": 768,
                    "fovea": None,
                    "metadata": None,
                },
                "What is this building?",
            ],
        },
        metadata={"attachments": [{"id": "file-AbC123", "name": "IMG_2041.jpeg", "mime_type": "image/jpeg"}]},
    )
    n["thoughts"] = b.add(
        n["photo"],
        "assistant",
        {
            "content_type": "thoughts",
            "thoughts": [
                {"summary": "**Looking at the photo**", "content": "A white limestone tower by the river."},
                {"summary": "Naming it", "content": "Manueline style, on the Tagus: the Belém Tower."},
            ],
            "source_analysis_msg_id": "msg-1",
        },
        metadata={"model_slug": "o1", "is_visually_hidden_from_conversation": False},
    )
    n["recap"] = b.add(
        n["thoughts"],
        "assistant",
        {"content_type": "reasoning_recap", "content": "Thought for 12 seconds"},
        metadata={"model_slug": "o1"},
    )
    n["tower"] = b.assistant(n["recap"], "That is the Belém Tower, built in 1519.", model="o1")
    return Sample(b.build(current_node=n["tower"]), n)


def analysis_conversation(conversation_id: str = "6650a1b2-data-4c1e-9d7a-000000000002") -> Sample:
    """A data-analysis chat: the question, two runs of Python (the first fails, the second prints the answer),
    and the answer after them; then a follow-up answered without tools."""
    b = ExportBuilder(conversation_id, title="Factorials", default_model_slug="gpt-4o")
    n: dict[str, str] = {"root": b.root}
    n["ask"] = b.user(b.root, "What is 20 factorial? Use Python.")
    n["call1"], n["output1"] = b.python_call(
        n["ask"],
        "import math\nmath.factorial('20')",
        "TypeError: 'str' object cannot be interpreted as an integer",
        error="TypeError",
    )
    n["call2"], n["output2"] = b.python_call(n["output1"], "math.factorial(20)", "2432902008176640000", seconds=0.2)
    n["answer"] = b.assistant(n["output2"], "20! = 2,432,902,008,176,640,000.")
    n["thanks"] = b.user(n["answer"], "Thanks!")
    n["welcome"] = b.assistant(n["thanks"], "You're welcome.")
    return Sample(b.build(current_node=n["welcome"]), n)


def linear_conversation(conversation_id: str, turns: int) -> dict[str, Any]:
    """``turns`` messages alternating user and assistant, each the only child of the one before."""
    b = ExportBuilder(conversation_id, title=f"{turns} turns")
    node = b.root
    for turn in range(turns):
        node = b.user(node, f"Question {turn}") if turn % 2 == 0 else b.assistant(node, f"Answer {turn}")
    return b.build(current_node=node)


def write_export(folder: Path, conversations: list[Any]) -> Path:
    """``conversations.json`` in ``folder``, written as ChatGPT writes it (UTF-8, non-ASCII kept). Items
    need not be conversations, so that tests can write damaged exports too."""
    path = folder / "conversations.json"
    path.write_text(json.dumps(conversations, ensure_ascii=False), encoding="utf-8")
    return path
