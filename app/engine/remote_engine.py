"""The Engine on a server: chat with a model served elsewhere through the OpenAI-compatible Chat Completions API.

:class:`RemoteEngine` implements the Engine protocol (app.engine.protocol) over the official ``openai`` SDK, for
one server (app.core.servers.RemoteServer): vLLM, llama.cpp's server, Ollama, LM Studio, Azure AI Foundry, AWS
Bedrock or any other. Nothing is placed on this machine:

* ``load(model_id)`` checks that the server answers, accepts the key and serves that model (a server that lists
  no models is taken at its word); the model's info says where it runs;
* ``generate`` sends the conversation as OpenAI messages (the server applies the model's chat template) and
  streams the answer: the reasoning from the fields servers use for it (``reasoning_content``: vLLM, llama.cpp's
  server; ``reasoning``: Ollama and others), or parsed from raw harmony markup where a server returns gpt-oss's
  output unparsed (app.engine.remote_stream); token counts from the usage the stream reports (asked for with
  ``stream_options``), counted by chunk where a server reports none; time to first token and speed measured here.
  Stop returns at once, even while the server is silent (the stream is read on a helper thread);
* gpt-oss models get the reply's ``reasoning_effort``; a server that refuses the field is asked again without it,
  once, and not sent it again (the log says so);
* every failure is a :class:`~app.core.servers.ServerError` of one line (app.engine.remote_errors); a stream cut
  midway keeps what arrived, as ``partial`` with the finish reason ERROR, as a local reply that failed is kept.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.errors import UserError
from app.core.servers import RemoteServer, ServerError, is_gpt_oss_name, is_local_address
from app.core.types import (
    Delta,
    DeltaKind,
    FinishReason,
    GenerationParams,
    GenerationResult,
    LoadOptions,
    Message,
    ModelInfo,
    ReasoningEffort,
    Role,
    ToolOffer,
)
from app.engine.formats.harmony import GPT_OSS_SAMPLING
from app.engine.protocol import DeltaCallback, LoadCancelled, ProgressCallback
from app.engine.remote_client import DEFAULT_TIMEOUTS, ServedModel, Timeouts, list_models, open_client
from app.engine.remote_errors import explain
from app.engine.remote_stream import CANCELLED, ENDED, ReplyText, StreamReader
from app.engine.reply import ReplyCollector

log = logging.getLogger(__name__)

_FINISH = {"stop": FinishReason.STOP, "length": FinishReason.LENGTH}
# Statuses of a server that has no model list (GET /models): its models are taken at the person's word.
_NO_MODEL_LIST = (404, 405, 501)


@dataclass(frozen=True, slots=True)
class ServerUsage:
    """The token counts a server reported for a reply; ``cached_tokens`` None where it does not say."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int | None = None


