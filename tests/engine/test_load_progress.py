"""Loading on real llama.cpp: progress from its callback, cancelling a load, and switching models cleanly.

Whether a model is still in memory is read from the process's own memory map (llama.cpp maps the GGUF while
the model lives), so "freed" means what the operating system sees, not what a Python attribute says.
"""

from __future__ import annotations

import itertools
import logging
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from app.core.types import GenerationParams, LoadOptions, Message, ModelInfo, Role
from app.engine.llama_engine import LlamaEngine
from app.engine.protocol import LoadCancelled, ProgressCallback
from app.qt.engine_worker import EngineController, ProgressThrottle
from tests.conftest import TEST_LOAD

pytestmark = pytest.mark.model

MAPS = Path("/proc/self/maps")
needs_maps = pytest.mark.skipif(not MAPS.exists(), reason="reads the memory map from /proc (Linux)")


def mapped(path: Path) -> bool:
    """Whether ``path`` is mapped into this process (llama.cpp keeps a loaded model's file mapped)."""
    return str(path.resolve()) in MAPS.read_text()


def test_progress_rises_from_0_to_1_in_many_steps(smollm2: Path) -> None:
    engine = LlamaEngine()
    seen: list[float] = []
    try:
        engine.load(smollm2, LoadOptions(TEST_LOAD), on_progress=seen.append)
    finally:
        engine.unload()
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert all(a < b for a, b in itertools.pairwise(seen)), "progress never goes back or repeats"
    assert len(seen) > 10  # llama.cpp reports per tensor, not just start and end
    assert max(seen[:-1]) < 1.0  # 1.0 only once the model is ready


