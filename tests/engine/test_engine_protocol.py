"""The Engine protocol, checked on every engine Moss has: what the model thread, the CLI and the benches rely on.

Each test runs on llama.cpp (the tiny gpt-oss model, its replies scripted by forcing tokens: tests/helpers/scripted.py)
and on the synthetic engine (app.devtools.synthetic), through the protocol's methods only.
"""

from __future__ import annotations

import datetime as dt
import inspect
import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.core.errors import UserError
from app.core.types import (
    Delta,
    DeltaKind,
    FinishReason,
    GenerationParams,
    LoadOptions,
    LoadParams,
    Message,
    ReasoningEffort,
    Role,
)
from app.devtools.synthetic import SyntheticEngine, SyntheticReply
from app.engine.formats.harmony import GPT_OSS_SAMPLING
from app.engine.llama_engine import LlamaEngine
from app.engine.protocol import Engine, LoadCancelled
from tests.conftest import TEST_LOAD
from tests.helpers.scripted import ScriptedEngine, answer

pytestmark = pytest.mark.model

QUESTION = [Message(Role.SYSTEM, "Answer briefly."), Message(Role.USER, "What is the capital of France?")]
DAY = dt.date(2025, 8, 5)


@dataclass
class Subject:
    """An engine under test, where it loads from, and how to say what its next reply will be."""

    engine: Engine
    path: str
    say: Callable[[str, str], None]  # (answer, thinking)


@pytest.fixture(params=["llama.cpp", "synthetic"])
def subject(request: pytest.FixtureRequest, tiny_gpt_oss: Path) -> Iterator[Subject]:
    if request.param == "llama.cpp":
        scripted = ScriptedEngine()
        yield Subject(
            scripted, str(tiny_gpt_oss), lambda text, thinking: scripted.script.append(answer(text, thinking))
        )
        scripted.unload()
    else:
        synthetic = SyntheticEngine(tokens_per_second=0, time_to_first_token_s=0)
        path = "/nowhere/gpt-oss-20b-mxfp4.gguf"
        yield Subject(synthetic, path, lambda text, thinking: synthetic.replies.append(SyntheticReply(text, thinking)))
        synthetic.unload()


@pytest.mark.parametrize("engine_class", [LlamaEngine, SyntheticEngine])
def test_every_engine_has_the_protocols_methods_with_its_parameters(engine_class: type) -> None:
    for name in ("load", "unload", "render_prompt", "generate"):
        wanted = inspect.signature(getattr(Engine, name)).parameters
        got = inspect.signature(getattr(engine_class, name)).parameters
        for parameter in wanted.values():
            assert parameter.name in got, f"{engine_class.__name__}.{name} lacks {parameter.name}"
            mine = got[parameter.name]
            assert (mine.kind, mine.default) == (parameter.kind, parameter.default), f"{name}({parameter.name})"
        extra = [p for p in got.values() if p.name not in wanted]
        assert all(p.default is not inspect.Parameter.empty for p in extra), f"{name}: an engine's own keywords"
        assert list(got)[: len(wanted)] == list(wanted), f"{name}: the protocol's parameters come first, in order"
    assert isinstance(engine_class.info, property)


def test_load_reports_progress_to_the_end_and_describes_the_model(subject: Subject) -> None:
    engine = subject.engine
    assert isinstance(engine, Engine)
    assert engine.info is None
    progress: list[float] = []
    info = engine.load(subject.path, LoadOptions(TEST_LOAD), on_progress=progress.append)
    assert progress[0] == 0.0 and progress[-1] == 1.0
    assert all(a < b for a, b in itertools.pairwise(progress)), "never back, never the same twice"
    assert engine.info == info
    assert info.path == str(Path(subject.path)) and info.architecture == "gpt-oss"
    assert 0 < info.n_ctx <= TEST_LOAD.n_ctx
    assert info.chat_format.startswith("harmony") and info.supports_reasoning_effort
    assert info.default_params == GPT_OSS_SAMPLING
    assert not info.supports_tools  # no engine offers tools yet
    engine.unload()
    assert engine.info is None
    with pytest.raises(UserError, match="No model is loaded"):
        engine.generate(QUESTION)


