"""Entry point: ``moss`` (or ``python -m app``) opens the app; sub-commands run headless."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import NoReturn

from app import __version__, cli
from app.cli.common import input_file
from app.cli.gui_commands import GUI_COMMANDS
from app.core.errors import EXIT_USER_ERROR, UserError, one_line
from app.platform.logging_setup import setup_logging
from app.platform.paths import DATA_DIR_ENV, AppPaths


class _Parser(argparse.ArgumentParser):
    """argparse, with a mistake on the command line said in one line (argparse's own prints the whole usage
    first): what is wrong and where to read the options. Sub-command parsers are made of this class too."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, one_line(f"{self.prog}: {message.rstrip('.')}. See `{self.prog} --help`.") + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = _Parser(
        prog="moss",
        description="Chat with OpenAI's gpt-oss models on your own computer, offline. "
        "Without a command, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"Moss {__version__}")
    parser.add_argument("--self-test", action="store_true", help="check this installation and exit")
    parser.add_argument("--data-dir", metavar="DIR", help="keep every file Moss writes under DIR")
    parser.add_argument(
        "--model", dest="gui_model", type=input_file, metavar="PATH", help="open the app with this model"
    )
    parser.add_argument("--verbose", action="store_true", help="also log to the terminal, llama.cpp included")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    cli.add_commands(subparsers)
    return parser


def _prepare_frozen_process() -> None:
    """What the packaged app (PyInstaller, build.spec) needs before the command line is read.

    multiprocessing: a frozen program is its own child process; ``freeze_support`` runs the child's work when
    the arguments say it is one (Windows), instead of parsing them as a Moss command line.

    Windows console: the packaged moss.exe is windowed, so that opening it from the Start menu shows no console
    window, and Windows gives a windowed program no standard output: ``moss.exe --version`` typed in a terminal
    would print nothing (and argparse fails writing to ``None``). With arguments, it attaches to the console of
    the terminal it was started from, if any, and writes there. The terminal does not wait for a windowed
    program, so the prompt may come back before the output; ``start /wait moss.exe ...`` waits. Output
    redirected to a file or pipe already has a stream and is left as it is.
    """
    import multiprocessing

    multiprocessing.freeze_support()
    if sys.platform != "win32" or len(sys.argv) < 2 or (sys.stdout is not None and sys.stderr is not None):
        return
    import ctypes

    attach_parent_process = -1
    if not ctypes.windll.kernel32.AttachConsole(attach_parent_process):
        return  # started from Explorer or a shortcut: there is no console to write to
    if sys.stdout is None:
        sys.stdout = open("CONOUT$", "w", encoding="utf-8", errors="replace")  # noqa: SIM115, PTH123
    if sys.stderr is None:
        sys.stderr = open("CONOUT$", "w", encoding="utf-8", errors="replace")  # noqa: SIM115, PTH123


def _not_text(arguments: list[str]) -> str | None:
    """The first argument (or ``$MOSS_DATA_DIR``) that is not UTF-8 text, shown with its odd bytes escaped.

    On Linux a terminal can pass any bytes; Python keeps the undecodable ones as lone surrogates, which
    SQLite, JSON files, the log and the terminal all refuse later, far from the cause. Moss refuses them here,
    once, whatever the command."""
    for value in [*arguments, os.environ.get(DATA_DIR_ENV, "")]:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            try:
                return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            except UnicodeEncodeError:  # a lone surrogate that stands for no byte (Windows)
                return ascii(value)[1:-1]
    return None


def main(argv: list[str] | None = None) -> int:
    if getattr(sys, "frozen", False):
        _prepare_frozen_process()
    arguments = sys.argv[1:] if argv is None else list(argv)
    odd = _not_text(arguments)
    if odd is not None:
        print(
            f"moss: '{one_line(odd)}' is not UTF-8 text. Moss reads its arguments and file names as UTF-8: rename "
            "the file, or type the text again.",
            file=sys.stderr,
        )
        return EXIT_USER_ERROR
    try:
        args = build_parser().parse_args(arguments)
    except SystemExit as exc:  # --help, --version, or a mistake (said in one line by _Parser.error)
        return exc.code if isinstance(exc.code, int) else EXIT_USER_ERROR
    try:
        paths = AppPaths.resolve(args.data_dir)
        paths.ensure()
    except UserError as exc:
        print(f"moss: {one_line(exc.message)}", file=sys.stderr)
        return EXIT_USER_ERROR
    setup_logging(paths.log_file, verbose=args.verbose)
    logging.getLogger(__name__).info("Moss %s starting: %s", __version__, " ".join(arguments))
    if args.self_test:
        from app.selftest import run_self_test

        return run_self_test(paths)
    if args.command in GUI_COMMANDS:  # they build the window offscreen: Qt is loaded only for them
        from app.devtools.commands import run as run_gui_command

        return run_gui_command(args, paths)
    if args.command:
        return cli.run(args, paths)
    from app.ui.app import run_gui

    return run_gui(paths, model_path=args.gui_model)


if __name__ == "__main__":
    sys.exit(main())