@needs_maps
def test_cancelling_a_load_aborts_it_and_frees_everything(smollm2: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine = LlamaEngine()
    cancel = threading.Event()
    seen: list[tuple[float, bool]] = []

    def on_progress(fraction: float) -> None:
        seen.append((fraction, mapped(smollm2)))
        if fraction > 0:
            cancel.set()  # as the controller does when a newer load replaces this one

    with caplog.at_level(logging.INFO, logger="llama.cpp"), pytest.raises(LoadCancelled):
        engine.load(smollm2, LoadOptions(TEST_LOAD), cancel=cancel, on_progress=on_progress)
    assert "cancelled model load" in caplog.text, "llama.cpp itself stopped reading the weights"
    assert seen[-1][1], "the weights were being read when the load was cancelled"
    assert max(f for f, _ in seen) < 0.99, "llama.cpp stopped at the next tensor, not at the end"
    assert not mapped(smollm2), "nothing of the aborted load stays mapped"
    assert engine.info is None
    # The engine is usable afterwards.
    engine.load(smollm2, LoadOptions(TEST_LOAD))
    assert engine.info is not None
    engine.unload()


def test_a_load_cancelled_before_it_starts_reads_nothing(smollm2: Path) -> None:
    engine = LlamaEngine()
    cancel = threading.Event()
    cancel.set()
    seen: list[float] = []
    with pytest.raises(LoadCancelled):
        engine.load(smollm2, LoadOptions(TEST_LOAD), cancel=cancel, on_progress=seen.append)
    assert seen == [0.0]
    assert engine.info is None


@needs_maps
def test_switching_frees_the_old_model_before_the_new_one_loads(smollm2: Path, tiny_gpt_oss: Path) -> None:
    engine = LlamaEngine()
    engine.load(smollm2, LoadOptions(TEST_LOAD))
    old = weakref.ref(engine._llm)
    assert mapped(smollm2)
    during_new_load: list[tuple[bool, bool]] = []

    def on_progress(fraction: float) -> None:
        if 0 < fraction < 1:
            during_new_load.append((mapped(smollm2), old() is not None))

    try:
        engine.load(tiny_gpt_oss, LoadOptions(TEST_LOAD), on_progress=on_progress)
        assert during_new_load, "the new model's weights were reported"
        assert not any(smollm2_mapped for smollm2_mapped, _ in during_new_load), "the old model was unmapped first"
        assert not any(alive for _, alive in during_new_load), "the old Llama (and its logits buffers) was gone"
        assert mapped(tiny_gpt_oss)
        # And back: the first model loads again and answers.
        engine.load(smollm2, LoadOptions(TEST_LOAD))
        assert not mapped(tiny_gpt_oss)
        reply = engine.generate([Message(Role.USER, "Hi!")], GenerationParams(max_tokens=4, temperature=0.0))
        assert reply.stats.completion_tokens > 0
    finally:
        engine.unload()
    assert not mapped(smollm2)


def test_throttle_sends_whole_percents_at_most_every_interval() -> None:
    now = [0.0]
    throttle = ProgressThrottle(interval=0.05, clock=lambda: now[0])
    assert throttle.percent(0.0) == 0  # the start always goes
    assert throttle.percent(0.001) is None  # same whole percent
    now[0] = 0.01
    assert throttle.percent(0.30) is None  # too soon after the last one
    now[0] = 0.06
    assert throttle.percent(0.305) == 30
    now[0] = 0.07
    assert throttle.percent(0.5) is None
    assert throttle.percent(1.0) == 100  # the end always goes, however soon
    assert throttle.percent(1.0) is None


# -- the model thread ---------------------------------------------------------------------------------------


class GatedEngine(LlamaEngine):
    """A real engine whose first load of ``hold`` pauses inside llama.cpp's progress callback until that load is
    cancelled: a slow load, made exact without timers. Records how each load ended."""

    def __init__(self, hold: Path) -> None:
        super().__init__()
        self.hold = str(hold)
        self.holding = threading.Event()
        self.outcomes: list[tuple[str, str]] = []

    def load(self, path: str | Path, options: LoadOptions = LoadOptions(), **kwargs: Any) -> ModelInfo:
        cancel: threading.Event = kwargs["cancel"]
        report: ProgressCallback = kwargs["on_progress"]
        gate = str(path) == self.hold and not self.holding.is_set()

        def on_progress(fraction: float) -> None:
            report(fraction)
            if gate and 0 < fraction < 1 and not self.holding.is_set():
                self.holding.set()
                assert cancel.wait(30), "the test never replaced the held load"

        try:
            info = super().load(path, options, **{**kwargs, "on_progress": on_progress})
        except LoadCancelled:
            self.outcomes.append((str(path), "cancelled"))
            raise
        self.outcomes.append((str(path), "loaded"))
        return info


@pytest.fixture
def gated(smollm2: Path) -> GatedEngine:
    return GatedEngine(smollm2)


@pytest.fixture
def controller(gated: GatedEngine) -> Iterator[EngineController]:
    controller = EngineController(engine=gated)
    yield controller
    controller.shutdown()


def test_progress_signal_arrives_on_the_gui_thread(
    qtbot: QtBot, controller: EngineController, gated: GatedEngine, tiny_gpt_oss: Path
) -> None:
    seen: list[tuple[str, int, int | None, bool]] = []
    controller.load_progress.connect(
        lambda path, percent: seen.append(
            (path, percent, controller.load_percent, threading.current_thread() is threading.main_thread())
        )
    )
    with qtbot.waitSignal(controller.model_loaded, timeout=30_000):
        controller.load_model(str(tiny_gpt_oss), LoadOptions(TEST_LOAD))
        assert controller.load_percent == 0
    percents = [percent for _, percent, _, _ in seen]
    assert percents[0] == 0 and percents[-1] == 100
    assert percents == sorted(set(percents)), "whole percents, rising, each once"
    assert all(path == str(tiny_gpt_oss) for path, *_ in seen)
    assert all(on_gui for *_, on_gui in seen)
    assert all(percent == shown for _, percent, shown, _ in seen), "load_percent follows the signal"
    assert controller.load_percent is None and controller.model is not None


def test_overrides_reach_llama_cpp_through_the_controller(
    qtbot: QtBot, controller: EngineController, gated: GatedEngine, tiny_gpt_oss: Path
) -> None:
    from app.engine import backend

    with qtbot.waitSignal(controller.model_loaded, timeout=30_000) as loaded:
        controller.load_model(str(tiny_gpt_oss), LoadOptions(wanted_ctx=2048, n_threads=1, n_batch=96))
    info = loaded.args[0]
    assert (info.load_params.n_threads, info.load_params.n_batch) == (1, 96)
    assert info.plan[-1] == "As you set it: 1 CPU thread and prompt batches of 96 tokens."
    llama_cpp = backend.llama()
    ctx = gated._llm.ctx  # read back from llama.cpp's own context
    assert llama_cpp.llama_n_batch(ctx) == 96
    assert llama_cpp.llama_n_threads(ctx) == 1
    assert llama_cpp.llama_n_threads_batch(ctx) == 1


def test_a_newer_load_cancels_the_one_under_way(
    qtbot: QtBot, controller: EngineController, gated: GatedEngine, smollm2: Path, tiny_gpt_oss: Path
) -> None:
    loaded: list[str] = []
    failed: list[tuple[str, str]] = []
    progress_paths: list[str] = []
    controller.model_loaded.connect(lambda info: loaded.append(info.path))
    controller.model_load_failed.connect(lambda path, message: failed.append((path, message)))
    controller.load_model(str(smollm2), LoadOptions(TEST_LOAD))
    assert gated.holding.wait(30), "the first load reached its weights"
    # The first load's own signals are still queued (this thread has not run its event loop since): they
    # arrive after the second request and must be told apart from its progress.
    controller.load_progress.connect(lambda path, _percent: progress_paths.append(path))
    with qtbot.waitSignal(controller.model_loaded, timeout=30_000):
        controller.load_model(str(tiny_gpt_oss), LoadOptions(TEST_LOAD))
        assert controller.load_percent == 0
    assert gated.outcomes == [(str(smollm2), "cancelled"), (str(tiny_gpt_oss), "loaded")]
    assert loaded == [str(tiny_gpt_oss)]
    assert failed == [], "a replaced load is not reported as a failure"
    assert set(progress_paths) == {str(tiny_gpt_oss)}, "no stale progress from the replaced load"
    assert controller.model is not None and controller.model.path == str(tiny_gpt_oss)
    assert not controller.busy


def test_load_switch_and_switch_back(
    qtbot: QtBot, controller: EngineController, gated: GatedEngine, smollm2: Path, tiny_gpt_oss: Path
) -> None:
    gated.holding.set()  # no pause in this test
    for path in (smollm2, tiny_gpt_oss, smollm2):
        with qtbot.waitSignal(controller.model_loaded, timeout=30_000) as loaded:
            controller.load_model(str(path), LoadOptions(TEST_LOAD))
        assert loaded.args[0].path == str(path)
    assert [path for path, _ in gated.outcomes] == [str(smollm2), str(tiny_gpt_oss), str(smollm2)]
    with qtbot.waitSignal(controller.reply_finished, timeout=30_000) as finished:
        controller.send((Message(Role.USER, "Hi!"),), GenerationParams(max_tokens=4, temperature=0.0))
    assert finished.args[1].stats.completion_tokens > 0


def test_rapid_requests_end_with_the_last_model(
    qtbot: QtBot, controller: EngineController, gated: GatedEngine, smollm2: Path, tiny_gpt_oss: Path
) -> None:
    gated.holding.set()
    loaded: list[str] = []
    controller.model_loaded.connect(lambda info: loaded.append(info.path))
    controller.load_model(str(smollm2), LoadOptions(TEST_LOAD))
    controller.load_model(str(tiny_gpt_oss), LoadOptions(TEST_LOAD))
    with qtbot.waitSignal(controller.model_loaded, timeout=30_000):
        controller.load_model(str(smollm2), LoadOptions(TEST_LOAD))
    # The worker's signals arrive in order: anything from the replaced loads came before this.
    assert loaded == [str(smollm2)], "only the last request is reported"
    assert gated.outcomes[-1] == (str(smollm2), "loaded")
    assert controller.model is not None and controller.model.path == str(smollm2)
    assert controller.load_percent is None and not controller.busy


def test_unloading_during_a_load_cancels_it(
    qtbot: QtBot, controller: EngineController, gated: GatedEngine, smollm2: Path
) -> None:
    failed: list[str] = []
    controller.model_load_failed.connect(lambda path, _message: failed.append(path))
    controller.load_model(str(smollm2), LoadOptions(TEST_LOAD))
    assert gated.holding.wait(30)
    with qtbot.waitSignal(controller.model_unloaded, timeout=30_000):
        controller.unload_model()
    assert gated.outcomes == [(str(smollm2), "cancelled")]
    assert failed == [] and controller.model is None and controller.load_percent is None
