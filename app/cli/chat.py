"""``moss chat``, ``moss prompt`` and ``moss plan``: the engine from the command line, on the main thread.

``moss chat`` answers as the app would: it reads the app's settings file and builds the load and the sampling
with the same functions as the window (app.core.settings), so a model loads and samples as it does in the app;
its flags override those settings for one run."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from app.cli.common import input_file, model_file_or_url, real_number, whole_number
from app.cli.json_files import load_conversation as load_conversation  # (re-exported: app.cli)
from app.cli.json_files import load_tools
from app.core.errors import UserError
from app.core.settings import Settings, generation_params, load_options
from app.core.types import BuiltinTool, Delta, FinishReason, Message, ReasoningEffort, Role, ToolOffer
from app.engine.formats.base import prompt_text
from app.engine.formats.selection import select_chat_format
from app.engine.gguf_header import read_gguf_header
from app.engine.hardware import parse_size, probe_machine, simulated_machine
from app.engine.llama_engine import LlamaEngine
from app.engine.load_probe import CHECKED_MODELS
from app.engine.model_layout import model_layout
from app.engine.planner import plan as plan_load
from app.hub.remote_header import read_remote_gguf_header
from app.platform.paths import AppPaths
from app.platform.settings_store import load_settings

EXIT_INTERRUPTED = 130
# What a person may ask for on the command line: the window's own limits (Settings → Inference), and what
# llama.cpp's C fields hold (the seed is a uint32).
MAX_CONTEXT = 1 << 20
MAX_TEMPERATURE = 2.0
MAX_SEED = 2**32 - 1
MAX_MEMORY = 2**50
_context_length = whole_number(1, MAX_CONTEXT, "leave the option out for the automatic length")


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    chat = subparsers.add_parser(
        "chat",
        help="get one reply from a model, streamed to stdout",
        description="Get one reply from a model, streamed to stdout, loaded and sampled as the app's settings say "
        "(the loading choices, CPU threads and batch size, sampling, reply length, reasoning effort and "
        "instructions of Settings); the options below override them for this reply.",
    )
    chat.add_argument("prompt", nargs="?", help="the user's message (optional if the conversation ends with one)")
    chat.add_argument(
        "--model", required=True, type=input_file, metavar="PATH", help="a GGUF model file (--server: its name there)"
    )
    chat.add_argument(
        "--system", metavar="TEXT", help="system prompt (default: the app's, from its settings; '' for none)"
    )
    chat.add_argument(
        "--conversation", type=input_file, metavar="FILE.json", help="earlier turns: a list of {role, content}"
    )
    chat.add_argument(
        "--max-tokens",
        type=whole_number(1, MAX_CONTEXT),
        metavar="N",
        help="the longest the reply may be, in tokens (default: the app's limit, 4096 unless changed)",
    )
    chat.add_argument(
        "--temperature",
        type=real_number(0.0, MAX_TEMPERATURE),
        metavar="T",
        help="sampling temperature (default: the app's sampling; unless changed there, what the model's makers "
        "recommend)",
    )
    _add_reasoning_option(
        chat, "how hard gpt-oss thinks before answering (default: the app's, medium unless changed)", None
    )
    chat.add_argument("--show-reasoning", action="store_true", help="stream the model's reasoning to stderr")
    chat.add_argument(
        "--seed", type=whole_number(0, MAX_SEED), metavar="S", help="sampling seed, for repeatable replies"
    )
    chat.add_argument(
        "--context",
        type=_context_length,
        metavar="N",
        help="context length (default: the app's; unless changed there, as long as fits, up to 32k)",
    )
    chat.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object instead of streaming text (with the sampling and load used)",
    )

    prompt = subparsers.add_parser(
        "prompt",
        help="print the exact prompt text the model would be fed",
        description="Print the exact prompt text the model would be fed for a conversation, with the tools it "
        "would be offered.",
    )
    prompt.add_argument("--model", required=True, type=input_file, metavar="PATH", help="a GGUF model file")
    prompt.add_argument(
        "--conversation",
        required=True,
        type=input_file,
        metavar="FILE.json",
        help="a list of {role, content}; assistant messages may hold OpenAI-style tool_calls, and tool messages "
        "(tool_call_id, content) their results",
    )
    prompt.add_argument(
        "--date",
        type=_parse_date_or_none,
        metavar="YYYY-MM-DD|none",
        help="the date the prompt states (default: today; none: no date, gpt-oss only)",
    )
    _add_reasoning_option(prompt, "the reasoning effort the prompt states (gpt-oss)", ReasoningEffort.MEDIUM)
    prompt.add_argument(
        "--tools",
        type=input_file,
        metavar="TOOLS.json",
        help="functions the model may call: the tools array of an OpenAI Chat Completions request (gpt-oss only)",
    )
    prompt.add_argument(
        "--python-tool", action="store_true", help="offer Moss's Python tool, as the app describes it (gpt-oss only)"
    )

    plan = subparsers.add_parser("plan", help="how a model would run on this (or a described) machine")
    plan.add_argument(
        "--model",
        required=True,
        type=model_file_or_url,
        metavar="PATH|URL",
        help="a GGUF file or its URL (only the header is read)",
    )
    plan.add_argument("--vram", type=_size, metavar="SIZE", help="plan for a GPU with this much memory (16GiB)")
    plan.add_argument("--ram", type=_size, metavar="SIZE", help="plan for this much system RAM (32GiB)")
    plan.add_argument("--unified", action="store_true", help="plan for Apple Silicon unified memory (with --ram)")
    plan.add_argument("--ctx", type=_context_length, metavar="N", help="the context length wanted (default: up to 32k)")
    plan.add_argument("--json", action="store_true", help="print one JSON object")


def _add_reasoning_option(parser: argparse.ArgumentParser, help_text: str, default: ReasoningEffort | None) -> None:
    parser.add_argument(
        "--reasoning",
        type=ReasoningEffort,
        choices=list(ReasoningEffort),
        metavar="low|medium|high",
        default=default,
        help=help_text,
    )


def run(args: argparse.Namespace, paths: AppPaths) -> int | None:
    """Run ``args.command`` if it is one of this module's; None if it is not."""
    if args.command == "chat":
        return _chat(args, load_settings(paths.settings_file), paths.cache / CHECKED_MODELS)
    if args.command == "prompt":
        return _prompt(args)
    if args.command == "plan":
        return _plan(args)
    return None


