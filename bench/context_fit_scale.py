"""Fitting a long conversation into the context: the search before issue 16 against today's, side by side.

    .venv/bin/python bench/context_fit_scale.py [--model PATH | --tiny-gpt-oss] [--messages 101 251 501 1001]
                                                [--ctx 2048] [--repeat 3] [--json]

A real model is loaded (the starter model, SmolLM2, unless ``--model``; ``--tiny-gpt-oss`` writes the tests' tiny
gpt-oss model and uses harmony), and for each conversation length (a system prompt, then short questions and
answers, ending with a question) both searches run ``--repeat`` times on the engine's real renderer and tokenizer
(``LlamaEngine.render_prompt``'s format and ``tokenize_prompt``, as ``generate`` calls them); nothing is
evaluated. ``before`` is the search as it was (every cut from the oldest, each rendered and tokenized in full:
quadratic), kept here verbatim; ``after`` is ``app.engine.context_fit.fit_to_context``. Both must choose the same
cut (checked). It prints the median times, their ratio, and how many renderings each did. Figures:
bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core.types import LoadOptions, LoadParams, Message, Role
from app.devtools.context_fit_reference import fit_by_trying_every_cut
from app.engine.context_fit import fit_to_context, reply_reserve
from app.engine.llama_engine import LlamaEngine
from app.hub.starter import starter_model_path

RenderTokens = Callable[[Sequence[Message]], list[int]]


def conversation(n_messages: int) -> list[Message]:
    """``n_messages`` messages: a system prompt, questions and answers in turn, and a last question."""
    messages = [Message(Role.SYSTEM, "You are a helpful assistant. Answer briefly.")]
    for j in range(n_messages - 2):
        i = j // 2
        if j % 2 == 0:
            messages.append(Message(Role.USER, f"Question {i}: what is {i} times {i + 7}, and why does it matter?"))
        else:
            messages.append(Message(Role.ASSISTANT, f"It is {i * (i + 7)}. It matters for the example number {i}."))
    return [*messages, Message(Role.USER, "And the last question: what was the first one?")]


def measure(engine: LlamaEngine, n_messages: int, repeat: int) -> dict[str, object]:
    chat_format = engine.chat_format
    info = engine.info
    assert chat_format is not None and info is not None
    messages = conversation(n_messages)
    reserve = reply_reserve(info.n_ctx, 256)
    renders = 0

    def render_tokens(selected: Sequence[Message]) -> list[int]:
        nonlocal renders
        renders += 1
        return engine.tokenize_prompt(chat_format.render_parts(selected), whole=chat_format.tokenizes_whole)

    results: dict[str, object] = {"messages": len(messages)}
    chosen = {}
    for name, search in (("before", fit_by_trying_every_cut), ("after", fit_to_context)):
        times = []
        for _ in range(repeat):
            engine.forget_cache()
            renders = 0
            started = time.perf_counter()
            tokens, dropped = search(messages, render_tokens, info.n_ctx, reserve)
            times.append(time.perf_counter() - started)
        chosen[name] = (tokens, dropped)
        results[f"{name}_s"] = round(statistics.median(times), 4)
        results[f"{name}_renders"] = renders
    assert chosen["before"] == chosen["after"], "the two searches chose different cuts"
    results["dropped"] = chosen["after"][1]
    results["prompt_tokens"] = len(chosen["after"][0])
    results["ratio"] = round(float(results["before_s"]) / max(float(results["after_s"]), 1e-9), 1)  # type: ignore[arg-type]
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="a GGUF model (default: the starter model, SmolLM2)")
    parser.add_argument("--tiny-gpt-oss", action="store_true", help="the tests' tiny gpt-oss model (harmony)")
    parser.add_argument("--messages", type=int, nargs="+", default=[101, 251, 501, 1001])
    parser.add_argument("--ctx", type=int, default=2048, help="context length (default 2048)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="moss-bench-") as folder:
        if args.tiny_gpt_oss:
            from tests.helpers.tiny_gpt_oss import write_tiny_gpt_oss

            model = write_tiny_gpt_oss(Path(folder) / "tiny-gpt-oss.gguf")
        else:
            model = args.model or starter_model_path()
        if model is None:
            print("No model: give --model PATH (the starter model is not installed).", file=sys.stderr)
            return 2
        engine = LlamaEngine()
        engine.load(model, LoadOptions(LoadParams(n_ctx=args.ctx, n_batch=128)))
        rows = [measure(engine, n, args.repeat) for n in args.messages]
        engine.unload()
    if args.json:
        print(json.dumps({"model": Path(model).name, "n_ctx": args.ctx, "rows": rows}))
        return 0
    print(f"{Path(model).name}, {args.ctx:,}-token context, median of {args.repeat}")
    print(f"{'messages':>8} {'dropped':>8} {'before s':>10} {'renders':>8} {'after s':>9} {'renders':>8} {'ratio':>7}")
    for row in rows:
        print(
            f"{row['messages']:>8} {row['dropped']:>8} {row['before_s']:>10} {row['before_renders']:>8} "
            f"{row['after_s']:>9} {row['after_renders']:>8} {row['ratio']:>7}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