def test_a_cancelled_load_raises_and_leaves_nothing_loaded(subject: Subject) -> None:
    engine = subject.engine
    engine.load(subject.path, LoadOptions(TEST_LOAD))
    cancel = threading.Event()

    def on_progress(fraction: float) -> None:
        if fraction > 0:
            cancel.set()  # as the model thread does when a newer load replaces this one

    with pytest.raises(LoadCancelled):
        engine.load(subject.path, LoadOptions(TEST_LOAD), cancel=cancel, on_progress=on_progress)
    assert engine.info is None  # neither the cancelled model nor the one before
    with pytest.raises(UserError, match="No model is loaded"):
        engine.render_prompt(QUESTION)
    assert engine.load(subject.path, LoadOptions(TEST_LOAD)) == engine.info  # and the next load works


def test_a_bad_run_setting_is_refused_and_keeps_the_model(subject: Subject) -> None:
    engine = subject.engine
    info = engine.load(subject.path, LoadOptions(TEST_LOAD))
    with pytest.raises(UserError, match="batch size must be at least 1"):
        engine.load(subject.path, LoadOptions(TEST_LOAD, n_batch=0))
    assert engine.info == info


def test_render_prompt_shows_the_conversation_the_date_and_the_effort(subject: Subject) -> None:
    engine = subject.engine
    engine.load(subject.path, LoadOptions(TEST_LOAD))
    low = engine.render_prompt(QUESTION, today=DAY, reasoning_effort=ReasoningEffort.LOW)
    high = engine.render_prompt(QUESTION, today=DAY, reasoning_effort=ReasoningEffort.HIGH)
    assert all(m.content in low for m in QUESTION)
    assert DAY.isoformat() in low
    assert low != high  # the effort reaches the prompt (info.supports_reasoning_effort)


def test_generate_streams_typed_deltas_that_make_up_the_result(subject: Subject) -> None:
    engine = subject.engine
    engine.load(subject.path, LoadOptions(TEST_LOAD))
    subject.say("Paris is the capital of France.", "The user asks about France.")
    deltas: list[Delta] = []
    result = engine.generate(QUESTION, GenerationParams(max_tokens=200), on_delta=deltas.append)
    assert all(isinstance(d, Delta) and d.kind in DeltaKind for d in deltas)
    kinds = [d.kind for d in deltas if d.text]
    assert kinds == sorted(kinds, key=lambda kind: kind != DeltaKind.REASONING)  # thinking, then the answer
    assert result.content == "".join(d.text for d in deltas if d.kind == DeltaKind.CONTENT)
    assert result.reasoning == "".join(d.text for d in deltas if d.kind == DeltaKind.REASONING)
    assert (result.content, result.reasoning) == ("Paris is the capital of France.", "The user asks about France.")
    assert result.finish_reason == FinishReason.STOP and result.tool_calls == ()
    stats = result.stats
    assert stats.prompt_tokens > 0 and 0 < stats.prompt_tokens_evaluated <= stats.prompt_tokens
    assert stats.completion_tokens >= len(kinds) > 0 and stats.time_to_first_token_s is not None


def test_cancel_during_generate_stops_within_a_token(subject: Subject) -> None:
    engine = subject.engine
    engine.load(subject.path, LoadOptions(TEST_LOAD))
    subject.say("word " * 60, "")
    cancel = threading.Event()
    seen: list[Delta] = []
    after_cancel: list[Delta] = []

    def on_delta(delta: Delta) -> None:
        (after_cancel if cancel.is_set() else seen).append(delta)
        if len([d for d in seen if d.text]) == 3:
            cancel.set()

    result = engine.generate(QUESTION, GenerationParams(max_tokens=200), cancel=cancel, on_delta=on_delta)
    assert result.finish_reason == FinishReason.CANCELLED
    assert not [d for d in after_cancel if d.text], "nothing is written after the stop"
    assert result.content == "".join(d.text for d in seen)
    assert result.content and ("word " * 60).startswith(result.content) and len(result.content) < 60
    assert engine.info is not None  # the model stays, ready for the next reply


def test_a_conversation_longer_than_the_context_drops_its_oldest_exchanges(subject: Subject) -> None:
    engine = subject.engine
    info = engine.load(subject.path, LoadOptions(LoadParams(n_ctx=512, n_batch=64)))
    history = [Message(Role.SYSTEM, "Be brief.")]
    for turn in range(40):
        history += [Message(Role.USER, f"Tell me fact {turn}."), Message(Role.ASSISTANT, f"Fact {turn} is this.")]
    history.append(Message(Role.USER, "And the last one?"))
    subject.say("Done.", "")
    result = engine.generate(history, GenerationParams(max_tokens=16))
    assert result.content == "Done."
    assert result.dropped_messages > 0 and result.dropped_messages % 2 == 0  # whole exchanges, never the system
    assert result.stats.prompt_tokens + 16 <= info.n_ctx
