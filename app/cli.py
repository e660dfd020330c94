"""Headless sub-commands: ``moss chat`` and ``moss prompt``. No Qt is imported here.

They run the same engine code as the GUI, on the main thread. A :class:`UserError` becomes one line on
stderr naming the problem, and exit code 2; no traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from app.core.errors import UserError
from app.core.types import FinishReason, GenerationParams, LoadParams, Message, ReasoningEffort, Role
from app.engine.chat_format import Delta
from app.engine.formats import select_chat_format
from app.engine.gguf_header import read_gguf_header
from app.engine.llama_engine import LlamaEngine
from app.platform.paths import AppPaths

log = logging.getLogger(__name__)

EXIT_BUG = 1
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
_DEFAULTS = GenerationParams()


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    chat = subparsers.add_parser("chat", help="get one reply from a model, streamed to stdout")
    chat.add_argument("prompt", nargs="?", help="the user's message (optional if the conversation ends with one)")
    chat.add_argument("--model", required=True, metavar="PATH", help="a GGUF model file")
    chat.add_argument("--system", metavar="TEXT", help="system prompt (instructions for the model)")
    chat.add_argument("--conversation", metavar="FILE.json", help="earlier turns: a list of {role, content}")
    chat.add_argument("--max-tokens", type=int, default=_DEFAULTS.max_tokens, metavar="N")
    chat.add_argument("--temperature", type=float, metavar="T", help="default: what the model's makers recommend")
    chat.add_argument(
        "--reasoning",
        type=ReasoningEffort,
        choices=list(ReasoningEffort),
        metavar="low|medium|high",
        default=ReasoningEffort.MEDIUM,
        help="how hard gpt-oss thinks before answering",
    )
    chat.add_argument("--show-reasoning", action="store_true", help="stream the model's reasoning to stderr")
    chat.add_argument("--seed", type=int, metavar="S", help="sampling seed, for repeatable replies")
    chat.add_argument("--context", type=int, default=LoadParams().n_ctx, metavar="N", help="context length")
    chat.add_argument("--json", action="store_true", help="print one JSON object instead of streaming text")

    prompt = subparsers.add_parser("prompt", help="print the exact prompt text the model would be fed")
    prompt.add_argument("--model", required=True, metavar="PATH", help="a GGUF model file")
    prompt.add_argument("--conversation", required=True, metavar="FILE.json", help="a list of {role, content}")
    prompt.add_argument("--date", type=_parse_date, metavar="YYYY-MM-DD", help="the date the prompt states")
    prompt.add_argument(
        "--reasoning",
        type=ReasoningEffort,
        choices=list(ReasoningEffort),
        metavar="low|medium|high",
        default=ReasoningEffort.MEDIUM,
        help="the reasoning effort the prompt states (gpt-oss)",
    )


def run(args: argparse.Namespace, paths: AppPaths) -> int:
    """Run the sub-command in ``args``; returns the process exit code."""
    try:
        if args.command == "chat":
            return _chat(args)
        if args.command == "prompt":
            return _prompt(args)
    except UserError as exc:
        print(f"moss: {exc.message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as exc:  # a bug: the traceback goes to the log file, one line to the person
        log.exception("moss %s failed", args.command)
        print(f"moss: unexpected error ({type(exc).__name__}: {exc}); details in {paths.log_file}", file=sys.stderr)
        return EXIT_BUG
    raise AssertionError(f"unknown command {args.command!r}")


def _parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date in YYYY-MM-DD form: {text!r}") from None


def load_conversation(path: str | Path) -> list[Message]:
    """Messages from a JSON file holding a list of ``{role, content[, reasoning]}``."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"Conversation file not found: {path}.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"Could not read the conversation file {path}: {exc}.") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path.name} is not valid JSON (line {exc.lineno}): {exc.msg}.") from None
    if not isinstance(raw, list):
        raise UserError(f"{path.name} must hold a JSON list of {{role, content}} messages.")
    messages = []
    for index, item in enumerate(raw):
        try:
            messages.append(Message.from_json(item))
        except ValueError as exc:
            raise UserError(f"{path.name}, message {index + 1}: {exc}.") from None
    return messages


def _conversation(args: argparse.Namespace) -> list[Message]:
    messages = load_conversation(args.conversation) if args.conversation else []
    if args.system is not None:
        messages = [Message(Role.SYSTEM, args.system), *(m for m in messages if m.role != Role.SYSTEM)]
    if args.prompt:
        messages.append(Message(Role.USER, args.prompt))
    if not messages or messages[-1].role != Role.USER:
        raise UserError("Nothing to answer: give a prompt, or a conversation that ends with a user message.")
    return messages


def _prompt(args: argparse.Namespace) -> int:
    messages = load_conversation(args.conversation)
    chat_format = select_chat_format(read_gguf_header(args.model))
    sys.stdout.write(chat_format.render(messages, today=args.date, reasoning_effort=args.reasoning))
    sys.stdout.flush()
    return 0


def _chat(args: argparse.Namespace) -> int:
    messages = _conversation(args)
    if args.max_tokens < 1:
        raise UserError("--max-tokens must be at least 1.")
    engine = LlamaEngine()
    info = engine.load(args.model, LoadParams(n_ctx=args.context))
    params = dataclasses.replace(
        info.default_params,  # the sampling the model's makers recommend, unless told otherwise
        max_tokens=args.max_tokens,
        seed=args.seed,
        reasoning_effort=args.reasoning,
        **({"temperature": args.temperature} if args.temperature is not None else {}),
    )
    cancel = threading.Event()
    stream = not args.json

    def on_delta(delta: Delta) -> None:
        if not stream:
            return
        if delta.kind == "content":
            sys.stdout.write(delta.text)
            sys.stdout.flush()
        elif delta.kind == "reasoning" and args.show_reasoning:
            sys.stderr.write(delta.text)
            sys.stderr.flush()
        elif delta.kind == "tool_call":
            print(f"\n(the model tried to use a tool, which Moss does not offer yet: {delta.text})", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, _cancel_on_interrupt(cancel))
    try:
        result = engine.generate(messages, params, cancel=cancel, on_delta=on_delta)
    finally:
        signal.signal(signal.SIGINT, previous)
        engine.unload()
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        sys.stdout.write("\n")
    return EXIT_INTERRUPTED if result.finish_reason == FinishReason.CANCELLED else 0


def _cancel_on_interrupt(cancel: threading.Event) -> Callable[[int, FrameType | None], None]:
    """Ctrl+C stops the reply (within a token) instead of killing the process mid-write."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        cancel.set()

    return handler
