"""What a model needs in memory, read from its GGUF header alone (no weights are read).

Per layer: the bytes of its attention and other dense tensors, and the bytes of its MoE expert tensors (which
can live in system RAM while the rest of the layer runs on the GPU: llama.cpp's ``--n-cpu-moe``); the KV
cache it needs per token; and whether it uses a sliding-window cache.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.engine.gguf_header import GGUFHeader
from app.engine.model_checks import check_model_header

# The expert tensors of a layer, as llama.cpp's --n-cpu-moe matches them (common/arg.cpp).
EXPERT_PATTERN = r"\.ffn_(up|down|gate|gate_up)_(ch|)exps"
_EXPERT = re.compile(EXPERT_PATTERN)
_LAYER = re.compile(r"^blk\.(\d+)\.")


@dataclass(frozen=True, slots=True)
class ModelLayout:
    architecture: str
    n_layers: int
    n_ctx_train: int
    n_vocab: int
    n_embd: int
    n_ff: int
    kv_bytes_per_token_f16: tuple[int, ...]  # per layer: K and V of one token, in f16
    sliding_window: int  # 0 when the model has none
    swa_layers: tuple[bool, ...]  # per layer: uses the sliding window
    dense_bytes: tuple[int, ...]  # per layer, everything but the experts
    expert_bytes: tuple[int, ...]  # per layer, the MoE experts (0 for dense models)
    embedding_bytes: int  # token_embd: llama.cpp keeps it in system memory
    output_bytes: int  # output head and final norm: on the GPU with the last layer
    tied_output: bool  # no output head of its own: it reuses token_embd (copied to the GPU when it runs there)

    @property
    def is_moe(self) -> bool:
        return any(self.expert_bytes)

    @property
    def output_gpu_bytes(self) -> int:
        """What the output head takes on the GPU (a copy of the embeddings when they are tied)."""
        return self.output_bytes + (self.embedding_bytes if self.tied_output else 0)

    @property
    def weight_bytes(self) -> int:
        return sum(self.dense_bytes) + sum(self.expert_bytes) + self.embedding_bytes + self.output_bytes


def _int(header: GGUFHeader, key: str, default: int = 0) -> int:
    value = header.metadata.get(f"{header.architecture}.{key}", default)
    if isinstance(value, list):  # some models give a per-layer array; the largest is the safe figure
        value = max((v for v in value if isinstance(v, int)), default=default)
    return int(value) if isinstance(value, int) else default


def model_layout(header: GGUFHeader) -> ModelLayout:
    """The memory ``header``'s model needs; raises ModelFileError for numbers llama.cpp would abort on (the
    checks also bound every count this loops over: a header read from the network has not been checked)."""
    check_model_header(header)
    block_count = header.metadata.get(f"{header.architecture}.block_count")
    n_layers = block_count if isinstance(block_count, int) and not isinstance(block_count, bool) else 0
    dense = [0] * n_layers
    experts = [0] * n_layers
    embedding = output = 0
    for tensor in header.tensors:
        match = _LAYER.match(tensor.name)
        if match and int(match.group(1)) < n_layers:
            layer = int(match.group(1))
            if _EXPERT.search(tensor.name):
                experts[layer] += tensor.n_bytes
            else:
                dense[layer] += tensor.n_bytes
        elif tensor.name.startswith("token_embd."):
            embedding += tensor.n_bytes
        else:
            output += tensor.n_bytes
    n_embd = _int(header, "embedding_length")
    n_head = _int(header, "attention.head_count", 1)
    n_head_kv = _int(header, "attention.head_count_kv", n_head)
    head_k = _int(header, "attention.key_length", n_embd // max(n_head, 1))
    head_v = _int(header, "attention.value_length", head_k)
    window = _int(header, "attention.sliding_window")
    # gpt-oss alternates sliding-window and full-attention layers, starting with a windowed one
    # (llama.cpp: set_swa_pattern(2)). Other models' patterns vary: count them as full, the safe side.
    swa = tuple(bool(window) and header.architecture == "gpt-oss" and i % 2 == 0 for i in range(n_layers))
    n_vocab = int(header.metadata.get("tokenizer.ggml.tokens", 0) or _int(header, "vocab_size"))
    return ModelLayout(
        architecture=header.architecture,
        n_layers=n_layers,
        n_ctx_train=header.context_length,
        n_vocab=n_vocab,
        n_embd=n_embd,
        n_ff=max(_int(header, "feed_forward_length"), _int(header, "expert_feed_forward_length")),
        kv_bytes_per_token_f16=tuple(2 * n_head_kv * (head_k + head_v) for _ in range(n_layers)),
        sliding_window=window if any(swa) else 0,
        swa_layers=swa,
        dense_bytes=tuple(dense),
        expert_bytes=tuple(experts),
        embedding_bytes=embedding,
        output_bytes=output,
        tied_output=not any(t.name == "output.weight" for t in header.tensors),
    )
