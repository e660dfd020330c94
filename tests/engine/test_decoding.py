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


def test_a_reply_cut_inside_a_character_ends_without_a_replacement_char(smollm2_engine: LlamaEngine) -> None:
    tokens = smollm2_engine.tokenize(TEXT)
    decoder = smollm2_engine.new_decoder()
    # Stop right after a token that holds only the first bytes of a character, as a token limit can.
    text = ""
    for token in tokens:
        piece = decoder.decode(token)
        text += piece
        if piece == "" and smollm2_engine.new_decoder().piece(token):
            break
    assert text and TEXT.startswith(text)
    assert decoder.flush() == ""  # was "\ufffd"
    # The decoder is clean for what follows: a whole character after the cut decodes as itself.
    assert decoder.decode(smollm2_engine.tokenize("!")[0]) == "!"
