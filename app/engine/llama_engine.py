"""One llama.cpp model: load it, chat with it token by token, stop it, unload it.

:class:`LlamaEngine` implements the Engine protocol (app.engine.protocol), which says what every engine
promises. It is plain Python and not thread-safe: the GUI drives it from one worker thread (app.qt.engine_worker),
the command line from the main thread.

Generation is a hand-driven loop over llama-cpp-python's ``Llama`` rather than ``create_completion``:
- the prompt is evaluated in ``n_batch`` chunks with a cancel check between them, so a long prefill stops;
- only tokens after the longest prefix shared with what is already in the KV cache are evaluated, so a
  chat turn costs its new text, not the whole conversation;
- each token is decoded once, incrementally (``create_completion`` re-decodes the whole reply per token).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from app.core.errors import ModelTooBigError, NotEnoughFreeMemoryError, UserError
from app.core.types import (
    FinishReason,
    GenerationParams,
    GenerationResult,
    LoadOptions,
    LoadParams,
    Message,
    ModelInfo,
    ReasoningEffort,
    ToolOffer,
)
from app.engine import backend
from app.engine.context_fit import common_prefix, fit_to_context, reply_reserve
from app.engine.decoding import TokenDecoder
from app.engine.expert_offload import ExpertOffload
from app.engine.formats.base import ChatFormat, PromptPart, StreamParser, prompt_text
from app.engine.formats.harmony import HarmonyChatFormat, find_harmony_tokens
from app.engine.formats.selection import select_chat_format
from app.engine.gguf_header import GGUFHeader, read_gguf_header
from app.engine.hardware import Machine, probe_machine
from app.engine.load_probe import LoadProbe
from app.engine.loading import (
    LoadProgress,
    OutOfMemoryError,
    check_run_settings,
    create_llama,
    load_params_for,
    run_settings_text,
    with_run_settings,
)
from app.engine.model_layout import model_layout
from app.engine.plain_text import PlainTokenizer
from app.engine.planner import Verdict, decision_line, plan
from app.engine.protocol import DeltaCallback, LoadCancelled, ProgressCallback
from app.engine.reply import ReplyCollector

log = logging.getLogger(__name__)

# Rewrites the next-token logits (input_ids, logits) -> logits; tests use one to script a model's reply.
LogitsProcessor = Callable[[Any, Any], Any]
# Prompt parts remembered with their tokens (tokenize_prompt): a conversation of a few hundred messages.
PART_CACHE_SIZE = 1024


class LlamaEngine:
    """The Engine on llama.cpp: owns at most one loaded model. Call every method from the same thread."""

    def __init__(
        self, *, checked_models: Path | None = None, machine_probe: Callable[[], Machine] = probe_machine
    ) -> None:
        """``checked_models``: a folder that remembers the model files llama.cpp has read safely in a child
        process (app.engine.load_probe), so each is probed once; None remembers them for this process only.
        ``machine_probe`` reads this computer's memory before each planned load (tests give their own)."""
        self._probe = LoadProbe(checked_models)
        self._machine_probe = machine_probe
        self._llm: Any = None
        self._format: ChatFormat | None = None
        self._info: ModelInfo | None = None
        self._header: GGUFHeader | None = None
        self._offload: ExpertOffload | None = None
        self._swa_window = 0
        self._part_tokens: dict[tuple[str, bool], list[int]] = {}  # see tokenize_prompt
        self._keep_parts = 0  # the most parts one prompt had: the part cache keeps at least twice as many
        self._plain: PlainTokenizer | None = None  # people's text, never markup tokens

    @property
    def info(self) -> ModelInfo | None:
        return self._info

    @property
    def chat_format(self) -> ChatFormat | None:
        return self._format

    @property
    def llama(self) -> Any:
        """The loaded ``llama_cpp.Llama`` itself, for measuring llama.cpp without Moss around it (``moss bench``
        runs its baseline on this object rather than loading the model twice). Use it only on the engine's
        thread or while the engine is idle, and call :meth:`forget_cache` afterwards."""
        return self._require_model()

    def forget_cache(self) -> None:
        """Make the next reply evaluate its whole prompt, as if the KV cache were empty.

        What the cache holds is read from the ``Llama`` object's own record (``input_ids[:n_tokens]``), which
        its methods keep in step with llama.cpp; after someone else used the object, forgetting is the safe
        choice, and it gives every measured reply the same cold start. Same thread rules as :attr:`llama`."""
        if self._llm is not None:
            self._llm.reset()  # n_tokens = 0: the next eval removes every cached position first

    # -- loading ------------------------------------------------------------------------------------------

    def load(
        self,
        path: str | Path,
        options: LoadOptions = LoadOptions(),
        *,
        cancel: threading.Event | None = None,
        on_progress: ProgressCallback | None = None,
        machine: Machine | None = None,
    ) -> ModelInfo:
        """Load the GGUF at ``path`` in place of the current model; raises UserError if it cannot. A file found
        unusable before anything is allocated (its header, the probe) leaves the current model loaded.

        Without ``options.params``, the offload planner chooses them for ``machine`` (this computer unless given;
        another only in planner tests), for up to ``options.wanted_ctx`` tokens of context. If llama.cpp then runs
        out of memory anyway, the load is retried once with a plan for less memory. ``options.n_threads`` and
        ``n_batch`` override the planner's (or ``params``') values.

        ``on_progress`` is called on this thread with how far the load has come, 0.0 to 1.0 (1.0 once the model
        is ready), never going back. Setting ``cancel`` aborts the load within a tensor or so: it raises
        LoadCancelled, and nothing of the load (or of the model loaded before) stays in memory.
        """
        check_run_settings(options)
        params, wanted_ctx = options.params, options.wanted_ctx
        progress = LoadProgress(cancel, on_progress)
        progress.report(0.0)
        # The file is judged before the model loaded now is let go: a file that is no usable model (not a GGUF, a
        # damaged header, one llama.cpp would abort on) leaves the model that works loaded.
        header = read_gguf_header(path)  # every kind of unusable file fails here, with a clear message
        progress.check()
        # A file llama.cpp would abort on must not be loaded in this process (the window): tried in a child first.
        self._probe.check(header, backend.version(), lambda: progress.cancelled)
        chat_format = select_chat_format(header)
        layout = model_layout(header)
        # The old model goes before anything of the new one is allocated: two models never share the memory.
        self.unload()
        explanation: tuple[str, ...]
        planned = params is None
        if params is None and not layout.n_layers:
            # Not a layout Moss can size (an architecture it does not know): let llama.cpp judge the file.
            params, explanation = LoadParams(), ("Loaded with default settings: Moss cannot size this model.",)
        elif params is None:
            machine = machine or self._machine_probe()
            chosen = plan(layout, machine, wanted_ctx=wanted_ctx)
            log.info("%s", decision_line(header.path.name, machine, chosen))
            if not chosen.fits:
                refused = NotEnoughFreeMemoryError if chosen.verdict is Verdict.BUSY else ModelTooBigError
                raise refused(chosen.reasons[0])
            params, explanation = load_params_for(chosen), chosen.reasons
        else:
            layers = "all" if params.n_gpu_layers < 0 else str(params.n_gpu_layers)
            explanation = (
                f"Loaded as you set it: {params.n_ctx:,}-token context, GPU layers: {layers}, experts of "
                f"{params.n_cpu_moe} layers in RAM, KV cache {params.type_k}.",
            )
        params = with_run_settings(params, options)
        started = time.perf_counter()
        try:
            llm, offload = create_llama(header, params, progress)
        except OutOfMemoryError:
            if not planned or machine is None:
                raise
            smaller = plan(layout, _with_less_memory(machine), wanted_ctx=wanted_ctx)
            if not smaller.fits:
                raise
            log.warning("out of memory with the first plan; retrying with: %s", smaller.summary())
            params = with_run_settings(load_params_for(smaller), options)
            llm, offload = create_llama(header, params, progress)
            explanation = (
                smaller.reasons[0],
                "The first plan ran out of memory, so Moss loaded the model with less on the GPU.",
                *smaller.reasons[1:],
            )
        run_settings = run_settings_text(options)
        if run_settings is not None:
            explanation = (*explanation, run_settings)
        log.info("loaded %s in %.2f s with %s", header.path, time.perf_counter() - started, params)
        self._llm, self._offload, self._header = llm, offload, header
        self._plain = PlainTokenizer(llm)
        # With a short sliding-window cache, reusing a cached prefix needs a check (see _prefill).
        self._swa_window = 0 if params.swa_full else layout.sliding_window
        try:
            if isinstance(chat_format, HarmonyChatFormat):
                chat_format = HarmonyChatFormat(find_harmony_tokens(self.tokenize, header.path.name))
            progress.check()
        except (UserError, LoadCancelled):
            self.unload()
            raise
        self._format = chat_format
        self._info = ModelInfo(
            path=str(header.path),
            name=header.name,
            architecture=header.architecture,
            chat_format=chat_format.name,
            supports_reasoning_effort=chat_format.supports_reasoning_effort,
            default_params=chat_format.default_params,
            n_ctx=int(llm.n_ctx()),
            n_ctx_train=header.context_length,
            size_bytes=header.file_size,
            plan=(*explanation, *chat_format.notes),
            load_params=params,
        )
        progress.report(1.0)
        return self._info

    def unload(self) -> None:
        """Free the model and its context (no-op when none is loaded)."""
        llm, self._llm, self._format, self._info, self._header = self._llm, None, None, None, None
        self._part_tokens = {}  # tokens belong to the model's vocabulary
        self._plain = None
        if llm is not None:
            llm.close()
            log.info("unloaded model")
        self._offload = None  # llama.cpp kept pointers into it until the model was freed

    # -- prompting ----------------------------------------------------------------------------------------

    def render_prompt(
        self,
        messages: Sequence[Message],
        *,
        today: dt.date | None = None,
        reasoning_effort: ReasoningEffort = ReasoningEffort.MEDIUM,
        tools: ToolOffer | None = None,
    ) -> str:
        parts = self._require_format().render_parts(
            messages, today=today, reasoning_effort=reasoning_effort, tools=tools or None
        )
        return prompt_text(parts)

    def tokenize_prompt(self, parts: Sequence[PromptPart], *, whole: bool = False) -> list[int]:
        """Tokens of a rendered prompt: markup parts honour special-token text, people's text never does.

        With ``whole`` (a chat template's prompt, which llama.cpp and Transformers tokenize as one text), the
        parts' text is tokenized in one piece, exactly as they do, when that yields exactly the special tokens of
        the markup parts; when people's text brings one of its own (``<|im_end|><|im_start|>assistant`` typed in
        a message: a forged turn), or has runs too long for one piece, it is tokenized part by part instead.

        This is the one place where Moss's text reaches llama.cpp's tokenizer (plain_text.PlainTokenizer):
        long runs are cut there, so no text crashes llama.cpp's pre-tokenizer, and unpaired surrogates are
        replaced. Each turn renders the whole conversation again, and with gpt-oss's tokenizer (the ``gpt-4o``
        pre-tokenizer) a call into llama.cpp costs about 1.4 ms however short the text (measured by ``moss
        bench``), so the parts of recent prompts are remembered with their tokens: a turn tokenizes only its new
        parts. At least every part of the longest prompt of the current reply is kept (context fitting renders
        it several times)."""
        self._require_model()
        plain = self._plain
        assert plain is not None
        tokens = self._whole_tokens(plain, parts) if whole else None
        if tokens is None:
            tokens = []
            for part in parts:
                tokens += self._part_ids(plain, part)
        self._keep_parts = max(self._keep_parts, len(parts))
        while len(self._part_tokens) > max(PART_CACHE_SIZE, 2 * self._keep_parts):
            del self._part_tokens[next(iter(self._part_tokens))]
        return tokens

    def _part_ids(self, plain: PlainTokenizer, part: PromptPart) -> list[int]:
        """The tokens of one part, remembered (re-inserted last: the oldest entries go first)."""
        key = (part.text, part.special)
        ids = self._part_tokens.pop(key, None)
        if ids is None:
            # People's text never becomes markup, even where llama.cpp would match it.
            ids = plain.markup(part.text) if part.special else plain(part.text)
        self._part_tokens[key] = ids
        return ids

    def _whole_tokens(self, plain: PlainTokenizer, parts: Sequence[PromptPart]) -> list[int] | None:
        """The prompt tokenized as one text, or None when that is unsafe (see :meth:`tokenize_prompt`)."""
        text = prompt_text(parts)
        if len(plain.pieces(text)) != 1:
            return None
        tokens = plain.markup(text)
        expected = [t for part in parts if part.special for t in self._part_ids(plain, part) if plain.is_special(t)]
        found = [t for t in tokens if plain.is_special(t)]
        return tokens if found == expected else None

    def tokenize(self, text: str, *, special: bool = True) -> list[int]:
        """Tokens of ``text``; with ``special``, special-token text (``<|end|>``) becomes special tokens."""
        return self.tokenize_prompt([PromptPart(text, special=special)])

    def new_decoder(self) -> TokenDecoder:
        """A fresh incremental decoder for this model's vocabulary (one per reply)."""
        llm = self._require_model()
        return TokenDecoder(backend.llama().llama_model_get_vocab(llm.model))

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
        """Reply to ``messages``, calling ``on_delta`` for each piece of text as it is generated.

        Stops within a token (or a prefill chunk) of ``cancel`` being set; the result then says
        ``cancelled`` and holds what was generated so far.
        """
        params = params or GenerationParams()
        cancel = cancel or threading.Event()
        llm = self._require_model()
        chat_format = self._require_format()
        reply = ReplyCollector(on_delta)
        n_ctx = int(llm.n_ctx())
        self._keep_parts = 0  # the part cache follows this conversation (see tokenize_prompt)

        def render_tokens(selected: Sequence[Message]) -> list[int]:
            parts = chat_format.render_parts(
                selected, today=today, reasoning_effort=params.reasoning_effort, tools=params.tools or None
            )
            return self.tokenize_prompt(parts, whole=chat_format.tokenizes_whole)

        cached = llm.input_ids[: llm.n_tokens].tolist()
        reserve = reply_reserve(n_ctx, params.max_tokens)
        tokens, dropped = fit_to_context(messages, render_tokens, n_ctx, reserve, cached)
        if dropped:
            log.info("dropped the %d oldest messages to fit the context of %d", dropped, n_ctx)
        evaluated = self._prefill(llm, tokens, cached, cancel)
        parser = chat_format.new_parser()
        finish = FinishReason.CANCELLED
        if not cancel.is_set():
            finish = self._sample_loop(llm, params, cancel, parser, reply, logits_processor)
        reply.emit(parser.finish())
        return reply.result(finish, prompt_tokens=len(tokens), evaluated=evaluated, dropped=dropped)

    def _prefill(self, llm: Any, tokens: list[int], cached: list[int], cancel: threading.Event) -> int:
        """Evaluate the part of ``tokens`` not already in the KV cache (``cached``, what it holds); returns how
        many were evaluated."""
        # At least one token must be evaluated so that fresh logits exist to sample from.
        reuse = min(common_prefix(cached, tokens), len(tokens) - 1)
        if reuse and self._swa_window:
            # A short sliding-window cache has overwritten old positions: if the window before the reuse point
            # is gone, the windowed layers would silently miss context, so evaluate everything again.
            llama_cpp = backend.llama()
            oldest = llama_cpp.llama_memory_seq_pos_min(llama_cpp.llama_get_memory(llm.ctx), 0)
            if oldest > reuse - self._swa_window:
                reuse = 0
        # Llama.eval drops every cached position from n_tokens on before it decodes.
        llm.n_tokens = reuse
        if reuse == 0:
            llm.reset()
        todo = tokens[reuse:]
        step = max(1, int(llm.n_batch))
        for start in range(0, len(todo), step):
            if cancel.is_set():
                break
            llm.eval(todo[start : start + step])
        return int(llm.n_tokens) - reuse

    def _sample_loop(
        self,
        llm: Any,
        params: GenerationParams,
        cancel: threading.Event,
        parser: StreamParser,
        reply: ReplyCollector,
        logits_processor: LogitsProcessor | None,
    ) -> FinishReason:
        """Sample until the reply ends, feeding ``reply`` each token's deltas; returns why it ended."""
        llama_cpp = backend.llama()
        vocab = llama_cpp.llama_model_get_vocab(llm.model)
        n_ctx = int(llm.n_ctx())
        llm.set_seed(params.seed if params.seed is not None else llama_cpp.LLAMA_DEFAULT_SEED)
        # One sampler chain for the whole reply (Llama.sample() would rebuild it for every token).
        llm._sampler = llm._init_sampler(
            top_k=params.top_k,
            top_p=params.top_p,
            min_p=params.min_p,
            temp=params.temperature,
            repeat_penalty=params.repeat_penalty,
        )
        # A logits processor rewrites llama.cpp's logits buffer in place before each sample, rather than
        # through llama-cpp-python's custom-sampler callback (a C-to-Python call per token, marked "probably
        # broken" in its source).
        n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
        decoder = self.new_decoder()
        finish = FinishReason.LENGTH
        try:
            while reply.tokens < params.max_tokens:
                if cancel.is_set():
                    finish = FinishReason.CANCELLED
                    break
                if llm.n_tokens >= n_ctx:
                    finish = FinishReason.CONTEXT
                    break
                if logits_processor is not None:
                    logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(n_vocab,))
                    logits[:] = logits_processor(llm.input_ids[: llm.n_tokens], logits)
                token = int(llm.sample())
                if llama_cpp.llama_vocab_is_eog(vocab, token):
                    reply.emit(parser.feed(token, ""))  # harmony tells <|call|> from <|return|>
                    finish = FinishReason.STOP
                    break
                reply.count_token()
                reply.emit(parser.feed(token, decoder.decode(token)))
                if parser.ended:  # the format says the reply is over: a tool call made, or the user's turn begun
                    finish = FinishReason.STOP
                    break
                if reply.tokens < params.max_tokens:  # the last token is evaluated by the next prompt, if any
                    llm.eval([token])
        finally:
            llm._sampler = None
        tail = decoder.flush()
        if tail:
            reply.emit(parser.feed(-1, tail))
        return finish

    # -- helpers ------------------------------------------------------------------------------------------

    def _require_model(self) -> Any:
        if self._llm is None:
            raise UserError("No model is loaded. Pick a model first.")
        return self._llm

    def _require_format(self) -> ChatFormat:
        if self._format is None:
            raise UserError("No model is loaded. Pick a model first.")
        return self._format


def _with_less_memory(machine: Machine) -> Machine:
    """The machine as a retry sees it: a quarter less GPU memory, a tenth less RAM."""
    return dataclasses.replace(machine, gpu_free=int(machine.gpu_free * 0.75), ram_free=int(machine.ram_free * 0.9))
