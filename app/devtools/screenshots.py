"""``moss screenshots DIR``: the app's main screens rendered offscreen to PNG, in light and dark.

Each scene is a small function that puts the real window (or the settings window) in a state and saves it as
``DIR/NAME-THEME.png``. The model is the synthetic gpt-oss-20b (app.devtools.synthetic) on the real model
thread, so the pictures show a gpt-oss model at work on any machine. A scene whose piece of the app does not
exist yet is skipped with a line saying why, never a crash.

Scenes: first-run (no model yet), chat (Markdown, a table and code), reasoning (a gpt-oss reply with its
thinking open), streaming (a reply mid-stream), settings-models (a download running), settings-inference,
history (the sidebar, a reply with two versions) and search.

``font_size`` renders them with the text size Settings → Appearance would set, and ``minimum_size`` at the
smallest size each window can be made: the layouts must hold at both ends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtTest import QTest
from PySide6.QtWidgets import QWidget

from app.core.history import ReplyFacts
from app.core.settings import Settings
from app.core.types import FinishReason, Role
from app.devtools.offscreen import Session, open_session, pause, wait_for, wait_until
from app.devtools.synthetic import SyntheticEngine, SyntheticReply, split_tokens
from app.devtools.synthetic_text import CSV_EXCHANGE, TRAIN_EXCHANGE
from app.engine.hardware import Machine
from app.hub.starter import starter_model_path
from app.platform.paths import AppPaths
from app.platform.secrets import MemorySecretStore
from app.qt.engine_worker import EngineController
from app.qt.models_controller import ModelsController
from app.qt.settings_controller import SettingsController
from app.storage.history import HistoryStore
from app.ui.app import create_application
from app.ui.first_run.panel import FirstRunPanel
from app.ui.theme import apply_theme

log = logging.getLogger(__name__)
Out = Callable[[str], None]
_OFFLINE_HUB = "http://127.0.0.1:9"  # nothing answers there: the pictures never depend on the network
# The computer the pictures describe (the synthetic model's plan names the same GPU).
_MACHINE = Machine("NVIDIA GeForce RTX 4080", 16 * 2**30, 15_200_000_000, 32 * 2**30, 24 * 2**30)


class SceneSkipped(Exception):
    """A scene that cannot be shown yet: the part of the app it needs does not exist."""


@dataclass
class Report:
    written: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def offline_models(paths: AppPaths, settings: SettingsController, controller: EngineController) -> ModelsController:
    """A model manager that never reaches the network and sizes models for a 16 GB GPU, 32 GB RAM machine."""
    models = ModelsController(
        paths, settings, MemorySecretStore(), engine=controller, endpoint=_OFFLINE_HUB, machine=_MACHINE
    )
    models.start()
    return models


class Studio:
    """One theme's scenes: where pictures go, and the shared window most scenes use."""

    def __init__(
        self, out_dir: Path, mode: str, report: Report, out: Out, *, font_size: int = 0, minimum_size: bool = False
    ) -> None:
        self.out_dir, self.mode, self.report, self.out = out_dir, mode, report, out
        self.font_size, self.minimum_size = font_size, minimum_size
        self._main: Session[SyntheticEngine] | None = None
        self.ids: dict[str, int] = {}

    def settings(self, **changes: Any) -> Settings:
        """The settings every scene's window starts from: this theme and text size."""
        return Settings(theme=self.mode, font_size=self.font_size, **changes)

    def save(self, widget: QWidget, name: str) -> Path:
        if self.minimum_size:
            widget.resize(1, 1)  # Qt clamps a size to the window's minimum
        pause(150)  # layouts settle and everything is painted
        path = self.out_dir / f"{name}-{self.mode}.png"
        if not widget.grab().save(str(path)):
            raise OSError(f"could not write {path}")
        self.report.written.append(path)
        self.out(str(path))
        return path

    def session(
        self, engine: SyntheticEngine | None = None, *, load: bool = True, reasoning_display: str = "auto"
    ) -> Session[SyntheticEngine]:
        """A window of its own (closed by the caller), over an empty history."""
        settings = self.settings(reasoning_display=reasoning_display)
        return open_session(engine or SyntheticEngine(), settings, models=offline_models, load=load)

    def main(self) -> Session[SyntheticEngine]:
        """The shared window: a history of several chats, gpt-oss-20b loaded."""
        if self._main is None:
            self._main = open_session(
                SyntheticEngine(tokens_per_second=0),
                self.settings(),
                history=lambda store: self.ids.update(fill_history(store)),
                models=offline_models,
            )
        return self._main

    def close(self) -> None:
        if self._main is not None:
            self._main.close()
            self._main = None


