"""Fitting a conversation into the model's context window.

When a conversation outgrows the context, the oldest turns are dropped (never the system prompt), whole
exchanges at a time so the history still starts with a person's message. Each drop goes down to three
quarters of the room rather than just enough, and later turns keep the same cut for as long as it fits
(the cut that best matches what the KV cache holds wins): so dropping costs one full prompt evaluation
every few turns, not one per turn.

Finding the cut renders what is kept, not what is dropped, and a few times rather than once per exchange: a
prompt only shrinks as more exchanges are dropped, so the search starts from the newest end, keeping 1, 2, 4, 8…
exchanges until they no longer fit, then bisects (about 2 log2(k) renderings of the k exchanges that fit, however
long the conversation); the first cut that leaves the headroom is found by bisection too; and the cut that
matches the KV cache is found among the cuts between those two: each one measured in full when they are few
(the usual case), else by rendering each one's first exchange alone after the system prompt (only the cut the
cache was filled from shares more than the system prompt with it; equal ones get two exchanges, then four…).
A conversation short enough to fit is rendered once, whole. Trying every cut from the oldest, as before,
rendered and tokenized the whole conversation once per exchange: 215 s to answer 2,001 messages
(bench/context_fit_scale.py measures both).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from app.core.errors import UserError
from app.core.types import Message, Role

RenderTokens = Callable[[Sequence[Message]], list[int]]
_HEADROOM = 0.75
# Between the first cut that fits and the first with headroom, up to this many cuts are all measured in full (the
# usual case: a quarter of the context minus the reply's reserve holds a few exchanges); more are narrowed down to
# the one the KV cache was filled from by their first exchanges (see _cache_candidates).
_ALL_CANDIDATES = 16
# Candidates that share the cache equally far on their first exchanges are measured in full, up to this many.
_MAX_TIED = 8


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

    ``cached`` is what the KV cache holds; among the cuts that fit, the one sharing most of it is kept (and
    otherwise the first that leaves a quarter of the room free, or failing that the one that drops least).
    Raises UserError when even the newest message alone (with the system prompt) does not fit.
    """
    limit = n_ctx - reserve
    system = [m for m in messages if m.role == Role.SYSTEM]
    turns = [m for m in messages if m.role != Role.SYSTEM]
    # Cut k keeps the turns from starts[k] on; cut -1 keeps the whole conversation.
    starts = [i for i, m in enumerate(turns) if i > 0 and m.role == Role.USER]
    lengths: dict[int, int] = {}
    fitting: dict[int, list[int]] = {}  # only prompts that fit are kept: each is at most n_ctx tokens

    def prompt(k: int) -> list[int]:
        """The prompt of cut ``k`` (rendered once if it fits)."""
        if k in fitting:
            return fitting[k]
        tokens = render_tokens(messages if k < 0 else [*system, *turns[starts[k] :]])
        lengths[k] = len(tokens)
        if len(tokens) <= limit:
            fitting[k] = tokens
        return tokens

    def fits(k: int, room: int = limit) -> bool:
        return (lengths[k] if k in lengths else len(prompt(k))) <= room

    newest = len(starts) - 1
    # A conversation that may well fit (under 8 characters a token) is rendered whole first: the usual case, one
    # rendering. A longer one is searched from its newest end, so that what is dropped is never even tokenized.
    if sum(len(m.content) for m in messages) <= 8 * limit and fits(-1):
        return prompt(-1), 0
    if not fits(newest):
        raise UserError(
            f"This message is too long for the model's context ({lengths[newest]:,} tokens, with "
            f"{reserve:,} kept for the reply, of {n_ctx:,}). Shorten it, or load the model with a longer context."
        )
    first_fit = _first_from_end(fits, newest)
    if first_fit < 0:
        return prompt(-1), 0
    target = min(limit, int(n_ctx * _HEADROOM))
    roomy = _first(lambda k: fits(k, target), first_fit, newest)
    last = roomy if roomy is not None else newest
    if last - first_fit < _ALL_CANDIDATES:
        candidates = set(range(first_fit, last + 1))  # few: each one measured in full, as before
    else:
        candidates = {first_fit, *_cache_candidates(system, turns, starts, first_fit, last, render_tokens, cached)}
        if roomy is not None:
            candidates.add(roomy)
    # A cut that matches the cache beats one that merely fits; otherwise the cut with headroom wins (the order and
    # the rule are those of trying every cut from the oldest, which this replaces).
    best, best_shared = -1, -1
    for k in sorted(candidates):
        shared = common_prefix(prompt(k), cached)
        if best < 0 or shared > best_shared or (shared == best_shared and k == roomy):
            best, best_shared = k, shared
    return prompt(best), starts[best]


def _first_from_end(fits: Callable[[int], bool], newest: int) -> int:
    """The oldest cut that fits, from -1 (nothing dropped) to ``newest`` (which fits), assuming every newer cut
    fits too: keeping 1, 2, 4, 8... exchanges until one does not fit, then a binary search in between."""
    fitting, step = newest, 1
    while fitting > -1:
        k = max(-1, fitting - step)
        if not fits(k):
            found = _first(fits, k + 1, fitting)
            return fitting if found is None else found
        fitting, step = k, step * 2
    return -1


def _first(fits: Callable[[int], bool], low: int, high: int) -> int | None:
    """The smallest k in [low, high] for which ``fits(k)``, assuming it stays true from there on; None if none."""
    if low > high or not fits(high):
        return None
    while low < high:
        middle = (low + high) // 2
        if fits(middle):
            high = middle
        else:
            low = middle + 1
    return low


def _cache_candidates(
    system: list[Message],
    turns: list[Message],
    starts: list[int],
    low: int,
    high: int,
    render_tokens: RenderTokens,
    cached: Sequence[int],
) -> list[int]:
    """The cuts in [low, high] whose prompt shares most of ``cached``: where the KV cache's prompt began.

    Each cut is rendered with its first exchange only (after the system prompt); where several share the cache
    equally far (a repeated question), those are rendered again with two exchanges, then four..., for as long as
    that brings them further. Nothing is returned when the cache matches no cut beyond the system prompt."""
    if not cached or low >= high:
        return []
    tied, width, before = list(range(low, high + 1)), 1, -1
    while True:
        ends = {k: starts[k + width] if k + width < len(starts) else len(turns) for k in tied}
        shares = {k: common_prefix(render_tokens([*system, *turns[starts[k] : ends[k]]]), cached) for k in tied}
        most = max(shares.values())
        if most == min(shares.values()) and width == 1:
            return []  # the cache tells them apart no better than by the system prompt
        tied = [k for k in tied if shares[k] == most]
        if len(tied) == 1 or most <= before or all(end == len(turns) for end in ends.values()):
            return tied[:_MAX_TIED]
        width, before = width * 2, most
