"""The context fitting search as it was before issue 16: every cut from the oldest exchange, each rendered in
full. Kept as the reference that ``app.engine.context_fit.fit_to_context`` must agree with (the tests) and as the
baseline it is measured against (``bench/context_fit_scale.py``); quadratic, so never used by the app."""

from __future__ import annotations

from collections.abc import Sequence

from app.core.errors import UserError
from app.core.types import Message, Role
from app.engine.context_fit import RenderTokens, common_prefix


def fit_by_trying_every_cut(
    messages: Sequence[Message], render_tokens: RenderTokens, n_ctx: int, reserve: int, cached: Sequence[int] = ()
) -> tuple[list[int], int]:
    """The search as it was before issue 16 (every cut from the oldest, each rendered in full): the reference."""
    limit = n_ctx - reserve
    tokens = render_tokens(messages)
    if len(tokens) <= limit:
        return tokens, 0
    system = [m for m in messages if m.role == Role.SYSTEM]
    turns = [m for m in messages if m.role != Role.SYSTEM]
    target = min(limit, int(n_ctx * 0.75))
    best: tuple[list[int], int] | None = None
    best_shared = -1
    for start in [i for i, m in enumerate(turns) if i > 0 and m.role == Role.USER]:
        tokens = render_tokens([*system, *turns[start:]])
        if len(tokens) > limit:
            continue
        shared = common_prefix(tokens, cached)
        if best is None or shared > best_shared or (shared == best_shared and len(tokens) <= target < len(best[0])):
            best, best_shared = (tokens, start), shared
        if len(tokens) <= target:
            break
    if best is None:
        raise UserError("This message is too long for the model's context.")
    return best
