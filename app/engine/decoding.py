"""Token ids to text, incrementally: each generated token is turned into bytes once, and the bytes into text
as soon as they form whole UTF-8 characters (an emoji split over several byte tokens comes out whole).

llama-cpp-python's ``LlamaModel.token_to_piece`` returns a fixed 32-byte buffer, NUL padding included, and
cuts longer pieces; this asks llama.cpp for the exact length instead.
"""

from __future__ import annotations

import codecs
import ctypes
from typing import Any

from app.engine import backend


class TokenDecoder:
    """Decodes one reply's tokens in order. Control tokens (``<|im_end|>`` ...) decode to nothing."""

    def __init__(self, vocab: Any) -> None:
        self._llama_cpp = backend.llama()
        self._vocab = vocab
        self._buffer = ctypes.create_string_buffer(64)
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def piece(self, token: int) -> bytes:
        """The raw bytes of ``token`` (special tokens render as nothing)."""
        size = self._llama_cpp.llama_token_to_piece(self._vocab, token, self._buffer, len(self._buffer), 0, False)
        if size < 0:  # the buffer is too small: llama.cpp says how much it needs
            self._buffer = ctypes.create_string_buffer(-size)
            size = self._llama_cpp.llama_token_to_piece(self._vocab, token, self._buffer, len(self._buffer), 0, False)
        return self._buffer.raw[:size]

    def decode(self, token: int) -> str:
        """The text completed by ``token``; may be empty while a multi-byte character is still partial."""
        return self._utf8.decode(self.piece(token))

    def flush(self) -> str:
        """The end of the reply. A reply cut mid-character (its token limit reached inside an emoji) leaves the
        first bytes of a character, which are no text: they are dropped rather than shown as U+FFFD. Bytes
        that can never be UTF-8 were already replaced, where they stood."""
        pending, _ = self._utf8.getstate()
        self._utf8.reset()
        return "" if pending else self._utf8.decode(b"", final=True)
