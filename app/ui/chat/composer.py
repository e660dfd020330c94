"""The message box: Enter sends, Shift+Enter starts a new line, Esc stops a reply, Up in an empty box brings
back the last message; it grows with its text.

Text files pasted or dropped onto it are included in the message: a line naming the file, then its contents
in a fenced code block. Reading happens on the GUI thread, which is acceptable only because it is bounded:
at most 256 KB a file and 1 MB a paste, regular files only (a pipe or device could block for ever).
"""

from __future__ import annotations

import math
import re
import stat
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QKeyEvent, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from app.qt.task_runner import TaskRunner

_MIN_LINES = 2
_MAX_LINES = 10

FILE_LIMIT = 256 * 1024  # bytes of one included file
PASTE_LIMIT = 1024 * 1024  # bytes of all the files of one paste or drop

# The fence's language, from the file's extension (or whole name); anything else gets a plain fence.
_LANGUAGES = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "jsx",
    ".ts": "typescript",
    ".tsx": "tsx",
    ".json": "json",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".css": "css",
    ".scss": "scss",
    ".xml": "xml",
    ".svg": "xml",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".toml": "toml",
    ".ini": "ini",
    ".cfg": "ini",
    ".sh": "bash",
    ".bash": "bash",
    ".zsh": "zsh",
    ".ps1": "powershell",
    ".bat": "batch",
    ".sql": "sql",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hpp": "cpp",
    ".cs": "csharp",
    ".java": "java",
    ".kt": "kotlin",
    ".swift": "swift",
    ".go": "go",
    ".rs": "rust",
    ".rb": "ruby",
    ".php": "php",
    ".lua": "lua",
    ".r": "r",
    ".pl": "perl",
    ".csv": "csv",
    ".diff": "diff",
    ".patch": "diff",
}
_FILE_NAMES = {"dockerfile": "dockerfile", "makefile": "makefile", "cmakelists.txt": "cmake"}
_BACKTICK_RUN = re.compile(r"`+")


