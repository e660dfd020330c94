"""Header-only replicas of the real gpt-oss GGUFs: true header and tensor table, no weights, full size on disk.

``write_gpt_oss_replica(path, "20b" | "120b")`` writes a file whose header is what ggml-org's
``gpt-oss-20b-mxfp4.gguf`` / ``gpt-oss-120b-mxfp4-0000{1..3}-of-00003.gguf`` describe: the same metadata keys and
values, the same 459 / 687 tensors with their real names, ggml types and shapes, and a tokenizer with the real
201088-entry vocabulary size and 446189 merges. The 120b model is written as ONE file holding all tensors (no
``split.*`` keys). The tensor data is not written: the file is extended to its full size with ``truncate``, which
leaves a sparse hole, so a 59 GiB replica takes a few MB of real disk (on file systems with sparse files: ext4,
xfs, btrfs, APFS; tmpfs too) and is written in about a second. Reading the "weights" gives zeros.

Tensor types (as in the ggml-org files: ``type f32: 289 / 433``, ``q8_0: 98 / 146``, ``mxfp4: 72 / 108`` in
llama.cpp's load log, file size 11.27 GiB / 59.02 GiB):
    MXFP4  ffn_gate_exps / ffn_up_exps / ffn_down_exps weights (3 per layer)
    Q8_0   token_embd, output, and per layer attn_q / attn_k / attn_v / attn_output weights (4 per layer + 2)
    F32    output_norm, and per layer attn_norm, post_attention_norm, the 4 attention biases, attn_sinks,
           ffn_gate_inp weight + bias and the 3 expert biases (12 per layer + 1)

The tokenizer strings are placeholders: ids 0..255 are GPT-2's byte symbols, 256..199997 short dummy strings,
199998..201087 the harmony special and reserved tokens at their real ids (type CONTROL). Merges are dummy
``"left right"`` pairs, as many as in the real file. The chat template is the vendored gpt-oss template.
The tensor order (token_embd, blocks 0..n-1, output_norm, output) is not claimed to be the real files' order.

With ``live=True`` (``tools/gpu_check`` measures speed on such a file) a few small tensors get data, so that a
run behaves like a model rather than a constant: the norms are ones, the routers random, and the first
``LIVE_ROWS`` rows of the token embedding and of the output head random Q8_0. Each token then routes to its own
experts, as in the real model, and greedy decoding walks through ordinary tokens (the other rows' logits are
zero, below the best of the random ones) and never reaches an end-of-generation token. The attention and expert
weights, 95 % of the file, stay a hole: about 35 MB (20b) / 80 MB (120b) is written.

Checked by hand (not in tests): llama-cpp-python 0.3.36 loads both replicas on CPU (``llama_model_load_from_file``,
``use_extra_bufts=False``) and prints "model type = 20B / 120B", "file size = 11.27 GiB (4.63 BPW) / 59.02 GiB
(4.34 BPW)", "model params = 20.91 B / 116.83 B", as for the real files. Such a load reads the whole mapping
(all zeros), so the process's RSS grows by many GB (11.7 GB for 20b): never load a replica in a test.
"""

from __future__ import annotations

import itertools
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import gguf
import numpy as np

# gpt-oss's chat template as ggml-org's GGUFs carry it (the tiny test model of tests/helpers uses it too).
TEMPLATE_PATH = Path(__file__).with_name("gpt_oss_template.jinja")


ReplicaSize = Literal["20b", "120b"]

N_VOCAB = 201088
N_MERGES = 446189
N_EMBD = 2880
N_FF_EXP = 2880
N_HEAD = 64
N_HEAD_KV = 8
HEAD_DIM = 64
N_EXPERT_USED = 4
CONTEXT_LENGTH = 131072
ROPE_FREQ_BASE = 150000.0
ROPE_SCALING_FACTOR = 32.0
ROPE_ORIGINAL_CONTEXT = 4096
SLIDING_WINDOW = 128
RMS_EPS = 1e-5

