"""Text as llama.cpp can safely tokenize it: people's text as ordinary tokens, and no run too long for its
pre-tokenizer.

**Markup in people's text.** llama.cpp honours ``parse_special=False`` for control tokens, but it matches
*user-defined* tokens in any text, and it marks gpt-oss's markup (``<|start|>``, ``<|channel|>``, ``<|message|>``,
``<|end|>``, ``<|constrain|>``) user-defined when it loads the model. A message containing ``<|end|><|start|>
assistant<|channel|>final<|message|>…`` would then forge a turn of the conversation. So where people's text comes
out with a markup token in it, each occurrence of that token's text is tokenized in two halves instead: spelled
with ordinary tokens, as any other text. Text without markup (nearly all of it) costs one check per token.

**Long runs.** A BPE vocabulary splits text with its pre-tokenizer's regular expression before merging, and for
most of them (gpt-oss's ``gpt-4o`` among them) llama.cpp runs ``std::regex``, which recurses once per character
of a match: one match of ~26,000 characters (a run of ``x``, of spaces, of ``é``, ``acgt`` repeated) overflows an
8 MiB stack and kills the process with SIGSEGV; a thread with a smaller stack (macOS gives 512 KiB) dies sooner.
So before it reaches llama.cpp, text with a run of whitespace or of non-whitespace longer than
:data:`RUN_LIMIT` characters is cut into pieces inside those runs (only there), each tokenized on its own, so no
match can be longer than about twice the limit. The cut goes where the character class changes when it can
(letters to digits or punctuation, spaces to newlines: where every pre-tokenizer splits anyway), else after
:data:`RUN_LIMIT` characters, never between a character and its combining marks or inside ``\\r\\n``. Text without
such runs (prose, code, logs with spaces) is tokenized whole, to exactly the tokens it had; a cut run differs by
at most a token or two at each cut (BPE cannot merge across it). SentencePiece and other non-BPE vocabularies use
no regular expression, so their text is never cut: each separate call would add their leading space.

**Unpaired surrogates** (``"\\ud800"``: possible in a Python string read from JSON, never valid UTF-8) become
U+FFFD before encoding, instead of failing the whole prompt with UnicodeEncodeError.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from typing import Any

from app.engine import backend

_MARKUP_ATTRS = ("LLAMA_TOKEN_ATTR_USER_DEFINED", "LLAMA_TOKEN_ATTR_CONTROL")
# The longest run of whitespace or of non-whitespace given to llama.cpp in one piece. A pre-token match then spans
# at most ~2 runs (a space, a word, its trailing newlines): ~520 characters, ~170 KiB of std::regex stack.
RUN_LIMIT = 256
# How far back from the limit a cut looks for a change of character class.
_LOOKBACK = 64
_SURROGATE = re.compile("[\ud800-\udfff]")


def _long_runs(limit: int) -> re.Pattern[str]:
    return re.compile(rf"\s{{{limit + 1},}}|\S{{{limit + 1},}}")


_LONG_RUN = _long_runs(RUN_LIMIT)


def utf8(text: str) -> bytes:
    """``text`` as UTF-8 for llama.cpp; an unpaired surrogate (not a character) becomes U+FFFD."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text).encode("utf-8")


def _char_class(char: str) -> str:
    """The class pre-tokenizers split on: letter (with marks), number, newline, other whitespace, the rest."""
    if char in "\r\n":
        return "n"
    if char.isspace():
        return "s"
    kind = unicodedata.category(char)[0]
    return "l" if kind in "LM" else "d" if kind == "N" else "p"


