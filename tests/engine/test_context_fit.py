"""Dropping the oldest turns to fit the context, with a stand-in tokenizer (one token per character)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from app.core.errors import UserError
from app.core.types import Message, Role
from app.engine.context_fit import fit_to_context, reply_reserve


def render(messages: Sequence[Message]) -> list[int]:
    return [ord(c) for m in messages for c in f"[{m.role.value}]{m.content}"]


def chat(turns: int) -> list[Message]:
    messages = [Message(Role.SYSTEM, "rules")]
    for i in range(turns):
        messages += [Message(Role.USER, f"question {i:02d}"), Message(Role.ASSISTANT, f"answer {i:02d}")]
    return [*messages, Message(Role.USER, "last question")]


def test_a_conversation_that_fits_is_left_alone() -> None:
    messages = chat(2)
    tokens, dropped = fit_to_context(messages, render, n_ctx=1000, reserve=100)
    assert dropped == 0 and tokens == render(messages)


def test_oldest_exchanges_go_first_and_the_system_prompt_stays() -> None:
    messages = chat(10)
    n_ctx, reserve = 300, 50
    tokens, dropped = fit_to_context(messages, render, n_ctx, reserve)
    assert dropped > 0 and dropped % 2 == 0
    kept = [messages[0], *messages[1 + dropped :]]
    assert tokens == render(kept)
    assert len(tokens) <= n_ctx * 0.75  # room left so the next turns keep the same beginning (KV reuse)
    assert kept[1].role == Role.USER


def test_the_next_turn_keeps_the_same_beginning() -> None:
    messages = chat(10)
    first, dropped = fit_to_context(messages, render, 300, 50)
    follow_up = [*messages, Message(Role.ASSISTANT, "ok"), Message(Role.USER, "more")]
    second, dropped_again = fit_to_context(follow_up, render, 300, 50, cached=first)
    assert dropped_again == dropped and second[: len(first)] == first


def test_a_cut_that_no_longer_fits_makes_room_again() -> None:
    messages = chat(10)
    first, dropped = fit_to_context(messages, render, 300, 50)
    longer = [*messages, Message(Role.ASSISTANT, "x" * 40), Message(Role.USER, "more")]
    tokens, dropped_again = fit_to_context(longer, render, 300, 50, cached=first)
    assert dropped_again > dropped and len(tokens) <= 300 * 0.75


def test_a_message_too_long_on_its_own_is_a_user_error() -> None:
    with pytest.raises(UserError, match="too long for the model's context"):
        fit_to_context([Message(Role.USER, "x" * 500)], render, n_ctx=300, reserve=50)


def test_reply_reserve_is_at_most_a_quarter_of_the_context() -> None:
    assert reply_reserve(8192, 100) == 100
    assert reply_reserve(8192, 100_000) == 2048