BOS_ID = 199998  # <|startoftext|>
PAD_ID = 199999  # <|endoftext|>
EOS_ID = 200002  # <|return|>
# o200k_harmony's named special tokens; every other id from 199998 up is <|reserved_ID|>.
SPECIAL_TOKENS: dict[int, str] = {
    199998: "<|startoftext|>",
    199999: "<|endoftext|>",
    200002: "<|return|>",
    200003: "<|constrain|>",
    200005: "<|channel|>",
    200006: "<|start|>",
    200007: "<|end|>",
    200008: "<|message|>",
    200012: "<|call|>",
}
FIRST_SPECIAL_ID = 199998

F32 = gguf.GGMLQuantizationType.F32
Q8_0 = gguf.GGMLQuantizationType.Q8_0
MXFP4 = gguf.GGMLQuantizationType.MXFP4


@dataclass(frozen=True, slots=True)
class ReplicaSpec:
    name: str  # general.name of the real file
    size_label: str
    n_layer: int
    n_expert: int


SPECS: dict[str, ReplicaSpec] = {
    "20b": ReplicaSpec("Gpt Oss 20b", "20B", n_layer=24, n_expert=32),
    "120b": ReplicaSpec("Gpt Oss 120b", "120B", n_layer=36, n_expert=128),
}


@dataclass(frozen=True, slots=True)
class ReplicaTensor:
    name: str
    shape: tuple[int, ...]  # ggml order (ne0 first), as gguf_header.TensorInfo.shape
    type: gguf.GGMLQuantizationType

    @property
    def n_bytes(self) -> int:
        block, type_size = gguf.GGML_QUANT_SIZES[self.type]
        return math.prod(self.shape) // block * type_size


def replica_tensors(size: ReplicaSize) -> list[ReplicaTensor]:
    """The tensor table of the real ggml-org gpt-oss GGUF of ``size``, in the order the replica writes it."""
    spec = SPECS[size]
    n_expert, q_dim, kv_dim = spec.n_expert, N_HEAD * HEAD_DIM, N_HEAD_KV * HEAD_DIM
    tensors = [ReplicaTensor("token_embd.weight", (N_EMBD, N_VOCAB), Q8_0)]
    for i in range(spec.n_layer):
        blk = f"blk.{i}"
        tensors += [
            ReplicaTensor(f"{blk}.attn_norm.weight", (N_EMBD,), F32),
            ReplicaTensor(f"{blk}.post_attention_norm.weight", (N_EMBD,), F32),
            ReplicaTensor(f"{blk}.attn_q.weight", (N_EMBD, q_dim), Q8_0),
            ReplicaTensor(f"{blk}.attn_q.bias", (q_dim,), F32),
            ReplicaTensor(f"{blk}.attn_k.weight", (N_EMBD, kv_dim), Q8_0),
            ReplicaTensor(f"{blk}.attn_k.bias", (kv_dim,), F32),
            ReplicaTensor(f"{blk}.attn_v.weight", (N_EMBD, kv_dim), Q8_0),
            ReplicaTensor(f"{blk}.attn_v.bias", (kv_dim,), F32),
            ReplicaTensor(f"{blk}.attn_output.weight", (q_dim, N_EMBD), Q8_0),
            ReplicaTensor(f"{blk}.attn_output.bias", (N_EMBD,), F32),
            ReplicaTensor(f"{blk}.attn_sinks.weight", (N_HEAD,), F32),
            ReplicaTensor(f"{blk}.ffn_gate_inp.weight", (N_EMBD, n_expert), F32),
            ReplicaTensor(f"{blk}.ffn_gate_inp.bias", (n_expert,), F32),
            ReplicaTensor(f"{blk}.ffn_gate_exps.weight", (N_EMBD, N_FF_EXP, n_expert), MXFP4),
            ReplicaTensor(f"{blk}.ffn_gate_exps.bias", (N_FF_EXP, n_expert), F32),
            ReplicaTensor(f"{blk}.ffn_up_exps.weight", (N_EMBD, N_FF_EXP, n_expert), MXFP4),
            ReplicaTensor(f"{blk}.ffn_up_exps.bias", (N_FF_EXP, n_expert), F32),
            ReplicaTensor(f"{blk}.ffn_down_exps.weight", (N_FF_EXP, N_EMBD, n_expert), MXFP4),
            ReplicaTensor(f"{blk}.ffn_down_exps.bias", (N_EMBD, n_expert), F32),
        ]
    tensors += [
        ReplicaTensor("output_norm.weight", (N_EMBD,), F32),
        ReplicaTensor("output.weight", (N_EMBD, N_VOCAB), Q8_0),
    ]
    return tensors


