"""Incremental decoding on a real vocabulary: characters split over byte tokens come out whole, once."""

from __future__ import annotations

from app.engine.llama_engine import LlamaEngine

TEXT = "Café ☕ — naïve 日本語 🙂!"


def test_decoding_token_by_token_rebuilds_the_text_without_replacement_chars(
    smollm2_engine: LlamaEngine,
) -> None:
    tokens = smollm2_engine.tokenize(TEXT)
    decoder = smollm2_engine.new_decoder()
    pieces = [decoder.decode(token) for token in tokens]
    assert "".join(pieces) + decoder.flush() == TEXT
    assert "\ufffd" not in "".join(pieces)
    # Some characters span several byte tokens: those tokens yield nothing until the character is whole.
    assert "" in pieces
    assert all("\x00" not in piece for piece in pieces)


def test_control_tokens_decode_to_nothing(smollm2_engine: LlamaEngine) -> None:
    decoder = smollm2_engine.new_decoder()
    assert [decoder.decode(t) for t in smollm2_engine.tokenize("<|im_end|>")] == [""]
