from __future__ import annotations

import os
import struct
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from app.core.errors import ModelFileError
from app.engine.gguf_header import read_gguf_header
from app.engine.model_layout import model_layout
from tests.helpers import bad_models
from tests.helpers.bad_models import (
    VT,
    Meta,
    gguf_kv,
    gguf_nested_arrays,
    gguf_tensor_info,
    rewrite_gguf,
    small_gguf,
    take_apart,
    write_sparse,
)


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
        (lambda d, src: bad_models.write_not_gguf(d), "is not a model, although its name ends in .gguf"),
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


# -- class 1 of issue 16: lengths and counts from the file are bounded before anything is allocated --------------

GIB = 1024**3


def _read_bounded(path: Path) -> ModelFileError:
    """Read ``path``'s header, expecting a ModelFileError, and check the reader stayed small and quick."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ModelFileError) as caught:
            model_layout(read_gguf_header(path))
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert time.perf_counter() - started < 2.0
    assert peak < 16 * 1024**2, f"the reader allocated {peak:,} bytes"
    assert path.name in str(caught.value) and "\n" not in str(caught.value)
    return caught.value


@pytest.mark.parametrize(
    ("entries", "counts", "size", "message"),
    [
        ([gguf_kv("k", Meta(VT.UINT8, 1), key_length=2**40)], {}, 4 * GIB, "ends inside its header"),
        ([gguf_kv("k", Meta(VT.UINT8, 1), key_length=2**20)], {}, 4 * GIB, "damaged header"),
        ([gguf_kv("k", Meta(VT.UINT8, 1), key_length=2**63)], {}, None, "ends inside its header"),
        ([gguf_kv("k", Meta(VT.UINT8, 1), key_length=2**64 - 1)], {}, 4 * GIB, "ends inside its header"),
        ([gguf_kv("k", Meta(VT.STRING, "x"))[:-9] + struct.pack("<Q", 2**40)], {}, None, "ends inside its header"),
        ([gguf_kv("k", Meta(VT.STRING, "x"))[:-9] + struct.pack("<Q", 2**30)], {}, 4 * GIB, "damaged header"),
        ([], {"n_kv": 10**6}, None, "ends inside its header"),
        ([], {"n_kv": 10**6}, 4 * GIB, "damaged header"),
        ([], {"n_tensors": 10**6}, 4 * GIB, "damaged header"),
        ([], {"n_kv": 2**64 - 1, "n_tensors": 2**64 - 1}, None, "ends inside its header"),
        ([gguf_kv("a", Meta(VT.ARRAY, [1], VT.UINT8), count=2**62)], {}, None, "ends inside its header"),
        ([gguf_kv("a", Meta(VT.ARRAY, [1], VT.UINT64), count=2**62)], {}, 4 * GIB, "ends inside its header"),
        ([gguf_kv("a", Meta(VT.ARRAY, ["x"], VT.STRING), count=2**62)], {}, 4 * GIB, "ends inside its header"),
        ([gguf_kv("a", Meta(VT.ARRAY, ["x"], VT.STRING), count=2**28)], {}, 4 * GIB, "damaged header"),
        ([gguf_kv("a", Meta(VT.ARRAY, ["x"], VT.STRING), count=10**7)], {}, 4 * GIB, "damaged header"),
        ([gguf_kv("split.count", Meta(VT.UINT64, 2**62))], {}, None, "damaged header"),
        ([gguf_kv("mossnet.block_count", Meta(VT.ARRAY, [2, 2**31], VT.UINT32))], {}, None, "not one number"),
        ([gguf_kv("mossnet.block_count", Meta(VT.UINT32, 10**7))], {}, None, "10,000,000 layers"),
        ([gguf_kv("general.alignment", Meta(VT.UINT32, 0))], {}, None, "not a power of two"),
        ([gguf_kv("k", Meta(VT.UINT8, 1)), gguf_kv("k", Meta(VT.UINT8, 2))], {}, None, "appears twice"),
        ([struct.pack("<Q", 1) + b"k" + struct.pack("<I", 99)], {}, None, "unknown value type 99"),
    ],
    ids=[
        "key-2^40",
        "key-2^20-big-file",
        "key-2^63",
        "key-2^64-1",
        "string-2^40",
        "string-2^30-big-file",
        "n_kv-10^6",
        "n_kv-10^6-big-file",
        "n_tensors-10^6-big-file",
        "counts-2^64-1",
        "u8-array-2^62",
        "u64-array-2^62-big-file",
        "string-array-2^62-big-file",
        "string-array-2^28-big-file",
        "string-array-10^7-big-file",
        "split-count-2^62",
        "unknown-arch-block_count-array",
        "unknown-arch-block_count-10^7",
        "alignment-0",
        "duplicate-key",
        "unknown-type",
    ],
)
def test_lengths_and_counts_are_bounded_before_allocating(
    tmp_path: Path, entries: list[bytes], counts: dict[str, int], size: int | None, message: str
) -> None:
    data = small_gguf(entries, **counts)
    path = tmp_path / "lies.gguf"
    if size is None:
        path.write_bytes(data)
    else:  # a file of gigabytes: its size alone does not refuse the length
        write_sparse(path, data, size)
    assert message in str(_read_bounded(path))


def test_arrays_nested_two_thousand_deep_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "nested.gguf"
    path.write_bytes(small_gguf([gguf_nested_arrays("deep", 2000)]))
    assert "nested more than" in str(_read_bounded(path))
    path.write_bytes(small_gguf([gguf_nested_arrays("shallow", 3)]))  # a little nesting is only skipped
    assert read_gguf_header(path).metadata["shallow"] == 1


@pytest.mark.parametrize(
    ("shape", "ggml_type", "message"),
    [
        ([8] * 5, 0, "5 dimensions"),
        ([2**40, 2**40], 0, "elements"),
        ([7], 8, "not a multiple of its block"),  # q8_0 rows come in blocks of 32
        ([8], 12345, "tensor type (12345"),
    ],
    ids=["5-dims", "2^80-elements", "partial-block", "unknown-type"],
)
def test_impossible_tensors_are_refused(tmp_path: Path, shape: list[int], ggml_type: int, message: str) -> None:
    path = tmp_path / "tensor.gguf"
    path.write_bytes(small_gguf(tensors=[gguf_tensor_info("token_embd.weight", shape, ggml_type, 0)]))
    assert message in str(_read_bounded(path))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"gpt-oss.block_count": Meta(VT.UINT64, 2**62)}, "block_count is 4611686018427387904"),
        ({"gpt-oss.block_count": 10**7}, "layers"),
        ({"gpt-oss.block_count": Meta(VT.ARRAY, [2, 2**31], VT.UINT32)}, "not one number"),
        ({"gpt-oss.attention.head_count_kv": Meta(VT.UINT64, 2**40)}, "head_count_kv is 1099511627776"),
        ({"gpt-oss.context_length": Meta(VT.INT32, -5)}, "context_length is -5"),
    ],
    ids=["block_count-2^62", "block_count-10^7", "block_count-array", "heads-2^40", "context-negative"],
)
def test_numbers_the_planner_loops_over_are_bounded(
    tmp_path: Path, tiny_gpt_oss: Path, change: dict[str, Meta | int], message: str
) -> None:
    path = rewrite_gguf(tiny_gpt_oss, tmp_path / "numbers.gguf", change)
    assert message in str(_read_bounded(path))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are a POSIX thing")
def test_a_pipe_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "model.gguf"
    os.mkfifo(fifo)
    outcome: list[BaseException | None] = []
    reader = threading.Thread(target=lambda: outcome.append(_raised(fifo)), daemon=True)
    reader.start()
    reader.join(5)
    try:
        assert not reader.is_alive(), "reading the header of a pipe waited for a writer"
    finally:
        if reader.is_alive():  # free the blocked open, so the thread ends
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert isinstance(outcome[0], ModelFileError)
    assert "not a regular file" in str(outcome[0])


def _raised(path: Path) -> BaseException | None:
    try:
        read_gguf_header(path)
    except BaseException as exc:  # handed to the test thread to judge
        return exc
    return None


# -- class 2: headers llama.cpp aborts on are refused before it sees them -----------------------------------------


def _tokens_with_a_duplicate(src: Path) -> Meta:
    tokens = list(take_apart(src).metadata["tokenizer.ggml.tokens"].value)
    tokens[100] = tokens[101]
    return Meta(VT.ARRAY, tokens, VT.STRING)


ABORTS = {
    "block_count-0": ({"gpt-oss.block_count": 0}, "it has 0 layers"),
    "block_count-1000": ({"gpt-oss.block_count": 1000}, "it has 1,000 layers"),
    "block_count-3": ({"gpt-oss.block_count": 3}, "it has 3 layers, but it holds the tensors of 2"),
    "block_count-1": ({"gpt-oss.block_count": 1}, "it has 1 layers, but it holds tensors of layer 1"),
    "expert_count-0": ({"gpt-oss.expert_count": 0}, "uses 2 of its 0 experts"),
    "expert_used-0": ({"gpt-oss.expert_used_count": 0}, "uses none of its 4 experts"),
    "expert_used-99": ({"gpt-oss.expert_used_count": 99}, "uses 99 of its 4 experts"),
    "expert_used-array": (
        {"gpt-oss.expert_used_count": Meta(VT.ARRAY, [2, 9], VT.UINT32)},
        "uses 9 of its 4 experts",
    ),
    "expert_groups": ({"gpt-oss.expert_group_count": 4}, "4 groups of its 4 experts"),
    "nextn-3": ({"gpt-oss.nextn_predict_layers": 3}, "3 of its 2 layers"),
    "key_length-0": ({"gpt-oss.attention.key_length": 0}, "key_length is 0"),
    "value_length-0": ({"gpt-oss.attention.value_length": 0}, "value_length is 0"),
    "value_length-32": ({"gpt-oss.attention.value_length": 32}, "attn_v.weight has 64 per token"),
    "rope-scaling": ({"gpt-oss.rope.scaling.type": Meta(VT.STRING, "bogus")}, "RoPE scaling of 'bogus'"),
    "token-types": (
        {"tokenizer.ggml.token_type": Meta(VT.ARRAY, [1] * 10, VT.INT32)},
        "entries in tokenizer.ggml.token_type",
    ),
}


@pytest.mark.parametrize(("change", "message"), ABORTS.values(), ids=ABORTS.keys())
def test_hyperparameters_llama_cpp_aborts_on_are_refused(
    tmp_path: Path, tiny_gpt_oss: Path, change: dict[str, Meta | int], message: str
) -> None:
    path = rewrite_gguf(tiny_gpt_oss, tmp_path / "aborts.gguf", change)
    error = _read_bounded(path)
    assert message in str(error)
    assert "cannot be loaded: its header says" in str(error)


def test_a_token_listed_twice_is_refused(tmp_path: Path, tiny_gpt_oss: Path) -> None:
    path = rewrite_gguf(
        tiny_gpt_oss, tmp_path / "twice.gguf", {"tokenizer.ggml.tokens": _tokens_with_a_duplicate(tiny_gpt_oss)}
    )
    assert "twice (ids 100 and 101)" in str(_read_bounded(path))


def test_the_rewritten_model_is_accepted_unchanged(tmp_path: Path, tiny_gpt_oss: Path) -> None:
    """The files above differ from a good one only in the number they change."""
    path = rewrite_gguf(tiny_gpt_oss, tmp_path / "same.gguf", {})
    header = read_gguf_header(path)
    assert model_layout(header).n_layers == 2 and header.tokens == read_gguf_header(tiny_gpt_oss).tokens


def test_a_file_not_named_gguf_is_told_what_a_model_file_is(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(ModelFileError, match=r"notes.txt is not a GGUF model file.*files ending in \.gguf"):
        read_gguf_header(notes)
