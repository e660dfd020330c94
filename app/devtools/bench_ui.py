"""``moss bench ui``: how long the GUI thread stalls while a fast reply streams into a long conversation.

The real main window is built offscreen over a throwaway history holding one long chat (Markdown answers
with code blocks and reasoning). That chat is opened and a question sent; the synthetic gpt-oss-20b on the
real model thread answers with a long Markdown reply at a fast model's speed (250 tokens/s by default), so the
chat view re-renders a growing reply with code blocks for several seconds.

Once the question is sent (``send_ms``: how long sending itself held the GUI thread), a heartbeat timer
(Qt.PreciseTimer, every few ms) on the GUI thread records when it actually fires, until the reply ends: a gap
longer than its interval is time the event loop was busy, so ``stall = gap - interval``. A stall over 33 ms
is a dropped frame at 30 fps; over 100 ms, typing and scrolling feel stuck. Frames are the paint events of
the chat view's viewport during the reply.

On a machine busy with other work, a stall also holds the time other processes had the CPU; the thread's
own CPU time between beats (``max_busy_ms``, ``p99_busy_ms``) and its share of the stream's duration
(``gui_cpu_share``) count only Moss's work.
"""

from __future__ import annotations

import math
import time
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Slot
from PySide6.QtWidgets import QWidget

from app.core.settings import Settings
from app.core.types import GenerationResult, Role
from app.devtools.offscreen import open_session, pause, wait_for
from app.devtools.synthetic import SyntheticEngine, markdown_reply
from app.devtools.synthetic_text import sample_conversation
from app.storage.history import HistoryStore
from app.ui.app import create_application
from app.ui.theme import apply_theme

P99_TARGET_MS = 33.0
MAX_TARGET_MS = 100.0
QUESTION = "Could you put all of that together into one walkthrough, with the code for each step?"


class StallMeter(QObject):
    """A heartbeat on the GUI thread that records how late it fires, and a count of ``watched``'s paints."""

    def __init__(self, watched: QWidget, interval_ms: int = 4) -> None:
        super().__init__()
        self.interval_ms = interval_ms
        self.gaps_ms: list[float] = []
        self.work_ms: list[float] = []  # the GUI thread's own CPU time between beats
        self.frames = 0
        self._watched = watched
        self._last: float | None = None
        self._last_cpu = 0.0
        self.cpu_s = 0.0
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._beat)

    def start(self) -> None:
        self._watched.installEventFilter(self)
        self._last = time.perf_counter()
        self._last_cpu = self._started_cpu = time.thread_time()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        self._beat()  # a stall at the very end counts too
        self.cpu_s = time.thread_time() - self._started_cpu
        self._watched.removeEventFilter(self)

    @Slot()
    def _beat(self) -> None:
        """GUI thread: the time since the last beat."""
        now, cpu = time.perf_counter(), time.thread_time()
        if self._last is not None:
            self.gaps_ms.append((now - self._last) * 1000)
            self.work_ms.append((cpu - self._last_cpu) * 1000)
        self._last, self._last_cpu = now, cpu

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._watched and event.type() == QEvent.Type.Paint:
            self.frames += 1
        return False

    def stalls_ms(self) -> list[float]:
        return [max(0.0, gap - self.interval_ms) for gap in self.gaps_ms]


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (``share`` 0..1) of ``values``; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def fill_history(store: HistoryStore, n_messages: int) -> int:
    """One conversation of ``n_messages`` realistic messages; returns its id."""
    info = store.create_conversation(title="Python data questions", model="gpt-oss-20b-mxfp4.gguf")
    parent: int | None = None
    for message in sample_conversation(n_messages):
        model = "gpt-oss-20b-mxfp4.gguf" if message.role == Role.ASSISTANT else ""
        parent = store.add_message(
            info.id, parent, message.role, message.content, reasoning=message.reasoning, model=model
        ).id
    return info.id


