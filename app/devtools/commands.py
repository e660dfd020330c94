"""The sub-commands that build the window offscreen: ``moss screenshots``, ``moss bench ui`` and
``moss bench --model PATH``.

Their arguments are defined in ``app.cli.gui_commands`` (without Qt); ``app.__main__`` imports this module
only when one of them runs. Qt's own warnings are collected and repeated on stderr at the end: a warning
means a picture or a figure may be wrong.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from app.core.errors import EXIT_BUG, UserError, run_command
from app.platform.paths import AppPaths

log = logging.getLogger(__name__)

# Said by the offscreen platform when a window is shown or raised; not a problem.
_HARMLESS_QT = ("This plugin does not support propagateSizeHints()", "This plugin does not support raise()")


class _QtWarnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if not any(harmless in message for harmless in _HARMLESS_QT):
            self.messages.append(message)


def run(args: argparse.Namespace, paths: AppPaths) -> int:
    """Run ``moss screenshots``, ``moss bench ui`` or ``moss bench --model``; returns the exit code."""
    # Offscreen whatever the display: these commands run on build machines and over SSH.
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("MOSS_SECRET_STORE", "memory")
    from app.qt.logging_bridge import install_qt_log_bridge

    install_qt_log_bridge()
    warnings = _QtWarnings()
    logging.getLogger("qt").addHandler(warnings)

    def dispatch() -> int:
        if args.command == "screenshots":
            return _screenshots(args)
        if args.command == "bench" and args.bench_command == "ui":
            if args.bench_model:
                raise UserError("`moss bench ui` uses a synthetic model. Leave out --model, or leave out `ui`.")
            return _bench_ui(args)
        if args.command == "bench":
            if not args.bench_model:
                raise UserError("Say what to measure: `moss bench --model PATH` for a model, or `moss bench ui`.")
            return _bench_model(args)
        raise AssertionError(f"unknown command {args.command!r}")

    try:
        code = run_command(args.command, dispatch, paths.log_file)
    finally:
        logging.getLogger("qt").removeHandler(warnings)
    for message in warnings.messages:
        print(f"moss: Qt warned: {message}", file=sys.stderr)
    return code


def _screenshots(args: argparse.Namespace) -> int:
    from app.devtools.screenshots import render_screenshots

    out_dir = Path(args.dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"Cannot create the folder {out_dir}: {exc.strerror}. Choose another folder.") from exc
    modes = ("light", "dark") if args.theme == "both" else (args.theme,)
    report = render_screenshots(out_dir, modes, out=print, font_size=args.font_size, minimum_size=args.minimum_size)
    return EXIT_BUG if report.failed else 0


def _bench_ui(args: argparse.Namespace) -> int:
    from app.devtools.bench_ui import format_table, run_ui_bench

    figures = run_ui_bench(messages=args.messages, tokens=args.tokens, tokens_per_second=args.tokens_per_second)
    print(json.dumps(figures) if args.json or args.bench_json else format_table(figures))
    return 0


def _bench_model(args: argparse.Namespace) -> int:
    from app.devtools.bench_model import format_table, run_model_bench

    def progress(text: str) -> None:
        print(f"moss bench: {text}…", file=sys.stderr, flush=True)

    figures = run_model_bench(
        args.bench_model,
        tokens=args.bench_tokens,
        repeat=args.bench_repeat,
        turns=args.bench_turns,
        progress=None if args.bench_json else progress,
    )
    print(json.dumps(figures) if args.bench_json else format_table(figures))
    return 0
