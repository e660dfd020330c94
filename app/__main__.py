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


def main(argv: list[str] | None = None) -> int:
    if getattr(sys, "frozen", False):
        _prepare_frozen_process()
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
        from app.devtools.commands import run as run_gui_command

        return run_gui_command(args, paths)
    if args.command:
        return cli.run(args, paths)
    from app.ui.app import run_gui

    return run_gui(paths, model_path=args.gui_model)


if __name__ == "__main__":
    sys.exit(main())
