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

Crafted headers, for the ways a file can lie (lengths, counts, nesting, hyper-parameters llama.cpp aborts on):

* ``gguf_kv`` / ``gguf_tensor_info`` / ``gguf_bytes``  entries, tensor-table rows and whole files byte by
                                 byte, with lengths and counts that may lie.
* ``small_gguf``                 a small file Moss accepts, with crafted entries added.
* ``take_apart`` / ``rewrite_gguf``  a real small GGUF (the tiny gpt-oss) with its metadata changed and its
                                 tensors and weights kept: a model that is right but for one number.
* ``write_sparse``               a header at the start of a file of many gigabytes that costs no disk.
"""

from __future__ import annotations

import pathlib
import shutil
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

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


# -- crafting GGUF headers byte by byte ------------------------------------------------------------------------
#
# The writers above make files the ``gguf`` package can write; the functions below make the ones it refuses to:
# lengths and counts that lie, nesting and types a fuzzer tries. Every field is little-endian, as in the spec
# (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md).

VT = gguf.GGUFValueType
_SCALAR_FORMATS: dict[gguf.GGUFValueType, str] = {
    VT.UINT8: "<B",
    VT.INT8: "<b",
    VT.UINT16: "<H",
    VT.INT16: "<h",
    VT.UINT32: "<I",
    VT.INT32: "<i",
    VT.FLOAT32: "<f",
    VT.BOOL: "<?",
    VT.UINT64: "<Q",
    VT.INT64: "<q",
    VT.FLOAT64: "<d",
}


@dataclass(frozen=True)
class Meta:
    """One metadata value as it is written: its type, and for arrays the type of the items."""

    vtype: gguf.GGUFValueType
    value: Any
    item_type: gguf.GGUFValueType | None = None


def gguf_string(text: str | bytes, *, length: int | None = None) -> bytes:
    """A GGUF string: a u64 length (``length`` if given, which may lie) and the bytes."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return struct.pack("<Q", len(data) if length is None else length) + data


def gguf_value(meta: Meta, *, count: int | None = None) -> bytes:
    """The bytes of a value without its type tag; ``count`` replaces an array's true item count."""
    if meta.vtype == VT.STRING:
        return gguf_string(meta.value)
    if meta.vtype == VT.ARRAY:
        assert meta.item_type is not None
        items = list(meta.value)
        head = struct.pack("<IQ", int(meta.item_type), len(items) if count is None else count)
        return head + b"".join(_array_item(meta.item_type, item) for item in items)
    return struct.pack(_SCALAR_FORMATS[meta.vtype], meta.value)


def _array_item(item_type: gguf.GGUFValueType, item: Any) -> bytes:
    if item_type == VT.ARRAY:  # nested: each item is itself a Meta of an array
        assert isinstance(item, Meta)
        return gguf_value(item)
    return gguf_value(Meta(item_type, item))


def gguf_kv(key: str | bytes, meta: Meta, *, key_length: int | None = None, count: int | None = None) -> bytes:
    """One metadata entry: key, type tag and value (lengths and counts may lie)."""
    return gguf_string(key, length=key_length) + struct.pack("<I", int(meta.vtype)) + gguf_value(meta, count=count)


def gguf_tensor_info(name: str, shape: Sequence[int], ggml_type: int, offset: int) -> bytes:
    """One entry of the tensor table (``shape`` in ggml order, ``offset`` from the start of the data)."""
    dims = struct.pack(f"<I{len(shape)}Q", len(shape), *shape)
    return gguf_string(name) + dims + struct.pack("<IQ", ggml_type, offset)


def gguf_bytes(
    kvs: Sequence[bytes],
    tensor_infos: Sequence[bytes] = (),
    *,
    n_kv: int | None = None,
    n_tensors: int | None = None,
    version: int = 3,
    data: bytes = b"",
    alignment: int = 32,
) -> bytes:
    """A whole GGUF file: the header (counts may lie), the entries, the tensor table, padding and ``data``."""
    head = b"GGUF" + struct.pack(
        "<IQQ", version, len(tensor_infos) if n_tensors is None else n_tensors, len(kvs) if n_kv is None else n_kv
    )
    body = head + b"".join(kvs) + b"".join(tensor_infos)
    return body + b"\0" * (-len(body) % alignment) + data