def _byte_symbols() -> list[str]:
    """GPT-2's ``bytes_to_unicode`` symbols in its order (the real vocabulary starts "!", '"', "#", ...)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    unprintable = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + i) for i in range(len(unprintable))]


def _vocab() -> tuple[list[str], list[int], list[str]]:
    """Placeholder tokens, token types and merges with the real counts and special ids."""
    symbols = _byte_symbols()
    tokens = symbols + [f"Ġt{i:x}" for i in range(len(symbols), FIRST_SPECIAL_ID)]
    tokens += [SPECIAL_TOKENS.get(i, f"<|reserved_{i}|>") for i in range(FIRST_SPECIAL_ID, N_VOCAB)]
    types = [int(gguf.TokenType.NORMAL)] * FIRST_SPECIAL_ID + [int(gguf.TokenType.CONTROL)] * (
        N_VOCAB - FIRST_SPECIAL_ID
    )
    merges = [f"Ġ t{i:x}" for i in range(N_MERGES)]
    return tokens, types, merges


class _FastArrayWriter(gguf.GGUFWriter):
    """GGUFWriter that packs long string / int32 arrays in bulk: byte-identical output, 5x faster for the vocab.

    The stock writer packs array items one ``struct.pack`` at a time (about 2.5 s for a 201k vocabulary with
    446k merges). Anything else, or a big-endian file, goes through the stock code.
    """

    def _pack_val(
        self, val: Any, vtype: gguf.GGUFValueType, add_vtype: bool, sub_type: gguf.GGUFValueType | None = None
    ) -> bytes:
        if (
            vtype == gguf.GGUFValueType.ARRAY
            and sub_type is None
            and self.endianess == gguf.GGUFEndian.LITTLE
            and isinstance(val, Sequence)
            and len(val) > 0
        ):
            packed = _pack_array_fast(val)
            if packed is not None:
                prefix = struct.pack("<I", gguf.GGUFValueType.ARRAY) if add_vtype else b""
                return prefix + packed
        return bytes(super()._pack_val(val, vtype, add_vtype, sub_type))


def _pack_array_fast(val: Sequence[Any]) -> bytes | None:
    """Item type, count and items of a little-endian GGUF array of str or int32, or None for other arrays."""
    head = struct.Struct("<IQ")
    item_types = set(map(type, val))
    if item_types == {str}:
        encoded = [item.encode("utf-8") for item in val]
        parts: list[bytes] = [b""] * (2 * len(encoded))
        parts[0::2] = map(struct.Struct("<Q").pack, map(len, encoded))
        parts[1::2] = encoded
        return head.pack(gguf.GGUFValueType.STRING, len(val)) + b"".join(parts)
    if item_types == {int}:
        return head.pack(gguf.GGUFValueType.INT32, len(val)) + np.asarray(val, dtype="<i4").tobytes()
    return None


def write_gpt_oss_replica(path: Path, size: ReplicaSize, *, live: bool = False) -> Path:
    """Write a header-only, sparse, full-size replica of ggml-org's gpt-oss-``size`` MXFP4 GGUF; return ``path``.
    With ``live``, the few tensors that choose the experts and the next token get data (see the module doc)."""
    spec = SPECS[size]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = replica_tensors(size)

    writer = _FastArrayWriter(path, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.GPT_OSS])
    try:
        # Keys in the order of the real files' metadata dump.
        writer.add_type(gguf.GGUFType.MODEL)
        writer.add_name(spec.name)
        writer.add_basename("gpt-oss")
        writer.add_size_label(spec.size_label)
        writer.add_license("apache-2.0")
        writer.add_tags(["vllm", "text-generation"])
        writer.add_block_count(spec.n_layer)
        writer.add_context_length(CONTEXT_LENGTH)
        writer.add_embedding_length(N_EMBD)
        writer.add_feed_forward_length(N_FF_EXP)
        writer.add_head_count(N_HEAD)
        writer.add_head_count_kv(N_HEAD_KV)
        writer.add_rope_freq_base(ROPE_FREQ_BASE)
        writer.add_layer_norm_rms_eps(RMS_EPS)
        writer.add_expert_count(spec.n_expert)
        writer.add_expert_used_count(N_EXPERT_USED)
        writer.add_key_length(HEAD_DIM)
        writer.add_value_length(HEAD_DIM)
        writer.add_sliding_window(SLIDING_WINDOW)
        writer.add_expert_feed_forward_length(N_FF_EXP)
        writer.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        writer.add_rope_scaling_factor(ROPE_SCALING_FACTOR)
        writer.add_rope_scaling_orig_ctx_len(ROPE_ORIGINAL_CONTEXT)

        tokens, types, merges = _vocab()
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre("gpt-4o")
        writer.add_token_list(tokens)
        writer.add_token_types(types)
        writer.add_token_merges(merges)
        writer.add_bos_token_id(BOS_ID)
        writer.add_eos_token_id(EOS_ID)
        writer.add_pad_token_id(PAD_ID)
        writer.add_chat_template(TEMPLATE_PATH.read_text(encoding="utf-8"))
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        writer.add_file_type(gguf.LlamaFileType.MOSTLY_MXFP4_MOE)

        for t in tensors:
            # GGUFWriter takes numpy order (ggml's reversed); a non-uint8 dtype keeps the shape in elements.
            raw = None if t.type == F32 else t.type
            writer.add_tensor_info(t.name, tuple(reversed(t.shape)), np.dtype(np.float32), t.n_bytes, raw_dtype=raw)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()  # tensor offsets: each tensor padded to the alignment, as below
    finally:
        writer.close()

    alignment = writer.data_alignment
    data_offset = writer.ggml_pad(path.stat().st_size, alignment)
    total = data_offset + sum(writer.ggml_pad(t.n_bytes, alignment) for t in tensors)
    with path.open("r+b") as handle:
        handle.truncate(total)  # a hole, not written zeros: the data costs no disk
        if live:
            offsets = itertools.accumulate((writer.ggml_pad(t.n_bytes, alignment) for t in tensors), initial=0)
            for tensor, offset in zip(tensors, offsets, strict=False):
                data = _live_data(tensor, np.random.default_rng(zlib.crc32(tensor.name.encode())))
                if data is not None:
                    handle.seek(data_offset + offset)
                    handle.write(data)
    return path


LIVE_ROWS = 4096  # token ids 0 .. LIVE_ROWS-1: ordinary tokens, far below the special ones (199998 and up)


def _live_data(tensor: ReplicaTensor, rng: np.random.Generator) -> bytes | None:
    """The bytes a live replica writes at the start of ``tensor``, or None to leave it a hole (zeros)."""
    if tensor.name.endswith("norm.weight"):
        return np.ones(tensor.shape, dtype="<f4").tobytes()
    if tensor.name.endswith("ffn_gate_inp.weight"):
        return rng.normal(0.0, 0.02, size=math.prod(tensor.shape)).astype("<f4").tobytes()
    if tensor.name in ("token_embd.weight", "output.weight"):
        return _random_q8_0_rows(tensor.shape[0], LIVE_ROWS, rng)
    return None


def _random_q8_0_rows(n_cols: int, n_rows: int, rng: np.random.Generator) -> bytes:
    """``n_rows`` rows of ``n_cols`` random Q8_0 values: blocks of an f16 scale and 32 int8 quants."""
    block = np.dtype([("scale", "<f2"), ("quants", "i1", (32,))])
    blocks = np.zeros(n_rows * n_cols // 32, dtype=block)
    blocks["scale"] = 0.01
    blocks["quants"] = rng.integers(-127, 128, size=(len(blocks), 32), dtype=np.int8)
    return blocks.tobytes()
