"""Entry point: ``moss`` (or ``python -m app``) opens the app; sub-commands run headless."""

from __future__ import annotations

import argparse
import logging
import sys

from app import __version__, cli
from app.cli.gui_commands import GUI_COMMANDS
from app.platform.logging_setup import setup_logging
from app.platform.paths import AppPaths


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moss",
        description="Chat with OpenAI's gpt-oss models on your own computer, offline. "
        "Without a command, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"Moss {__version__}")
    parser.add_argument("--self-test", action="store_true", help="check this installation and exit")
    parser.add_argument("--data-dir", metavar="DIR", help="keep every file Moss writes under DIR")
    parser.add_argument("--model", dest="gui_model", metavar="PATH", help="open the app with this model")
    parser.add_argument("--verbose", action="store_true", help="also log to the terminal, llama.cpp included")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    cli.add_commands(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    paths = AppPaths.resolve(args.data_dir)
    try:
        paths.ensure()
    except OSError as exc:
        print(f"moss: cannot create the folder {exc.filename}: {exc.strerror}", file=sys.stderr)
        return cli.EXIT_USER_ERROR
    setup_logging(paths.log_file, verbose=args.verbose)
    logging.getLogger(__name__).info("Moss %s starting: %s", __version__, " ".join(sys.argv[1:]))
    if args.self_test:
        from app.selftest import run_self_test

        return run_self_test(paths)
    if args.command in GUI_COMMANDS:  # they build the window offscreen: Qt is loaded only for them
        from app.ui.commands import run as run_gui_command

        return run_gui_command(args, paths)
    if args.command:
        return cli.run(args, paths)
    from app.ui.app import run_gui

    return run_gui(paths, model_path=args.gui_model)


if __name__ == "__main__":
    sys.exit(main())
