"""A synthetic engine: an Engine (app.engine.protocol) that streams a known reply at a chosen speed.

For benchmarks (``moss bench ui``), screenshots (``moss screenshots``) and tests only; never used for a real
chat. It "loads" a gpt-oss-20b that exists in name only (no file is read, nothing is allocated), renders prompts
in harmony as gpt-oss does, fits a long conversation into its context as the real engine does
(app.engine.context_fit, over estimated token ids), and streams a given reply — reasoning first, then the answer,
like harmony's channels — at ``tokens_per_second``, so the window can be driven at a fast model's speed on a
machine without a GPU. Everything is deterministic: the same reply is cut into the same tokens (a word piece of
about four characters, as a real tokenizer does) and the statistics follow from them; only the timings are
measured.

The real model thread drives it: ``EngineController(SyntheticEngine(...))``.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app.core.errors import UserError
from app.core.types import (
    Delta,
    DeltaKind,
    FinishReason,
    GenerationParams,
    GenerationResult,
    LoadOptions,
    LoadParams,
    Message,
    ModelInfo,
    ReasoningEffort,
    Role,
    ToolOffer,
)
from app.devtools.synthetic_text import LONG_REASONING, long_markdown
from app.engine.context_fit import common_prefix, fit_to_context, reply_reserve
from app.engine.formats.base import prompt_text
from app.engine.formats.harmony import HarmonyChatFormat
from app.engine.loading import check_run_settings, with_run_settings
from app.engine.protocol import DeltaCallback, LoadCancelled, ProgressCallback
from app.engine.reply import ReplyCollector

log = logging.getLogger(__name__)

SYNTHETIC_MODEL_FILE = "gpt-oss-20b-mxfp4.gguf"
_GPT_OSS_20B_BYTES = 12_109_566_560
_GPT_OSS_TRAIN_CTX = 131_072
_PROMPT_OVERHEAD = 40  # harmony's system message: identity, date, reasoning effort, channels
_MESSAGE_OVERHEAD = 4  # <|start|>role<|message|> … <|end|>
_CHARS_PER_TOKEN = 4
_ROLE_IDS = {role: number for number, role in enumerate(Role, start=1)}  # a role's stand-in markup id
# A word with its leading space (up to 6 letters, as common words are one token), a number (up to 3 digits),
# one other character, or a run of spaces.
_TOKEN = re.compile(r" ?[A-Za-z]{1,6}| ?\d{1,3}| ?[^\sA-Za-z\d]|\s+")


def split_tokens(text: str) -> list[str]:
    """``text`` cut into token-sized pieces (about four characters each); joined, they give ``text`` back."""
    return _TOKEN.findall(text)


def prompt_token_ids(messages: Sequence[Message]) -> list[int]:
    """Stand-in token ids of the prompt for ``messages``, for fitting the context and reusing the "cache": a fixed
    system part, then each message's markup and one id per four characters of its text. The same text at the same
    place gives the same ids, so a conversation shares its prefix with the last prompt as a real tokenizer's
    would, and the counts stay cheap estimates."""
    ids = [0] * _PROMPT_OVERHEAD
    for message in messages:
        ids += _message_ids(message)
    return ids


@functools.lru_cache(maxsize=4096)  # fitting a long chat renders its messages once per cut tried
def _message_ids(message: Message) -> tuple[int, ...]:
    text = message.content
    pieces = (text[i : i + _CHARS_PER_TOKEN] for i in range(0, len(text), _CHARS_PER_TOKEN))
    return (_ROLE_IDS[message.role],) * _MESSAGE_OVERHEAD + tuple(zlib.crc32(piece.encode()) for piece in pieces)


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


class SyntheticEngine:
    """An Engine that streams ``reply`` (or the queued ``replies``) at a set speed.

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
        self._format = HarmonyChatFormat()  # renders without a vocabulary; no tokens are parsed here
        self._info: ModelInfo | None = None
        self._cached: list[int] = []  # what a real engine's KV cache would hold (prompt_token_ids)

    @property
    def info(self) -> ModelInfo | None:
        return self._info

    # -- loading ------------------------------------------------------------------------------------------

    def load(
        self,
        path: str | Path,
        options: LoadOptions = LoadOptions(),
        *,
        cancel: threading.Event | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> ModelInfo:
        """Take ``path`` (which need not exist) as gpt-oss-20b, reading nothing, in ``load_seconds``; the context
        is what ``options`` ask (32k otherwise), and the run settings are checked and kept as the real engine's."""
        check_run_settings(options)
        self.unload()
        steps = 10
        for step in range(steps + 1):
            if cancel is not None and cancel.is_set():
                raise LoadCancelled(f"loading {path} was replaced by a newer request")
            if on_progress is not None:
                on_progress(step / steps)
            if step < steps and self.load_seconds > 0:
                time.sleep(self.load_seconds / steps)
        n_ctx = (options.params.n_ctx if options.params is not None else None) or options.wanted_ctx or 32_768
        load_params = options.params or LoadParams(n_ctx=n_ctx, n_gpu_layers=-1, n_batch=512)
        chat_format = self._format
        self._info = ModelInfo(
            path=str(Path(path)),
            name=self.model_name,
            architecture="gpt-oss",
            chat_format=chat_format.name,
            n_ctx=n_ctx,
            n_ctx_train=_GPT_OSS_TRAIN_CTX,
            size_bytes=_GPT_OSS_20B_BYTES,
            supports_reasoning_effort=chat_format.supports_reasoning_effort,
            default_params=chat_format.default_params,  # gpt-oss's recommended sampling
            plan=(
                f"All 24 layers on your NVIDIA GeForce RTX 4080 (15.2 GB free); {n_ctx:,}-token context.",
                f"The model supports {_GPT_OSS_TRAIN_CTX:,} tokens of context; raise it if you need more.",
            ),
            load_params=with_run_settings(load_params, options),
        )
        log.info("synthetic model %s loaded as %s", self.model_name, path)
        return self._info

    def unload(self) -> None:
        self._info = None
        self._cached = []

    # -- prompting and generation -------------------------------------------------------------------------

    def render_prompt(
        self,
        messages: Sequence[Message],
        *,
        today: dt.date | None = None,
        reasoning_effort: ReasoningEffort = ReasoningEffort.MEDIUM,
        tools: ToolOffer | None = None,
    ) -> str:
        """The harmony prompt gpt-oss would be fed."""
        self._require_info()
        parts = self._format.render_parts(messages, today=today, reasoning_effort=reasoning_effort, tools=tools)
        return prompt_text(parts)

    def generate(
        self,
        messages: Sequence[Message],
        params: GenerationParams | None = None,
        *,
        cancel: threading.Event | None = None,
        on_delta: DeltaCallback | None = None,
        today: dt.date | None = None,
    ) -> GenerationResult:
        """Stream the next reply through ``on_delta``; stops within a token of ``cancel`` being set."""
        info = self._require_info()
        params = params or GenerationParams()
        cancel = cancel or threading.Event()
        collected = ReplyCollector(on_delta)
        self.prompts.append(tuple(messages))
        reserve = reply_reserve(info.n_ctx, params.max_tokens)
        tokens, dropped = fit_to_context(messages, prompt_token_ids, info.n_ctx, reserve, self._cached)
        evaluated = max(1, len(tokens) - common_prefix(self._cached, tokens))
        reply = self.replies.pop(0) if self.replies else self.reply
        pieces = [Delta(DeltaKind.REASONING, p) for p in split_tokens(reply.reasoning)]
        pieces += [Delta(DeltaKind.CONTENT, p) for p in split_tokens(reply.content)]
        stream = _Stream(self, cancel, collected)
        finish = FinishReason.STOP
        if cancel.wait(self.time_to_first_token_s):
            finish = FinishReason.CANCELLED
        for delta in pieces if finish == FinishReason.STOP else ():
            if collected.tokens >= params.max_tokens:
                finish = FinishReason.LENGTH
                break
            if len(tokens) + collected.tokens >= info.n_ctx:
                finish = FinishReason.CONTEXT
                break
            if not stream.send(delta):
                finish = FinishReason.CANCELLED
                break
        self._cached = [*tokens, *_message_ids(Message(Role.ASSISTANT, collected.text(DeltaKind.CONTENT)))]
        return collected.result(finish, prompt_tokens=len(tokens), evaluated=evaluated, dropped=dropped)

    def _require_info(self) -> ModelInfo:
        if self._info is None:
            raise UserError("No model is loaded. Pick a model first.")
        return self._info


class _Stream:
    """Sends one reply's tokens on a schedule of ``tokens_per_second``, pausing where the engine says."""

    def __init__(self, engine: SyntheticEngine, cancel: threading.Event, collected: ReplyCollector) -> None:
        self.engine = engine
        self.cancel = cancel
        self.collected = collected
        self._base: float | None = None  # when token 0 was due; moved on by a pause

    def send(self, delta: Delta) -> bool:
        """Wait for the token's turn and send it; False when cancelled first."""
        engine, count = self.engine, self.collected.tokens
        if self._base is None:
            self._base = time.perf_counter()
        elif engine.pause_after is not None and count == engine.pause_after:
            self._pause(delta.kind)
        if engine.tokens_per_second > 0:
            delay = self._base + count / engine.tokens_per_second - time.perf_counter()
            if delay > 0 and self.cancel.wait(delay):
                return False
        if self.cancel.is_set():
            return False
        self.collected.count_token()
        self.collected.emit([delta])
        return True

    def _pause(self, kind: DeltaKind) -> None:
        # The model thread passes text on only when more arrives, at most every few tens of ms: wait that
        # out and send an empty piece, so that everything said so far is on screen during the pause.
        time.sleep(0.06)
        self.collected.emit([Delta(kind, "")])
        self.engine.paused.set()
        stopped_at = time.perf_counter()
        while not self.engine.resume.wait(0.02) and not self.cancel.is_set():
            pass
        assert self._base is not None
        self._base += time.perf_counter() - stopped_at
