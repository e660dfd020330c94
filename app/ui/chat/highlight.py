"""Code in a message, coloured by pygments as HTML spans with inline styles (Qt's rich text has no style sheets).

Pure Python, no Qt, like app.ui.chat.markdown, which puts the result inside a code block. Lexers are chosen by
the fence's language only; code longer than ``HIGHLIGHT_LIMIT`` is shown plain, and a block still streaming is
lexed in pieces, so that each new piece of a reply costs the lexing of one piece, not of the whole block.
"""

from __future__ import annotations

import functools

# pygments ships no type information (types-Pygments is not a dependency).
from pygments.lexer import Lexer  # type: ignore[import-untyped]
from pygments.lexers import get_lexer_by_name  # type: ignore[import-untyped]
from pygments.style import StyleMeta  # type: ignore[import-untyped]
from pygments.styles import get_style_by_name  # type: ignore[import-untyped]
from pygments.token import _TokenType  # type: ignore[import-untyped]
from pygments.util import ClassNotFound  # type: ignore[import-untyped]

HIGHLIGHT_LIMIT = 64 * 1024  # longer code is shown plain: lexing it would hold up the window
_PIECE = 1024  # characters of an unclosed (streaming) code block lexed at a time


def escape_html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


class Highlighter:
    """Colours code with the pygments style of a light or a dark theme."""

    def __init__(self, dark: bool) -> None:
        self._style = get_style_by_name("github-dark" if dark else "default")
        self._token_css: dict[_TokenType, str] = {}

    def html(self, code: str, language: str, *, growing: bool = False) -> str:
        """``code`` as HTML: coloured when ``language`` names a lexer, else escaped plain text. ``growing``: the
        block is still streaming (its fence not closed yet), so it is lexed in pieces (see :func:`_pieces`)."""
        lexer = _lexer(language.lower()) if language and len(code) <= HIGHLIGHT_LIMIT else None
        if lexer is None:
            return escape_html(code)
        if growing:
            return "".join(_highlight(piece, lexer, self) for piece in _pieces(code))
        return _highlight(code, lexer, self)

    def token_css(self, token_type: _TokenType) -> str:
        """The inline CSS of a pygments token type in this style ("" for plain text)."""
        css = self._token_css.get(token_type)
        if css is None:
            css = _css_for(self._style, token_type)
            self._token_css[token_type] = css
        return css


@functools.lru_cache(maxsize=2)
def highlighter(dark: bool) -> Highlighter:
    """The highlighter of a light or dark theme (kept, with its CSS cache, for as long as the app runs)."""
    return Highlighter(dark)


def _css_for(style: StyleMeta, token_type: _TokenType) -> str:
    spec = style.style_for_token(token_type)
    parts = []
    if spec["color"]:
        parts.append(f"color:#{spec['color']}")
    if spec["bgcolor"]:
        parts.append(f"background-color:#{spec['bgcolor']}")
    if spec["bold"]:
        parts.append("font-weight:600")
    if spec["italic"]:
        parts.append("font-style:italic")
    if spec["underline"]:
        parts.append("text-decoration:underline")
    return ";".join(parts)


def _pieces(code: str) -> list[str]:
    """``code`` cut after a line end about every _PIECE characters. A cut depends only on the text before
    it, so the pieces of a growing block stay the same but for the last. Colours may be off near a cut in
    the middle of a long string or comment; they are right once the fence closes and is lexed whole."""
    pieces = []
    start = 0
    while len(code) - start > _PIECE:
        cut = code.rfind("\n", start, start + _PIECE) + 1
        if cut <= start:  # one very long line: cut at its end, once it has arrived
            cut = code.find("\n", start + _PIECE) + 1
            if cut <= 0:
                break
        pieces.append(code[start:cut])
        start = cut
    pieces.append(code[start:])
    return pieces


@functools.lru_cache(maxsize=256)
def _highlight(code: str, lexer: Lexer, highlighter: Highlighter) -> str:
    """Code as HTML spans with inline colours. Cached: a finished block is re-rendered on every call while
    the text after it streams."""
    out: list[str] = []
    run_css = ""
    run: list[str] = []
    for token_type, value in lexer.get_tokens(code):
        css = highlighter.token_css(token_type) if not value.isspace() else run_css
        if css != run_css:
            _flush(out, run_css, run)
            run_css, run = css, []
        run.append(value)
    _flush(out, run_css, run)
    return "".join(out)


def _flush(out: list[str], css: str, run: list[str]) -> None:
    if not run:
        return
    text = escape_html("".join(run))
    out.append(f'<span style="{css}">{text}</span>' if css else text)


@functools.lru_cache(maxsize=64)
def _lexer(name: str) -> Lexer | None:
    """Lexers are looked up by fence name only: guessing from the text is slow and often wrong."""
    try:
        # stripnl/ensurenl off: the highlighted text must be exactly the code.
        return get_lexer_by_name(name, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None
