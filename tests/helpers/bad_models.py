"""Broken or unusable "model" files, for testing how Moss rejects them.

Each writer puts one file into ``folder`` (created if missing) and returns its path:

* ``write_not_gguf``             ``notes.gguf``: plain text with a model-like name.
* ``write_truncated``            ``<src stem>-truncated.gguf``: the first half of a real GGUF (valid
                                 header and metadata, tensor data cut off).
* ``write_vocab_only``           ``vocab-only.gguf``: llama hyper-parameters and a complete llama/SPM
                                 tokenizer but zero tensors, like llama.cpp's ``ggml-vocab-*.gguf``.
* ``write_unknown_architecture`` ``mossnet.gguf``: a well-formed GGUF with two small tensors whose
                                 ``general.architecture`` ("mossnet") llama.cpp does not know.

llama.cpp refuses all of them: ``Llama(model_path=...)`` raises ``ValueError`` ("Failed to load model
from file"). With ``verbose=True`` it logs e.g. ``unknown model architecture: 'mossnet'``.
"""

from __future__ import annotations

import pathlib
import shutil
from typing import BinaryIO

import gguf
import numpy as np

from tests.helpers.gguf_writing import gguf_file

UNKNOWN_ARCHITECTURE = "mossnet"


def write_not_gguf(folder: pathlib.Path) -> pathlib.Path:
    """A text file that only looks like a model by its name."""
    path = _prepare(folder) / "notes.gguf"
    path.write_text(
        "Shopping list\n- coffee\n- a bigger GPU\n\nThis is not a model, whatever its name says.\n",
        encoding="utf-8",
    )
    return path


class _Head:
    """A file-like reader that stops after ``limit`` bytes."""

    def __init__(self, stream: BinaryIO, limit: int) -> None:
        self._stream = stream
        self._left = limit

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        if size < 0 or size > self._left:
            size = self._left
        data = self._stream.read(size)
        self._left -= len(data)
        return data


def write_truncated(src: pathlib.Path, folder: pathlib.Path) -> pathlib.Path:
    """A copy of the GGUF ``src`` cut to half its size, as left by an interrupted download.

    Streams the bytes, so ``src`` may be large.
    """
    src = pathlib.Path(src)
    path = _prepare(folder) / f"{src.stem}-truncated.gguf"
    keep = src.stat().st_size // 2
    with src.open("rb") as fsrc, path.open("wb") as fdst:
        shutil.copyfileobj(_Head(fsrc, keep), fdst)
    return path


def write_vocab_only(folder: pathlib.Path) -> pathlib.Path:
    """A llama GGUF with hyper-parameters and a full SentencePiece-style tokenizer, but no tensors."""
    path = _prepare(folder) / "vocab-only.gguf"

    tokens = ["<unk>", "<s>", "</s>"]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [gguf.TokenType.BYTE] * 256
    pieces = [
        "▁",
        "e",
        "t",
        "a",
        "o",
        "h",
        "i",
        "l",
        "n",
        "s",
        "▁t",
        "▁h",
        "he",
        "▁the",
        "▁hi",
        "ll",
        "▁hello",
    ]
    tokens += pieces
    types += [gguf.TokenType.NORMAL] * len(pieces)
    scores = [0.0] * (3 + 256) + [-float(i) for i in range(len(pieces))]

    with gguf_file(path, "llama") as writer:
        writer.add_type(gguf.GGUFType.MODEL)
        writer.add_name("Moss test vocabulary")
        writer.add_file_type(gguf.LlamaFileType.ALL_F32)
        writer.add_vocab_size(len(tokens))
        writer.add_context_length(4096)
        writer.add_embedding_length(64)
        writer.add_block_count(2)
        writer.add_feed_forward_length(128)
        writer.add_rope_dimension_count(32)
        writer.add_head_count(2)
        writer.add_head_count_kv(2)
        writer.add_layer_norm_rms_eps(1e-5)
        writer.add_tokenizer_model("llama")
        writer.add_tokenizer_pre("default")
        writer.add_token_list(tokens)
        writer.add_token_scores(scores)
        writer.add_token_types([int(t) for t in types])
        writer.add_unk_token_id(0)
        writer.add_bos_token_id(1)
        writer.add_eos_token_id(2)
        writer.add_add_bos_token(True)
        writer.add_add_eos_token(False)
    return path


def write_unknown_architecture(folder: pathlib.Path) -> pathlib.Path:
    """A structurally valid GGUF (metadata and two F32 tensors) for an architecture llama.cpp lacks."""
    path = _prepare(folder) / f"{UNKNOWN_ARCHITECTURE}.gguf"
    rng = np.random.default_rng(0)
    with gguf_file(path, UNKNOWN_ARCHITECTURE) as writer:
        writer.add_type(gguf.GGUFType.MODEL)
        writer.add_name("MossNet (not a real architecture)")
        writer.add_file_type(gguf.LlamaFileType.ALL_F32)
        writer.add_context_length(2048)
        writer.add_embedding_length(8)
        writer.add_block_count(0)
        writer.add_tensor("token_embd.weight", rng.standard_normal((16, 8)).astype(np.float32))
        writer.add_tensor("output_norm.weight", np.ones(8, dtype=np.float32))
    return path


def _prepare(folder: pathlib.Path) -> pathlib.Path:
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