class RemoteEngine:
    """The Engine on one server. Call every method from one thread; ``cancel`` events may be set from any."""

    def __init__(
        self, server: RemoteServer, api_key: str | None = None, *, timeouts: Timeouts = DEFAULT_TIMEOUTS
    ) -> None:
        """``api_key``: the server's key (None: none is sent). Raises ServerError when the server's CA file cannot
        be used. Nothing is sent until ``load``."""
        self.server = server
        self.timeouts = timeouts
        self._client = open_client(server, api_key, timeouts)
        self._info: ModelInfo | None = None
        self._sends_effort = True  # until the server refuses the field
        self.last_usage: ServerUsage | None = None  # of the last reply, when the server reported it

    @property
    def info(self) -> ModelInfo | None:
        return self._info

    def close(self) -> None:
        """Let go of the connections to the server (the engine can still load again afterwards)."""
        self._client.close()

    def __enter__(self) -> RemoteEngine:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- loading ------------------------------------------------------------------------------------------

    def models(self) -> list[ServedModel] | None:
        """What the server serves, or None when it lists no models; raises ServerError when it cannot be asked."""
        import openai

        try:
            return list_models(self._client)
        except openai.APIStatusError as exc:
            if exc.status_code in _NO_MODEL_LIST:
                return None
            raise self._explained(exc) from None
        except Exception as exc:
            raise self._explained(exc) from None

    def load(
        self,
        path: str | Path,
        options: LoadOptions = LoadOptions(),
        *,
        cancel: threading.Event | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> ModelInfo:
        """Use the model ``path`` (its id on the server) once the server confirms it serves it. ``options`` do not
        apply: nothing is loaded on this machine. A failure leaves the model in use before as it was."""
        if on_progress is not None:
            on_progress(0.0)
        model = str(path).strip()
        if not model:
            raise UserError(f"Name the model to use on {self.server.label}.")
        if cancel is not None and cancel.is_set():
            raise LoadCancelled()
        served = self.models()
        if cancel is not None and cancel.is_set():
            raise LoadCancelled()
        context = 0
        if served:
            found = next((m for m in served if m.id == model), None)
            if found is None:
                names = ", ".join(m.id for m in served[:8]) + (" …" if len(served) > 8 else "")
                raise ServerError(f"{self.server.label} does not serve {model}. It serves: {names}. Pick one of those.")
            context = found.context_length
        gpt_oss = is_gpt_oss_name(model)
        self._sends_effort = True
        self._info = ModelInfo(
            path=model,
            name=model,
            architecture="gpt-oss" if gpt_oss else "",
            chat_format="the server's",
            n_ctx=context,
            n_ctx_train=context,
            size_bytes=0,
            supports_reasoning_effort=gpt_oss,
            default_params=GPT_OSS_SAMPLING if gpt_oss else GenerationParams(),
            plan=_plan_lines(self.server, served is not None),
        )
        if on_progress is not None:
            on_progress(1.0)
        return self._info

    def unload(self) -> None:
        self._info = None

    # -- prompting ----------------------------------------------------------------------------------------

    def render_prompt(
        self,
        messages: Sequence[Message],
        *,
        today: dt.date | None = None,
        reasoning_effort: ReasoningEffort = ReasoningEffort.MEDIUM,
        tools: ToolOffer | None = None,
    ) -> str:
        """What is sent, as JSON: the server renders the prompt itself with the model's chat template."""
        info = self._require_model()
        request: dict[str, Any] = {"model": info.path, "messages": openai_messages(messages)}
        if info.supports_reasoning_effort and self._sends_effort:
            request["reasoning_effort"] = reasoning_effort.value
        return json.dumps(request, ensure_ascii=False, indent=1)

    # -- generation ---------------------------------------------------------------------------------------

    def generate(
        self,
        messages: Sequence[Message],
        params: GenerationParams | None = None,
        *,
        cancel: threading.Event | None = None,
        on_delta: DeltaCallback | None = None,
        today: dt.date | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> GenerationResult:
        """Stream a reply to ``messages`` from the server. ``extra_body``: fields beyond the OpenAI API that a
        server takes (llama.cpp's ``grammar``, vLLM's ``chat_template_kwargs``); tests use it to script replies."""
        params = params or GenerationParams()
        cancel = cancel or threading.Event()
        info = self._require_model()
        request: dict[str, Any] = {
            "model": info.path,
            "messages": openai_messages(messages),
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.seed is not None:
            request["seed"] = params.seed
        if extra_body:
            request["extra_body"] = extra_body
        effort = params.reasoning_effort.value if info.supports_reasoning_effort else None
        reply = ReplyCollector(on_delta)
        text = ReplyText()
        finish: FinishReason | None = None
        usage: ServerUsage | None = None
        arrived = False
        self.last_usage = None
        reader = StreamReader(lambda: self._open_stream(request, effort))
        try:
            while True:
                item = reader.next(cancel)
                if item is CANCELLED:
                    finish = FinishReason.CANCELLED
                    break
                if item is ENDED:
                    break
                arrived = True
                usage = _usage(item) or usage
                finish = self._take_chunk(item, reply, text) or finish
        except Exception as exc:
            reply.emit(text.finish())
            partial = self._result(reply, FinishReason.ERROR, usage) if arrived else None
            raise self._explained(exc, partial=partial) from None
        reply.emit(text.finish())
        if finish is None:  # the stream ended without saying why: the server stopped short
            partial = self._result(reply, FinishReason.ERROR, usage)
            raise ServerError(
                f"{self.server.label} ended the reply before it was finished. What had arrived is kept. Try again.",
                partial=partial,
            )
        self.last_usage = usage
        return self._result(reply, finish, usage)

    def _open_stream(self, request: dict[str, Any], effort: str | None) -> Any:
        """Send the request (on the reader's thread); once, a server that refuses reasoning_effort is asked again
        without it."""
        import openai

        create: Any = self._client.chat.completions.create  # (its overloads want literal keywords)
        if effort is None or not self._sends_effort:
            return create(**request)
        try:
            return create(**request, reasoning_effort=effort)
        except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
            log.warning(
                "%s refused a request with reasoning_effort (HTTP %d); asking again without it, and not sending it "
                "to this server again",
                self.server.label,
                exc.status_code,
            )
            self._sends_effort = False
            return create(**request)

    @staticmethod
    def _take_chunk(chunk: Any, reply: ReplyCollector, text: ReplyText) -> FinishReason | None:
        """Feed one chunk's text to the reply; returns its finish reason when it has one."""
        finish = None
        for choice in getattr(chunk, "choices", None) or []:
            delta = choice.delta
            extra = (delta.model_extra or {}) if delta is not None else {}
            reasoning = extra.get("reasoning_content") or extra.get("reasoning")
            content = delta.content if delta is not None else None
            if (isinstance(reasoning, str) and reasoning) or content:
                reply.count_token()
            if isinstance(reasoning, str) and reasoning:
                reply.emit([Delta(DeltaKind.REASONING, reasoning)])
            if content:
                reply.emit(text.feed(content))
            if choice.finish_reason:
                finish = _FINISH.get(choice.finish_reason, FinishReason.STOP)
            break  # one choice asked for: any other is not this reply
        return finish

    def _result(self, reply: ReplyCollector, finish: FinishReason, usage: ServerUsage | None) -> GenerationResult:
        if usage is not None and usage.completion_tokens > 0:
            reply.tokens = usage.completion_tokens  # the server's count (a chunk may carry several tokens)
        prompt = usage.prompt_tokens if usage is not None else 0
        cached = usage.cached_tokens if usage is not None else None
        evaluated = max(0, prompt - cached) if cached is not None else prompt
        return reply.result(finish, prompt_tokens=prompt, evaluated=evaluated)

    def _explained(self, exc: BaseException, *, partial: GenerationResult | None = None) -> BaseException:
        """``exc`` as a ServerError (a 404 names what the server serves), or ``exc`` itself when it is a bug."""
        import openai

        model = self._info.path if self._info is not None else None
        served = None
        if isinstance(exc, openai.NotFoundError) and model is not None:
            try:
                served = [m.id for m in list_models(self._client)]
            except Exception:  # no list to offer: the message says what to check instead
                served = None
        error = explain(exc, self.server, model=model, timeouts=self.timeouts, served=served, partial=partial)
        if error is None:
            return exc
        log.info("%s: %s", self.server.label, error.message)
        return error

    def _require_model(self) -> ModelInfo:
        if self._info is None:
            raise UserError("No model is chosen on the server yet. Pick a model first.")
        return self._info


def _usage(chunk: Any) -> ServerUsage | None:
    usage = getattr(chunk, "usage", None)
    if usage is None or not isinstance(usage.prompt_tokens, int):
        return None
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) if details is not None else None
    return ServerUsage(usage.prompt_tokens, usage.completion_tokens or 0, cached if isinstance(cached, int) else None)


def _plan_lines(server: RemoteServer, lists_models: bool) -> tuple[str, ...]:
    """Where the model runs, in words (the first line is the summary the window shows)."""
    if is_local_address(server.base_url):
        where = f"Runs in a server on this computer ({server.label}): nothing leaves this computer."
    else:
        where = f"Runs on the server {server.label}: your messages are sent there, and nothing is loaded here."
    lines = [where, f"Base URL: {server.base_url}."]
    if not lists_models:
        lines.append("The server lists no models: the model's name was taken as given.")
    return tuple(lines)


def openai_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """A conversation as Chat Completions messages: blank system messages left out, an assistant's earlier
    reasoning not sent back (as harmony drops it), function calls and their results in OpenAI's form."""
    sent: list[dict[str, Any]] = []
    for message in messages:
        if message.role is Role.SYSTEM:
            if message.content.strip():
                sent.append({"role": "system", "content": message.content})
        elif message.role is Role.USER:
            sent.append({"role": "user", "content": message.content})
        elif message.role is Role.ASSISTANT:
            item: dict[str, Any] = {"role": "assistant", "content": message.content}
            calls = [call for call in message.tool_calls if call.function_name]
            if calls:
                item["tool_calls"] = [
                    {
                        "id": call.id or f"call_{index}",
                        "type": "function",
                        "function": {"name": call.function_name, "arguments": call.arguments},
                    }
                    for index, call in enumerate(calls)
                ]
            if message.content or calls:
                sent.append(item)
        elif message.role is Role.TOOL and message.tool_call_id:
            sent.append({"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content})
    return sent
