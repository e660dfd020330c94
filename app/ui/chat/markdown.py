"""Markdown to the HTML that Qt's rich-text engine draws (``QTextDocument.setHtml``), for chat messages.

Pure Python, no Qt: quick to test, and the chat view stays a thin painter. Qt understands only a subset of
HTML 4 and CSS (https://doc.qt.io/qt-6/richtext-html-subset.html), so the HTML is written for that engine,
not for a browser: block quotes and code blocks are one-column tables (Qt draws a cell's left border and
background, not a block's), every colour is inline, and nothing is left to a style sheet. Code blocks are
coloured by app.ui.chat.highlight.

Safety: raw HTML in a message is shown as text (markdown-it's ``html`` option is off); links keep only
http, https and mailto targets (anything else, ``moss-copy:`` included, is shown as plain text); images are
never loaded (QTextDocument would read a local path on the GUI thread): they become a link or their alt text.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markdown_it import MarkdownIt
from markdown_it.token import Token

from app.ui.chat.highlight import escape_html, highlighter

COPY_SCHEME = "moss-copy"

_LINK_SCHEMES = ("http://", "https://", "mailto:")
_IMAGE_SCHEMES = ("http://", "https://")
_BULLET_TYPES = ("disc", "circle", "square")
# Modest heading sizes: Qt's keywords scale the document's font (large 1.2x, x-large 1.5x).
_HEADING_SIZES = {"h1": "x-large", "h2": "large", "h3": "medium", "h4": "medium", "h5": "medium", "h6": "medium"}
_MONO_FALLBACKS = "Menlo,Consolas,'DejaVu Sans Mono','Courier New',monospace"
_TASK_BOXES = {"[ ] ": "\u2610 ", "[x] ": "\u2611 ", "[X] ": "\u2611 "}

# CommonMark plus GitHub's tables and strikethrough. maxNesting (20 in this preset) bounds hostile nesting.
_PARSER = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    ["table", "strikethrough"]
)


@dataclass(frozen=True, slots=True)
class MarkdownStyle:
    """The colours a message is drawn with, taken from the theme's palette (``from_palette``); ``is_dark``
    picks the code highlighting's colours to match."""

    text: str
    muted: str
    link: str
    code_background: str
    code_border: str
    inline_code_background: str
    quote_border: str
    table_border: str
    table_header_background: str
    is_dark: bool
    font_family_mono: str = "monospace"  # Qt picks the system monospace font

    @classmethod
    def from_palette(cls, palette: Mapping[str, str], *, is_dark: bool) -> MarkdownStyle:
        """The style of a theme palette (``app.ui.theme.colours``: the keys of this class's colours, with
        ``border`` for code blocks)."""
        return cls(
            text=palette["text"],
            muted=palette["muted"],
            link=palette["link"],
            code_background=palette["code_background"],
            code_border=palette["border"],
            inline_code_background=palette["inline_code_background"],
            quote_border=palette["quote_border"],
            table_border=palette["table_border"],
            table_header_background=palette["table_header_background"],
            is_dark=is_dark,
        )


@dataclass(frozen=True, slots=True)
class CodeBlock:
    language: str  # "" when the fence has none
    code: str  # exactly the code (no trailing newline added), what Copy puts on the clipboard


@dataclass(frozen=True, slots=True)
class Rendered:
    html: str
    code_blocks: tuple[CodeBlock, ...]


@dataclass(frozen=True, slots=True)
class StreamParts:
    stable: str  # a whole HTML document: the blocks that can no longer change (the same object until they do)
    tail: str  # a whole HTML document: the last blocks, still growing ("" when there are none)
    code_blocks: tuple[CodeBlock, ...]
    has_finished: bool  # ``stable`` holds at least one block


def render_markdown(text: str, style: MarkdownStyle) -> Rendered:
    """The whole message as HTML for ``QTextDocument.setHtml``, and its code blocks for the Copy links."""
    kit = _kit(style)
    blocks: list[CodeBlock] = []
    body = _render_tokens(_PARSER.parse(_normalise(text)), kit, blocks)
    return Rendered(kit.wrap(body), tuple(blocks))


