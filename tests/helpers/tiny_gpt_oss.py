"""A tiny, randomly initialised gpt-oss GGUF that real llama.cpp loads and runs in milliseconds.

The file has the same architecture, tensor set, tokenizer kind and chat template as OpenAI's gpt-oss
releases, only scaled down, so tests exercise the real loading / tokenizing / sampling paths without
downloading gigabytes. Its output is noise: tests may rely on *how* it generates, never on *what*.

Hyper-parameters (keys under ``gpt-oss.``):
    block_count 2, embedding_length 64, attention.head_count 2, attention.head_count_kv 1,
    attention.key_length / value_length 64 (head_dim 64, n_rot 64), attention.sliding_window 8
    (every other layer is sliding-window, llama.cpp's default pattern for gpt-oss),
    expert_count 4, expert_used_count 2, expert_feed_forward_length 96, context_length 4096,
    rope.freq_base 150000, attention.layer_norm_rms_eps 1e-5.

Tensors (exactly what llama.cpp's gpt-oss loader asks for; it rejects extra ones):
    token_embd, output_norm, output, and per block attn_norm, post_attention_norm,
    attn_q/k/v/output weight + bias, attn_sinks, ffn_gate_inp weight + bias and
    ffn_gate_exps/ffn_up_exps/ffn_down_exps weight + bias. Expert weights are MXFP4 (as in the
    real release, file_type MOSTLY_MXFP4_MOE); everything else is F32.

Tokenizer (``gpt2`` model, ``gpt-4o`` pre-tokenizer, no BOS added):
    ids   0..255  the 256 byte symbols in GPT-2 ``bytes_to_unicode`` order (id 0 is "!")
    ids 256..261  merged tokens, in merge order: "hi", "Ġt", "he", "Ġthe", "an", "in"
    ids 262..270  harmony control tokens (token_type CONTROL), see ``SPECIAL_TOKEN_IDS``
bos = <|startoftext|> (262), eos = <|return|> (264), padding = <|endoftext|> (263).
llama.cpp itself treats <|return|>, <|call|> and <|endoftext|> as end-of-generation; it drops
<|end|> from that set because <|return|> and <|call|> are both present, like for the real model.

The chat template is OpenAI's gpt-oss template, vendored from llama.cpp
(``models/templates/openai-gpt-oss-120b.jinja``) next to this file.
"""

from __future__ import annotations

import pathlib

import gguf
import numpy as np
import numpy.typing as npt

from app.devtools.replicas import TEMPLATE_PATH
from tests.helpers.gguf_writing import gguf_file

N_LAYER = 2
N_EMBD = 64
N_HEAD = 2
N_HEAD_KV = 1
HEAD_DIM = 64
N_EXPERT = 4
N_EXPERT_USED = 2
N_FF_EXP = 96  # MXFP4 rows must be a multiple of 32
SLIDING_WINDOW = 8
CONTEXT_LENGTH = 4096
ROPE_FREQ_BASE = 150000.0
RMS_EPS = 1e-5

# (left, right) pairs; each merge's result is also added to the vocabulary, in this order.
MERGES: tuple[tuple[str, str], ...] = (
    ("h", "i"),
    ("Ġ", "t"),
    ("h", "e"),
    ("Ġt", "he"),
    ("a", "n"),
    ("i", "n"),
)

# Harmony special tokens, in the order of their ids (the same relative order as in o200k_harmony).
SPECIAL_TOKENS: tuple[str, ...] = (
    "<|startoftext|>",
    "<|endoftext|>",
    "<|return|>",
    "<|constrain|>",
    "<|channel|>",
    "<|start|>",
    "<|end|>",
    "<|message|>",
    "<|call|>",
)
FIRST_SPECIAL_ID = 256 + len(MERGES)
SPECIAL_TOKEN_IDS: dict[str, int] = {text: FIRST_SPECIAL_ID + i for i, text in enumerate(SPECIAL_TOKENS)}
N_VOCAB = FIRST_SPECIAL_ID + len(SPECIAL_TOKENS)

BOS_ID = SPECIAL_TOKEN_IDS["<|startoftext|>"]
EOS_ID = SPECIAL_TOKEN_IDS["<|return|>"]
PAD_ID = SPECIAL_TOKEN_IDS["<|endoftext|>"]


