"""The header-only gpt-oss replicas read like the real ggml-org files and cost almost no disk.

Expected numbers are the real files' (llama.cpp load logs of ggml-org's gpt-oss-20b-mxfp4.gguf and
gpt-oss-120b-mxfp4-0000{1..3}-of-00003.gguf): "type f32 / q8_0 / mxfp4" counts, "file size = 11.27 GiB" /
"59.02 GiB" (the sum of the tensor sizes) and "model params = 20.91 B" / "116.83 B".
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from pathlib import Path

import gguf
import numpy as np
import pytest

from app.devtools import replicas
from app.devtools.replicas import ReplicaSize, write_gpt_oss_replica
from app.engine.gguf_header import GGUFHeader, read_gguf_header

GIB = 2**30
SIZES: tuple[ReplicaSize, ...] = ("20b", "120b")
N_LAYER = {"20b": 24, "120b": 36}
N_EXPERT = {"20b": 32, "120b": 128}
TENSOR_GIB = {"20b": 11.27, "120b": 59.02}
EXPERT_GIB_PER_LAYER = {"20b": 0.394, "120b": 1.576}
PARAMS_B = {"20b": 20.91, "120b": 116.83}
TYPE_COUNTS = {
    "20b": {
        gguf.GGMLQuantizationType.F32: 289,
        gguf.GGMLQuantizationType.Q8_0: 98,
        gguf.GGMLQuantizationType.MXFP4: 72,
    },
    "120b": {
        gguf.GGMLQuantizationType.F32: 433,
        gguf.GGMLQuantizationType.Q8_0: 146,
        gguf.GGMLQuantizationType.MXFP4: 108,
    },
}


@pytest.fixture(scope="module")
def replica_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("replicas")
    paths: dict[str, Path] = {}
    for size in SIZES:
        started = time.perf_counter()
        paths[size] = write_gpt_oss_replica(folder / f"gpt-oss-{size}-mxfp4.gguf", size)
        assert time.perf_counter() - started < 10.0, "writing a replica must take seconds"
    return paths


@pytest.fixture(scope="module")
def headers(replica_paths: dict[str, Path]) -> dict[str, GGUFHeader]:
    return {size: read_gguf_header(path) for size, path in replica_paths.items()}


@pytest.mark.parametrize("size", SIZES)
def test_the_reader_accepts_the_replica_as_complete(replica_paths: dict[str, Path], size: str) -> None:
    started = time.perf_counter()
    header = read_gguf_header(replica_paths[size])
    elapsed = time.perf_counter() - started
    assert header.version == 3
    assert header.file_size == replica_paths[size].stat().st_size
    # The file ends exactly where the last (aligned) tensor ends, as in a file GGUFWriter writes with data.
    last = max(header.tensors, key=lambda t: t.offset)
    assert header.file_size == header.data_offset + last.offset + -(-last.n_bytes // 32) * 32
    assert header.data_offset % 32 == 0
    # 201k tokens and 446k merges: the header is as big as the real one's order of magnitude (~11 MB).
    assert 8_000_000 < header.data_offset < 16_000_000
    assert elapsed < 2.0


@pytest.mark.parametrize("size", SIZES)
def test_tensor_bytes_add_up_to_the_real_file(headers: dict[str, GGUFHeader], size: str) -> None:
    header = headers[size]
    total = sum(t.n_bytes for t in header.tensors)
    assert total / GIB == pytest.approx(TENSOR_GIB[size], rel=0.01)
    assert round(total / GIB, 2) == TENSOR_GIB[size]  # llama.cpp's "file size = 11.27 GiB" / "59.02 GiB"
    params = sum(math.prod(t.shape) for t in header.tensors)
    assert round(params / 1e9, 2) == PARAMS_B[size]  # llama.cpp's "model params"
    assert Counter(gguf.GGMLQuantizationType(t.type) for t in header.tensors) == TYPE_COUNTS[size]
    # 20b: the real file is 12.11 GB. 120b: one file, so a single ~11 MB header instead of three shards' headers.
    assert round(header.file_size / 1e9, 2) == {"20b": 12.11, "120b": 63.39}[size]


@pytest.mark.parametrize("size", SIZES)
def test_each_layer_holds_its_experts_in_mxfp4(headers: dict[str, GGUFHeader], size: str) -> None:
    per_layer: Counter[int] = Counter()
    for t in headers[size].tensors:
        if t.name.endswith("_exps.weight"):
            assert t.type == gguf.GGMLQuantizationType.MXFP4
            per_layer[int(t.name.split(".")[1])] += t.n_bytes
    assert sorted(per_layer) == list(range(N_LAYER[size]))
    assert len(set(per_layer.values())) == 1
    assert per_layer[0] / GIB == pytest.approx(EXPERT_GIB_PER_LAYER[size], rel=0.002)


@pytest.mark.parametrize("size", SIZES)
def test_tensor_names_types_and_shapes(headers: dict[str, GGUFHeader], size: str) -> None:
    tensors = {t.name: t for t in headers[size].tensors}
    n_expert, q8, f32 = N_EXPERT[size], gguf.GGMLQuantizationType.Q8_0, gguf.GGMLQuantizationType.F32
    expected = {
        "token_embd.weight": ((2880, 201088), q8),
        "output.weight": ((2880, 201088), q8),
        "output_norm.weight": ((2880,), f32),
        "blk.0.attn_q.weight": ((2880, 4096), q8),
        "blk.0.attn_k.weight": ((2880, 512), q8),
        "blk.0.attn_v.weight": ((2880, 512), q8),
        "blk.0.attn_output.weight": ((4096, 2880), q8),
        "blk.0.attn_output.bias": ((2880,), f32),
        "blk.0.attn_sinks.weight": ((64,), f32),
        "blk.0.ffn_gate_inp.weight": ((2880, n_expert), f32),
        "blk.0.ffn_gate_exps.weight": ((2880, 2880, n_expert), gguf.GGMLQuantizationType.MXFP4),
        "blk.0.ffn_down_exps.weight": ((2880, 2880, n_expert), gguf.GGMLQuantizationType.MXFP4),
        "blk.0.ffn_down_exps.bias": ((2880, n_expert), f32),
    }
    for name, (shape, ggml_type) in expected.items():
        assert (tensors[name].shape, tensors[name].type) == (shape, ggml_type), name
    assert len(tensors) == 3 + 19 * N_LAYER[size]


@pytest.mark.parametrize("size", SIZES)
def test_architecture_numbers_read_back(headers: dict[str, GGUFHeader], size: str) -> None:
    header = headers[size]
    meta = header.metadata
    assert header.architecture == "gpt-oss"
    assert header.context_length == 131072
    expected = {
        "gpt-oss.block_count": N_LAYER[size],
        "gpt-oss.context_length": 131072,
        "gpt-oss.embedding_length": 2880,
        "gpt-oss.feed_forward_length": 2880,
        "gpt-oss.attention.head_count": 64,
        "gpt-oss.attention.head_count_kv": 8,
        "gpt-oss.attention.key_length": 64,
        "gpt-oss.attention.value_length": 64,
        "gpt-oss.attention.sliding_window": 128,
        "gpt-oss.expert_count": N_EXPERT[size],
        "gpt-oss.expert_used_count": 4,
        "gpt-oss.expert_feed_forward_length": 2880,
        "gpt-oss.rope.freq_base": 150000.0,
        "gpt-oss.rope.scaling.type": "yarn",
        "gpt-oss.rope.scaling.factor": 32.0,
        "gpt-oss.rope.scaling.original_context_length": 4096,
        "general.file_type": 38,
        "general.size_label": size.upper(),
        "general.name": f"Gpt Oss {size}",
    }
    assert {key: meta.get(key) for key in expected} == expected
    assert meta["gpt-oss.attention.layer_norm_rms_epsilon"] == pytest.approx(1e-5)
    assert not any(key.startswith("split.") for key in meta), "one file, not shards"


@pytest.mark.parametrize("size", SIZES)
def test_tokenizer_has_the_real_size_and_special_ids(headers: dict[str, GGUFHeader], size: str) -> None:
    header = headers[size]
    assert len(header.tokens) == 201088
    assert header.metadata["tokenizer.ggml.merges"] == 446189  # the reader keeps only the count
    assert header.metadata["tokenizer.ggml.model"] == "gpt2"
    assert header.metadata["tokenizer.ggml.pre"] == "gpt-4o"
    assert header.token_text("bos") == "<|startoftext|>"
    assert header.token_text("eos") == "<|return|>"
    assert header.token_text("padding") == "<|endoftext|>"
    for token_id, text in {200003: "<|constrain|>", 200005: "<|channel|>", 200006: "<|start|>"}.items():
        assert header.tokens[token_id] == text
    assert (header.tokens[200007], header.tokens[200008], header.tokens[200012]) == (
        "<|end|>",
        "<|message|>",
        "<|call|>",
    )
    assert header.tokens[201087] == "<|reserved_201087|>"
    assert header.chat_template is not None and "<|channel|>" in header.chat_template


@pytest.mark.skipif(not hasattr(os.stat_result, "st_blocks"), reason="st_blocks is POSIX-only")
@pytest.mark.parametrize("size", SIZES)
def test_the_replica_is_sparse(replica_paths: dict[str, Path], size: str) -> None:
    stat = replica_paths[size].stat()
    assert stat.st_blocks * 512 < 64 * 2**20  # the ~11 MB header, not 12 / 63 GB of data
    assert stat.st_blocks * 512 < stat.st_size / 100


def test_the_bulk_array_packing_writes_what_gguf_writer_writes(tmp_path: Path) -> None:
    def write(cls: type[gguf.GGUFWriter], path: Path) -> bytes:
        writer = cls(path, "gpt-oss")
        writer.add_token_list(["!", "Ġthe", "日本", "<|start|>", ""])
        writer.add_token_types([1, 1, 1, 3, -1])
        writer.add_token_merges(["Ġ t", "h e"])
        writer.add_token_scores([0.5, -1.0])  # not bulk-packed: floats go through the stock writer
        writer.add_tags(["vllm", "text-generation"])
        writer.add_array("test.bools", [True, False])
        writer.add_tensor_info("t.weight", (2, 32), np.dtype(np.float32), 256)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        writer.close()
        return path.read_bytes()

    assert write(replicas._FastArrayWriter, tmp_path / "fast.gguf") == write(gguf.GGUFWriter, tmp_path / "stock.gguf")


def test_a_live_replica_has_data_where_the_next_token_and_the_experts_are_chosen(tmp_path: Path) -> None:
    """tools/gpu_check measures speed on live replicas: each token must route to its own experts and greedy
    decoding must walk through ordinary tokens, never an end-of-generation one (their output rows are zeros)."""
    plain = write_gpt_oss_replica(tmp_path / "plain.gguf", "20b")
    live = write_gpt_oss_replica(tmp_path / "live.gguf", "20b", live=True)
    header = read_gguf_header(live)
    assert live.stat().st_size == plain.stat().st_size
    with plain.open("rb") as a, live.open("rb") as b:
        assert a.read(header.data_offset) == b.read(header.data_offset), "the same header and tensor table"
    if hasattr(os.stat_result, "st_blocks"):
        assert live.stat().st_blocks * 512 < 80 * 2**20  # the header and ~35 MB of data: still sparse

    tensors = {t.name: t for t in header.tensors}

    def read(name: str, dtype: str, count: int, skip: int = 0) -> np.ndarray:
        t = tensors[name]
        return np.fromfile(live, dtype=dtype, count=count, offset=header.data_offset + t.offset + skip)

    assert (read("output_norm.weight", "<f4", 2880) == 1.0).all()
    assert (read("blk.23.post_attention_norm.weight", "<f4", 2880) == 1.0).all()
    router = read("blk.0.ffn_gate_inp.weight", "<f4", 2880 * 32)
    assert 0.01 < router.std() < 0.03 and len(np.unique(router)) > 1000
    assert not read("blk.0.attn_q.weight", "u1", 4096).any(), "attention weights stay a hole"
    row = 2880 // 32 * 34  # one row of Q8_0 blocks
    block = np.dtype([("scale", "<f2"), ("quants", "i1", (32,))])
    for name in ("token_embd.weight", "output.weight"):
        first = read(name, "u1", replicas.LIVE_ROWS * row).view(block)
        assert (first["scale"] == np.float16(0.01)).all() and first["quants"].std() > 50
        assert not read(name, "u1", 16 * row, skip=replicas.LIVE_ROWS * row).any()
        eog = 199999  # <|endoftext|>, then <|return|> (200002) and <|call|> (200012): rows of zeros, logit 0
        assert not read(name, "u1", 14 * row, skip=eog * row).any()