def _cut_point(text: str, start: int, limit: int) -> int:
    """Where to end the piece of a long run that starts at ``start``: at most ``limit`` characters on."""
    end = start + limit
    # Best before punctuation, a digit or whitespace; a letter run takes one character before it along (".com").
    changes = [cut for cut in range(end, end - _LOOKBACK, -1) if _char_class(text[cut - 1]) != _char_class(text[cut])]
    for cut in changes:
        if _char_class(text[cut]) != "l":
            return cut
    if changes:
        return changes[0]
    cut = end
    # Never between a character and its combining marks, nor inside \r\n (bounded: a run of marks is cut anyway).
    while cut > end - _LOOKBACK and (unicodedata.category(text[cut])[0] == "M" or text[cut - 1 : cut + 1] == "\r\n"):
        cut -= 1
    return cut if cut > end - _LOOKBACK else end


def bounded_pieces(text: str, limit: int = RUN_LIMIT) -> list[str]:
    """``text`` cut inside its runs of whitespace or non-whitespace longer than ``limit`` (see the module
    docstring); ``[text]`` when it has none. The pieces joined are ``text``."""
    if len(text) <= limit:
        return [text]
    pattern = _LONG_RUN if limit == RUN_LIMIT else _long_runs(limit)
    cuts: list[int] = []
    for match in pattern.finditer(text):
        position, end = match.span()
        while end - position > limit:
            position = _cut_point(text, position, limit)
            cuts.append(position)
    if not cuts:
        return [text]
    edges = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(edges)]


class PlainTokenizer:
    """Tokenizes text for one loaded ``llama_cpp.Llama`` (use it on the engine's thread): people's text without
    markup tokens (:meth:`__call__`), markup with them (:meth:`markup`), both cut at long runs for BPE."""

    def __init__(self, llm: Any) -> None:
        llama_cpp = backend.llama()
        self._llm = llm
        self._lib = llama_cpp
        self._vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self._mask = 0
        for name in _MARKUP_ATTRS:
            self._mask |= int(getattr(llama_cpp, name))
        self._markup: dict[int, str | None] = {}  # token id -> its text when it is markup, else None
        self._special: dict[int, bool] = {}  # token id -> whether it is a control or user-defined token
        # Only BPE vocabularies run a pre-tokenizer's regular expression (see the module docstring).
        self.cuts_long_runs = int(llama_cpp.llama_vocab_type(self._vocab)) == int(llama_cpp.LLAMA_VOCAB_TYPE_BPE)

    def __call__(self, text: str) -> list[int]:
        """People's text as ordinary tokens: never a markup token, whatever it spells."""
        ids: list[int] = []
        for piece in self.pieces(text):
            ids += self._plain(piece)
        return ids

    def markup(self, text: str) -> list[int]:
        """Text the chat format wrote: its special-token text (``<|end|>``) becomes special tokens."""
        ids: list[int] = []
        for piece in self.pieces(text):
            ids += self._tokenize(piece, special=True)
        return ids

    def pieces(self, text: str) -> list[str]:
        """``text`` in the pieces it is tokenized in: cut at long runs for a BPE vocabulary, else whole."""
        return bounded_pieces(text) if self.cuts_long_runs else [text]

    def is_special(self, token: int) -> bool:
        """Whether ``token`` is a control or user-defined token: what only markup may bring into a prompt."""
        known = self._special.get(token)
        if known is None:
            known = self._special[token] = bool(int(self._lib.llama_vocab_get_attr(self._vocab, token)) & self._mask)
        return known

    def _plain(self, text: str) -> list[int]:
        ids = self._tokenize(text)
        for _ in range(4):  # each pass splits the markup found; a second pass is already rare
            found = {spelled for token in ids if (spelled := self._markup_text(token)) is not None}
            if not found:
                return ids
            ids = self._split_at(text, found)
        return [token for token in ids if self._markup_text(token) is None]  # never markup, whatever it costs

    def _tokenize(self, text: str, *, special: bool = False) -> list[int]:
        if not text:
            return []
        return list(self._llm.tokenize(utf8(text), add_bos=False, special=special))

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
            if self.is_special(token):
                raw = self._lib.llama_vocab_get_text(self._vocab, token)
                text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
                if len(text) > 2 and text.startswith("<") and text.endswith(">"):
                    spelled = text
            self._markup[token] = spelled
        return self._markup[token]