# -- the history the pictures show ----------------------------------------------------------------------

MODEL = "gpt-oss-20b-mxfp4.gguf"
HISTORY = [  # (title, days ago, pinned, first question)
    ("Packing list for Lisbon", 0, True, "What should I pack for four days in Lisbon in May?"),
    ("Lighthouse story ideas", 0, False, "Give me story ideas about a lighthouse keeper."),
    ("Explain the KV cache", 0, False, "How does the KV cache make generation faster?"),
    ("Sourdough starter smells odd", 1, False, "My sourdough starter smells like nail polish. Is it ruined?"),
    ("Rust borrow checker error", 3, False, "Why does the borrow checker reject this loop?"),
    ("Birthday card for Ana", 5, False, "Write a short birthday card for my sister Ana."),
    ("Mixture of experts, simply", 12, False, "Explain mixture of experts like I'm new to ML."),
    ("Lighthouses of Portugal", 40, False, "Which lighthouses in Portugal can you visit?"),
    ("Tax return checklist", 200, False, "What do I need for my tax return?"),
]
_IDEAS = (
    "1. A keeper who logs every passing ship finds one that is not on any register.\n"
    "2. The light fails on the night of a storm and the keeper's daughter rows out.\n"
    "3. An automated lighthouse keeps a retired keeper's habits, down to the kettle."
)


def fill_history(store: HistoryStore) -> dict[str, int]:
    """The chats of the pictures; returns the ids of the ones scenes open ("csv", "lighthouse")."""
    now = time.time()
    ids: dict[str, int] = {}
    for title, days, pinned, question in HISTORY:
        info = store.create_conversation(model=MODEL)
        user = store.add_message(info.id, None, Role.USER, question)
        _reply(store, info.id, user.id, "Here is a short answer to get you going.", None, 210)
        if title == "Lighthouse story ideas":
            ids["lighthouse"] = info.id
            leaf = _reply(store, info.id, user.id, _IDEAS, "They want short story premises. Give three.", 96)
            ids["lighthouse_reply"] = leaf
            follow = store.add_message(info.id, leaf, Role.USER, "Expand the third idea into an opening paragraph.")
            _reply(
                store,
                info.id,
                follow.id,
                "The lighthouse was automated in 1998, but every morning at six its lamp room still smells of tea. "
                "The new engineer finds the kettle warm, the logbook open, and today's date already written in a "
                "careful, old-fashioned hand.",
                None,
                61,
            )
        store.rename(info.id, title)
        store.set_pinned(info.id, pinned)
        stamp = now - days * 86400 - 600
        store.connection.execute(
            "UPDATE conversations SET updated_at = ?, created_at = ? WHERE id = ?", (stamp, stamp, info.id)
        )
    info = store.create_conversation(model=MODEL)
    asked = store.add_message(info.id, None, Role.USER, CSV_EXCHANGE.question)
    _reply(store, info.id, asked.id, CSV_EXCHANGE.answer, CSV_EXCHANGE.reasoning, 712)
    store.rename(info.id, "Reading a 20 GB CSV in Python")
    ids["csv"], ids["csv_question"] = info.id, asked.id
    return ids


def _reply(store: HistoryStore, conversation: int, parent: int, text: str, reasoning: str | None, tokens: int) -> int:
    reply = store.add_message(conversation, parent, Role.ASSISTANT, model=MODEL)
    facts = ReplyFacts(
        prompt_tokens=180,
        completion_tokens=tokens,
        tokens_per_second=148.6,
        ttft_s=0.21,
        finish_reason=FinishReason.STOP,
    )
    store.finish_message(reply.id, text, reasoning, facts)
    return reply.id