def _byte_symbols() -> list[str]:
    """GPT-2's ``bytes_to_unicode`` symbols, in its order (printable bytes first)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    symbols = [chr(b) for b in printable]
    extra = 0
    for b in range(256):
        if b not in printable:
            symbols.append(chr(256 + extra))
            extra += 1
    return symbols


def _tokens() -> tuple[list[str], list[int]]:
    tokens = _byte_symbols() + [left + right for left, right in MERGES] + list(SPECIAL_TOKENS)
    types = [gguf.TokenType.NORMAL] * (N_VOCAB - len(SPECIAL_TOKENS)) + [gguf.TokenType.CONTROL] * len(SPECIAL_TOKENS)
    assert len(tokens) == N_VOCAB == len(set(tokens))
    return tokens, [int(t) for t in types]


def write_tiny_gpt_oss(
    path: pathlib.Path, *, seed: int = 0, context_length: int = CONTEXT_LENGTH, split_max_tensors: int = 0
) -> pathlib.Path:
    """Write the tiny gpt-oss model to ``path`` (parents created) and return ``path``.

    The same seed always gives a byte-identical file. With ``split_max_tensors`` the model is written as split
    files named like the real 120b ones (``<stem>-00001-of-0000N.gguf``, next to ``path``), and the first
    one is returned.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arch = gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.GPT_OSS]

    def rand(*shape: int, scale: float = 0.02) -> npt.NDArray[np.float32]:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def ones(n: int) -> npt.NDArray[np.float32]:
        return np.ones(n, dtype=np.float32)

    with gguf_file(path, arch, split_max_tensors=split_max_tensors) as writer:
        writer.add_type(gguf.GGUFType.MODEL)
        writer.add_name("Moss tiny gpt-oss (random weights, tests only)")
        writer.add_file_type(gguf.LlamaFileType.MOSTLY_MXFP4_MOE)
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)

        writer.add_block_count(N_LAYER)
        writer.add_context_length(context_length)
        writer.add_embedding_length(N_EMBD)
        writer.add_feed_forward_length(N_FF_EXP)
        writer.add_head_count(N_HEAD)
        writer.add_head_count_kv(N_HEAD_KV)
        writer.add_key_length(HEAD_DIM)
        writer.add_value_length(HEAD_DIM)
        writer.add_rope_freq_base(ROPE_FREQ_BASE)
        writer.add_layer_norm_rms_eps(RMS_EPS)
        writer.add_expert_count(N_EXPERT)
        writer.add_expert_used_count(N_EXPERT_USED)
        writer.add_expert_feed_forward_length(N_FF_EXP)
        writer.add_sliding_window(SLIDING_WINDOW)

        tokens, types = _tokens()
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre("gpt-4o")
        writer.add_token_list(tokens)
        writer.add_token_types(types)
        writer.add_token_merges([f"{left} {right}" for left, right in MERGES])
        writer.add_bos_token_id(BOS_ID)
        writer.add_eos_token_id(EOS_ID)
        writer.add_pad_token_id(PAD_ID)
        writer.add_add_bos_token(False)
        writer.add_chat_template(TEMPLATE_PATH.read_text(encoding="utf-8"))

        # numpy shapes are ggml's reversed: ggml {n_embd, n_vocab} is numpy (n_vocab, n_embd).
        writer.add_tensor("token_embd.weight", rand(N_VOCAB, N_EMBD, scale=1.0))
        writer.add_tensor("output_norm.weight", ones(N_EMBD))
        writer.add_tensor("output.weight", rand(N_VOCAB, N_EMBD))

        q_dim, kv_dim = N_HEAD * HEAD_DIM, N_HEAD_KV * HEAD_DIM
        mxfp4 = gguf.GGMLQuantizationType.MXFP4
        for i in range(N_LAYER):
            blk = f"blk.{i}"
            writer.add_tensor(f"{blk}.attn_norm.weight", ones(N_EMBD))
            writer.add_tensor(f"{blk}.post_attention_norm.weight", ones(N_EMBD))
            writer.add_tensor(f"{blk}.attn_q.weight", rand(q_dim, N_EMBD))
            writer.add_tensor(f"{blk}.attn_q.bias", rand(q_dim))
            writer.add_tensor(f"{blk}.attn_k.weight", rand(kv_dim, N_EMBD))
            writer.add_tensor(f"{blk}.attn_k.bias", rand(kv_dim))
            writer.add_tensor(f"{blk}.attn_v.weight", rand(kv_dim, N_EMBD))
            writer.add_tensor(f"{blk}.attn_v.bias", rand(kv_dim))
            writer.add_tensor(f"{blk}.attn_output.weight", rand(N_EMBD, q_dim))
            writer.add_tensor(f"{blk}.attn_output.bias", rand(N_EMBD))
            writer.add_tensor(f"{blk}.attn_sinks.weight", rand(N_HEAD, scale=1.0))
            writer.add_tensor(f"{blk}.ffn_gate_inp.weight", rand(N_EXPERT, N_EMBD))
            writer.add_tensor(f"{blk}.ffn_gate_inp.bias", rand(N_EXPERT))
            for name, rows, cols in (
                ("ffn_gate_exps", N_FF_EXP, N_EMBD),
                ("ffn_up_exps", N_FF_EXP, N_EMBD),
                ("ffn_down_exps", N_EMBD, N_FF_EXP),
            ):
                weight = gguf.quants.quantize(rand(N_EXPERT, rows, cols), mxfp4)
                writer.add_tensor(f"{blk}.{name}.weight", weight, raw_dtype=mxfp4)
                writer.add_tensor(f"{blk}.{name}.bias", rand(N_EXPERT, rows))
    if split_max_tensors:
        return next(path.parent.glob(f"{path.stem}-00001-of-*.gguf"))
    return path
