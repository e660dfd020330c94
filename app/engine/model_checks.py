"""Checks of a GGUF header's hyper-parameters and vocabulary that llama.cpp makes with an abort.

llama.cpp checks much of a model file with ``GGML_ASSERT``, which does not fail the load: it aborts the
process (SIGABRT, and nothing on stderr with logging off). A file that says it has 0 or 1,000 layers, 0 experts
while using 2, more experts used than it has, an unknown RoPE scaling, or a token listed twice would take the
window down with it. These checks mirror llama.cpp's own (src/llama-model.cpp ``load_hparams``,
src/llama-vocab.cpp ``load``) and check the tensor table against the numbers Moss's planner reads, so such a
file is refused with a sentence before llama.cpp sees it. What they cannot know, a child process finds out
(app.engine.load_probe).

Only what llama.cpp would refuse anyway is refused here: a check that turned away a model llama.cpp runs would
be a worse bug than the crash it prevents.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from gguf import MODEL_ARCH_NAMES

from app.core.errors import ModelFileError

if TYPE_CHECKING:
    from app.engine.gguf_header import GGUFHeader

LLAMA_MAX_LAYERS = 512  # src/llama-hparams.h
LLAMA_MAX_EXPERTS = 512
ROPE_SCALING_TYPES = frozenset({"none", "linear", "yarn", "longrope"})  # llama_rope_scaling_type_from_string
_U32_LIMIT = 2**32
# Every number the planner reads (app.engine.model_layout), as llama.cpp stores it: a uint32 (or one per layer).
SIZING_KEYS = (
    "block_count",
    "context_length",
    "embedding_length",
    "feed_forward_length",
    "expert_feed_forward_length",
    "attention.head_count",
    "attention.head_count_kv",
    "attention.key_length",
    "attention.value_length",
    "attention.sliding_window",
    "vocab_size",
    "expert_count",
    "expert_used_count",
)
# Architectures whose attention projections have the usual shapes: attn_k is {n_embd, n_head_kv * key_length}
# and attn_v is {n_embd, n_head_kv * value_length}. Others (fused, latent or gated attention) are left to the
# probe rather than guessed at.
_STANDARD_ATTENTION = frozenset(
    {"gpt-oss", "llama", "mistral", "qwen2", "qwen2moe", "qwen3", "qwen3moe", "gemma", "gemma2", "gemma3", "granite"}
)
_LAYER = re.compile(r"^blk\.(\d+)\.")
_KNOWN_ARCHITECTURES = frozenset(MODEL_ARCH_NAMES.values())


def check_model_header(header: GGUFHeader) -> None:
    """Raise ModelFileError if llama.cpp would abort on ``header`` (or Moss could not size it safely)."""
    if not header.tensors:
        return  # a vocabulary, or a metadata-only part of a split model: refused or merged elsewhere
    _check_vocabulary(header)
    _check_numbers(header)
    # The planner loops over the layers, whatever the architecture: their number is bounded for all.
    value = _value(header, "block_count")
    n_layers = _scalar(header, "block_count")
    if value is not None and n_layers is None:
        raise _refused(header, f"the number of layers is {str(value)[:60]}, not one number")
    if n_layers is not None and n_layers > LLAMA_MAX_LAYERS:
        raise _refused(header, f"it has {n_layers:,} layers (llama.cpp runs at most {LLAMA_MAX_LAYERS})")
    # llama.cpp stops at an architecture it does not know before it reads any of these (a clean error).
    if header.architecture not in _KNOWN_ARCHITECTURES:
        return
    if n_layers is not None:  # none: llama.cpp refuses the file with "key not found" (cleanly)
        _check_layers(header, n_layers)
    _check_experts(header)
    rope = header.metadata.get(f"{header.architecture}.rope.scaling.type")
    if isinstance(rope, str) and rope not in ROPE_SCALING_TYPES:
        raise _refused(header, f"a RoPE scaling of {rope[:40]!r}, which llama.cpp does not know")
    _check_attention(header)


def _refused(header: GGUFHeader, says: str) -> ModelFileError:
    message = (
        f"{header.path.name} cannot be loaded: its header says {says}. The file is damaged or was converted "
        "wrongly; use another GGUF of this model."
    )
    return ModelFileError(" ".join(message.splitlines()))  # text from the file never breaks the line


def _value(header: GGUFHeader, key: str) -> Any:
    return header.metadata.get(f"{header.architecture}.{key}")


def _ints(value: Any) -> list[int] | None:
    """The integers of a number or of a per-layer list of numbers; None for anything else."""
    items = value if isinstance(value, list) else [value]
    if all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        return items
    return None


def _scalar(header: GGUFHeader, key: str) -> int | None:
    value = _value(header, key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _check_vocabulary(header: GGUFHeader) -> None:
    tokens = header.tokens
    if not tokens:
        return
    seen: dict[str, int] = {}
    for token_id, text in enumerate(tokens):
        first = seen.setdefault(text, token_id)
        if first != token_id:  # llama.cpp maps text to id and asserts that the map is as long as the list
            raise _refused(header, f"the token {text[:40]!r} twice (ids {first} and {token_id})")
    for key in ("tokenizer.ggml.scores", "tokenizer.ggml.token_type"):
        value = header.metadata.get(key)
        count = len(value) if isinstance(value, list) else value
        if isinstance(count, int) and count != len(tokens):
            raise _refused(header, f"{len(tokens):,} tokens but {count:,} entries in {key}")


def _check_numbers(header: GGUFHeader) -> None:
    for key in SIZING_KEYS:
        value = _value(header, key)
        ints = _ints(value) if value is not None else None
        if ints is not None and any(not 0 <= v < _U32_LIMIT for v in ints):
            raise _refused(header, f"{header.architecture}.{key} is {str(value)[:60]}")


def _check_layers(header: GGUFHeader, n_layers: int) -> None:
    """The layer count, checked as llama.cpp asserts it and against the layers the tensor table holds."""
    if n_layers < 1:
        raise _refused(header, f"it has {n_layers:,} layers (llama.cpp runs 1 to {LLAMA_MAX_LAYERS})")
    nextn = _scalar(header, "nextn_predict_layers") or 0
    if nextn > n_layers:
        raise _refused(header, f"{nextn} of its {n_layers} layers predict further tokens")
    layers = {int(m.group(1)) for t in header.tensors if (m := _LAYER.match(t.name))}
    if layers and max(layers) >= n_layers:
        raise _refused(header, f"it has {n_layers} layers, but it holds tensors of layer {max(layers)}")
    if layers and len(layers) < n_layers - nextn:
        raise _refused(header, f"it has {n_layers} layers, but it holds the tensors of {len(layers)}")


def _check_experts(header: GGUFHeader) -> None:
    n_expert = _scalar(header, "expert_count") or 0
    used_values = _ints(_value(header, "expert_used_count")) or [0]
    used = max(used_values, default=0)
    groups = _scalar(header, "expert_group_count") or 0
    group_used = _scalar(header, "expert_group_used_count") or 0
    if n_expert > LLAMA_MAX_EXPERTS:
        raise _refused(header, f"it has {n_expert:,} experts (llama.cpp runs at most {LLAMA_MAX_EXPERTS})")
    if used > n_expert:
        raise _refused(header, f"each token uses {used} of its {n_expert} experts")
    if n_expert and not used:
        raise _refused(header, f"each token uses none of its {n_expert} experts")
    if not n_expert and groups:
        raise _refused(header, f"{groups} groups of experts but no experts")
    if n_expert and groups >= n_expert:
        raise _refused(header, f"{groups} groups of its {n_expert} experts")
    if groups > 1 and (n_expert % groups or not 0 < group_used < groups):
        raise _refused(header, f"{n_expert} experts in {groups} groups, of which {group_used} are used")


def _check_attention(header: GGUFHeader) -> None:
    """Head sizes of 0, and attention tensors whose shapes contradict the head sizes (llama.cpp builds its
    graph from the numbers and asserts on the mismatch as the context is created)."""
    n_head = _scalar(header, "attention.head_count")
    if not n_head:
        return  # per-layer head counts, or a model without attention (recurrent layers)
    for key in ("attention.key_length", "attention.value_length"):
        if _scalar(header, key) == 0:
            raise _refused(header, f"{header.architecture}.{key} is 0")
    n_embd = _scalar(header, "embedding_length")
    n_head_kv = _value(header, "attention.head_count_kv")
    n_head_kv = n_head if n_head_kv is None else n_head_kv
    swa_sizes = any(_value(header, f"attention.{k}_length_swa") is not None for k in ("key", "value"))
    if header.architecture not in _STANDARD_ATTENTION or not n_embd or not isinstance(n_head_kv, int) or swa_sizes:
        return
    for kind in ("key", "value"):
        head = _scalar(header, f"attention.{kind}_length") or n_embd // n_head
        name = "attn_k" if kind == "key" else "attn_v"
        for tensor in header.tensors:
            # Only a plain projection (from the embedding, one matrix) is judged; anything else is not guessed at.
            projection = tensor.name.startswith("blk.") and tensor.name.endswith(f".{name}.weight")
            plain = projection and len(tensor.shape) == 2 and tensor.shape[0] == n_embd
            if plain and tensor.shape[1] != n_head_kv * head:
                raise _refused(
                    header,
                    f"{n_head_kv} attention heads of {head} values, but {tensor.name} has {tensor.shape[1]} per token",
                )