# -- scenes ---------------------------------------------------------------------------------------------


def scene_first_run(studio: Studio) -> None:
    """Moss opened for the first time: no model, no chats."""
    session = studio.session(load=False)
    try:
        panel_class = FirstRunPanel
        try:  # the window may place the panel once it knows that no model is installed (on the task pool)
            wait_until(lambda: session.window.findChild(panel_class) is not None, 2000)
        except TimeoutError:
            pass
        else:
            pause(300)  # what the panel looks up (the machine, models in other apps' folders) arrives
            studio.save(session.window, "first-run")
            return
        studio.out("note  first-run: the main window does not show the FirstRunPanel yet: the panel shown alone")
        panel = panel_class(_MACHINE, session.models)
        panel.resize(session.window.size())
        panel.show()
        try:
            studio.save(panel, "first-run")
        finally:
            panel.close()
            panel.deleteLater()
    finally:
        session.close()


def scene_chat(studio: Studio) -> None:
    """A finished answer with a heading, a table, a list and highlighted code, its reasoning folded."""
    session = studio.main()
    session.window.open_conversation(studio.ids["csv"])
    pause(100)
    session.window.chat_view.scroll_to_message(studio.ids["csv_question"], mark=False)
    studio.save(session.window, "chat")


def scene_reasoning(studio: Studio) -> None:
    """A gpt-oss reply just written, with its thinking shown."""
    reply = SyntheticReply(TRAIN_EXCHANGE.answer, TRAIN_EXCHANGE.reasoning)
    session = studio.session(SyntheticEngine(reply, tokens_per_second=160), reasoning_display="shown")
    try:
        session.window.send_message(TRAIN_EXCHANGE.question)
        wait_for(session.controller.reply_finished)
        studio.save(session.window, "reasoning")
    finally:
        session.close()


def scene_streaming(studio: Studio) -> None:
    """A reply mid-stream: the thinking folded, the answer half written (its code block still open)."""
    session = studio.main()
    engine = session.engine
    engine.replies.append(SyntheticReply(CSV_EXCHANGE.answer, CSV_EXCHANGE.reasoning))
    engine.pause_after = len(split_tokens(CSV_EXCHANGE.reasoning)) + 150
    engine.paused.clear()
    engine.resume.clear()
    session.window.new_conversation()
    session.window.send_message(CSV_EXCHANGE.question)
    wait_until(engine.paused.is_set)
    pause(200)  # the text sent before the pause arrives and is painted
    try:
        studio.save(session.window, "streaming")
    finally:
        session.controller.stop()
        engine.resume.set()
        wait_for(session.controller.reply_finished)
        engine.pause_after = None


