"""Conversation titles, made from the first exchange without asking the model.

Asking the loaded model for a title would cost a generation and evict the conversation from llama.cpp's
KV cache (the next turn would re-read the whole prompt), so titles are made from the text itself: the first
line of the question without greetings, Markdown or code; the start of the answer when the question says
too little ("hi", a pasted code block).
"""

from __future__ import annotations

import re

NEW_CONVERSATION_TITLE = "New chat"
_TITLE_CHARS = 48
_CODE_BLOCK = re.compile(r"```.*?(```|$)", re.DOTALL)
_MARKUP = re.compile(r"[#*_`>|~\[\]]+")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_GREETING = re.compile(
    r"^(?:(?:hi|hello|hey|hiya|good (?:morning|afternoon|evening)|ok|okay|so)\b[\s,!.:;-]*)+"
    r"|^(?:please|pls|kindly)\b[\s,]*",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")
_MIN_WORDS = 2


def title_from_text(text: str) -> str:
    """A short title from a message: its first meaningful line, whitespace collapsed, cut at a word."""
    line = _first_line(text)
    if not line:
        return NEW_CONVERSATION_TITLE
    return _shorten(line)


def auto_title(user_text: str, reply_text: str = "") -> str:
    """A title from the first exchange: the question when it says enough, else the start of the answer."""
    line = _first_line(user_text)
    while (stripped := _GREETING.sub("", line).strip()) != line:
        line = stripped
    if len(line.split()) < _MIN_WORDS and reply_text:
        answer = _first_line(reply_text)
        answer = _SENTENCE_END.split(answer, maxsplit=1)[0].rstrip(".!")
        if len(answer.split()) >= _MIN_WORDS:
            line = answer
    if not line:
        line = _first_line(user_text)
    return _shorten(line[:1].upper() + line[1:]) if line else NEW_CONVERSATION_TITLE


def _first_line(text: str) -> str:
    """The first paragraph without Markdown or code, on one line."""
    text = _LINK.sub(r"\1", _CODE_BLOCK.sub("\n\n", text))
    for paragraph in re.split(r"\n\s*\n", text):
        line = " ".join(_MARKUP.sub(" ", paragraph).split())
        if line:
            return line
    return ""


def _shorten(line: str) -> str:
    if len(line) <= _TITLE_CHARS:
        return line.rstrip(",;:")
    cut = line[:_TITLE_CHARS].rsplit(" ", 1)[0] or line[:_TITLE_CHARS]
    return cut.rstrip(",.;:") + "…"
