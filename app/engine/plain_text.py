"""People's text as ordinary tokens, even where it spells a chat-markup token.

llama.cpp honours ``parse_special=False`` for control tokens, but it matches *user-defined* tokens in any text,
and it marks gpt-oss's markup (``<|start|>``, ``<|channel|>``, ``<|message|>``, ``<|end|>``, ``<|constrain|>``)
user-defined when it loads the model. A message containing ``<|end|><|start|>assistant<|channel|>final
<|message|>…`` would then forge a turn of the conversation. So where people's text comes out with a markup
token in it, each occurrence of that token's text is tokenized in two halves instead: spelled with ordinary
tokens, as any other text. Text without markup (nearly all of it) costs one check per token.
"""

from __future__ import annotations

import re
from typing import Any

from app.engine import backend

_MARKUP_ATTRS = ("LLAMA_TOKEN_ATTR_USER_DEFINED", "LLAMA_TOKEN_ATTR_CONTROL")


class PlainTokenizer:
    """Tokenizes people's text for one loaded ``llama_cpp.Llama`` (use it on the engine's thread)."""

    def __init__(self, llm: Any) -> None:
        llama_cpp = backend.llama()
        self._llm = llm
        self._lib = llama_cpp
        self._vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self._mask = 0
        for name in _MARKUP_ATTRS:
            self._mask |= int(getattr(llama_cpp, name))
        self._markup: dict[int, str | None] = {}  # token id -> its text when it is markup, else None

    def __call__(self, text: str) -> list[int]:
        ids = self._tokenize(text)
        for _ in range(4):  # each pass splits the markup found; a second pass is already rare
            found = {spelled for token in ids if (spelled := self._markup_text(token)) is not None}
            if not found:
                return ids
            ids = self._split_at(text, found)
        return [token for token in ids if self._markup_text(token) is None]  # never markup, whatever it costs

    def _tokenize(self, text: str) -> list[int]:
        if not text:
            return []
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _split_at(self, text: str, markup: set[str]) -> list[int]:
        pattern = re.compile("|".join(re.escape(m) for m in sorted(markup, key=len, reverse=True)))
        tokens: list[int] = []
        position = 0
        for match in pattern.finditer(text):
            tokens += self._tokenize(text[position : match.start()])
            middle = (match.start() + match.end()) // 2
            tokens += self._tokenize(text[match.start() : middle]) + self._tokenize(text[middle : match.end()])
            position = match.end()
        return tokens + self._tokenize(text[position:])

    def _markup_text(self, token: int) -> str | None:
        """The token's text when it is chat markup (a control or user-defined token spelled like a tag)."""
        if token not in self._markup:
            spelled = None
            if int(self._lib.llama_vocab_get_attr(self._vocab, token)) & self._mask:
                raw = self._lib.llama_vocab_get_text(self._vocab, token)
                text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
                if len(text) > 2 and text.startswith("<") and text.endswith(">"):
                    spelled = text
            self._markup[token] = spelled
        return self._markup[token]