@dataclass(frozen=True)
class GGUFParts:
    """A GGUF file taken apart: its metadata in order, its tensor table as written, and its data section."""

    metadata: dict[str, Meta]
    tensor_table: bytes
    n_tensors: int
    data: bytes

    def to_bytes(self, changes: Mapping[str, Meta | None] | None = None) -> bytes:
        """The file again, with ``changes``: a Meta sets a key (new keys go last), None removes it."""
        metadata = dict(self.metadata)
        for key, meta in (changes or {}).items():
            if meta is None:
                metadata.pop(key, None)
            else:
                metadata[key] = meta
        kvs = [gguf_kv(key, meta) for key, meta in metadata.items()]
        alignment = metadata.get("general.alignment", Meta(VT.UINT32, 32)).value
        head = b"GGUF" + struct.pack("<IQQ", 3, self.n_tensors, len(kvs))
        body = head + b"".join(kvs) + self.tensor_table
        return body + b"\0" * (-len(body) % alignment) + self.data


def take_apart(src: pathlib.Path) -> GGUFParts:
    """``src`` (a small GGUF) taken apart with the ``gguf`` package's own reader."""
    reader = gguf.GGUFReader(src)
    metadata: dict[str, Meta] = {}
    for name, field in reader.fields.items():
        if name.startswith("GGUF."):
            continue  # the reader's view of the fixed header
        vtype = field.types[0]
        item_type = field.types[-1] if vtype == VT.ARRAY else None
        metadata[name] = Meta(vtype, field.contents(), item_type)
    raw = src.read_bytes()
    if reader.tensors:
        first = reader.tensors[0].field
        last = reader.tensors[-1].field
        table = raw[first.offset : last.offset + sum(int(p.nbytes) for p in last.parts)]
    else:
        table = b""
    return GGUFParts(metadata, table, len(reader.tensors), raw[reader.data_offset :])


def rewrite_gguf(src: pathlib.Path, dst: pathlib.Path, changes: Mapping[str, Meta | int | None]) -> pathlib.Path:
    """A copy of the GGUF ``src`` at ``dst`` with metadata ``changes``: a Meta sets a key as given, an int sets
    it keeping its type (u32 for a new key), None removes it. Tensors and weights are copied unchanged."""
    parts = take_apart(src)
    typed: dict[str, Meta | None] = {}
    for key, change in changes.items():
        if isinstance(change, int) and not isinstance(change, bool):
            old = parts.metadata.get(key)
            typed[key] = Meta(old.vtype if old and old.vtype != VT.ARRAY else VT.UINT32, change)
        else:
            typed[key] = change
    _prepare(dst.parent)
    dst.write_bytes(parts.to_bytes(typed))
    return dst


def small_gguf(
    extra: Sequence[bytes] = (),
    *,
    arch: str = UNKNOWN_ARCHITECTURE,
    n_kv: int | None = None,
    n_tensors: int | None = None,
    tensors: Sequence[bytes] | None = None,
) -> bytes:
    """A small GGUF that Moss's reader accepts as it is: its architecture, the entries ``extra`` (crafted with
    :func:`gguf_kv`, lies allowed) and one F32 tensor of 8 values (or ``tensors``), with its data."""
    kvs = [gguf_kv("general.architecture", Meta(VT.STRING, arch)), *extra]
    table = list(tensors) if tensors is not None else [gguf_tensor_info("token_embd.weight", [8], 0, 0)]
    return gguf_bytes(kvs, table, n_kv=n_kv, n_tensors=n_tensors, data=b"\0" * 32)


def write_sparse(path: pathlib.Path, data: bytes, size: int) -> pathlib.Path:
    """``data`` at the start of a file ``size`` bytes long whose rest is a hole: a "model" of many gigabytes
    that costs no disk, for lengths that the file's size alone would not refuse."""
    _prepare(path.parent)
    with path.open("wb") as handle:
        handle.write(data)
        handle.truncate(size)
    return path


def gguf_nested_arrays(key: str, depth: int) -> bytes:
    """An entry whose value is an array of one array of one ... (``depth`` arrays) of one u8."""
    levels = struct.pack("<IQ", int(VT.ARRAY), 1) * (depth - 1)
    return gguf_string(key) + struct.pack("<I", int(VT.ARRAY)) + levels + struct.pack("<IQB", int(VT.UINT8), 1, 1)
