"""Render the main window mid-reply, in light and dark, to docs/screenshots/ (offscreen, real model).

.venv/bin/python tools/screenshots.py [OUT_DIR]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MOSS_SECRET_STORE", "memory")

from PySide6.QtCore import QEventLoop, QTimer

from app.core.settings import Settings
from app.hub.starter import starter_model_path
from app.platform.paths import AppPaths
from app.qt.engine_worker import EngineController
from app.ui.app import build_main_window, build_models_controller, create_application
from app.ui.theme import apply_theme

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the reasoning scene borrows the test helpers that script a reply


def wait(signal: object, timeout_ms: int = 60_000) -> None:
    loop = QEventLoop()
    signal.connect(loop.quit)  # type: ignore[attr-defined]
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    app = create_application()
    model = starter_model_path()
    assert model is not None, "run python3 bootstrap.py run first: the starter model is missing"
    for mode in ("light", "dark"):
        apply_theme(app, mode)
        paths = AppPaths.resolve(tempfile.mkdtemp(prefix="moss-shots-"))
        paths.ensure()
        controller = EngineController()
        settings = Settings(theme=mode, max_tokens=200)
        models = build_models_controller(paths, settings, controller)
        window = build_main_window(paths, settings, controller, models)
        window.resize(1100, 720)
        window.show()
        window.load_model(str(model))
        wait(controller.model_loaded)
        window.send_message("What is the capital of France?")
        wait(controller.reply_finished)
        window.send_message("Tell me three things to see there, in a short list.")
        for _ in range(6):  # let a few chunks arrive: mid-reply
            wait(controller.reply_chunk)
        window.grab().save(str(out_dir / f"main-window-{mode}.png"))
        controller.stop()
        wait(controller.reply_finished)
        window.close()
        models.shutdown()
        controller.shutdown()
        print(out_dir / f"main-window-{mode}.png")
        reasoning_scene(out_dir, mode)
        models_scene(out_dir, mode)
        history_scene(out_dir, mode)


def reasoning_scene(out_dir: Path, mode: str) -> None:
    """gpt-oss's reasoning and answer apart: the tiny gpt-oss model, its reply scripted (tests/helpers)."""
    from tests.helpers.scripted import ScriptedEngine
    from tests.helpers.tiny_gpt_oss import write_tiny_gpt_oss

    folder = Path(tempfile.mkdtemp(prefix="moss-shots-"))
    model = write_tiny_gpt_oss(folder / "gpt-oss-tiny.gguf")
    paths = AppPaths.resolve(folder / "data")
    paths.ensure()
    engine = ScriptedEngine()
    controller = EngineController(engine=engine)
    window = build_main_window(paths, Settings(theme=mode, context_length=2048), controller)
    window.resize(1100, 720)
    window.show()
    window.load_model(str(model))
    wait(controller.model_loaded)
    engine.script.append(
        "<|channel|>analysis<|message|>The user asks for the boiling point of water at sea level. That is 100 °C, "
        "or 212 °F. Mention that it drops with altitude.<|end|><|start|>assistant<|channel|>final<|message|>"
        "Water boils at 100 °C (212 °F) at sea level. Higher up it boils at a lower temperature: about 90 °C "
        "at 3,000 m.<|return|>"
    )
    window.send_message("At what temperature does water boil?")
    wait(controller.reply_finished)
    window.chat_view.bubbles[-1].thinking.toggle.click()  # open the folded thinking block to show it
    window.grab().save(str(out_dir / f"reasoning-{mode}.png"))
    window.close()
    controller.shutdown()
    print(out_dir / f"reasoning-{mode}.png")


