from __future__ import annotations

import pytest

from app.core.conversation import NEW_CONVERSATION_TITLE, Conversation, title_from_text
from app.core.settings import Settings
from app.core.types import Message, Role


def test_title_is_first_line_cut_at_a_word() -> None:
    assert title_from_text("  What is   the capital\nof France? ") == "What is the capital of France?"
    long = "Explain the difference between a mixture of experts model and a dense transformer in detail"
    title = title_from_text(long)
    assert title.endswith("…") and len(title) <= 49 and long.startswith(title[:-1])
    assert title_from_text("   ") == NEW_CONVERSATION_TITLE


def test_snapshot_puts_the_system_prompt_first_and_skips_a_blank_one() -> None:
    chat = Conversation(system_prompt="Be brief.", messages=[Message(Role.USER, "hi")])
    assert chat.snapshot() == (Message(Role.SYSTEM, "Be brief."), Message(Role.USER, "hi"))
    assert Conversation(system_prompt="  ", messages=[Message(Role.USER, "hi")]).snapshot() == (
        Message(Role.USER, "hi"),
    )


def test_message_from_json_rejects_bad_items() -> None:
    assert Message.from_json({"role": "assistant", "content": "x", "reasoning": "r"}).reasoning == "r"
    for bad in (
        {"role": "robot", "content": "x"},
        {"role": "user"},
        ["user", "x"],
        {"role": "user", "content": 3},
    ):
        with pytest.raises(ValueError):
            Message.from_json(bad)


def test_settings_from_dict_keeps_good_values_and_drops_bad_ones() -> None:
    raw = {
        "context_length": "big",  # wrong type: default kept
        "max_tokens": 512,
        "recent_models": ["/a.gguf", "/b.gguf"],
        "theme": "dark",
        "unknown_key": 1,
    }
    settings = Settings.from_dict(raw)
    assert settings.context_length == Settings().context_length
    assert settings.max_tokens == 512
    assert settings.recent_models == ("/a.gguf", "/b.gguf")
    assert settings.theme == "dark"
    assert Settings.from_dict(settings.to_dict()) == settings


def test_recent_models_move_to_front_without_duplicates() -> None:
    settings = Settings(recent_models=("/a", "/b", "/c"))
    updated = settings.with_recent_model("/c")
    assert updated.recent_models == ("/c", "/a", "/b")
    assert updated.last_model_path == "/c"
