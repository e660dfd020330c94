"""The load probe (issue 16, class 2): a model file llama.cpp aborts on is tried in a child process first, so
the abort ends the child, not the process that loads models (the window's), and becomes a ModelFileError."""

from __future__ import annotations

import logging
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.core.errors import ModelFileError
from app.core.types import LoadOptions, LoadParams
from app.engine import backend, load_probe
from app.engine.gguf_header import read_gguf_header
from app.engine.llama_engine import LlamaEngine
from app.engine.load_probe import REFUSED, LoadProbe, probe_file
from app.engine.protocol import LoadCancelled
from tests.helpers.bad_models import VT, Meta, rewrite_gguf, take_apart

pytestmark = pytest.mark.model
SMALL = LoadOptions(LoadParams(n_ctx=256, n_batch=64))
NO_FLASH = LoadOptions(LoadParams(n_ctx=256, n_batch=64, flash_attn=False))


@pytest.fixture
def aborting_model(tmp_path: Path, tiny_gpt_oss: Path) -> Path:
    """The tiny gpt-oss with no key-value heads in its second layer. Moss's checks leave per-layer head counts
    to llama.cpp (hybrid models have layers without attention); llama.cpp asserts on it as it builds its graph
    without flash attention (``GGML_ASSERT(a->ne[0] == b->ne[0])``): loaded in this process with flash attention
    off (a run setting), it would abort the test run. Before the probe it did."""
    change = {"gpt-oss.attention.head_count_kv": Meta(VT.ARRAY, [1, 0], VT.UINT32)}
    return rewrite_gguf(tiny_gpt_oss, tmp_path / "no-heads.gguf", change)


def test_a_file_llama_cpp_aborts_on_ends_as_a_user_error_and_the_process_lives(
    tmp_path: Path, tiny_gpt_oss: Path, aborting_model: Path
) -> None:
    checked = tmp_path / "checked-models"
    engine = LlamaEngine(checked_models=checked)
    read_gguf_header(aborting_model)  # Moss's own checks let it through: only llama.cpp can tell
    with pytest.raises(ModelFileError, match=r"llama.cpp could not read no-heads.gguf: .*GGML_ASSERT") as caught:
        engine.load(aborting_model, NO_FLASH)
    assert "\n" not in str(caught.value)
    assert engine.info is None and not list(checked.glob("*.ok"))  # nothing recorded as safe
    info = engine.load(tiny_gpt_oss, NO_FLASH)  # still alive, and still loading models
    assert info.architecture == "gpt-oss"
    engine.unload()
    assert len(list(checked.glob("*.ok"))) == 1  # the good file is remembered


@pytest.mark.parametrize(
    ("change", "assertion"),
    [
        ({"gpt-oss.block_count": 1000}, "n_layer_all <= LLAMA_MAX_LAYERS"),
        ({"gpt-oss.expert_used_count": 99}, "n_expert_used_max <= hparams.n_expert"),
        ("duplicate token", "id_to_token.size() == token_to_id.size()"),
    ],
    ids=["block_count-1000", "expert_used-99", "duplicate-token"],
)
def test_what_the_checks_refuse_really_aborts_llama_cpp(
    tmp_path: Path, tiny_gpt_oss: Path, change: dict[str, Meta | int] | str, assertion: str
) -> None:
    """The checks mirror llama.cpp's asserts: each file they refuse here kills a llama.cpp that reads it."""
    if change == "duplicate token":
        tokens = list(take_apart(tiny_gpt_oss).metadata["tokenizer.ggml.tokens"].value)
        tokens[100] = tokens[101]
        change = {"tokenizer.ggml.tokens": Meta(VT.ARRAY, tokens, VT.STRING)}
    assert isinstance(change, dict)
    path = rewrite_gguf(tiny_gpt_oss, tmp_path / "aborts.gguf", change)
    with pytest.raises(ModelFileError):
        read_gguf_header(path)
    outcome = probe_file(path)
    assert outcome is not None and assertion in outcome


def test_a_file_llama_cpp_refuses_cleanly_is_left_to_the_load_to_explain(tmp_path: Path, tiny_gpt_oss: Path) -> None:
    path = rewrite_gguf(tiny_gpt_oss, tmp_path / "wide.gguf", {"gpt-oss.embedding_length": 128})
    assert probe_file(path) == REFUSED
    with pytest.raises(ModelFileError, match=r"llama.cpp could not load wide.gguf: .*wrong shape"):
        LlamaEngine().load(path, SMALL)


def test_a_file_that_passed_is_not_probed_again(
    tmp_path: Path, tiny_gpt_oss: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=load_probe.__name__)
    monkeypatch.setattr(load_probe, "_passed", set())  # as in a process that has probed nothing yet
    checked = tmp_path / "checked"
    header = read_gguf_header(tiny_gpt_oss)
    LoadProbe(checked).check(header, backend.version())
    assert len(list(checked.glob("*.ok"))) == 1
    assert [r.message for r in caplog.records if r.message.startswith("probed")]  # a child ran
    caplog.clear()
    monkeypatch.setattr(load_probe, "_passed", set())  # a new process: only the folder remembers
    LoadProbe(checked).check(header, backend.version())
    assert not [r.message for r in caplog.records if r.message.startswith("probed")]  # no child this time
    copy = tmp_path / "elsewhere" / "copy.gguf"  # the same bytes in another folder: the same fingerprint
    copy.parent.mkdir()
    copy.write_bytes(tiny_gpt_oss.read_bytes())
    assert load_probe.header_fingerprint(read_gguf_header(copy), "v") == load_probe.header_fingerprint(header, "v")
    assert load_probe.header_fingerprint(header, "another llama.cpp") != load_probe.header_fingerprint(header, "v")


def test_a_probe_is_cancelled_with_the_load(tmp_path: Path, tiny_gpt_oss: Path) -> None:
    path = rewrite_gguf(tiny_gpt_oss, tmp_path / "fresh.gguf", {"general.name": Meta(VT.STRING, "never probed")})
    header = read_gguf_header(path)
    started = time.perf_counter()
    with pytest.raises(LoadCancelled):
        LoadProbe().check(header, backend.version(), cancelled=lambda: time.perf_counter() - started > 0.1)
    assert time.perf_counter() - started < 5
    assert not multiprocessing.active_children()  # the child was stopped, not left running


def test_a_probe_that_cannot_start_does_not_blame_the_file(tmp_path: Path, tiny_gpt_oss: Path) -> None:
    """A script without ``if __name__ == "__main__"`` cannot start a spawned child (Python re-runs the script
    in it, and the child refuses to start another). That says nothing about the model: it is loaded anyway."""
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from app.core.types import LoadOptions, LoadParams\n"
        "from app.engine.llama_engine import LlamaEngine\n"
        f"info = LlamaEngine().load({str(tiny_gpt_oss)!r}, LoadOptions(LoadParams(n_ctx=256, n_batch=64)))\n"
        "print('loaded', info.architecture)\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("loaded gpt-oss")