def run_ui_bench(
    *,
    messages: int = 500,
    tokens: int = 1500,
    tokens_per_second: float = 250.0,
    theme: str = "light",
    interval_ms: int = 4,
) -> dict[str, Any]:
    """Stream a ``tokens``-token reply into a ``messages``-message chat; returns the figures (see module doc)."""
    app = create_application()
    apply_theme(app, theme)
    engine = SyntheticEngine(markdown_reply(tokens), tokens_per_second=tokens_per_second, time_to_first_token_s=0.05)
    conversation: list[int] = []
    session = open_session(
        engine,
        Settings(theme=theme, max_tokens=tokens + 64),
        history=lambda store: conversation.append(fill_history(store, messages)),
    )
    try:
        window = session.window
        window.open_conversation(conversation[0])
        pause(300)  # the chat laid out and painted before the clock starts
        meter = StallMeter(window.chat_view.viewport(), interval_ms)
        started = time.perf_counter()
        window.send_message(QUESTION)  # timed on its own: the click, not the stream
        send_ms = (time.perf_counter() - started) * 1000
        meter.start()
        _request_id, result = wait_for(session.controller.reply_finished, timeout_ms=600_000)
        duration = time.perf_counter() - started
        pause(50)  # the last chunk painted
        meter.stop()
    finally:
        session.close()
    assert isinstance(result, GenerationResult)
    stalls = meter.stalls_ms()
    return {
        "max_stall_ms": round(max(stalls, default=0.0), 1),
        "p99_stall_ms": round(percentile(stalls, 0.99), 1),
        "frames": meter.frames,
        "tokens": result.stats.completion_tokens,
        "tokens_per_second": result.stats.tokens_per_second,
        "messages": messages,
        "duration_s": round(duration, 2),
        "heartbeat_ms": interval_ms,
        "send_ms": round(send_ms, 1),
        "max_busy_ms": round(max(meter.work_ms, default=0.0), 1),
        "p99_busy_ms": round(percentile(meter.work_ms, 0.99), 1),
        "gui_cpu_share": round(meter.cpu_s / duration, 2) if duration > 0 else 0.0,
    }


def format_table(figures: dict[str, Any]) -> str:
    """The figures as a small table, with the targets."""

    def verdict(value: float, target: float) -> str:
        return f"< {target:g} ms  {'ok' if value < target else 'MISSED'}"

    tps = figures["tokens_per_second"]
    rows = [
        ("max stall", f"{figures['max_stall_ms']:.1f} ms", verdict(figures["max_stall_ms"], MAX_TARGET_MS)),
        ("p99 stall", f"{figures['p99_stall_ms']:.1f} ms", verdict(figures["p99_stall_ms"], P99_TARGET_MS)),
        ("frames painted", f"{figures['frames']:,}", ""),
        ("tokens streamed", f"{figures['tokens']:,}", ""),
        ("tokens/s (achieved)", f"{tps:.1f}" if tps else "-", ""),
        ("messages in the chat", f"{figures['messages']:,}", ""),
        ("duration", f"{figures['duration_s']:.2f} s", ""),
        ("GUI thread's own work, max", f"{figures['max_busy_ms']:.1f} ms", "(CPU time between beats)"),
        ("GUI thread's own work, p99", f"{figures['p99_busy_ms']:.1f} ms", ""),
        ("GUI thread busy", f"{figures['gui_cpu_share']:.0%}", "(of the stream's duration)"),
        ("sending the question", f"{figures['send_ms']:.1f} ms", "(before the stream; not in the stalls)"),
    ]
    width = max(len(name) for name, _, _ in rows)
    lines = [
        f"A reply streaming into a {figures['messages']:,}-message chat "
        f"(heartbeat every {figures['heartbeat_ms']} ms on the GUI thread):",
    ]
    lines += [f"  {name:<{width}}  {value:>10}  {target}".rstrip() for name, value, target in rows]
    return "\n".join(lines)
