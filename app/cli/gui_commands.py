"""The command-line definitions of the sub-commands that need the window: ``moss screenshots``,
``moss bench ui`` and ``moss bench --model PATH``. No Qt here: ``app.devtools.commands`` runs them, imported only
when one of them is asked for, so that the headless commands start without loading Qt."""

from __future__ import annotations

import argparse

from app.cli.common import input_file, output_folder, real_number, whole_number
from app.core.settings import FONT_SIZES

GUI_COMMANDS = frozenset({"screenshots", "bench"})


# Bounded so that a slip (10^30 tokens, a speed of nan or inf) is refused at once rather than running for ever
# or filling the memory: far above what a measurement needs.
_count = whole_number(1, 100_000)
_runs = whole_number(1, 1000)
_speed = real_number(0.0, 100_000.0, above_low=True)


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    shots = subparsers.add_parser(
        "screenshots",
        help="render the app's main screens to PNG files (offscreen, with a synthetic model)",
        description="Render the main screens offscreen, with a synthetic gpt-oss-20b, to DIR/NAME-THEME.png.",
    )
    shots.add_argument(
        "dir", type=output_folder, metavar="DIR", help="the folder to write the PNG files to (created if needed)"
    )
    shots.add_argument(
        "--theme", choices=("light", "dark", "both"), default="both", help="which theme(s) to render (default both)"
    )
    shots.add_argument(
        "--font-size", type=whole_number(FONT_SIZES[0], FONT_SIZES[-1]), default=0, metavar="PT",
        help="the text size in points, as Settings → Appearance sets it (default: the system's size)",
    )  # fmt: skip
    shots.add_argument(
        "--minimum-size", action="store_true",
        help="render each window at the smallest size it can be made, rather than a laptop-sized one",
    )  # fmt: skip
    bench = subparsers.add_parser(
        "bench",
        help="measure how Moss performs on this computer",
        description="With --model: how fast a model runs in Moss (its engine, and its window offscreen) compared "
        "with a bare llama-cpp-python loop on the same model, whether chat turns reuse the KV cache, and how fast "
        "Moss starts and how much memory it holds idle. With `ui`: how the window copes with a fast reply.",
    )
    bench.add_argument("--model", dest="bench_model", type=input_file, metavar="PATH", help="the GGUF model to measure")
    bench.add_argument("--json", dest="bench_json", action="store_true", help="print one JSON object")
    bench.add_argument(
        "--tokens", dest="bench_tokens", type=_count, default=128, metavar="N", help="tokens per reply (128)"
    )
    bench.add_argument(
        "--repeat", dest="bench_repeat", type=_runs, default=10, metavar="N",
        help="timed runs of each contender, after a warm-up (10)",
    )  # fmt: skip
    bench.add_argument(
        "--turns", dest="bench_turns", type=_runs, default=10, metavar="N", help="turns of the conversation (10)"
    )
    which = bench.add_subparsers(dest="bench_command", required=False, metavar="BENCH")
    ui = which.add_parser(
        "ui",
        help="how long the window stalls while a fast reply streams into a long chat",
        description="Stream a synthetic Markdown reply into the real window (offscreen) and measure how long "
        "its event loop is blocked. Nothing is timed against a real model.",
    )
    ui.add_argument("--json", action="store_true", help="print one JSON object")
    ui.add_argument("--messages", type=_count, default=500, metavar="N", help="messages in the chat (500)")
    ui.add_argument("--tokens", type=_count, default=1500, metavar="N", help="tokens in the reply (1500)")
    ui.add_argument(
        "--tokens-per-second", type=_speed, default=250.0, metavar="N", help="how fast the reply streams (250)"
    )
