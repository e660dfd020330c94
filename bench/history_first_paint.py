"""Opening a long conversation in the window, to first paint, on the history_scale.py database.

    .venv/bin/python bench/history_first_paint.py [--db PATH] [--repeat 7] [--json]

Builds the real main window offscreen over the generated history (no model loaded), then times, from the
click to the chat view painted: reading the conversation's latest messages, building their items, the
layout, and one paint of the view. Alternates between the 5,000-message conversation and a short one, so
each open really rebuilds the view. Run bench/history_scale.py first (it makes the database).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MOSS_SECRET_STORE", "memory")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtWidgets import QApplication

from app.engine.llama_engine import LlamaEngine
from app.platform.paths import AppPaths
from app.qt.engine_worker import EngineController
from app.qt.settings_controller import SettingsController
from app.storage.history import HistoryStore
from app.ui.app import create_application
from app.ui.main_window import MainWindow

TARGET_MS = 300.0


def measure(db: Path, repeat: int) -> dict[str, object]:
    app = create_application()
    store = HistoryStore.open(db, recover=False)
    info = json.loads(store.connection.execute("SELECT value FROM bench_meta WHERE key = 'info'").fetchone()[0])
    long_id = int(info["long_id"])
    short_id = next(c.id for c in store.list_conversations(limit=50) if c.id != long_id)
    controller = EngineController(LlamaEngine())
    window = MainWindow(controller, store, SettingsController(None), None, AppPaths.resolve(db.parent / "bench-data"))
    window.resize(1100, 720)
    window.show()
    QApplication.processEvents()
    times: list[float] = []
    for _ in range(repeat):
        window.open_conversation(short_id)
        QApplication.processEvents()
        start = time.perf_counter()
        window.open_conversation(long_id)
        QApplication.processEvents()  # layout and deferred deletes
        window.chat_view.viewport().repaint()  # the first paint, done now rather than when idle
        times.append((time.perf_counter() - start) * 1000)
    items = len(window.chat_view.items)
    messages = store.path_length(long_id)
    window.close()
    controller.shutdown()
    store.close()
    app.processEvents()
    return {
        "conversation_messages": messages,
        "items_built": items,
        "median_ms": round(statistics.median(times), 1),
        "max_ms": round(max(times), 1),
        "target_ms": TARGET_MS,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path("/tmp/moss-history-scale.db"))
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.db.exists():
        raise SystemExit(f"{args.db} does not exist: run bench/history_scale.py first")
    result = measure(args.db, args.repeat)
    if args.json:
        print(json.dumps(result))
    else:
        verdict = "ok" if result["median_ms"] < TARGET_MS else "SLOW"  # type: ignore[operator]
        print(
            f"open a {result['conversation_messages']:,}-message conversation to first paint "
            f"({result['items_built']} items): median {result['median_ms']} ms, max {result['max_ms']} ms "
            f"(target < {TARGET_MS:.0f} ms: {verdict})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
