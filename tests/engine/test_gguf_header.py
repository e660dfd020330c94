from __future__ import annotations

import time
from pathlib import Path

import pytest

from app.core.errors import ModelFileError
from app.engine.gguf_header import read_gguf_header
from tests.helpers import bad_models


def test_reads_the_starter_model_header(smollm2: Path) -> None:
    started = time.perf_counter()
    header = read_gguf_header(smollm2)
    elapsed = time.perf_counter() - started
    assert header.architecture == "llama"
    assert header.context_length == 8192
    assert len(header.tensors) == 272
    assert len(header.tokens) == 49152
    assert header.token_text("eos") == "<|im_end|>"
    assert header.chat_template is not None and "<|im_start|>" in header.chat_template
    assert header.data_offset + max(t.offset + t.n_bytes for t in header.tensors) == header.file_size
    # gguf.GGUFReader takes seconds on this vocabulary; reading the header must stay interactive.
    assert elapsed < 2.0


def test_reads_the_tiny_gpt_oss_header(tiny_gpt_oss: Path) -> None:
    header = read_gguf_header(tiny_gpt_oss)
    assert header.architecture == "gpt-oss"
    assert header.chat_template is not None and "<|channel|>" in header.chat_template
    assert any(t.name.endswith("ffn_gate_exps.weight") for t in header.tensors)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d, src: d / "missing.gguf", "Model file not found"),
        (lambda d, src: d, "is a folder"),
        (lambda d, src: bad_models.write_not_gguf(d), "is not a GGUF model file"),
        (lambda d, src: bad_models.write_truncated(src, d), "is incomplete"),
        (lambda d, src: bad_models.write_vocab_only(d), "only a tokenizer vocabulary"),
    ],
    ids=["missing", "folder", "not-gguf", "truncated", "vocab-only"],
)
def test_bad_files_are_named_and_explained(tmp_path: Path, smollm2: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path, smollm2)
    with pytest.raises(ModelFileError, match=message) as caught:
        read_gguf_header(path)
    assert path.name in str(caught.value)


def test_a_file_cut_inside_its_header_is_incomplete(tmp_path: Path, smollm2: Path) -> None:
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(smollm2.read_bytes()[:5000])
    with pytest.raises(ModelFileError, match="ends inside its header"):
        read_gguf_header(cut)


def test_a_split_model_is_read_whole_from_its_first_part(tmp_path: Path) -> None:
    from app.core.types import GenerationParams, LoadOptions, LoadParams, Message, Role
    from app.engine.llama_engine import LlamaEngine
    from tests.helpers.tiny_gpt_oss import write_tiny_gpt_oss

    whole = read_gguf_header(write_tiny_gpt_oss(tmp_path / "one" / "tiny.gguf"))
    first = write_tiny_gpt_oss(tmp_path / "split" / "tiny.gguf", split_max_tensors=15)
    assert first.name == "tiny-00001-of-00003.gguf"
    header = read_gguf_header(first)
    assert sorted(t.name for t in header.tensors) == sorted(t.name for t in whole.tensors)
    assert header.file_size == sum(p.stat().st_size for p in first.parent.iterdir())
    engine = LlamaEngine()  # llama.cpp loads the parts together, and the plan counts all of them
    info = engine.load(first, LoadOptions(LoadParams(n_ctx=256, n_batch=64)))
    assert info.size_bytes == header.file_size
    assert engine.generate([Message(Role.USER, "hi")], GenerationParams(max_tokens=4)).stats.prompt_tokens > 0
    engine.unload()

    second = first.with_name("tiny-00002-of-00003.gguf")
    with pytest.raises(ModelFileError, match="Open its first part"):
        read_gguf_header(second)
    first.with_name("tiny-00003-of-00003.gguf").unlink()
    with pytest.raises(ModelFileError, match=r"part 3 \(tiny-00003-of-00003.gguf\) is missing"):
        read_gguf_header(first)
