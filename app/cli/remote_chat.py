"""``moss chat --server NAME|URL --model MODEL``: one reply from a model on a server, as ``moss chat`` gives one
from a local file: the same conversation options, the app's sampling and instructions, the same ``--json`` fields.

Where the server reports no token usage, ``prompt_tokens`` is null and ``completion_tokens`` counts the streamed
chunks; ``prompt_tokens_evaluated`` is a number only where the server reports its cached tokens. A stream cut
midway prints what arrived (with ``--json``, as a reply whose ``finish_reason`` is ``error``) before the one-line
error, exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import threading
from typing import Any

from app.cli.chat import EXIT_INTERRUPTED, _cancel_on_interrupt, _conversation, _with_flags
from app.core.errors import UserError
from app.core.servers import RemoteServer, ServerError
from app.core.settings import Settings, generation_params
from app.core.types import Delta, DeltaKind, FinishReason, GenerationParams, GenerationResult
from app.engine.remote_engine import RemoteEngine
from app.hub.servers import open_engine, server_for
from app.platform.secrets import SecretStore


def add_options(chat: argparse.ArgumentParser) -> None:
    """``moss chat``'s options for a server, added to its parser."""
    chat.add_argument(
        "--server",
        metavar="NAME|URL",
        help="chat with --model (the model's name on the server) on this server: a name from `moss servers list`, "
        "or an API base URL such as http://gpu-box:8000/v1",
    )
    chat.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="with --server: the environment variable holding its API key (default: the key saved for it)",
    )


def key_from_env(variable: str | None) -> str | None:
    """The key in the environment variable named ``variable``; None when no variable is named."""
    if variable is None:
        return None
    value = os.environ.get(variable, "").strip()
    if not value:
        raise UserError(f"The environment variable {variable} is not set (or empty): set it to the server's API key.")
    return value


def chat(args: argparse.Namespace, app_settings: Settings, store: SecretStore) -> int:
    settings = _with_flags(app_settings, args)
    messages = _conversation(args, settings.system_prompt)
    server = server_for(app_settings, args.server)
    engine = open_engine(server, store, api_key=key_from_env(args.api_key_env))
    try:
        info = engine.load(args.model)
        params = dataclasses.replace(
            generation_params(settings, info.default_params, settings.effort),
            seed=args.seed,
            **({"temperature": args.temperature} if args.temperature is not None else {}),
        )
        cancel = threading.Event()
        previous = signal.signal(signal.SIGINT, _cancel_on_interrupt(cancel))
        try:
            result = engine.generate(messages, params, cancel=cancel, on_delta=_printer(args))
        except ServerError as exc:
            if exc.partial is not None:
                _print_result(args, exc.partial, engine, params, server)
            raise
        finally:
            signal.signal(signal.SIGINT, previous)
    finally:
        engine.close()
    _print_result(args, result, engine, params, server)
    return EXIT_INTERRUPTED if result.finish_reason == FinishReason.CANCELLED else 0


def _printer(args: argparse.Namespace) -> Any:
    """What streams to the terminal: the answer to stdout, the reasoning to stderr when asked (nothing with
    --json, which prints the whole reply at the end)."""

    def on_delta(delta: Delta) -> None:
        if args.json:
            return
        if delta.kind == DeltaKind.CONTENT:
            sys.stdout.write(delta.text)
            sys.stdout.flush()
        elif delta.kind == DeltaKind.REASONING and args.show_reasoning:
            sys.stderr.write(delta.text)
            sys.stderr.flush()
        elif delta.kind == DeltaKind.TOOL_CALL:
            print(f"\n(the model tried to use a tool, which Moss does not offer yet: {delta.text})", file=sys.stderr)

    return on_delta


def _print_result(
    args: argparse.Namespace,
    result: GenerationResult,
    engine: RemoteEngine,
    params: GenerationParams,
    server: RemoteServer,
) -> None:
    if not args.json:
        sys.stdout.write("\n")
        return
    reply = result.to_json()
    usage = engine.last_usage if result.finish_reason != FinishReason.ERROR else None
    if usage is None:  # the server reported no counts: none is made up
        reply["prompt_tokens"] = reply["prompt_tokens_evaluated"] = None
    elif usage.cached_tokens is None:
        reply["prompt_tokens_evaluated"] = None
    used = {
        "params": dataclasses.asdict(params),
        "server": {"name": server.name or None, "base_url": server.base_url},
        "model": engine.info.path if engine.info is not None else args.model,
    }
    print(json.dumps({**reply, **used}, ensure_ascii=False))