def models_scene(out_dir: Path, mode: str) -> None:
    """Settings → Models with a download running: a loopback Hub (tests/helpers) serving a 300 MB file slowly,
    and two models on this computer."""
    from app.engine.hardware import simulated_machine
    from app.hub.library import ImportMode
    from app.platform.secrets import MemorySecretStore
    from app.qt.models_controller import ModelsController
    from app.ui.settings_window import SettingsWindow
    from tests.helpers.fake_hub import FakeRepo, serve_fake_hub
    from tests.helpers.tiny_gpt_oss import write_tiny_gpt_oss

    folder = Path(tempfile.mkdtemp(prefix="moss-shots-"))
    paths = AppPaths.resolve(folder / "data")
    paths.ensure()
    big = bytes(range(256)) * (300 * 1024 * 1024 // 256)
    with serve_fake_hub() as hub:
        hub.add_repo(FakeRepo("moss-demo/big-model-GGUF", {"big-model-Q4_K_M.gguf": big}))
        controller = EngineController()
        models = ModelsController(
            paths,
            Settings(),
            MemorySecretStore(),
            engine=controller,
            endpoint=hub.endpoint,
            machine=simulated_machine(16 * 2**30, 32 * 2**30),
        )
        starter = starter_model_path()
        assert starter is not None
        models.library.import_model(starter)
        models.library.import_model(write_tiny_gpt_oss(folder / "gpt-oss-tiny-MXFP4.gguf"), ImportMode.MOVE)
        models.start()
        wait(models.installed_changed)
        window = SettingsWindow(models)
        window.resize(980, 620)
        window.show()
        listing = models.client().listing("moss-demo/big-model-GGUF")
        hub.throttle_bytes_per_s = 40_000_000
        models.download(listing.models[0], listing.commit)
        deadline = 0
        while deadline < 400 and not any(s.done > 100_000_000 for s in models.queue.statuses()):
            wait(models.download_changed, 200)
            deadline += 1
        row = window.models_pane.installed.topLevelItem(1)
        if row is not None:
            window.models_pane.installed.setCurrentItem(row)
        window.grab().save(str(out_dir / f"models-{mode}.png"))
        window.close()
        models.shutdown()
        controller.shutdown()
    print(out_dir / f"models-{mode}.png")


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


def history_scene(out_dir: Path, mode: str) -> None:
    """The sidebar with a real history (grouped by day, one pinned), a reply with two versions, and search."""
    import time

    from app.core.types import Role
    from app.storage.history import HistoryStore

    paths = AppPaths.resolve(tempfile.mkdtemp(prefix="moss-shots-"))
    paths.ensure()
    store = HistoryStore.open(paths.history_file)
    now = time.time()
    shown = 0
    for title, days, pinned, question in HISTORY:
        info = store.create_conversation()
        user = store.add_message(info.id, None, Role.USER, question)
        store.add_message(info.id, user.id, Role.ASSISTANT, "Here is a short answer to get you going.")
        if title == "Lighthouse story ideas":
            shown = info.id
            store.add_message(
                info.id,
                user.id,
                Role.ASSISTANT,
                "1. A keeper who logs every passing ship finds one that is not on any register.\n"
                "2. The light fails on the night of a storm and the keeper's daughter rows out.\n"
                "3. An automated lighthouse keeps a retired keeper's habits, down to the kettle.",
            )
            follow = store.add_message(info.id, store.path(info.id)[-1].id, Role.USER, "Expand the third idea.")
            store.add_message(
                info.id,
                follow.id,
                Role.ASSISTANT,
                "The lighthouse was automated in 1998, but every morning at six its lamp room still smells "
                "of tea. The new engineer finds the kettle warm.",
            )
        store.rename(info.id, title)
        store.set_pinned(info.id, pinned)
        stamp = now - days * 86400 - 600
        store.connection.execute(
            "UPDATE conversations SET updated_at = ?, created_at = ? WHERE id = ?", (stamp, stamp, info.id)
        )
    store.close()

    controller = EngineController()
    window = build_main_window(paths, Settings(theme=mode), controller)
    window.resize(1100, 720)
    window.show()
    model = starter_model_path()
    if model is not None:
        window.load_model(str(model))
        wait(controller.model_loaded)
    window.open_conversation(shown)
    QTimer.singleShot(100, lambda: None)
    wait_ms(200)
    window.grab().save(str(out_dir / f"history-{mode}.png"))
    print(out_dir / f"history-{mode}.png")
    window.sidebar.search_field.setText("lighthouse")
    wait_ms(800)  # the search runs on the task pool after a pause in typing
    window.grab().save(str(out_dir / f"search-{mode}.png"))
    print(out_dir / f"search-{mode}.png")
    window.close()
    controller.shutdown()


def wait_ms(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots")
