from __future__ import annotations

import pytest

from app.core.conversation import NEW_CONVERSATION_TITLE, auto_title, title_from_text
from app.core.settings import Settings
from app.core.types import Message


def test_title_is_first_line_cut_at_a_word() -> None:
    assert title_from_text("  What is   the capital\nof France? ") == "What is the capital of France?"
    long = "Explain the difference between a mixture of experts model and a dense transformer in detail"
    title = title_from_text(long)
    assert title.endswith("…") and len(title) <= 49 and long.startswith(title[:-1])
    assert title_from_text("   ") == NEW_CONVERSATION_TITLE


def test_auto_title_uses_the_question_unless_it_says_too_little() -> None:
    assert auto_title("Hi! Please explain **mixture of experts** routing") == "Explain mixture of experts routing"
    assert auto_title("hello", "Hello! How can I help you today?") == "Hello"  # nothing better to say
    assert auto_title("thanks", "Glad it worked for your garden. Anything else?") == "Glad it worked for your garden"
    assert auto_title("```python\nprint(1)\n```", "This prints the number one. It is short.") == (
        "This prints the number one"
    )
    assert auto_title("What is [RoPE](https://example.com)?") == "What is RoPE?"
    assert auto_title("hi") == "Hi"
    assert auto_title("   ") == NEW_CONVERSATION_TITLE


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
