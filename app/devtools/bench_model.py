"""``moss bench --model PATH``: what Moss adds to llama.cpp's own speed, whether it reuses the KV cache across
turns, how fast it starts and how much memory it holds idle.

Three contenders generate from the same chat, in one process, on one loaded ``Llama`` object, with the same
prompt tokens, token limit and sampling (greedy, temperature 0, so each produces the same tokens; the seed is
llama.cpp's default for all three, and greedy sampling does not use it):

- ``baseline``: a bare llama-cpp-python loop (``app.devtools.bench_baseline``), on the GUI thread while the model
  thread is idle;
- ``engine``: ``LlamaEngine.generate`` on the model thread through ``EngineController`` (chat format, streaming
  parser, coalesced chunks), from ``send`` to ``reply_finished`` arriving on the GUI thread;
- ``gui``: the same through the real main window offscreen, ``MainWindow.send_message`` into a new chat whose
  reply is rendered and painted as it streams, to the window's ``reply_done``.

Tokens per second is the same for all three: the tokens generated divided by the wall time from the request to
the last token, prompt evaluation included; every run starts from an empty KV cache. After a warm-up run of
each, the contenders alternate (baseline, engine, gui, baseline, ...) ``repeat`` times; the speeds reported are
the medians, and the ratios those of the medians. Then a conversation of ``turns`` questions is replayed
through the engine, recording for each turn how many prompt tokens llama.cpp actually evaluated. Start-up and
idle memory are measured first, in child processes of ``moss`` with ``MOSS_STARTUP_PROBE`` set (see
``app.ui.app``), before this process loads a model.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
from PySide6.QtWidgets import QApplication

from app.core.errors import UserError
from app.core.settings import Settings, generation_params
from app.core.types import GenerationParams, GenerationResult, Message, ReasoningEffort, Role
from app.devtools.bench_baseline import prompt_tokens, run_baseline
from app.devtools.offscreen import WINDOW_SIZE, pause, wait_for, wait_until
from app.engine import backend
from app.engine.llama_engine import LlamaEngine
from app.platform.paths import AppPaths
from app.qt.engine_worker import EngineController
from app.ui.app import STARTUP_PROBE_ENV, build_main_window, create_application
from app.ui.main_window import MainWindow
from app.ui.theme import apply_theme

ENGINE_TARGET = 0.97
GUI_TARGET = 0.95
STARTUP_TARGET_S = 1.5
IDLE_RSS_TARGET_MB = 200.0
CONTENDERS = ("baseline", "engine", "gui")
PROMPT = (
    "Write a long story about a lighthouse keeper who finds a message in a bottle. "
    "Describe each day of her week in detail."
)
QUESTIONS = (
    "What is the capital of France?",
    "And what river runs through it?",
    "Name three famous museums there.",
    "Which one holds the Mona Lisa?",
    "Who painted it?",
    "When did he live?",
    "What else did he invent or design?",
    "Which of those inventions was the most practical?",
    "Could it be built today?",
    "Thanks. Summarise our conversation in one sentence.",
)
REPLY_TIMEOUT_MS = 600_000

Progress = Callable[[str], None]


@dataclasses.dataclass
class _Bench:
    """The window and the model thread over a throwaway data folder, with the model loaded."""

    folder: Path
    engine: LlamaEngine
    controller: EngineController
    window: MainWindow
    messages: tuple[Message, ...]
    params: GenerationParams

    def close(self) -> None:
        self.window.close()
        self.controller.shutdown()
        self.window.store.close()
        self.window.deleteLater()
        QApplication.processEvents()
        shutil.rmtree(self.folder, ignore_errors=True)


def run_model_bench(
    model: str, *, tokens: int = 128, repeat: int = 10, turns: int = 10, progress: Progress | None = None
) -> dict[str, Any]:
    """Run the whole benchmark on the GGUF at ``model``; returns the figures (see the module doc)."""
    say = progress or (lambda _text: None)
    if not Path(model).is_file():
        raise UserError(f"There is no model file at {model}. Give the path of a .gguf file.")
    say("measuring start-up in a child process")
    startup = [measure_startup() for _ in range(max(1, min(repeat, 3)))]
    bench = _open(model, tokens, say)
    try:
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in CONTENDERS}
        say("warm-up")
        for name in CONTENDERS:
            _run(bench, name)
        for number in range(repeat):
            say(f"repetition {number + 1} of {repeat}")
            for name in CONTENDERS:
                runs[name].append(_run(bench, name))
        say(f"replaying a {turns}-turn conversation")
        turn_items = replay_turns(bench, turns)
        machine = machine_info(bench.engine)
        prompt_size = len(prompt_tokens(bench.engine, bench.messages, bench.params))
    finally:
        bench.close()
    tps = {name: round(statistics.median(run["tps"] for run in runs[name]), 2) for name in CONTENDERS}
    baseline = tps["baseline"]
    ratios = {name: round(tps[name] / baseline, 3) if baseline else 0.0 for name in ("engine", "gui")}
    texts = {run["text"] for name in CONTENDERS for run in runs[name]}
    counts = {run["tokens"] for name in CONTENDERS for run in runs[name]}
    return {
        "model": str(Path(model).resolve()),
        "tokens": tokens,
        "repeat": repeat,
        "prompt_tokens": prompt_size,
        "baseline_tps": baseline,
        "engine_tps": tps["engine"],
        "gui_tps": tps["gui"],
        "engine_ratio": ratios["engine"],
        "gui_ratio": ratios["gui"],
        "generated_tokens": max(counts),
        "same_output": len(texts) == 1 and len(counts) == 1,
        "runs": {name: [run["tps"] for run in runs[name]] for name in CONTENDERS},
        "turns": turn_items,
        "startup_s": round(statistics.median(s["startup_s"] for s in startup), 3),
        "idle_rss_mb": round(statistics.median(s["rss_mb"] for s in startup), 1),
        "startup_runs": startup,
        "machine": machine,
    }


def _open(model: str, tokens: int, say: Progress) -> _Bench:
    app = create_application()
    apply_theme(app, "light")
    folder = Path(tempfile.mkdtemp(prefix="moss-bench-model-"))
    paths = AppPaths.resolve(folder / "Moss")
    paths.ensure()
    # Greedy sampling through the window's own settings, so the window asks for what the others do.
    settings = Settings(theme="light", sampling_custom=True, temperature=0.0, repeat_penalty=1.0, max_tokens=tokens)
    engine = LlamaEngine()
    controller = EngineController(engine=engine)
    window = build_main_window(paths, settings, controller)
    window.resize(*WINDOW_SIZE)
    window.show()
    QApplication.processEvents()
    failures: list[str] = []
    controller.model_load_failed.connect(lambda _path, message: failures.append(message))
    say(f"loading {Path(model).name}")
    window.load_model(model)
    try:
        wait_until(lambda: controller.model is not None or bool(failures), timeout_ms=REPLY_TIMEOUT_MS)
    except TimeoutError:
        failures.append("The model did not load within 10 minutes.")
    info = controller.model
    if info is None:
        window.close()
        controller.shutdown()
        window.store.close()
        shutil.rmtree(folder, ignore_errors=True)
        raise UserError(f"{failures[0]} Check the file, or try another model.")
    messages = (Message(Role.SYSTEM, settings.system_prompt), Message(Role.USER, PROMPT))
    params = generation_params(settings, info.default_params, ReasoningEffort(settings.reasoning_effort))
    return _Bench(folder, engine, controller, window, messages, params)


def _run(bench: _Bench, name: str) -> dict[str, Any]:
    """One timed reply by contender ``name``: its tokens, seconds, tokens per second and text."""
    if name == "baseline":
        baseline = run_baseline(bench.engine, prompt_tokens(bench.engine, bench.messages, bench.params), bench.params)
        count, seconds, text = baseline.tokens, baseline.seconds, baseline.text
    else:
        bench.engine.forget_cache()  # the model thread is idle: the last reply has finished
        if name == "engine":
            started = time.perf_counter()
            bench.controller.send(bench.messages, bench.params)
            _request_id, result = wait_for(bench.controller.reply_finished, timeout_ms=REPLY_TIMEOUT_MS)
        else:
            bench.window.new_conversation()
            started = time.perf_counter()
            bench.window.send_message(PROMPT)
            (result,) = wait_for(bench.window.session.reply_done, timeout_ms=REPLY_TIMEOUT_MS)
        seconds = time.perf_counter() - started
        assert isinstance(result, GenerationResult)
        count, text = result.stats.completion_tokens, result.content
        if name == "gui":
            pause(20)  # the last piece painted (not timed: the reply was complete)
    return {"tokens": count, "seconds": seconds, "tps": round(count / seconds, 2) if seconds > 0 else 0.0, "text": text}


def replay_turns(bench: _Bench, turns: int) -> list[dict[str, Any]]:
    """A conversation of ``turns`` questions through the engine, from an empty cache: per turn, the prompt's
    tokens, those llama.cpp evaluated (the rest came from the KV cache), and the time to the first token."""
    bench.engine.forget_cache()
    history = [bench.messages[0]]
    items = []
    for number in range(turns):
        history.append(Message(Role.USER, QUESTIONS[number % len(QUESTIONS)]))
        bench.controller.send(tuple(history), bench.params)
        _request_id, result = wait_for(bench.controller.reply_finished, timeout_ms=REPLY_TIMEOUT_MS)
        assert isinstance(result, GenerationResult)
        stats = result.stats
        items.append(
            {
                "prompt_tokens": stats.prompt_tokens,
                "evaluated_tokens": stats.prompt_tokens_evaluated,
                "ttft_s": stats.time_to_first_token_s,
                "completion_tokens": stats.completion_tokens,
            }
        )
        history.append(Message(Role.ASSISTANT, result.content, reasoning=result.reasoning))
    return items


def measure_startup(timeout_s: float = 60.0) -> dict[str, float]:
    """Start ``moss`` in a child process, offscreen over a fresh data folder, with the start-up probe on; returns
    ``startup_s`` (from starting the process to its window painted) and ``rss_mb`` (its resident memory then,
    with no model loaded)."""
    command = [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "app"]
    with tempfile.TemporaryDirectory(prefix="moss-bench-startup-") as data:
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", MOSS_SECRET_STORE="memory")
        env[STARTUP_PROBE_ENV] = "1"
        env.pop("MOSS_DATA_DIR", None)
        started_at = time.time()
        try:
            done = subprocess.run(
                [*command, "--data-dir", data],
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
                cwd=Path(__file__).resolve().parents[2] if not getattr(sys, "frozen", False) else None,
            )
        except subprocess.TimeoutExpired as exc:
            raise UserError(f"Moss did not show its window within {timeout_s:.0f} s. See its log file.") from exc
    reports = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not reports:
        raise UserError(
            f"The start-up probe failed (exit code {done.returncode}): {done.stderr.strip()[-300:] or 'no output'}. "
            "Run `moss` by hand to see what goes wrong."
        )
    report = json.loads(reports[-1])
    return {"startup_s": round(report["shown_at"] - started_at, 3), "rss_mb": report["rss_mb"]}


def machine_info(engine: LlamaEngine) -> dict[str, Any]:
    """This computer and the settings llama.cpp ran with (call while the model thread is idle)."""
    info = engine.info
    llm = engine.llama
    return {
        "cpu": _cpu_name(),
        "cpus": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "system": platform.platform(),
        "python": platform.python_version(),
        "llama_cpp_python": backend.version(),
        "n_threads": int(llm.n_threads),
        "n_ctx": info.n_ctx if info else None,
        "gpu_layers": info.load_params.n_gpu_layers if info and info.load_params else None,
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def format_table(figures: dict[str, Any]) -> str:
    """The figures as a small table, with the targets."""

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    machine = figures["machine"]
    rows = [
        ("baseline (bare llama-cpp-python)", f"{figures['baseline_tps']:.1f} tokens/s", ""),
        ("engine (model thread)", f"{figures['engine_tps']:.1f} tokens/s",
         f"{figures['engine_ratio']:.3f} of baseline, target >= {ENGINE_TARGET}  "
         f"{verdict(figures['engine_ratio'] >= ENGINE_TARGET)}"),
        ("gui (main window, offscreen)", f"{figures['gui_tps']:.1f} tokens/s",
         f"{figures['gui_ratio']:.3f} of baseline, target >= {GUI_TARGET}  "
         f"{verdict(figures['gui_ratio'] >= GUI_TARGET)}"),
        ("start-up to the window shown", f"{figures['startup_s']:.2f} s",
         f"target <= {STARTUP_TARGET_S}  {verdict(figures['startup_s'] <= STARTUP_TARGET_S)}"),
        ("memory, idle (no model)", f"{figures['idle_rss_mb']:.0f} MB",
         f"target <= {IDLE_RSS_TARGET_MB:.0f}  {verdict(figures['idle_rss_mb'] <= IDLE_RSS_TARGET_MB)}"),
    ]  # fmt: skip
    width = max(len(name) for name, _, _ in rows)
    lines = [
        f"{Path(figures['model']).name}: {figures['generated_tokens']} tokens after a {figures['prompt_tokens']}-token "
        f"prompt, greedy; medians of {figures['repeat']} alternating runs "
        f"({machine['cpus']} CPUs, {machine['n_threads']} llama.cpp threads)",
    ]
    lines += [f"  {name:<{width}}  {value:>16}  {note}".rstrip() for name, value, note in rows]
    if not figures["same_output"]:
        lines.append("  note: the contenders did not all produce the same text; the speeds are less comparable")
    lines.append("  turn  prompt tokens  evaluated  time to first token")
    for number, turn in enumerate(figures["turns"], 1):
        ttft = f"{turn['ttft_s'] * 1000:.0f} ms" if turn["ttft_s"] is not None else "-"
        lines.append(f"  {number:>4}  {turn['prompt_tokens']:>13,}  {turn['evaluated_tokens']:>9,}  {ttft:>19}")
    return "\n".join(lines)
