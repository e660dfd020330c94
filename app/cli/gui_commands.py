"""The command-line definitions of the sub-commands that need the window: ``moss screenshots``,
``moss bench ui`` and ``moss bench --model PATH``. No Qt here: ``app.devtools.commands`` runs them, imported only
when one of them is asked for, so that the headless commands start without loading Qt."""

from __future__ import annotations

import argparse

GUI_COMMANDS = frozenset({"screenshots", "bench"})


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _speed(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive speed")
    return value


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    shots = subparsers.add_parser(
        "screenshots",
        help="render the app's main screens to PNG files (offscreen, with a synthetic model)",
        description="Render the main screens offscreen, with a synthetic gpt-oss-20b, to DIR/NAME-THEME.png.",
    )
    shots.add_argument("dir", metavar="DIR", help="the folder to write the PNG files to (created if needed)")
    shots.add_argument(
        "--theme", choices=("light", "dark", "both"), default="both", help="which theme(s) to render (default both)"
    )
    bench = subparsers.add_parser(
        "bench",
        help="measure how Moss performs on this computer",
        description="With --model: how fast a model runs in Moss (its engine, and its window offscreen) compared "
        "with a bare llama-cpp-python loop on the same model, whether chat turns reuse the KV cache, and how fast "
        "Moss starts and how much memory it holds idle. With `ui`: how the window copes with a fast reply.",
    )
    bench.add_argument("--model", dest="bench_model", metavar="PATH", help="the GGUF model to measure")
    bench.add_argument("--json", dest="bench_json", action="store_true", help="print one JSON object")
    bench.add_argument(
        "--tokens", dest="bench_tokens", type=_positive, default=128, metavar="N", help="tokens per reply (128)"
    )
    bench.add_argument(
        "--repeat", dest="bench_repeat", type=_positive, default=10, metavar="N",
        help="timed runs of each contender, after a warm-up (10)",
    )  # fmt: skip
    bench.add_argument(
        "--turns", dest="bench_turns", type=_positive, default=10, metavar="N", help="turns of the conversation (10)"
    )
    which = bench.add_subparsers(dest="bench_command", required=False, metavar="BENCH")
    ui = which.add_parser(
        "ui",
        help="how long the window stalls while a fast reply streams into a long chat",
        description="Stream a synthetic Markdown reply into the real window (offscreen) and measure how long "
        "its event loop is blocked. Nothing is timed against a real model.",
    )
    ui.add_argument("--json", action="store_true", help="print one JSON object")
    ui.add_argument("--messages", type=_positive, default=500, metavar="N", help="messages in the chat (500)")
    ui.add_argument("--tokens", type=_positive, default=1500, metavar="N", help="tokens in the reply (1500)")
    ui.add_argument(
        "--tokens-per-second", type=_speed, default=250.0, metavar="N", help="how fast the reply streams (250)"
    )
