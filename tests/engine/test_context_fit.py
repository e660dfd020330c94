"""Dropping the oldest turns to fit the context, with a stand-in tokenizer (one token per character)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.errors import UserError
from app.core.types import Message, Role
from app.devtools.context_fit_reference import fit_by_trying_every_cut
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


# -- long conversations (issue 16): a few renderings, the same cut as trying every one ---------------------------


class CountingRender:
    """The stand-in tokenizer, counting its calls and the most messages one call was given."""

    def __init__(self) -> None:
        self.calls = 0
        self.most = 0

    def __call__(self, messages: Sequence[Message]) -> list[int]:
        self.calls += 1
        self.most = max(self.most, len(messages))
        return render(messages)


def test_a_long_conversation_takes_a_few_renderings_of_what_is_kept() -> None:
    messages = chat(1000)  # 2,002 messages, as the fuzzing run's 2,001
    counting = CountingRender()
    tokens, dropped = fit_to_context(messages, counting, n_ctx=2048, reserve=256)
    assert (tokens, dropped) == fit_by_trying_every_cut(messages, render, 2048, 256)
    assert dropped > 1900
    # Trying every cut rendered the conversation ~950 times; now ~2 log2(kept) times, never the dropped part.
    assert counting.calls <= 30, counting.calls
    assert counting.most <= 200, counting.most


def test_the_kept_cut_is_found_again_among_many_candidates() -> None:
    messages = chat(1000)
    first, dropped = fit_to_context(messages, render, 2048, 256)
    longer = [*messages, Message(Role.ASSISTANT, "fine"), Message(Role.USER, "and then?")]
    counting = CountingRender()
    second, dropped_again = fit_to_context(longer, counting, 2048, 256, cached=first)
    assert dropped_again == dropped and second[: len(first)] == first
    assert counting.calls <= 60, counting.calls


_conversations = st.lists(
    st.tuples(st.sampled_from(list(Role)), st.text(alphabet="abc", max_size=40)), min_size=1, max_size=40
).map(lambda pairs: [Message(role, text) for role, text in pairs])


def _numbered(messages: list[Message]) -> list[Message]:
    """Each message's text made unique, as people's messages are: no two exchanges render the same."""
    return [Message(m.role, f"{i}:{m.content}") for i, m in enumerate(messages)]


@settings(max_examples=300, deadline=None)
@given(
    messages=_conversations,
    n_ctx=st.integers(40, 600),
    reserve=st.integers(1, 100),
    follow_ups=st.lists(_conversations, max_size=3),
    numbered=st.booleans(),
)
def test_the_cut_is_the_one_trying_every_cut_chooses(
    messages: list[Message], n_ctx: int, reserve: int, follow_ups: list[list[Message]], numbered: bool
) -> None:
    """Turn after turn, with the KV cache holding the last prompt: the same cut as the old search when exchanges
    differ; with repeated ones (where many cuts may match the cache about as well) a cut that fits and starts
    with a person's message, and the very same one when few cuts were candidates."""
    cached: list[int] = []
    for more in [[], *follow_ups]:
        messages = [*messages, *more]
        conversation = _numbered(messages) if numbered else messages
        try:
            expected = fit_by_trying_every_cut(conversation, render, n_ctx, reserve, cached)
        except UserError:
            with pytest.raises(UserError, match="too long for the model's context"):
                fit_to_context(conversation, render, n_ctx, reserve, cached)
            continue
        tokens, dropped = fit_to_context(conversation, render, n_ctx, reserve, cached)
        if numbered:
            assert (tokens, dropped) == expected
        else:
            turns = [m for m in conversation if m.role != Role.SYSTEM]
            kept = [m for m in conversation if m.role == Role.SYSTEM] + turns[dropped:]
            assert tokens == render(kept if dropped else conversation) and len(tokens) <= n_ctx - reserve
            assert dropped == 0 or turns[dropped].role == Role.USER
        cached = tokens


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 6), min_size=60, max_size=300),
    n_ctx=st.integers(600, 3000),
    turns_later=st.integers(1, 6),
)
def test_many_candidate_cuts_find_the_one_in_the_cache(sizes: list[int], n_ctx: int, turns_later: int) -> None:
    """Short messages and a long context: tens of cuts between the first that fits and the first with headroom,
    told apart by their first exchanges; the same cut as the old search, turn after turn."""
    conversation = [Message(Role.SYSTEM, "rules")]
    conversation += [Message((Role.USER, Role.ASSISTANT)[i % 2], f"{i}:" + "x" * n) for i, n in enumerate(sizes)]
    cached: list[int] = []
    for turn in range(turns_later):
        if conversation[-1].role == Role.USER:
            conversation.append(Message(Role.ASSISTANT, f"reply {turn}"))
        conversation.append(Message(Role.USER, f"question {turn}"))
        expected = fit_by_trying_every_cut(conversation, render, n_ctx, 10, cached)
        assert fit_to_context(conversation, render, n_ctx, 10, cached) == expected
        cached = expected[0]


@pytest.mark.model
def test_the_bench_runs_and_both_searches_agree() -> None:
    """bench/context_fit_scale.py (the figures in bench/README.md) on the tiny gpt-oss model, briefly."""
    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, "bench/context_fit_scale.py", "--tiny-gpt-oss", "--messages", "61", "--repeat", "1"]
    child = subprocess.run([*command, "--json"], cwd=root, capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr[-2000:]
    (row,) = json.loads(child.stdout)["rows"]
    assert row["messages"] == 61 and row["dropped"] > 0 and row["after_renders"] < row["before_renders"]
