"""Fitting a conversation into the model's context window.

When a conversation outgrows the context, the oldest turns are dropped (never the system prompt), whole
exchanges at a time so the history still starts with a person's message. Each drop goes down to three
quarters of the room rather than just enough, and later turns keep the same cut for as long as it fits
(the cut that best matches what the KV cache holds wins): so dropping costs one full prompt evaluation
every few turns, not one per turn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from app.core.errors import UserError
from app.core.types import Message, Role

RenderTokens = Callable[[Sequence[Message]], list[int]]
_HEADROOM = 0.75


def reply_reserve(n_ctx: int, max_tokens: int) -> int:
    """Tokens kept free for the reply: its length limit, but at most a quarter of the context."""
    return max(1, min(max_tokens, n_ctx // 4))


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def fit_to_context(
    messages: Sequence[Message],
    render_tokens: RenderTokens,
    n_ctx: int,
    reserve: int,
    cached: Sequence[int] = (),
) -> tuple[list[int], int]:
    """The prompt tokens for ``messages`` and how many of the oldest messages had to be dropped to fit.

    ``cached`` is what the KV cache holds; among the cuts that fit, the one sharing most of it is kept.
    Raises UserError when even the newest message alone (with the system prompt) does not fit.
    """
    limit = n_ctx - reserve
    tokens = render_tokens(messages)
    if len(tokens) <= limit:
        return tokens, 0
    system = [m for m in messages if m.role == Role.SYSTEM]
    turns = [m for m in messages if m.role != Role.SYSTEM]
    starts = [i for i, m in enumerate(turns) if i > 0 and m.role == Role.USER]
    target = min(limit, int(n_ctx * _HEADROOM))
    best: tuple[list[int], int] | None = None
    best_shared = -1
    for start in starts:
        tokens = render_tokens([*system, *turns[start:]])
        if len(tokens) > limit:
            continue
        shared = common_prefix(tokens, cached)
        # A cut that matches the cache beats one that merely fits; otherwise the cut with headroom wins.
        if best is None or shared > best_shared or (shared == best_shared and len(tokens) <= target < len(best[0])):
            best, best_shared = (tokens, start), shared
        if len(tokens) <= target:
            break
    if best is None:
        raise UserError(
            f"This message is too long for the model's context ({len(tokens):,} tokens, with "
            f"{reserve:,} kept for the reply, of {n_ctx:,}). Shorten it, or load the model with a longer context."
        )
    return best