def _size(text: str) -> int:
    try:
        size = parse_size(text)
    except UserError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None
    if size > MAX_MEMORY:
        raise argparse.ArgumentTypeError(f"{text!r} is more memory than any computer Moss plans for (1 PiB at most)")
    return size


def _plan(args: argparse.Namespace) -> int:
    if args.model.startswith(("http://", "https://")):
        header, _ = read_remote_gguf_header(args.model)  # plan before downloading: a few MB, not the model
    else:
        header = read_gguf_header(args.model)
    layout = model_layout(header)
    if args.vram is not None or args.ram is not None or args.unified:
        if args.ram is None:
            raise UserError("To describe a machine, give at least --ram (and --vram for its GPU).")
        machine = simulated_machine(args.vram, args.ram, unified=args.unified)
    else:
        machine = probe_machine()
    chosen = plan_load(layout, machine, wanted_ctx=args.ctx)
    if args.json:
        print(json.dumps(chosen.to_json()))
    else:
        print("\n".join(chosen.reasons))
        if chosen.fits:
            vram, ram = chosen.vram_bytes / 1e9, chosen.ram_bytes / 1e9
            print(f"Needs about {vram:.1f} GB of GPU memory and {ram:.1f} GB of RAM.")
    return 0


NO_DATE = "none"  # `moss prompt --date none`: the prompt states no date


def _parse_date_or_none(text: str) -> dt.date | str:
    if text == NO_DATE:
        return NO_DATE
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date in YYYY-MM-DD form, nor none: {text!r}") from None


def _conversation(args: argparse.Namespace, default_system: str) -> list[Message]:
    """The messages to answer: the conversation file, ``--system`` (else the app's default system prompt when
    the file has none, as in the app), then the prompt."""
    messages = load_conversation(args.conversation) if args.conversation else []
    system = args.system
    if system is None and default_system.strip() and not any(m.role == Role.SYSTEM for m in messages):
        system = default_system
    if system is not None:
        messages = [Message(Role.SYSTEM, system), *(m for m in messages if m.role != Role.SYSTEM)]
    if args.prompt:
        messages.append(Message(Role.USER, args.prompt))
    if not messages or messages[-1].role != Role.USER:
        raise UserError("Nothing to answer: give a prompt, or a conversation that ends with a user message.")
    return messages


def _prompt(args: argparse.Namespace) -> int:
    messages = load_conversation(args.conversation)
    functions = load_tools(args.tools) if args.tools else ()
    tools = ToolOffer(functions, (BuiltinTool.PYTHON,) if args.python_tool else ())
    chat_format = select_chat_format(read_gguf_header(args.model))
    parts = chat_format.render_parts(
        messages,
        today=args.date if isinstance(args.date, dt.date) else None,
        reasoning_effort=args.reasoning,
        tools=tools,
        state_date=args.date != NO_DATE,
    )
    sys.stdout.write(prompt_text(parts))
    sys.stdout.flush()
    return 0


def _with_flags(settings: Settings, args: argparse.Namespace) -> Settings:
    """The app's settings with what ``moss chat``'s flags say instead (those given)."""
    effort = args.reasoning.value if args.reasoning is not None else None
    flags = {"context_length": args.context, "max_tokens": args.max_tokens, "reasoning_effort": effort}
    return dataclasses.replace(settings, **{name: value for name, value in flags.items() if value is not None})


def _chat(args: argparse.Namespace, app_settings: Settings, checked_models: Path) -> int:
    settings = _with_flags(app_settings, args)
    messages = _conversation(args, settings.system_prompt)
    engine = LlamaEngine(checked_models=checked_models)
    info = engine.load(args.model, load_options(settings))
    params = dataclasses.replace(
        generation_params(settings, info.default_params, settings.effort),
        seed=args.seed,
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
        used = {"params": dataclasses.asdict(params), "load_params": dataclasses.asdict(info.load_params)}
        print(json.dumps({**result.to_json(), **used}, ensure_ascii=False))
    else:
        sys.stdout.write("\n")
    return EXIT_INTERRUPTED if result.finish_reason == FinishReason.CANCELLED else 0


def _cancel_on_interrupt(cancel: threading.Event) -> Callable[[int, FrameType | None], None]:
    """Ctrl+C stops the reply (within a token) instead of killing the process mid-write."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        cancel.set()

    return handler
