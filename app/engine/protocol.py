"""The Engine seam: what every engine implements, and all that the rest of Moss knows of one.

An engine holds at most one model and writes replies with it: it loads (reporting progress, abandoned when told),
unloads, says what it loaded (:class:`~app.core.types.ModelInfo`: the context, the recommended sampling, and the
capabilities the window reads, ``supports_reasoning_effort`` and ``supports_tools``), renders a conversation as the
model will see it (for display), and generates a reply as a stream of typed deltas that stops when a cancel event
is set. Implementations: :class:`app.engine.llama_engine.LlamaEngine` (llama.cpp on a local GGUF) and
``app.devtools.synthetic.SyntheticEngine`` (a scripted stand-in for screenshots and benches). The model thread
(``app.qt.engine_worker``), the benches and the offscreen window take any ``Engine``; only the places that build one
name a concrete engine (``app.ui.app`` for the window, ``app.cli.chat`` for ``moss chat``, the developer tools).

Contract of every engine:

* Not thread-safe: call every method from one thread (the model thread). Only the ``cancel`` events may be set
  from another thread, at any time; the engine checks them often (llama.cpp: every tensor of a load, every
  prompt chunk and every token).
* ``load`` replaces any model loaded before (which is freed before the new one takes memory), calls
  ``on_progress`` with 0.0 first and 1.0 once ready, never going back, and raises :class:`LoadCancelled` when
  ``cancel`` is set before it ends (nothing of the new model stays loaded then); a
  :class:`~app.core.errors.UserError` says what a person can do about any other failure. A file found unusable
  before the old model was freed leaves it loaded: ``info`` says which model is loaded after any failure.
* ``generate`` calls ``on_delta`` with each piece of the reply in order; the result's ``content`` and
  ``reasoning`` are those pieces joined by kind. When ``cancel`` is set it stops within a token and returns what
  was written, ``finish_reason`` CANCELLED. The oldest turns are left out when the conversation outgrows the
  context (``app.engine.context_fit``); ``dropped_messages`` says how many.

How the next engines and tools fit, without changing this protocol:

* A remote engine (an OpenAI-compatible server through the ``openai`` SDK): ``path`` is the model's id on the
  server; ``load`` connects and checks that the server answers and serves that model (progress 0.0, then 1.0),
  and ``info`` says what the server reports (its context length, or 0 where it says none). Nothing is placed on
  this machine, so ``LoadOptions.params`` and the run settings do not apply (``ModelInfo.load_params`` keeps its
  default). The server applies its own chat template: ``render_prompt`` is the best account of what is sent,
  for display only. ``generate`` maps ``GenerationParams`` onto the request, streams the server's chunks as
  deltas (its reasoning text as REASONING), and closes the stream when ``cancel`` is set.
* Tools (a loop model -> tool -> model; harmony's tool-call messages, MCP, a Python sandbox): an engine that can
  offer tools says so with ``ModelInfo.supports_tools``. What the model may call travels with the request's data
  (``GenerationParams``), not as a new argument. A finished call arrives as one delta of kind ``TOOL_CALL`` and in
  ``GenerationResult.tool_calls``, and the reply ends there; the tool loop (its own layer above the engine) runs
  the call, asking the person's approval, and calls ``generate`` again with the call and its result appended to
  ``messages``, which the chat format renders (harmony: a ``to=functions.name`` message and the tool's reply).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from app.core.types import (
    Delta,
    GenerationParams,
    GenerationResult,
    LoadOptions,
    Message,
    ModelInfo,
    ReasoningEffort,
    ToolOffer,
)

DeltaCallback = Callable[[Delta], None]
ProgressCallback = Callable[[float], None]  # how far a load has come, 0.0 .. 1.0


class LoadCancelled(Exception):
    """A load stopped because its cancel event was set (a newer load replaced it, or the app is closing)."""


@runtime_checkable
class Engine(Protocol):
    """One model at a time: load, describe, render, generate, unload (see the module docstring for the contract)."""

    @property
    def info(self) -> ModelInfo | None:
        """The loaded model, or None when none is loaded."""
        ...

    def load(
        self,
        path: str | Path,
        options: LoadOptions = LoadOptions(),
        *,
        cancel: threading.Event | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> ModelInfo:
        """Load the model at ``path`` as ``options`` ask, replacing the one loaded before; returns its info."""
        ...

    def unload(self) -> None:
        """Free the model (nothing happens when none is loaded)."""
        ...

    def render_prompt(
        self,
        messages: Sequence[Message],
        *,
        today: dt.date | None = None,
        reasoning_effort: ReasoningEffort = ReasoningEffort.MEDIUM,
        tools: ToolOffer | None = None,
    ) -> str:
        """The prompt for ``messages`` as text, as the loaded model is fed it; ``today`` is the date it states,
        ``tools`` what the model is offered (as ``GenerationParams.tools`` offers it to ``generate``)."""
        ...

    def generate(
        self,
        messages: Sequence[Message],
        params: GenerationParams | None = None,
        *,
        cancel: threading.Event | None = None,
        on_delta: DeltaCallback | None = None,
        today: dt.date | None = None,
    ) -> GenerationResult:
        """Reply to ``messages`` (``params``: GenerationParams() when None), streaming it through ``on_delta``."""
        ...
