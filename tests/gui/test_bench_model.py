"""`moss bench --model`: the baseline loop, the engine's cache handling it relies on, the start-up probe, and the
whole command run briefly as a real process on SmolLM2.

No timing is asserted: the figures depend on the machine (the benchmark itself is run by hand, see
bench/README.md). What is checked is that every contender generates the same tokens, that the conversation
replay shows the KV cache reused, and that the JSON is complete with values in their ranges.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from app.core.types import FinishReason, GenerationParams, Message, Role
from app.devtools.bench_baseline import prompt_tokens, run_baseline
from app.devtools.bench_model import format_table
from app.engine.formats.base import PromptPart
from app.engine.llama_engine import LlamaEngine
from app.ui.app import STARTUP_PROBE_ENV

ROOT = Path(__file__).resolve().parents[2]
CHAT = (Message(Role.SYSTEM, "You are a helpful assistant."), Message(Role.USER, "Tell me a story about the sea."))
GREEDY = GenerationParams(max_tokens=12, temperature=0.0, repeat_penalty=1.0)
KEYS = {
    "model", "tokens", "repeat", "prompt_tokens", "baseline_tps", "engine_tps", "gui_tps", "engine_ratio",
    "gui_ratio", "generated_tokens", "same_output", "runs", "turns", "startup_s", "idle_rss_mb", "startup_runs",
    "machine",
}  # fmt: skip


def moss(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT,
        env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_baseline_generates_what_the_engine_generates(smollm2_engine: LlamaEngine) -> None:
    tokens = prompt_tokens(smollm2_engine, CHAT, GREEDY)
    baseline = run_baseline(smollm2_engine, tokens, GREEDY)
    reply = smollm2_engine.generate(CHAT, GREEDY)
    assert reply.finish_reason == FinishReason.LENGTH  # a story does not end within 12 tokens
    assert baseline.tokens == reply.stats.completion_tokens == 12
    assert baseline.text == reply.content and baseline.text.strip()
    assert reply.stats.prompt_tokens == len(tokens)
    # The baseline forgot the cache it left behind: the engine evaluated the whole prompt, not a stale prefix.
    assert reply.stats.prompt_tokens_evaluated == len(tokens)
    assert baseline.seconds > 0 and baseline.tokens_per_second > 0


def test_forget_cache_makes_the_next_reply_evaluate_everything(smollm2_engine: LlamaEngine) -> None:
    smollm2_engine.generate(CHAT, GREEDY)
    again = smollm2_engine.generate(CHAT, GREEDY)
    assert again.stats.prompt_tokens_evaluated == 1  # the same prompt: all but its last token came from the cache
    smollm2_engine.forget_cache()
    cold = smollm2_engine.generate(CHAT, GREEDY)
    assert cold.stats.prompt_tokens_evaluated == cold.stats.prompt_tokens


def test_remembered_prompt_parts_keep_markup_and_text_apart(tiny_gpt_oss: Path) -> None:
    engine = LlamaEngine()
    engine.load(tiny_gpt_oss)
    try:
        llm = engine.llama
        parts = [
            PromptPart("<|return|>", special=True),
            PromptPart("<|return|>", special=False),
            PromptPart("hi the", special=False),
        ]
        expected = [llm.tokenize(p.text.encode(), add_bos=False, special=p.special) for p in parts]
        assert len(expected[0]) == 1 < len(expected[1])  # the same text: one control token, or plain characters
        for _ in range(2):  # the second time from the remembered parts
            assert engine.tokenize_prompt(parts) == [token for ids in expected for token in ids]
        conversation = [*CHAT, Message(Role.ASSISTANT, "A wave."), Message(Role.USER, "More?")]
        rendered = engine.chat_format.render_parts(conversation) if engine.chat_format else []
        uncached = [t for p in rendered for t in llm.tokenize(p.text.encode(), add_bos=False, special=p.special)]
        assert engine.tokenize_prompt(rendered) == uncached
    finally:
        engine.unload()


def test_startup_probe_reports_the_window_shown_and_quits(tmp_path: Path) -> None:
    started = time.time()
    result = moss("--data-dir", str(tmp_path), env={STARTUP_PROBE_ENV: "1"}, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert started < report["shown_at"] < time.time()
    assert 20 < report["rss_mb"] < 4000
    log = (tmp_path / "logs" / "moss.log").read_text(encoding="utf-8")
    assert "Moss" in log and not re.search(r"loaded .* in [\d.]+ s with", log)  # no model was loaded


def test_bench_needs_a_model_or_ui(tmp_path: Path) -> None:
    bare = moss("--data-dir", str(tmp_path), "bench")
    assert bare.returncode == 2 and "moss bench --model PATH" in bare.stderr
    both = moss("--data-dir", str(tmp_path), "bench", "--model", "x.gguf", "ui")
    assert both.returncode == 2 and "Leave out --model" in both.stderr
    missing = moss("--data-dir", str(tmp_path), "bench", "--model", str(tmp_path / "none.gguf"))
    assert missing.returncode == 2 and "There is no model file" in missing.stderr


def test_bench_model_json(tmp_path: Path, smollm2: Path) -> None:
    result = moss(
        "--data-dir", str(tmp_path), "bench", "--model", str(smollm2), "--json",
        "--tokens", "8", "--repeat", "1", "--turns", "3",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # Qt would have warned here ("moss: Qt warned: ...")
    figures = json.loads(result.stdout)
    assert set(figures) == KEYS
    assert figures["model"] == str(smollm2.resolve())
    assert (figures["tokens"], figures["repeat"]) == (8, 1)
    assert figures["same_output"] is True  # greedy: the three contenders generated the same text
    assert 1 <= figures["generated_tokens"] <= 8 and figures["prompt_tokens"] > 10
    for name in ("baseline", "engine", "gui"):
        assert figures[f"{name}_tps"] > 0 and len(figures["runs"][name]) == 1
    assert figures["engine_ratio"] > 0 and figures["gui_ratio"] > 0
    turns = figures["turns"]
    assert len(turns) == 3
    assert turns[0]["evaluated_tokens"] == turns[0]["prompt_tokens"]  # from an empty cache
    for before, turn in itertools.pairwise(turns):
        assert turn["prompt_tokens"] > before["prompt_tokens"]
        # Only what is new since the last prompt (the reply's end, the question, the markup) is evaluated.
        assert 0 < turn["evaluated_tokens"] <= turn["prompt_tokens"] - before["prompt_tokens"] + 1
    assert all(turn["ttft_s"] > 0 and turn["completion_tokens"] > 0 for turn in turns)
    assert 0 < figures["startup_s"] < 60 and 20 < figures["idle_rss_mb"] < 4000
    assert len(figures["startup_runs"]) == 1
    machine = figures["machine"]
    assert machine["cpus"] >= 1 and machine["n_threads"] >= 1 and machine["llama_cpp_python"]
    table = format_table(figures)
    assert "of baseline" in table and "start-up" in table and len(table.splitlines()) == 6 + 1 + 3
