"""A synthetic engine: a stand-in for :class:`LlamaEngine` that streams a known reply at a chosen speed.

For tests, benchmarks (``moss bench ui``) and screenshots (``moss screenshots``) only; never used for a real
chat. It "loads" a gpt-oss-20b that exists in name only (no file is read, nothing is allocated) and streams a
given reply — reasoning first, then the answer, like harmony's channels — at ``tokens_per_second``, so the
window can be driven at a fast model's speed on a machine without a GPU. Everything is deterministic: the
same reply is cut into the same tokens (a word piece of about four characters, as a real tokenizer does) and
the statistics follow from them; only the timings are measured.

The real model thread drives it: ``EngineController(engine=SyntheticEngine(...))``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.core.errors import UserError
from app.core.types import (
    FinishReason,
    GenerationParams,
    GenerationResult,
    GenerationStats,
    LoadParams,
    Message,
    ModelInfo,
    Role,
)
from app.engine.formats.base import Delta
from app.engine.hardware import Machine
from app.engine.llama_engine import DeltaCallback, LlamaEngine, LogitsProcessor
from app.engine.loading import LoadCancelled
from app.devtools.synthetic_text import LONG_REASONING, long_markdown

log = logging.getLogger(__name__)

SYNTHETIC_MODEL_FILE = "gpt-oss-20b-mxfp4.gguf"
GPT_OSS_SAMPLING = GenerationParams(temperature=1.0, top_p=1.0, top_k=0, min_p=0.0, repeat_penalty=1.0)
_GPT_OSS_20B_BYTES = 12_109_566_560
_GPT_OSS_TRAIN_CTX = 131_072
_PROMPT_OVERHEAD = 40  # harmony's system message: identity, date, reasoning effort, channels
_MESSAGE_OVERHEAD = 4  # <|start|>role<|message|> … <|end|>
# A word with its leading space (up to 6 letters, as common words are one token), a number (up to 3 digits),
# one other character, or a run of spaces.
_TOKEN = re.compile(r" ?[A-Za-z]{1,6}| ?\d{1,3}| ?[^\sA-Za-z\d]|\s+")


def split_tokens(text: str) -> list[str]:
    """``text`` cut into token-sized pieces (about four characters each); joined, they give ``text`` back."""
    return _TOKEN.findall(text)


def estimate_tokens(text: str) -> int:
    """A cheap token count for prompt statistics: about four characters per token."""
    return max(1, (len(text) + 3) // 4) if text else 0


@dataclass(frozen=True, slots=True)
class SyntheticReply:
    """What the synthetic model will say: its visible thinking, then its answer."""

    content: str
    reasoning: str = ""


def markdown_reply(tokens: int, *, reasoning_tokens: int | None = None) -> SyntheticReply:
    """A long Markdown reply of exactly ``tokens`` tokens (reasoning included: a tenth, up to 150, unless
    given), with headings, lists, a table and code blocks, so the chat view's renderer works hard."""
    if reasoning_tokens is None:
        reasoning_tokens = min(150, tokens // 10)
    reasoning_pieces = split_tokens(LONG_REASONING * (1 + reasoning_tokens // 40))[:reasoning_tokens]
    content_tokens = tokens - len(reasoning_pieces)
    content_pieces = split_tokens(long_markdown(content_tokens * 5))[:content_tokens]
    return SyntheticReply("".join(content_pieces), "".join(reasoning_pieces))


class SyntheticEngine(LlamaEngine):
    """A :class:`LlamaEngine` look-alike that streams ``reply`` (or the queued ``replies``) at a set speed.

    ``tokens_per_second`` 0 streams as fast as possible. ``pause_after`` stops the stream after that many
    tokens until ``resume`` is set (or the reply is cancelled), with ``paused`` set meanwhile: a screenshot
    grabs a reply mid-stream that way. Call every method from one thread, as with the real engine.
    """

    def __init__(
        self,
        reply: SyntheticReply | None = None,
        *,
        tokens_per_second: float = 250.0,
        time_to_first_token_s: float = 0.15,
        load_seconds: float = 0.0,
        model_name: str = "gpt-oss-20b",
        pause_after: int | None = None,
    ) -> None:
        super().__init__()
        self.reply = reply or markdown_reply(600)
        self.replies: list[SyntheticReply] = []  # replies to give first, in order; then ``reply`` again
        self.tokens_per_second = tokens_per_second
        self.time_to_first_token_s = time_to_first_token_s
        self.load_seconds = load_seconds
        self.model_name = model_name
        self.pause_after = pause_after
        self.paused = threading.Event()
        self.resume = threading.Event()
        self.prompts: list[tuple[Message, ...]] = []  # every conversation it was asked to answer
        self._cached: tuple[Message, ...] = ()  # what a real engine's KV cache would hold

    # -- loading ------------------------------------------------------------------------------------------

    def load(
        self,
        path: str | Path,
        params: LoadParams | None = None,
        *,
        machine: Machine | None = None,
        wanted_ctx: int | None = None,
        **options: object,
    ) -> ModelInfo:
        """Take ``path`` (which need not exist) as gpt-oss-20b, reading nothing. Keywords the real engine
        gained later are honoured when known (``on_progress``: called with 0.0 … 1.0; ``cancel``: an Event that
        abandons the load with LoadCancelled; ``n_threads``, ``n_batch``) and ignored otherwise."""
        self.unload()
        on_progress, cancel = options.get("on_progress"), options.get("cancel")
        steps = 10
        for step in range(steps + 1):
            if isinstance(cancel, threading.Event) and cancel.is_set():
                raise LoadCancelled(f"loading {path} was replaced by a newer request")
            if callable(on_progress):
                on_progress(step / steps)
            if step < steps and self.load_seconds > 0:
                time.sleep(self.load_seconds / steps)
        n_ctx = (params.n_ctx if params is not None else None) or wanted_ctx or 32_768
        load_params = params or LoadParams(n_ctx=n_ctx, n_gpu_layers=-1, n_batch=512)
        overrides = {k: v for k in ("n_threads", "n_batch") if isinstance(v := options.get(k), int) and v > 0}
        load_params = dataclasses.replace(load_params, **overrides)  # type: ignore[arg-type]
        self._info = ModelInfo(
            path=str(Path(path)),
            name=self.model_name,
            architecture="gpt-oss",
            chat_format="harmony",
            n_ctx=n_ctx,
            n_ctx_train=_GPT_OSS_TRAIN_CTX,
            size_bytes=_GPT_OSS_20B_BYTES,
            supports_reasoning_effort=True,
            default_params=GPT_OSS_SAMPLING,
            plan=(
                f"All 24 layers on your NVIDIA GeForce RTX 4080 (15.2 GB free); {n_ctx:,}-token context.",
                f"The model supports {_GPT_OSS_TRAIN_CTX:,} tokens of context; raise it if you need more.",
            ),
            load_params=load_params,
        )
        log.info("synthetic model %s loaded as %s", self.model_name, path)
        return self._info

    def unload(self) -> None:
        self._info = None
        self._cached = ()

    # -- generation ---------------------------------------------------------------------------------------

    def generate(
        self,
        messages: Sequence[Message],
        params: GenerationParams | None = None,
        *,
        cancel: threading.Event | None = None,
        on_delta: DeltaCallback | None = None,
        today: dt.date | None = None,
        logits_processor: LogitsProcessor | None = None,
    ) -> GenerationResult:
        """Stream the next reply through ``on_delta``; stops within a token of ``cancel`` being set."""
        info = self._info
        if info is None:
            raise UserError("No model is loaded. Pick a model first.")
        params = params or GenerationParams()
        cancel = cancel or threading.Event()
        started = time.perf_counter()
        self.prompts.append(tuple(messages))
        kept, dropped = _fit(tuple(messages), info.n_ctx - min(params.max_tokens, info.n_ctx // 4))
        prompt_tokens = _prompt_tokens(kept)
        reused = _prompt_tokens(kept[: _common_prefix(self._cached, kept)]) if self._cached else 0
        evaluated = max(1, prompt_tokens - reused)
        reply = self.replies.pop(0) if self.replies else self.reply
        pieces = [Delta("reasoning", p) for p in split_tokens(reply.reasoning)]
        pieces += [Delta("content", p) for p in split_tokens(reply.content)]
        stream = _Stream(self, cancel, on_delta)
        finish = FinishReason.STOP
        if cancel.wait(self.time_to_first_token_s):
            finish = FinishReason.CANCELLED
        for delta in pieces if finish == FinishReason.STOP else ():
            if stream.count >= params.max_tokens:
                finish = FinishReason.LENGTH
                break
            if prompt_tokens + stream.count >= info.n_ctx:
                finish = FinishReason.CONTEXT
                break
            if not stream.send(delta):
                finish = FinishReason.CANCELLED
                break
        ended = time.perf_counter()
        content, reasoning = "".join(stream.parts["content"]), "".join(stream.parts["reasoning"])
        self._cached = (*kept, Message(Role.ASSISTANT, content))
        decode_s = ended - stream.first_at if stream.first_at is not None else 0.0
        stats = GenerationStats(
            prompt_tokens=prompt_tokens,
            prompt_tokens_evaluated=evaluated,
            completion_tokens=stream.count,
            time_to_first_token_s=round(stream.first_at - started, 4) if stream.first_at is not None else None,
            tokens_per_second=round((stream.count - 1) / decode_s, 2) if stream.count > 1 and decode_s > 0 else None,
        )
        return GenerationResult(content, reasoning or None, finish, stats, dropped_messages=dropped)


class _Stream:
    """Sends one reply's tokens on a schedule of ``tokens_per_second``, pausing where the engine says."""

    def __init__(self, engine: SyntheticEngine, cancel: threading.Event, on_delta: DeltaCallback | None) -> None:
        self.engine = engine
        self.cancel = cancel
        self.on_delta: Callable[[Delta], None] = on_delta or (lambda _delta: None)
        self.parts: dict[str, list[str]] = {"content": [], "reasoning": []}
        self.count = 0
        self.first_at: float | None = None
        self._base = 0.0  # when token 0 was due; moved on by a pause

    def send(self, delta: Delta) -> bool:
        """Wait for the token's turn and send it; False when cancelled first."""
        engine = self.engine
        if self.first_at is None:
            self.first_at = self._base = time.perf_counter()
        elif engine.pause_after is not None and self.count == engine.pause_after:
            self._pause(delta.kind)
        if engine.tokens_per_second > 0:
            due = self._base + self.count / engine.tokens_per_second
            delay = due - time.perf_counter()
            if delay > 0 and self.cancel.wait(delay):
                return False
        if self.cancel.is_set():
            return False
        self.parts[delta.kind].append(delta.text)
        self.count += 1
        self.on_delta(delta)
        return True

    def _pause(self, kind: str) -> None:
        # The model thread passes text on only when more arrives, at most every few tens of ms: wait that
        # out and send an empty piece, so that everything said so far is on screen during the pause.
        time.sleep(0.06)
        self.on_delta(Delta(kind, ""))
        self.engine.paused.set()
        stopped_at = time.perf_counter()
        while not self.engine.resume.wait(0.02) and not self.cancel.is_set():
            pass
        self._base += time.perf_counter() - stopped_at


def _prompt_tokens(messages: Sequence[Message]) -> int:
    return _PROMPT_OVERHEAD + sum(estimate_tokens(m.content) + _MESSAGE_OVERHEAD for m in messages)


def _common_prefix(a: Sequence[Message], b: Sequence[Message]) -> int:
    n = 0
    for left, right in zip(a, b, strict=False):
        if left.role != right.role or left.content != right.content:
            break
        n += 1
    return n


def _fit(messages: tuple[Message, ...], room: int) -> tuple[tuple[Message, ...], int]:
    """The conversation without its oldest exchanges (never the system prompt) until it fits ``room``
    tokens, and how many messages were left out; as the real engine, it keeps the latest question."""
    system = messages[:1] if messages and messages[0].role == Role.SYSTEM else ()
    rest = list(messages[len(system) :])
    dropped = 0
    while len(rest) > 1 and _prompt_tokens((*system, *rest)) > room:
        rest.pop(0)
        dropped += 1
    return (*system, *rest), dropped
