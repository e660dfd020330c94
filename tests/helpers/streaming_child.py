"""A Moss window (offscreen) that loads a model and streams one long reply: the process a test kills.

Run as ``python -m tests.helpers.streaming_child DATA_DIR MODEL``. Each time reply text arrives it prints
``<unix time> <characters so far>``, so the test can tell how much of the reply a kill lost.
"""

from __future__ import annotations

import sys
import time

from app.core.settings import Settings
from app.engine.llama_engine import LlamaEngine
from app.platform.paths import AppPaths
from app.qt.engine_worker import EngineController
from app.ui.app import build_main_window, create_application

PROMPT = "Write a very long story about a lighthouse keeper, the sea and a storm. Make it many paragraphs."


def main(data_dir: str, model: str) -> int:
    app = create_application()
    paths = AppPaths.resolve(data_dir)
    paths.ensure()
    controller = EngineController(LlamaEngine())
    window = build_main_window(paths, Settings(context_length=2048, max_tokens=1900), controller)
    window.show()
    received = 0

    def on_chunk(_request: str, kind: str, text: str) -> None:
        nonlocal received
        if kind == "content":
            received += len(text)
            print(f"{time.time():.3f} {received}", flush=True)

    controller.model_loaded.connect(lambda _info: window.send_message(PROMPT))
    controller.reply_chunk.connect(on_chunk)
    controller.reply_finished.connect(lambda *_: print("finished", flush=True))
    window.load_model(model)
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
