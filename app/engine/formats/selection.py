"""Choosing the chat format for a model from its GGUF header."""

from __future__ import annotations

from app.engine.formats.base import ChatFormat
from app.engine.formats.harmony import HarmonyChatFormat, is_harmony_model
from app.engine.formats.template import CHATML_TEMPLATE, TemplateChatFormat
from app.engine.gguf_header import GGUFHeader


def select_chat_format(header: GGUFHeader) -> ChatFormat:
    """Harmony for gpt-oss; the embedded chat template for everything else (ChatML if there is none).

    A harmony format chosen here can render prompts; the engine binds it to the loaded vocabulary's special
    tokens before it parses output.
    """
    if is_harmony_model(header):
        return HarmonyChatFormat()
    template = header.chat_template
    bos, eos = header.token_text("bos"), header.token_text("eos")
    if template is None:
        return TemplateChatFormat(CHATML_TEMPLATE, bos, eos, fallback=True)
    return TemplateChatFormat(template, bos, eos)
