"""Qt's own messages (warnings from Qt itself) into Python logging, so they reach the log file.

A fatal one also reaches the terminal: Qt aborts the process right after it (exit code 134, nothing shown), so
Moss says what happened, with Qt's last warnings (they name the cause) and what to do, and exits with code 2.
"""

from __future__ import annotations

import collections
import logging
import os
import sys

from PySide6.QtCore import QMessageLogContext, QtMsgType, qInstallMessageHandler

from app.core.errors import EXIT_USER_ERROR

log = logging.getLogger("qt")

_LEVELS = {
    QtMsgType.QtDebugMsg: logging.DEBUG,
    QtMsgType.QtInfoMsg: logging.INFO,
    QtMsgType.QtWarningMsg: logging.WARNING,
    QtMsgType.QtCriticalMsg: logging.ERROR,
    QtMsgType.QtFatalMsg: logging.CRITICAL,
}
_recent_warnings: collections.deque[str] = collections.deque(maxlen=4)


def _handler(kind: QtMsgType, _context: QMessageLogContext, message: str) -> None:
    log.log(_LEVELS.get(kind, logging.WARNING), "%s", message)
    if kind in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg):
        _recent_warnings.append(message)
    elif kind == QtMsgType.QtFatalMsg:
        _exit_with_explanation(message)


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.strip().splitlines() if line.strip())


def fatal_report(message: str, warnings: list[str], diagnosis: str | None) -> str:
    lines = ["Moss could not start: Qt, the toolkit of its window, stopped with this message:", _indent(message)]
    if warnings:
        lines.append("Qt's warnings just before:")
        lines += [_indent(warning) for warning in warnings]
    lines.append(diagnosis or "Run `moss --self-test` to check this installation; the log file has the details.")
    return "\n".join(lines)


def _exit_with_explanation(message: str) -> None:
    from app.qt.window_system import check_window_system

    try:
        check = check_window_system()
        diagnosis = check.problem
        if diagnosis is None and check.platform == "xcb":  # Qt's warnings blame libxcb-cursor0 whatever the cause
            diagnosis = (
                f"Qt's 'xcb' plugin and every library it needs are installed here, so look at the display: "
                f"DISPLAY is '{os.environ.get('DISPLAY', '')}'; start Moss from your desktop, or check that "
                "DISPLAY names a running X server."
            )
    except Exception:  # the explanation must never hide the message it explains
        log.exception("could not check the window system")
        diagnosis = None
    report = fatal_report(message, list(_recent_warnings), diagnosis)
    log.critical("%s", report)
    if sys.stderr is not None:  # a windowed program on Windows has no stderr
        sys.stderr.write(report + "\n")
        sys.stderr.flush()
    logging.shutdown()
    os._exit(EXIT_USER_ERROR)  # Qt would abort() next: no core dump, no "Aborted" for the user


def install_qt_log_bridge() -> None:
    qInstallMessageHandler(_handler)