class IncrementalRenderer:
    """For a reply that grows while it streams: re-renders only the last top-level blocks; HTML of
    blocks that can no longer change is cached. ``render(text)`` gives the same ``Rendered`` as
    ``render_markdown(text)``.

    Why the last *two* blocks: appending to the last line can change what that line is and merge it into
    the block before ("a" then "***" is a paragraph and a rule; "***x" makes it one paragraph), but never
    reach further back. Link reference definitions ("[x]: https://...") can change any earlier block, so
    while a message has one, every call renders the whole text.
    """

    def __init__(self, style: MarkdownStyle) -> None:
        self._style = style
        self._kit = _kit(style)
        self._reset()

    def _reset(self) -> None:
        self._wrapped, self._wrapped_for = "", -1
        self._stable_source = ""  # the text of the cached blocks, ending at a line start
        self._stable_html = ""
        self._stable_blocks: list[CodeBlock] = []

    def render(self, text: str) -> Rendered:
        stable, body, blocks = self._render(text)
        return Rendered(self._kit.wrap(stable + body), blocks)

    def render_parts(self, text: str) -> StreamParts:
        """The same, as two documents: the blocks that can no longer change, and the last ones. The view
        refills its large document only when ``stable`` changes (a block was finished) and the small one on
        every piece of text, so a long reply costs the same per piece as a short one."""
        stable, body, blocks = self._render(text)
        if len(stable) != self._wrapped_for:
            self._wrapped, self._wrapped_for = self._kit.wrap(stable), len(stable)
        return StreamParts(self._wrapped, self._kit.wrap(body) if body else "", blocks, bool(stable))

    def _render(self, text: str) -> tuple[str, str, tuple[CodeBlock, ...]]:
        text = _normalise(text)
        if not text.startswith(self._stable_source):
            self._reset()  # not a continuation (an edit, a new reply): start again
        tail = text[len(self._stable_source) :]
        env: dict[str, object] = {}
        tokens = _PARSER.parse(tail, env)
        if env.get("references"):
            self._reset()
            whole: list[CodeBlock] = []
            return _render_tokens(_PARSER.parse(text), self._kit, whole), "", tuple(whole)
        starts = [i for i, token in enumerate(tokens) if token.level == 0 and token.nesting >= 0]
        if len(starts) >= 3:
            cut = starts[-2]
            line = _first_line(tokens[cut])
            self._stable_html += _render_tokens(tokens[:cut], self._kit, self._stable_blocks)
            self._stable_source += tail[: _line_offset(tail, line)]
            tokens = tokens[cut:]
        blocks = list(self._stable_blocks)
        body = _render_tokens(tokens, self._kit, blocks)
        return self._stable_html, body, tuple(blocks)


# ---------------------------------------------------------------------------------------------------------
# Rendering tokens


