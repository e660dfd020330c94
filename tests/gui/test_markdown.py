"""Markdown to Qt rich text: what the HTML says, what Qt's engine makes of it, safety, streaming and speed."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PySide6.QtGui import (
    QColor,
    QFontInfo,
    QPalette,
    QTextBlock,
    QTextCharFormat,
    QTextDocument,
    QTextFormat,
    QTextFrame,
    QTextListFormat,
    QTextTable,
)
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from app.ui.chat.look import current_look
from app.ui.chat.markdown import (
    COPY_SCHEME,
    CodeBlock,
    IncrementalRenderer,
    MarkdownStyle,
    Rendered,
    render_markdown,
)
from app.ui.theme import colours

pytestmark = pytest.mark.gui

LIGHT = MarkdownStyle.from_palette(colours("light"), is_dark=False)
DARK = MarkdownStyle.from_palette(colours("dark"), is_dark=True)

PYTHON = '''import csv
from pathlib import Path


def read_rows(path: Path) -> list[dict[str, str]]:
    """Read a CSV file into a list of dictionaries, one per row."""
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))'''

SAMPLE = f"""# Reading a CSV file

Here is a **short** answer with `inline code`, a [link](https://docs.python.org/3/library/csv.html),
~~old~~ new, and *emphasis*.

## Steps

1. Open the file with `open()`.
2. Wrap it in `csv.reader`:
   - rows come back as lists
     - nested deeper
3. Convert the values you need.

- [ ] a task to do
- [x] a task done

> **Note:** a quote that is long enough to wrap.

### Example

```python
{PYTHON}
```

#### A table

| Name | Size |
|:-----|-----:|
| alpha | 12 |
| beta | 3,400 |

---

```
no language <here>
```

    indented code
"""


def realistic_message(size: int) -> str:
    """A reply like a model writes: prose, lists, a table and three code blocks, about ``size`` characters."""
    prose = (
        "The reader walks the file once and keeps only the columns you ask for, which keeps memory flat "
        "even for large exports. If a row is *malformed* it is **skipped** and counted, so you can report it "
        "later; see [the csv module](https://docs.python.org/3/library/csv.html) for the dialect options.\n\n"
    )
    listing = "- open the file with `newline=''`\n- pass the dialect\n  - `excel` for most exports\n- close it\n\n"
    table = "| Option | Default | Meaning |\n|---|:-:|---|\n" + "| `delimiter` | `,` | between values |\n" * 4 + "\n"
    scale = max(1, size // 2000)
    code_py = "```python\n" + "\n".join([PYTHON] * scale) + "\n```\n\n"
    code_ts = (
        "```ts\n"
        + "export function parse(line: string): string[] {\n  return line.split(',').map((v) => v.trim());\n}\n" * scale
        + "```\n\n"
    )
    code_sh = "```bash\n" + "python -m pip install --upgrade pip  # keep pip current\n" * (2 * scale) + "```\n\n"
    parts = ["## Reading the export\n\n", prose, listing, code_py, prose, table, code_ts, "> A note.\n\n", code_sh]
    text = "".join(parts)
    while len(text) < size:
        text += "### More\n\n" + prose + listing
    return text[:size]


def document(rendered: Rendered) -> QTextDocument:
    doc = QTextDocument()
    doc.setHtml(rendered.html)
    doc.setTextWidth(500)
    doc.size()  # lays it out
    return doc


def blocks(doc: QTextDocument) -> Iterator[QTextBlock]:
    block = doc.begin()
    while block.isValid():
        yield block
        block = block.next()


def fragments(doc: QTextDocument) -> Iterator[tuple[str, QTextCharFormat]]:
    for block in blocks(doc):
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            yield fragment.text(), fragment.charFormat()
            it += 1


def format_of(doc: QTextDocument, text: str) -> QTextCharFormat:
    for fragment_text, char_format in fragments(doc):
        if text in fragment_text:
            return char_format
    raise AssertionError(f"{text!r} is not in the document")


def tables(frame: QTextFrame) -> Iterator[QTextTable]:
    for child in frame.childFrames():
        if isinstance(child, QTextTable):
            yield child
        yield from tables(child)


def anchors(doc: QTextDocument) -> dict[str, str]:
    return {text: fmt.anchorHref() for text, fmt in fragments(doc) if fmt.isAnchor()}


# -- constructs -------------------------------------------------------------------------------------------


def test_every_construct_reaches_qt_as_rich_text(qapp: object) -> None:
    rendered = render_markdown(SAMPLE, LIGHT)
    html = rendered.html
    for tag in ("<h1", "<h2", "<h3", "<h4", "<ol", "<ul", "<li>", "<b>", "<i>", "<s>", "<hr", "<pre", "<code"):
        assert tag in html, tag
    doc = document(rendered)
    levels = {block.blockFormat().headingLevel() for block in blocks(doc)}
    assert {1, 2, 3, 4} <= levels
    assert format_of(doc, "short").fontWeight() >= 600
    assert format_of(doc, "emphasis").fontItalic()
    assert format_of(doc, "old").fontStrikeOut()
    code = format_of(doc, "inline code")
    assert QFontInfo(code.font()).fixedPitch()
    assert code.background().color().name() == LIGHT.inline_code_background
    assert anchors(doc)["link"] == "https://docs.python.org/3/library/csv.html"
    assert any(b.blockFormat().hasProperty(QTextFormat.Property.BlockTrailingHorizontalRulerWidth) for b in blocks(doc))


def test_lists_nest_and_number(qapp: object) -> None:
    doc = document(render_markdown(SAMPLE, LIGHT))
    by_text = {block.text(): block.textList() for block in blocks(doc) if block.textList() is not None}
    numbered = by_text["Open the file with open()."]
    assert numbered.format().style() == QTextListFormat.Style.ListDecimal
    third = next(b for b in blocks(doc) if b.text() == "Convert the values you need.")
    assert numbered.itemNumber(third) == 2  # the same list, its third item
    assert numbered.format().indent() == 1
    assert by_text["rows come back as lists"].format().indent() == 2
    assert by_text["nested deeper"].format().indent() == 3
    # A list of tasks shows boxes instead of bullets.
    assert "☐ a task to do" in by_text and "☑ a task done" in by_text


def test_table_becomes_a_qt_table_with_a_shaded_header(qapp: object) -> None:
    doc = document(render_markdown(SAMPLE, LIGHT))
    found = [t for t in tables(doc.rootFrame()) if t.rows() == 3 and t.columns() == 2]
    assert len(found) == 1
    table = found[0]
    assert table.cellAt(0, 0).firstCursorPosition().block().text() == "Name"
    assert table.cellAt(2, 1).firstCursorPosition().block().text() == "3,400"
    assert table.cellAt(0, 0).format().background().color().name() == LIGHT.table_header_background
    assert table.cellAt(2, 1).firstCursorPosition().block().blockFormat().alignment() & 0x2  # right-aligned column
    assert table.format().border() >= 1


def test_block_quote_is_indented_and_muted(qapp: object) -> None:
    doc = document(render_markdown("> quoted words\n\nafter", LIGHT))
    (quote,) = list(tables(doc.rootFrame()))
    cell = quote.cellAt(0, 0)
    assert cell.firstCursorPosition().block().text() == "quoted words"
    assert format_of(doc, "quoted words").foreground().color().name() == LIGHT.muted
    assert format_of(doc, "after").foreground().color().name() == LIGHT.text


def test_code_block_has_a_header_copy_link_and_highlighting(qapp: object) -> None:
    rendered = render_markdown(SAMPLE, LIGHT)
    assert rendered.code_blocks[0] == CodeBlock("python", PYTHON)
    assert rendered.code_blocks[1] == CodeBlock("", "no language <here>")
    assert rendered.code_blocks[2] == CodeBlock("", "indented code")
    doc = document(rendered)
    assert anchors(doc)["Copy"].startswith(f"{COPY_SCHEME}:")
    keyword = format_of(doc, "def ")
    assert QFontInfo(keyword.font()).fixedPitch()
    assert keyword.foreground().color().name() not in (LIGHT.text, "#000000")  # highlighted
    assert "no language <here>" in doc.toPlainText()  # escaped, shown as text
    code_tables = [
        t for t in tables(doc.rootFrame()) if t.format().background().color().name() == LIGHT.code_background
    ]
    assert len(code_tables) == 3
    # The code keeps its indentation and blank lines exactly.
    assert PYTHON in doc.toPlainText().replace("\u2029", "\n")


def test_long_code_lines_wrap(qapp: object) -> None:
    doc = document(render_markdown("```\n" + "word " * 200 + "\n```", LIGHT))
    block = next(b for b in blocks(doc) if b.text().startswith("word"))
    assert block.layout().lineCount() > 3


def test_dark_and_light_differ_in_code_colours(qapp: object) -> None:
    light = document(render_markdown(SAMPLE, LIGHT))
    dark = document(render_markdown(SAMPLE, DARK))
    assert format_of(light, "def ").foreground().color() != format_of(dark, "def ").foreground().color()
    assert format_of(dark, "short").foreground().color().name() == DARK.text
    assert DARK.is_dark and not LIGHT.is_dark


def test_unknown_or_absent_language_is_plain() -> None:
    for fence in ("```", "```no-such-language"):
        rendered = render_markdown(f"{fence}\ndef f(): pass\n```", LIGHT)
        assert "<span" not in rendered.html
        assert rendered.code_blocks[0].code == "def f(): pass"


def test_a_closed_fence_is_highlighted_as_a_whole(qapp: object) -> None:
    # While a long block streams it is lexed in pieces; once closed, a comment longer than a piece is one.
    code = "/*\n" + "a comment line\n" * 200 + "*/\nint x;"
    doc = document(render_markdown(f"```c\n{code}\n```\n", LIGHT))
    colours = {fmt.foreground().color().name() for text, fmt in fragments(doc) if "a comment line" in text}
    assert colours == {format_of(doc, "/*").foreground().color().name()}
    assert colours != {format_of(doc, "int").foreground().color().name()}


def test_very_long_code_is_plain() -> None:
    rendered = render_markdown("```python\n" + "x = 1\n" * 20_000 + "```", LIGHT)
    assert "<span" not in rendered.html
    assert rendered.code_blocks[0].code.count("\n") == 19_999


def test_unclosed_fence_is_already_a_code_block() -> None:
    rendered = render_markdown("Here:\n\n```python\ndef f(", LIGHT)
    assert rendered.code_blocks == (CodeBlock("python", "def f("),)
    assert f'href="{COPY_SCHEME}:0"' in rendered.html


def test_copy_links_map_to_their_code(qapp: object) -> None:
    text = "".join(f"Block {n}:\n\n```py\nprint({n})\n```\n\n" for n in range(5))
    rendered = render_markdown(text, LIGHT)
    doc = document(rendered)
    hrefs = [fmt.anchorHref() for fragment, fmt in fragments(doc) if fmt.isAnchor()]
    assert hrefs == [f"{COPY_SCHEME}:{n}" for n in range(5)]
    for n, href in enumerate(hrefs):
        assert rendered.code_blocks[int(href.split(":")[1])].code == f"print({n})"


# -- safety -----------------------------------------------------------------------------------------------


def test_raw_html_is_shown_as_text(qapp: object) -> None:
    text = '<script>alert(1)</script> <b>bold?</b> <img src="x" onerror="y">\n\n<div>block</div>'
    rendered = render_markdown(text, LIGHT)
    assert "<script" not in rendered.html and "<img" not in rendered.html and "<div" not in rendered.html
    doc = document(rendered)
    plain = doc.toPlainText()
    assert "<script>alert(1)</script>" in plain and "<b>bold?</b>" in plain and "<div>block</div>" in plain
    assert format_of(doc, "bold?").fontWeight() < 600


@pytest.mark.parametrize(
    ("url", "linked"),
    [
        ("https://example.org/a?b=1&c=2", True),
        ("http://example.org", True),
        ("mailto:someone@example.org", True),
        ("javascript:alert(1)", False),
        ("file:///etc/passwd", False),
        ("ftp://example.org/x", False),
        ("docs/readme.md", False),
        (f"{COPY_SCHEME}:0", False),
        ("data:text/html;base64,PHNjcmlwdD4=", False),
    ],
)
def test_only_web_and_mail_links_are_links(qapp: object, url: str, linked: bool) -> None:
    doc = document(render_markdown(f"see [the place]({url}) now", LIGHT))
    assert ("the place" in anchors(doc)) is linked
    assert "the place" in doc.toPlainText()


def test_images_are_never_loaded(qapp: object) -> None:
    rendered = render_markdown("![a chart](https://example.org/c.png) and ![secret](/etc/passwd)", LIGHT)
    assert "<img" not in rendered.html
    doc = document(rendered)
    assert anchors(doc) == {"a chart": "https://example.org/c.png"}
    assert "secret" in doc.toPlainText()


# -- streaming --------------------------------------------------------------------------------------------


def test_incremental_equals_full_on_every_prefix() -> None:
    renderer = IncrementalRenderer(LIGHT)
    for end in range(len(SAMPLE) + 1):
        assert renderer.render(SAMPLE[:end]) == render_markdown(SAMPLE[:end], LIGHT), SAMPLE[:end]


def test_incremental_equals_full_while_a_long_reply_grows() -> None:
    text = realistic_message(8000)
    renderer = IncrementalRenderer(DARK)
    for end in range(0, len(text) + 40, 37):
        assert renderer.render(text[:end]) == render_markdown(text[:end], DARK)


def test_streaming_parts_are_the_whole_in_two_documents_and_the_finished_one_rarely_changes() -> None:
    text = realistic_message(8000)
    renderer = IncrementalRenderer(LIGHT)
    body = re.compile(r"<body[^>]*>(.*)</body>", re.S)
    refills, last = 0, None
    calls = 0
    for end in range(0, len(text) + 40, 37):
        parts = renderer.render_parts(text[:end])
        whole = render_markdown(text[:end], LIGHT)
        stable = body.search(parts.stable)
        tail = body.search(parts.tail) if parts.tail else None
        joined = (stable.group(1) if stable else "") + (tail.group(1) if tail else "")
        assert joined == body.search(whole.html).group(1)  # type: ignore[union-attr]
        assert parts.code_blocks == whole.code_blocks
        refills += parts.stable is not last
        last = parts.stable
        calls += 1
    assert refills < calls / 3  # the big document is refilled when a block is finished, not on every piece


def test_incremental_starts_again_when_the_text_is_not_a_continuation() -> None:
    renderer = IncrementalRenderer(LIGHT)
    renderer.render(SAMPLE)
    assert renderer.render("Something else\n\n```\nx\n```") == render_markdown("Something else\n\n```\nx\n```", LIGHT)
    assert renderer.render(SAMPLE) == render_markdown(SAMPLE, LIGHT)


def test_incremental_with_a_late_link_definition() -> None:
    # A definition at the end changes a paragraph long finished.
    text = "See [the docs] soon.\n\nMore.\n\nEven more.\n\nAnd more.\n\n[the docs]: https://example.org\n"
    renderer = IncrementalRenderer(LIGHT)
    for end in range(len(text) + 1):
        assert renderer.render(text[:end]) == render_markdown(text[:end], LIGHT)
    assert 'href="https://example.org"' in renderer.render(text).html


_PIECES = [
    "\n", "\n\n", " ", "    ", "a", "word", "# ", "#", "- ", "* ", "1. ", "2) ", "> ", ">", "```", "```py\n",
    "~~~", "`", "***", "---", "===", "|", " | ", "|---|", "[ ] ", "[x] ", "[a]", "[a]: /u", "<", "http://x.y",
    "\t", "_", "**", "~~", "\\",
]  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(pieces=st.lists(st.sampled_from(_PIECES), max_size=40), step=st.integers(1, 9))
def test_incremental_equals_full_for_any_appends(pieces: list[str], step: int) -> None:
    text = "".join(pieces)
    renderer = IncrementalRenderer(LIGHT)
    for end in [*range(0, len(text), step), len(text)]:
        assert renderer.render(text[:end]) == render_markdown(text[:end], LIGHT)


# -- hostile input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "> " * 5000 + "deep",
        "- " * 5000 + "deep",
        "1. " * 3000 + "deep",
        "`" * 10_000,
        "`" * 10_000 + "x" + "`" * 9_999,
        "```" + "`" * 10_000 + "\ncode",
        "[" * 10_000 + "]" * 10_000,
        "*a" * 10_000,
        "| a " * 100 + "|\n" + "|---" * 100 + "|\n" + ("| x " * 100 + "|\n") * 100,
        "\x00 nul \ufffe and \u202e bidi",
    ],
    ids=["quotes", "bullets", "numbers", "backticks", "backtick-runs", "fence", "brackets", "emphasis", "table", "odd"],
)
def test_hostile_input_is_fast_and_safe(qapp: object, text: str) -> None:
    started = time.perf_counter()
    rendered = render_markdown(text, LIGHT)
    assert time.perf_counter() - started < 3.0
    doc = QTextDocument()
    doc.setHtml(rendered.html)  # Qt copes with it too
    assert doc.characterCount() > 0


def test_a_huge_table_stays_fast() -> None:
    text = "| a | b | c |\n|---|---|---|\n" + "| 1 | 2 | 3 |\n" * 5_000
    started = time.perf_counter()
    rendered = render_markdown(text, LIGHT)
    assert time.perf_counter() - started < 5.0  # linear (~0.5 s here); quadratic would take minutes
    assert rendered.html.count("<tr>") == 5_001


def test_empty_text() -> None:
    rendered = render_markdown("", LIGHT)
    assert rendered.code_blocks == ()
    assert re.sub(r"<[^>]+>", "", rendered.html) == ""


@pytest.mark.parametrize("mode", ["light", "dark"])
def test_the_chat_takes_its_markdown_colours_from_the_theme(qtbot: QtBot, mode: str) -> None:
    """One palette: the theme's colours are the ones a message's Markdown is drawn with, in either mode."""
    widget = QWidget()
    qtbot.addWidget(widget)
    palette = QPalette(widget.palette())
    palette.setColor(QPalette.ColorRole.Base, QColor(colours(mode)["base"]))
    widget.setPalette(palette)
    style = current_look(widget).markdown
    assert style == MarkdownStyle.from_palette(colours(mode), is_dark=mode == "dark")
    html = render_markdown("See [the docs](https://example.org) and `code`.", style).html
    assert f"color:{colours(mode)['link']}" in html and colours(mode)["inline_code_background"] in html


def test_a_single_line_break_in_a_reply_is_kept(qtbot: QtBot) -> None:
    """A poem or an address, one line per line, as chat apps show it (CommonMark alone would join the lines)."""
    doc = document(render_markdown("Roses are red,\nviolets are blue.\n\nNew verse", LIGHT))
    first = doc.firstBlock()
    assert doc.blockCount() == 2 and first.text() == "Roses are red,\u2028violets are blue."  # one paragraph, two lines
    assert first.layout().lineCount() == 2 and first.next().text() == "New verse"
    code = document(render_markdown("```\na\nb\n```", LIGHT))  # code blocks keep their own lines as before
    assert "a\nb" in code.toPlainText().replace("\u2029", "\n").replace("\u2028", "\n")


def test_a_streaming_reply_keeps_the_space_between_its_paragraphs(qtbot: QtBot) -> None:
    """While a reply streams, its finished paragraphs and the growing one are two documents; the space between
    them is what the whole reply shows when it ends (a document drops its last block's bottom margin)."""
    from app.core.types import Role
    from app.ui.chat.view import ChatView

    view = ChatView()
    qtbot.addWidget(view)
    view.resize(700, 500)
    view.show()
    text = "First paragraph here.\n\nSecond paragraph.\n\n```\ncode\n```\n\nThird paragraph.\n\nThe fourth one grows"
    endings = ("", "\n\n```\nmore code", "\n\n- one\n- two\n\nafter it", "\n\n> quoted\n\nend", "\n\n## Next\n\nx")
    for ending in endings:
        item = view.add_item(Role.ASSISTANT)
        item.streaming = True
        item.append_text(text + ending)
        view.doItemsLayout()
        streaming = view.visualRect(view.model_.index_of(item)).height()
        item.streaming = False
        item.set_text(text + ending)
        view.doItemsLayout()
        assert view.visualRect(view.model_.index_of(item)).height() == streaming
