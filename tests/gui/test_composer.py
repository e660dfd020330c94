"""The composer: keys, growing, and text files pasted or dropped into a message (real files, real Qt events)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import QApplication, QLineEdit, QVBoxLayout, QWidget
from pytestqt.qtbot import QtBot

from app.ui.chat.composer import FILE_LIMIT, Composer

pytestmark = pytest.mark.gui


@pytest.fixture
def composer(qtbot: QtBot) -> Composer:
    widget = Composer()
    qtbot.addWidget(widget)
    widget.resize(500, 100)
    widget.show()
    qtbot.waitExposed(widget)
    widget.setFocus()
    return widget


def files_mime(*paths: Path) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    mime.setText("\n".join(str(path) for path in paths))  # what file managers add beside the URLs
    return mime


def paste(composer: Composer, mime: QMimeData) -> None:
    """A real paste: through the clipboard and Ctrl+V; files are read on the task pool, so wait for them."""
    QGuiApplication.clipboard().setMimeData(mime)
    composer.paste()
    settle(composer)


def settle(composer: Composer) -> None:
    deadline = time.monotonic() + 10
    while composer.including and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.005)
    assert not composer.including


# -- keys -------------------------------------------------------------------------------------------------


def test_enter_sends_shift_enter_breaks_esc_stops(qtbot: QtBot, composer: Composer) -> None:
    qtbot.keyClicks(composer, "first")
    qtbot.keyClick(composer, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(composer, "second")
    with qtbot.waitSignal(composer.submitted) as sent:
        qtbot.keyClick(composer, Qt.Key.Key_Return)
    assert sent.args == ["first\nsecond"]
    with qtbot.waitSignal(composer.stop_requested):
        qtbot.keyClick(composer, Qt.Key.Key_Escape)


def test_blank_text_is_not_sent(qtbot: QtBot, composer: Composer) -> None:
    composer.setPlainText("  \n ")
    with qtbot.assertNotEmitted(composer.submitted):
        qtbot.keyClick(composer, Qt.Key.Key_Return)


def test_up_in_an_empty_box_asks_for_the_last_message(qtbot: QtBot, composer: Composer) -> None:
    with qtbot.waitSignal(composer.edit_last_requested):
        qtbot.keyClick(composer, Qt.Key.Key_Up)


def test_up_in_a_box_with_text_moves_the_cursor(qtbot: QtBot, composer: Composer) -> None:
    composer.setPlainText("line one\nline two")
    composer.moveCursor(composer.textCursor().MoveOperation.End)
    with qtbot.assertNotEmitted(composer.edit_last_requested):
        qtbot.keyClick(composer, Qt.Key.Key_Up)
    assert composer.textCursor().blockNumber() == 0


def test_tab_moves_focus_instead_of_typing(qtbot: QtBot) -> None:
    window = QWidget()
    qtbot.addWidget(window)
    layout = QVBoxLayout(window)
    composer = Composer()
    after = QLineEdit()
    layout.addWidget(composer)
    layout.addWidget(after)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    composer.setFocus()
    qtbot.waitUntil(composer.hasFocus)
    qtbot.keyClick(composer, Qt.Key.Key_Tab)
    assert composer.toPlainText() == ""
    qtbot.waitUntil(after.hasFocus)


def test_it_grows_with_its_text_up_to_a_limit(composer: Composer) -> None:
    empty = composer.height()
    composer.setPlainText("\n".join(["line"] * 5))
    five = composer.height()
    composer.setPlainText("\n".join(["line"] * 50))
    many = composer.height()
    assert empty < five < many
    composer.setPlainText("\n".join(["line"] * 80))
    assert composer.height() == many


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_it_shows_no_scroll_bar_until_the_text_outgrows_it(qtbot: QtBot, composer: Composer, theme: str) -> None:
    """A two-line message fits without scrolling (it once scrolled by a line from the second line on); only text
    longer than the tallest the box grows to scrolls."""
    from app.ui.theme import apply_theme

    apply_theme(QApplication.instance(), theme)  # the style sheet's padding counts too
    composer.show()
    bar = composer.verticalScrollBar()
    for lines in range(1, 11):
        composer.setPlainText("\n".join(["line"] * lines))
        QApplication.processEvents()
        assert bar.maximum() == 0, f"{lines} lines scroll"
    composer.setPlainText("\n".join(["line"] * 30))
    QApplication.processEvents()
    assert bar.maximum() > 0


def test_it_has_an_accessible_name(composer: Composer) -> None:
    assert composer.accessibleName() == "Message"
    assert "Enter sends" in composer.accessibleDescription()


# -- pasting and dropping files ---------------------------------------------------------------------------


def test_a_pasted_text_file_is_included_as_a_code_block(composer: Composer, tmp_path: Path) -> None:
    source = tmp_path / "notes.py"
    source.write_text("def hello():\n    return 'hi'\n", encoding="utf-8")
    composer.setPlainText("Look at this:")
    composer.moveCursor(composer.textCursor().MoveOperation.End)
    paste(composer, files_mime(source))
    assert composer.toPlainText() == "Look at this:\n`notes.py`:\n```python\ndef hello():\n    return 'hi'\n```\n"
    composer.undo()  # one step takes the whole file out again
    assert composer.toPlainText() == "Look at this:"


def test_several_files_and_their_languages(composer: Composer, tmp_path: Path) -> None:
    names = {"a.js": "javascript", "b.ts": "typescript", "c.json": "json", "d.md": "markdown", "e.txt": ""}
    paths = []
    for name in names:
        path = tmp_path / name
        path.write_text(f"contents of {name}", encoding="utf-8")
        paths.append(path)
    paste(composer, files_mime(*paths))
    text = composer.toPlainText()
    for name, language in names.items():
        assert f"`{name}`:\n```{language}\ncontents of {name}\n```\n" in text
    assert text.index("a.js") < text.index("e.txt")


def test_file_contents_arrive_exactly(composer: Composer, tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    path.write_bytes("\ufeff# Title\r\n\r\n```sh\r\nls\r\n```\r\nCafé ☕".encode())
    paste(composer, files_mime(path))
    # Byte-order mark dropped, line ends made plain, and a longer fence around the file's own fence.
    assert composer.toPlainText() == "`README.md`:\n````markdown\n# Title\n\n```sh\nls\n```\nCafé ☕\n````\n"


def test_a_binary_file_is_refused(qtbot: QtBot, composer: Composer, tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with qtbot.waitSignal(composer.problem) as problem:
        paste(composer, files_mime(photo))
    assert problem.args == ["photo.png is not a text file; Moss can include text files only."]
    assert composer.toPlainText() == ""


def test_a_file_that_is_not_utf8_is_refused(qtbot: QtBot, composer: Composer, tmp_path: Path) -> None:
    latin = tmp_path / "old.txt"
    latin.write_bytes("caf\u00e9 cr\u00e8me".encode("latin-1"))
    with qtbot.waitSignal(composer.problem) as problem:
        paste(composer, files_mime(latin))
    assert problem.args == ["old.txt is not a text file; Moss can include text files only."]


def test_a_big_file_is_refused_without_being_read(qtbot: QtBot, composer: Composer, tmp_path: Path) -> None:
    big = tmp_path / "big.log"
    with big.open("wb") as handle:
        handle.truncate(int(3.2 * 1024 * 1024))  # sparse: large, yet costs nothing to make
    with qtbot.waitSignal(composer.problem) as problem:
        paste(composer, files_mime(big))
    assert problem.args == ["big.log is 3.2 MB; Moss includes text files up to 256 KB. Paste the part you need."]
    assert composer.toPlainText() == ""


def test_the_size_limits(qtbot: QtBot, composer: Composer, tmp_path: Path) -> None:
    just_fits = tmp_path / "fits.txt"
    just_fits.write_text("x" * FILE_LIMIT)
    too_big = tmp_path / "over.txt"
    too_big.write_text("x" * (FILE_LIMIT + 1))
    with qtbot.waitSignal(composer.problem) as problem:
        paste(composer, files_mime(just_fits, too_big))
    assert problem.args == ["over.txt is 256 KB; Moss includes text files up to 256 KB. Paste the part you need."]
    assert "`fits.txt`:" in composer.toPlainText()
    assert "over.txt" not in composer.toPlainText()


def test_one_paste_includes_at_most_a_megabyte(qtbot: QtBot, composer: Composer, tmp_path: Path) -> None:
    paths = []
    for n in range(5):
        path = tmp_path / f"part{n}.txt"
        path.write_text(str(n) * 250_000)
        paths.append(path)
    with qtbot.waitSignal(composer.problem) as problem:
        paste(composer, files_mime(*paths))
    assert problem.args == ["part4.txt was left out: Moss includes up to 1 MB of files at a time. Add it on its own."]
    text = composer.toPlainText()
    assert all(f"`part{n}.txt`:" in text for n in range(4)) and "part4" not in text


def test_folders_missing_and_empty_files_are_explained(qtbot: QtBot, composer: Composer, tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with qtbot.waitSignal(composer.problem) as problem:
        paste(composer, files_mime(folder, tmp_path / "gone.txt", empty))
    (message,) = problem.args
    assert "project is a folder; Moss can include text files only." in message
    assert "gone.txt could not be found" in message
    assert "empty.txt is empty" in message
    assert composer.toPlainText() == ""


def test_plain_text_pastes_stay_plain(composer: Composer) -> None:
    mime = QMimeData()
    mime.setHtml("<b>bold</b> <a href='https://example.org'>words</a>")
    mime.setText("bold words")
    paste(composer, mime)
    assert composer.toPlainText() == "bold words"


def test_a_web_link_is_pasted_as_its_text(composer: Composer) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl("https://example.org/page")])
    mime.setText("https://example.org/page")
    paste(composer, mime)
    assert composer.toPlainText() == "https://example.org/page"


def test_a_read_only_composer_takes_no_files(composer: Composer, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    composer.setReadOnly(True)
    assert not composer.canInsertFromMimeData(files_mime(path))


def test_a_dropped_file_is_copied_in(composer: Composer, tmp_path: Path) -> None:
    source = tmp_path / "notes.txt"
    source.write_text("dropped words\n")
    composer.setPlainText("before")
    mime = files_mime(source)
    actions = Qt.DropAction.CopyAction | Qt.DropAction.MoveAction
    at = QPoint(200, 10)
    enter = QDragEnterEvent(at, actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(composer.viewport(), enter)
    assert enter.isAccepted()
    assert enter.dropAction() == Qt.DropAction.CopyAction  # never "moved": a file manager could delete it
    drop = QDropEvent(at, actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(composer.viewport(), drop)
    settle(composer)
    assert drop.isAccepted() and drop.dropAction() == Qt.DropAction.CopyAction
    assert composer.toPlainText() == "before\n`notes.txt`:\n```\ndropped words\n```\n"
    assert source.read_text() == "dropped words\n"


def test_files_are_read_off_the_gui_thread(composer: Composer, tmp_path: Path) -> None:
    path = tmp_path / "later.txt"
    path.write_text("read on the pool\n")
    QGuiApplication.clipboard().setMimeData(files_mime(path))
    composer.paste()
    # The paste returned before the file was read: the text arrives through the event loop.
    assert composer.including and composer.toPlainText() == ""
    settle(composer)
    assert "read on the pool" in composer.toPlainText()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_stop_takes_the_place_of_send_without_moving_the_message_box(qtbot: QtBot, theme: str) -> None:
    from app.ui.chat.composer_bar import ComposerBar
    from app.ui.theme import apply_theme

    apply_theme(QApplication.instance(), theme)
    bar = ComposerBar()
    qtbot.addWidget(bar)
    bar.resize(900, 120)
    bar.show()
    QApplication.processEvents()
    before = (bar.composer.geometry(), bar.send_button.geometry())
    bar.send_button.hide()
    bar.stop_button.show()  # as the main window does while a reply is written
    QApplication.processEvents()
    assert bar.composer.geometry() == before[0]
    assert bar.stop_button.geometry() == before[1]  # the same place and size