class Composer(QPlainTextEdit):
    """Signals: submitted(text) on Enter with non-blank text; stop_requested() on Esc; edit_last_requested()
    on Up while the box is empty; problem(message) when a pasted or dropped file cannot be included."""

    submitted = Signal(str)
    stop_requested = Signal()
    edit_last_requested = Signal()
    problem = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("composer")
        self._tasks = TaskRunner(self, threads=1)  # reads included files
        self.setAccessibleName("Message")
        self.setAccessibleDescription(
            "Enter sends, Shift+Enter starts a new line, Escape stops a reply, Up in an empty box edits your "
            "last message. Paste or drop text files to include them."
        )
        self.setPlaceholderText("Message the model…  (Enter to send, Shift+Enter for a new line)")
        self.setTabChangesFocus(True)
        self.document().contentsChanged.connect(self._fit_height)
        self._fit_height()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self.insertPlainText("\n")
            else:
                self.submit()
            return
        if key == Qt.Key.Key_Escape:
            self.stop_requested.emit()
            return
        # macOS marks arrow keys as keypad keys; any other modifier means a selection or a jump.
        plain = (event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier) == Qt.KeyboardModifier.NoModifier
        if key == Qt.Key.Key_Up and plain and not self.toPlainText():
            self.edit_last_requested.emit()
            return
        super().keyPressEvent(event)

    def submit(self) -> None:
        text = self.toPlainText()
        if text.strip():
            self.submitted.emit(text)

    # -- pasting and dropping files ------------------------------------------------------------------------

    def canInsertFromMimeData(self, source: QMimeData) -> bool:
        if _local_files(source):
            return not self.isReadOnly()
        return super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:
        files = _local_files(source)
        if files:
            self._include(files)
        else:  # QPlainTextEdit inserts the plain text of anything else: never rich text
            super().insertFromMimeData(source)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._accept_file_drag(event):
            return
        super().dragEnterEvent(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if self._accept_file_drag(event):
            return
        super().dragMoveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        if not self._accept_file_drag(event):
            super().dropEvent(event)
            return
        self.setTextCursor(self.cursorForPosition(event.position().toPoint()))
        self._include(_local_files(event.mimeData()))
        self.setFocus()

    def _accept_file_drag(self, event: QDropEvent) -> bool:
        """Files are always copied: a file manager that is told "moved" may delete the original."""
        if self.isReadOnly() or not _local_files(event.mimeData()):
            return False
        event.setDropAction(Qt.DropAction.CopyAction)
        event.accept()
        return True

    @property
    def including(self) -> bool:
        """Files are being read to be included (on the task pool)."""
        return self._tasks.busy

    def _include(self, files: Sequence[Path]) -> None:
        # Read on the task pool: a file on a slow network share must not freeze the window. The cursor is a
        # copy that follows the edits made meanwhile, so the text lands where the paste or drop happened.
        cursor = QTextCursor(self.textCursor())
        self._tasks.run(
            lambda: include_files(files),
            lambda result: self._insert(cursor, *result),
            self.problem.emit,
            name="include files",
        )

    def _insert(self, cursor: QTextCursor, text: str, problems: list[str]) -> None:
        if text:
            cursor.beginEditBlock()  # one undo step
            cursor.removeSelectedText()
            if cursor.positionInBlock() > 0:
                text = "\n" + text  # the file's name line starts a line of its own
            cursor.insertText(text)
            cursor.endEditBlock()
            self.setTextCursor(cursor)
            self.ensureCursorVisible()
        if problems:
            self.problem.emit(" ".join(problems))

    def _fit_height(self) -> None:
        """Grow with the text up to _MAX_LINES lines, then scroll: the lines written must fit the viewport whole,
        or the scroll bar appears from the second line on. A plain
        text edit keeps its document margin above the first line and below the last, and its scroll range wants
        one more margin free (measured: with two, a two-line message already scrolls by one line)."""
        line = self.fontMetrics().lineSpacing()
        lines = max(_MIN_LINES, min(_MAX_LINES, int(self.document().size().height())))
        margins, inner = self.contentsMargins(), self.viewportMargins()  # the frame and the style's padding
        chrome = margins.top() + margins.bottom() + inner.top() + inner.bottom()
        self.setFixedHeight(lines * line + 3 * math.ceil(self.document().documentMargin()) + chrome)


def _local_files(source: QMimeData | None) -> list[Path]:
    if source is None or not source.hasUrls():
        return []
    return [Path(url.toLocalFile()) for url in source.urls() if url.isLocalFile()]


class _LeftOut(Exception):
    """A file that is not included; the message says why and what to do."""


def include_files(paths: Sequence[Path]) -> tuple[str, list[str]]:
    """The text that includes ``paths`` in a message, and a sentence for each file left out.

    Each file becomes its name in backticks and a colon, then a fenced code block with its contents (the
    fence's language from the extension; longer fences when the file itself holds a run of backticks).
    """
    blocks: list[str] = []
    problems: list[str] = []
    budget = PASTE_LIMIT
    for path in paths:
        try:
            contents = _read_text(path, budget)
        except _LeftOut as left_out:
            problems.append(str(left_out))
            continue
        budget -= len(contents.encode("utf-8"))
        blocks.append(_fenced(path.name, contents))
    return "\n".join(blocks), problems


def _read_text(path: Path, budget: int) -> str:
    name = path.name or str(path)
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise _LeftOut(f"{name} is a folder; Moss can include text files only.")
        if not stat.S_ISREG(info.st_mode):
            raise _LeftOut(f"{name} is not a text file; Moss can include text files only.")
        if info.st_size > FILE_LIMIT:
            raise _LeftOut(_too_big(name, info.st_size))
        if info.st_size > budget:
            raise _LeftOut(f"{name} was left out: Moss includes up to 1 MB of files at a time. Add it on its own.")
        with path.open("rb") as handle:
            data = handle.read(FILE_LIMIT + 1)  # the size may have changed since stat()
    except FileNotFoundError:
        raise _LeftOut(f"{name} could not be found; it may have been moved or deleted.") from None
    except OSError as error:
        reason = error.strerror or "it could not be opened"
        raise _LeftOut(f"Moss could not read {name} ({reason}). Check that you can open it, then try again.") from None
    if len(data) > FILE_LIMIT:
        raise _LeftOut(_too_big(name, len(data)))
    if not data.strip():
        raise _LeftOut(f"{name} is empty, so there was nothing to include.")
    if b"\0" in data:
        raise _LeftOut(f"{name} is not a text file; Moss can include text files only.")
    try:
        text = data.decode("utf-8-sig")  # UTF-8, without the byte-order mark some editors write
    except UnicodeDecodeError:
        raise _LeftOut(f"{name} is not a text file; Moss can include text files only.") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _too_big(name: str, size: int) -> str:
    return f"{name} is {_size_text(size)}; Moss includes text files up to 256 KB. Paste the part you need."


def _size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    return f"{max(1, round(size / 1024))} KB"


def _fenced(name: str, contents: str) -> str:
    longest = max((len(run) for run in _BACKTICK_RUN.findall(contents)), default=0)
    fence = "`" * max(3, longest + 1)
    language = _FILE_NAMES.get(name.lower()) or _LANGUAGES.get(Path(name).suffix.lower(), "")
    body = contents[:-1] if contents.endswith("\n") else contents
    return f"`{name}`:\n{fence}{language}\n{body}\n{fence}\n"