def _normalise(text: str) -> str:
    """What markdown-it does first anyway; done here so that line offsets in the text match its lines."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _first_line(token: Token) -> int:
    assert token.map is not None, "top-level block tokens carry their source lines"
    return token.map[0]


def _line_offset(text: str, line: int) -> int:
    offset = 0
    for _ in range(line):
        offset = text.index("\n", offset) + 1
    return offset


class _Kit:
    """Ready-made tags for one style, so that rendering is string joins."""

    def __init__(self, style: MarkdownStyle) -> None:
        s = style
        self.style = style
        mono = _mono_families(s.font_family_mono)
        self.highlighter = highlighter(s.is_dark)
        self.body_open = f'<body style="color:{s.text}">'
        self.p_open = '<p style="margin-top:0;margin-bottom:8px">'
        self.heading_open = {
            tag: f'<{tag} style="font-size:{size};font-weight:600;margin-top:10px;margin-bottom:6px">'
            for tag, size in _HEADING_SIZES.items()
        }
        self.list_margin = "margin-top:0;margin-bottom:8px"
        self.nested_list_margin = "margin-top:0;margin-bottom:0"
        self.quote_open = (
            '<table width="100%" cellspacing="0" cellpadding="0" style="border-collapse:collapse;'
            'margin-top:6px;margin-bottom:8px"><tr>'
            f'<td style="border-left:3px solid {s.quote_border};padding-left:10px;color:{s.muted}">'
        )
        self.quote_close = "</td></tr></table>"
        self.hr = f'<hr style="background-color:{s.table_border}">'
        self.table_open = (
            f'<table border="1" cellspacing="0" cellpadding="6" style="border-collapse:collapse;'
            f'border-color:{s.table_border};border-style:solid;margin-top:2px;margin-bottom:8px">'
        )
        self.th_open = f'<th bgcolor="{s.table_header_background}" align="%s">'
        self.code_inline_open = f'<code style="background-color:{s.inline_code_background};font-family:{mono}">'
        self.link_open = f'<a style="color:{s.link}" href="%s">'
        # A code block: a bordered one-column table; its first row holds a borderless two-cell table (Qt
        # would draw a rule between two cells of the bordered one) with the language and the Copy link.
        self.code_head = (
            f'<table width="100%" cellspacing="0" cellpadding="0" bgcolor="{s.code_background}" '
            f'style="border-collapse:collapse;border:1px solid {s.code_border};margin-top:6px;margin-bottom:10px">'
            '<tr><td style="padding:0"><table width="100%" cellspacing="0" cellpadding="0" '
            f'bgcolor="{s.table_header_background}"><tr><td style="padding:3px 8px;color:{s.muted}">'
        )
        self.code_copy = (
            f'</td><td align="right" style="padding:3px 8px"><a style="color:{s.link};text-decoration:none" '
            f'href="{COPY_SCHEME}:'
        )
        self.code_body = (
            '">Copy</a></td></tr></table></td></tr><tr><td style="padding:6px 8px">'
            f'<pre style="white-space:pre-wrap;font-family:{mono};margin:0">'
        )
        self.code_close = "</pre></td></tr></table>"

    def wrap(self, body: str) -> str:
        return f"{self.body_open}{body}</body>"


def _mono_families(first: str) -> str:
    """A CSS family list: ``first``, then fonts that exist on each system, because "monospace" is a name
    fontconfig (Linux) knows but Windows does not."""
    name = first.replace("'", "").replace('"', "")
    quoted = f"'{name}'" if " " in name else name
    return f"{quoted},{_MONO_FALLBACKS}"


@functools.lru_cache(maxsize=8)
def _kit(style: MarkdownStyle) -> _Kit:
    return _Kit(style)


def _render_tokens(tokens: Sequence[Token], kit: _Kit, code_blocks: list[CodeBlock]) -> str:
    """HTML of a run of block tokens; code blocks are appended to ``code_blocks`` (their Copy index)."""
    out: list[str] = []
    list_depth = 0
    task_candidate = False  # the next inline is the first text of a list item: "[ ] " becomes a box
    for index, token in enumerate(tokens):
        kind = token.type
        if kind == "inline":
            out.append(_render_inline(token.children or [], kit, task_candidate))
            task_candidate = False
        elif kind == "paragraph_open":
            if not token.hidden:
                out.append(kit.p_open)
        elif kind == "paragraph_close":
            if not token.hidden:
                out.append("</p>")
        elif kind == "heading_open":
            out.append(kit.heading_open[token.tag])
        elif kind == "heading_close":
            out.append(f"</{token.tag}>")
        elif kind == "bullet_list_open":
            margin = kit.list_margin if list_depth == 0 else kit.nested_list_margin
            if _is_task_list(tokens, index):
                out.append(f'<ul style="{margin};list-style-type:none">')
            else:
                out.append(f'<ul type="{_BULLET_TYPES[list_depth % len(_BULLET_TYPES)]}" style="{margin}">')
            list_depth += 1
        elif kind == "ordered_list_open":
            margin = kit.list_margin if list_depth == 0 else kit.nested_list_margin
            start = token.attrGet("start")
            start_attr = f' start="{int(start)}"' if start is not None else ""
            out.append(f'<ol{start_attr} style="{margin}">')
            list_depth += 1
        elif kind in ("bullet_list_close", "ordered_list_close"):
            list_depth -= 1
            out.append("</ul>" if kind == "bullet_list_close" else "</ol>")
        elif kind == "list_item_open":
            out.append("<li>")
            task_candidate = True
        elif kind == "list_item_close":
            out.append("</li>")
            task_candidate = False
        elif kind == "blockquote_open":
            out.append(kit.quote_open)
        elif kind == "blockquote_close":
            out.append(kit.quote_close)
        elif kind in ("fence", "code_block"):
            out.append(_render_code(token, kit, code_blocks))
        elif kind == "hr":
            out.append(kit.hr)
        elif kind == "table_open":
            out.append(kit.table_open)
        elif kind == "th_open":
            out.append(kit.th_open % _cell_align(token))
        elif kind == "td_open":
            align = _cell_align(token)
            out.append("<td>" if align == "left" else f'<td align="{align}">')
        elif kind in _PLAIN_TAGS:
            out.append(_PLAIN_TAGS[kind])
        else:  # html_block cannot occur (html is off); anything else new is shown as its text
            out.append(escape_html(token.content))
    return "".join(out)


_PLAIN_TAGS = {
    "table_close": "</table>",
    "thead_open": "<thead>",
    "thead_close": "</thead>",
    "tbody_open": "<tbody>",
    "tbody_close": "</tbody>",
    "tr_open": "<tr>",
    "tr_close": "</tr>",
    "th_close": "</th>",
    "td_close": "</td>",
}


def _is_task_list(tokens: Sequence[Token], index: int) -> bool:
    """Whether every item of the bullet list opened at ``index`` starts with a box ("[ ] " or "[x] "):
    such a list is drawn without bullets, the boxes standing in for them."""
    level = tokens[index].level
    items = 0
    for at in range(index + 1, len(tokens)):
        token = tokens[at]
        if token.level == level:  # the list's closing token
            break
        if token.type == "list_item_open" and token.level == level + 1:
            items += 1
            inline = tokens[at + 2] if at + 2 < len(tokens) else None  # item, paragraph, inline
            if inline is None or inline.type != "inline" or not _starts_with_box(inline.children or []):
                return False
    return items > 0


def _starts_with_box(children: Sequence[Token]) -> bool:
    return bool(children) and children[0].type == "text" and children[0].content[:4] in _TASK_BOXES


def _cell_align(token: Token) -> str:
    style = str(token.attrGet("style") or "")
    for align in ("center", "right"):
        if align in style:
            return align
    return "left"


_INLINE_TAGS = {
    # A single line break in a reply is a line break, as every chat app shows it (a poem, an address, a list
    # typed without Markdown); CommonMark would join the lines into one paragraph.
    "softbreak": "<br>",
    "hardbreak": "<br>",
    "em_open": "<i>",
    "em_close": "</i>",
    "strong_open": "<b>",
    "strong_close": "</b>",
    "s_open": "<s>",
    "s_close": "</s>",
}


def _render_inline(children: Sequence[Token], kit: _Kit, task_candidate: bool) -> str:
    out: list[str] = []
    links: list[bool] = []  # for each open link: whether its <a> was written (the scheme is allowed)
    for index, token in enumerate(children):
        kind = token.type
        if kind == "text":
            content = token.content
            if task_candidate and index == 0 and _starts_with_box(children):
                content = _TASK_BOXES[content[:4]] + content[4:]
            out.append(escape_html(content))
        elif kind in _INLINE_TAGS:
            out.append(_INLINE_TAGS[kind])
        elif kind == "code_inline":
            out.append(f"{kit.code_inline_open}{escape_html(token.content)}</code>")
        elif kind == "link_open":
            href = str(token.attrGet("href") or "")
            allowed = href.lower().startswith(_LINK_SCHEMES)
            links.append(allowed)
            if allowed:
                out.append(kit.link_open % escape_html(href))
        elif kind == "link_close":
            if links and links.pop():
                out.append("</a>")
        elif kind == "image":
            src = str(token.attrGet("src") or "")
            alt = escape_html(token.content or "image")
            out.append(
                f"{kit.link_open % escape_html(src)}{alt}</a>" if src.lower().startswith(_IMAGE_SCHEMES) else alt
            )
        else:  # text_special, html_inline (html is off, so not expected): their text, escaped
            out.append(escape_html(token.content))
    return "".join(out)


# ---------------------------------------------------------------------------------------------------------
# Code blocks


def _render_code(token: Token, kit: _Kit, code_blocks: list[CodeBlock]) -> str:
    language = token.info.strip().split(maxsplit=1)[0] if token.info.strip() else ""
    code = token.content[:-1] if token.content.endswith("\n") else token.content
    index = len(code_blocks)
    code_blocks.append(CodeBlock(language, code))
    label = escape_html(language) if language else "text"
    # Still streaming (no closing fence yet): lexed in pieces, so that each call lexes only the last one.
    growing = token.type == "fence" and not _fence_closed(token)
    highlighted = kit.highlighter.html(code, language, growing=growing)
    return f"{kit.code_head}{label}{kit.code_copy}{index}{kit.code_body}{highlighted}{kit.code_close}"


def _fence_closed(token: Token) -> bool:
    """Whether the fence has its closing line: its source lines are then the content's plus two."""
    assert token.map is not None, "block tokens carry their source lines"
    content = token.content
    content_lines = content.count("\n") + (1 if content and not content.endswith("\n") else 0)
    return token.map[1] - token.map[0] == content_lines + 2