def scene_settings_models(studio: Studio) -> None:
    """Settings → Models: gpt-oss-20b installed, a download running (a loopback Hub, app.devtools.fake_hub)."""
    # Imported here: gguf and the HTTP server are needed by this scene only.
    from app.devtools.fake_hub import FakeRepo, serve_fake_hub
    from app.devtools.replicas import write_gpt_oss_replica

    blob = bytes(range(256)) * (96 * 2**20 // 256)  # served slowly, so that the picture catches it mid-way
    with serve_fake_hub() as hub:
        hub.add_repo(FakeRepo("bartowski/SmolLM2-360M-Instruct-GGUF", {"SmolLM2-360M-Instruct-Q8_0.gguf": blob}))
        hub.throttle_bytes_per_s = 24_000_000

        def models(paths: AppPaths, settings: SettingsController, controller: EngineController) -> ModelsController:
            manager = ModelsController(
                paths, settings, MemorySecretStore(), engine=controller, endpoint=hub.endpoint, machine=_MACHINE
            )
            manager.library.import_model(write_gpt_oss_replica(paths.models / MODEL, "20b"))
            starter = starter_model_path()
            if starter is not None:  # the small demo model, used where it is installed
                manager.library.import_model(starter)
            manager.start()
            return manager

        session = open_session(SyntheticEngine(), studio.settings(), models=models)
        try:
            manager = session.models
            assert manager is not None
            window = session.window.open_settings("Models")
            if window is None:
                raise SceneSkipped("the main window opened no settings window")
            listing = manager.client().listing("bartowski/SmolLM2-360M-Instruct-GGUF")
            manager.download(listing.models[0], listing.commit)
            wait_until(lambda: any(s.done > len(blob) // 4 for s in manager.queue.statuses()), 60_000)
            studio.save(window, "settings-models")
            window.close()
        finally:
            session.close()


def scene_settings_inference(studio: Studio) -> None:
    """Settings → Inference: the plan for the loaded gpt-oss-20b and its overrides."""
    session = studio.main()
    window = session.window.open_settings("Models")
    if window is None:
        raise SceneSkipped("the main window opened no settings window")
    try:
        if "Inference" not in getattr(window, "SECTIONS", ()):
            raise SceneSkipped("the settings window has no Inference section yet")
        window.show_section("Inference")
        studio.save(window, "settings-inference")
    finally:
        window.close()


def scene_history(studio: Studio) -> None:
    """The sidebar grouped by day (one chat pinned) and a chat whose reply has two versions."""
    session = studio.main()
    session.window.open_conversation(studio.ids["lighthouse"])
    pause(100)
    hover(session.window.chat_view, studio.ids["lighthouse_reply"])  # its "‹ 2/2 ›" shows under the pointer
    studio.save(session.window, "history")


def hover(view: QWidget, message_id: int) -> None:
    """Put the pointer over a message of the chat view (whose actions show on hover)."""
    item = view.item_for(message_id)  # type: ignore[attr-defined]
    rect = getattr(view, "item_rect", None)
    if item is None or rect is None:
        return
    QTest.mouseMove(view.viewport(), rect(item).center())  # type: ignore[attr-defined]


def scene_search(studio: Studio) -> None:
    """Search results for a word, with their snippets."""
    session = studio.main()
    session.window.sidebar.search_field.setText("lighthouse")
    pause(600)  # the search runs on the task pool after a pause in typing
    try:
        studio.save(session.window, "search")
    finally:
        session.window.sidebar.search_field.setText("")


# In this order: the shared window's chats are as the history made them until the streaming scene adds one.
SCENES: tuple[tuple[str, Callable[[Studio], None]], ...] = (
    ("first-run", scene_first_run),
    ("chat", scene_chat),
    ("history", scene_history),
    ("search", scene_search),
    ("settings-inference", scene_settings_inference),
    ("streaming", scene_streaming),
    ("reasoning", scene_reasoning),
    ("settings-models", scene_settings_models),
)


def render_screenshots(
    out_dir: Path,
    modes: Sequence[str] = ("light", "dark"),
    out: Out = print,
    *,
    font_size: int = 0,
    minimum_size: bool = False,
) -> Report:
    """Render every scene in each theme of ``modes`` to ``out_dir``; one line per picture on ``out``. With
    ``font_size`` (points), text of that size; with ``minimum_size``, each window at its smallest."""
    app = create_application()
    report = Report()
    for mode in modes:
        apply_theme(app, mode, font_size=font_size)
        studio = Studio(out_dir, mode, report, out, font_size=font_size, minimum_size=minimum_size)
        try:
            for name, scene in SCENES:
                _run_scene(studio, name, scene)
        finally:
            studio.close()
    return report


def _run_scene(studio: Studio, name: str, scene: Callable[[Studio], None]) -> None:
    started = time.perf_counter()
    try:
        scene(studio)
        log.info("scene %s (%s) took %.2f s", name, studio.mode, time.perf_counter() - started)
    except SceneSkipped as why:
        studio.report.skipped.append(f"{name}-{studio.mode}")
        studio.out(f"skip  {name}-{studio.mode}: {why}")
    except Exception as exc:  # one broken scene must not cost the others; the traceback goes to the log
        log.exception("scene %s (%s) failed", name, studio.mode)
        studio.report.failed.append(f"{name}-{studio.mode}")
        studio.out(f"FAIL  {name}-{studio.mode}: {type(exc).__name__}: {exc}")
