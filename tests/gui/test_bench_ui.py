"""The synthetic engine (alone and on the real model thread) and `moss bench ui --json`, run as a real process.

No timing is asserted: the figures depend on the machine. What is checked is that the bench runs the real
window to the end of a real stream and reports every figure, each in its range.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.core.errors import UserError
from app.core.types import Delta, FinishReason, GenerationParams, LoadOptions, Message, Role
from app.devtools.bench_ui import format_table, percentile
from app.devtools.synthetic import SyntheticEngine, SyntheticReply, markdown_reply, split_tokens
from app.engine.formats.harmony import GPT_OSS_SAMPLING
from app.engine.protocol import LoadCancelled
from app.qt.engine_worker import EngineController

ROOT = Path(__file__).resolve().parents[2]
REPLY = SyntheticReply("## Answer\n\nUse `pathlib`:\n\n```python\nprint(Path.home())\n```\n", "The user asks. Answer.")
QUESTION = (Message(Role.USER, "Where is my home folder?"),)


def test_split_tokens_gives_the_text_back_in_word_pieces() -> None:
    text = markdown_reply(400).content
    pieces = split_tokens(text)
    assert "".join(pieces) == text
    assert 2.0 < len(text) / len(pieces) < 6.0  # about four characters a token, as a real tokenizer


def test_markdown_reply_has_the_requested_size_and_the_hard_parts() -> None:
    reply = markdown_reply(1500)
    assert len(split_tokens(reply.reasoning)) + len(split_tokens(reply.content)) == 1500
    assert reply.reasoning
    assert reply.content.count("```") >= 6  # several code blocks
    assert "|" in reply.content and "\n- " in reply.content and "#" in reply.content


def test_loads_without_a_file_and_reports_progress() -> None:
    engine = SyntheticEngine(REPLY)
    progress: list[float] = []
    info = engine.load("/nowhere/gpt-oss-20b-mxfp4.gguf", on_progress=progress.append)
    assert info.name == "gpt-oss-20b" and info.chat_format.startswith("harmony")
    assert info.default_params == GPT_OSS_SAMPLING  # the one recommended sampling, the harmony format's
    assert info.supports_reasoning_effort and info.n_ctx == 32_768 and info.plan
    assert info.path == str(Path("/nowhere/gpt-oss-20b-mxfp4.gguf"))
    assert progress[0] == 0.0 and progress[-1] == 1.0 and progress == sorted(progress)
    engine.unload()
    assert engine.info is None
    info = engine.load("gpt-oss-20b-mxfp4.gguf", LoadOptions(wanted_ctx=8192, n_batch=256))
    assert (info.n_ctx, info.load_params.n_ctx, info.load_params.n_batch) == (8192, 8192, 256)
    with pytest.raises(UserError, match="threads must be at least 1"):  # refused as the real engine refuses it
        engine.load("gpt-oss-20b-mxfp4.gguf", LoadOptions(n_threads=0))
    assert engine.info == info  # and the model stays
    replaced = threading.Event()
    replaced.set()
    with pytest.raises(LoadCancelled):
        engine.load("gpt-oss-20b-mxfp4.gguf", cancel=replaced)


def test_streams_reasoning_then_content_the_same_way_every_time() -> None:
    engine = SyntheticEngine(REPLY, tokens_per_second=0, time_to_first_token_s=0)
    engine.load("gpt-oss-20b-mxfp4.gguf")
    runs = []
    for _ in range(2):
        deltas: list[Delta] = []
        result = engine.generate(QUESTION, GenerationParams(), on_delta=deltas.append)
        runs.append(deltas)
        kinds = [d.kind for d in deltas]
        assert kinds == sorted(kinds, key=lambda kind: kind != "reasoning")  # reasoning first, then content
        assert "".join(d.text for d in deltas if d.kind == "content") == REPLY.content == result.content
        assert result.reasoning == REPLY.reasoning
        assert result.finish_reason == FinishReason.STOP
        assert result.stats.completion_tokens == len(deltas)
    assert runs[0] == runs[1]
    # The second turn finds the first in the "KV cache": only what is new is evaluated.
    follow_up = (*QUESTION, Message(Role.ASSISTANT, REPLY.content), Message(Role.USER, "Thanks!"))
    result = engine.generate(follow_up)
    assert 0 < result.stats.prompt_tokens_evaluated < result.stats.prompt_tokens


def test_stops_within_one_token_of_cancel_and_at_the_length_limit() -> None:
    engine = SyntheticEngine(REPLY, tokens_per_second=0, time_to_first_token_s=0)
    engine.load("gpt-oss-20b-mxfp4.gguf")
    cancel = threading.Event()
    seen: list[Delta] = []

    def on_delta(delta: Delta) -> None:
        seen.append(delta)
        if len(seen) == 5:
            cancel.set()

    stopped = engine.generate(QUESTION, cancel=cancel, on_delta=on_delta)
    assert stopped.finish_reason == FinishReason.CANCELLED
    assert stopped.stats.completion_tokens == len(seen) == 5
    limited = engine.generate(QUESTION, GenerationParams(max_tokens=7))
    assert limited.finish_reason == FinishReason.LENGTH and limited.stats.completion_tokens == 7


def test_drives_the_real_model_thread(qtbot: QtBot) -> None:
    engine = SyntheticEngine(REPLY, tokens_per_second=500, time_to_first_token_s=0)
    controller = EngineController(engine=engine)
    try:
        with qtbot.waitSignal(controller.model_loaded, timeout=10_000):
            controller.load_model("gpt-oss-20b-mxfp4.gguf")
        chunks: dict[str, str] = {"content": "", "reasoning": ""}

        def on_chunk(_request: str, kind: str, text: str) -> None:
            chunks[kind] += text

        controller.reply_chunk.connect(on_chunk)
        with qtbot.waitSignal(controller.reply_finished, timeout=10_000) as finished:
            controller.send(QUESTION, GenerationParams())
        result = finished.args[1]
        assert result.content == chunks["content"] == REPLY.content
        assert chunks["reasoning"] == REPLY.reasoning
        assert result.stats.tokens_per_second is not None and result.stats.tokens_per_second > 0
    finally:
        controller.shutdown()


def test_pause_holds_the_stream_until_resumed() -> None:
    engine = SyntheticEngine(REPLY, tokens_per_second=0, time_to_first_token_s=0, pause_after=3)
    engine.load("gpt-oss-20b-mxfp4.gguf")
    seen: list[Delta] = []
    worker = threading.Thread(target=lambda: engine.generate(QUESTION, on_delta=seen.append))
    worker.start()
    assert engine.paused.wait(5)
    assert "".join(d.text for d in seen) == "".join(split_tokens(REPLY.reasoning)[:3])  # and an empty flush
    engine.resume.set()
    worker.join(5)
    assert not worker.is_alive()
    assert "".join(d.text for d in seen if d.kind == "content") == REPLY.content


def test_percentile_and_table() -> None:
    assert percentile([], 0.99) == 0.0
    assert percentile([float(n) for n in range(1, 101)], 0.99) == 99.0
    figures = {
        "max_stall_ms": 120.0, "p99_stall_ms": 12.5, "frames": 140, "tokens": 1500, "tokens_per_second": 249.7,
        "messages": 500, "duration_s": 6.1, "heartbeat_ms": 4, "send_ms": 60.0,
        "max_busy_ms": 80.0, "p99_busy_ms": 10.0, "gui_cpu_share": 0.5,
    }  # fmt: skip
    table = format_table(figures)
    assert "MISSED" in table.splitlines()[1] and "ok" in table.splitlines()[2]
    assert "500-message chat" in table


def test_bench_ui_json(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "--data-dir", str(tmp_path), "bench", "ui", "--json",
         "--messages", "12", "--tokens", "160", "--tokens-per-second", "400"],
        cwd=ROOT, env=dict(os.environ, PYTHONUNBUFFERED="1"), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # Qt would have warned here ("moss: Qt warned: ...")
    figures = json.loads(result.stdout)
    assert set(figures) == {
        "max_stall_ms", "p99_stall_ms", "frames", "tokens", "tokens_per_second", "messages", "duration_s",
        "heartbeat_ms", "send_ms", "max_busy_ms", "p99_busy_ms", "gui_cpu_share",
    }  # fmt: skip
    assert figures["tokens"] == 160 and figures["messages"] == 12
    assert 0 <= figures["p99_stall_ms"] <= figures["max_stall_ms"]
    assert 0 <= figures["p99_busy_ms"] <= figures["max_busy_ms"] and 0 < figures["gui_cpu_share"] <= 1.0
    assert figures["frames"] > 0  # the chat view painted while the reply streamed
    assert figures["tokens_per_second"] > 0 and figures["duration_s"] > 0 and figures["send_ms"] > 0
