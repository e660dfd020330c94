"""Fast, validating reader of a GGUF file's header: metadata and tensor table, never the weights.

``gguf.GGUFReader`` builds a numpy view per array element and takes seconds on a 200k-token vocabulary; this
reader streams the header once and keeps only what Moss needs, using the ``gguf`` package's own type tables.
It is also the first line of defence against bad files: every way a file can be unusable (missing, not GGUF,
cut short, weightless) becomes a :class:`~app.core.errors.ModelFileError` that names the file and says what to
do, before llama.cpp ever sees it.
"""

from __future__ import annotations

import dataclasses
import io
import math
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType

from app.core.errors import ModelFileError

GGUF_MAGIC = b"GGUF"
_SPLIT_NAME = re.compile(r"^(.*)-(\d{5})-of-(\d{5})\.gguf$")
DEFAULT_ALIGNMENT = 32
# Arrays longer than this are skipped rather than kept, except the token list (needed for special tokens).
_KEEP_ARRAY_MAX = 64
_KEEP_ARRAYS = frozenset({"tokenizer.ggml.tokens"})

_SCALARS: dict[GGUFValueType, struct.Struct] = {
    GGUFValueType.UINT8: struct.Struct("<B"),
    GGUFValueType.INT8: struct.Struct("<b"),
    GGUFValueType.UINT16: struct.Struct("<H"),
    GGUFValueType.INT16: struct.Struct("<h"),
    GGUFValueType.UINT32: struct.Struct("<I"),
    GGUFValueType.INT32: struct.Struct("<i"),
    GGUFValueType.FLOAT32: struct.Struct("<f"),
    GGUFValueType.BOOL: struct.Struct("<?"),
    GGUFValueType.UINT64: struct.Struct("<Q"),
    GGUFValueType.INT64: struct.Struct("<q"),
    GGUFValueType.FLOAT64: struct.Struct("<d"),
}
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


@dataclass(frozen=True, slots=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # ggml order (ne0 first)
    type: int
    offset: int  # from the start of the data section
    n_bytes: int


@dataclass(frozen=True, slots=True)
class GGUFHeader:
    path: Path
    version: int
    metadata: dict[str, Any]
    tensors: tuple[TensorInfo, ...]
    data_offset: int
    file_size: int
    tokens: tuple[str, ...] = field(repr=False, default=())

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    @property
    def name(self) -> str:
        return str(self.metadata.get("general.name") or self.path.stem)

    @property
    def chat_template(self) -> str | None:
        value = self.metadata.get("tokenizer.chat_template")
        return value if isinstance(value, str) and value.strip() else None

    @property
    def context_length(self) -> int:
        value = self.metadata.get(f"{self.architecture}.context_length", 0)
        return int(value) if isinstance(value, int) else 0

    def token_text(self, key: str) -> str:
        """The text of the special token whose id is stored under ``tokenizer.ggml.<key>_token_id``."""
        token_id = self.metadata.get(f"tokenizer.ggml.{key}_token_id")
        if isinstance(token_id, int) and 0 <= token_id < len(self.tokens):
            return self.tokens[token_id]
        return ""


class _Reader:
    """Sequential little-endian reads that turn a short read into a 'file is incomplete' error."""

    def __init__(self, handle: BinaryIO, path: Path) -> None:
        self._handle = handle
        self._path = path

    def read(self, n: int) -> bytes:
        data = self._handle.read(n)
        if len(data) != n:
            raise ModelFileError(
                f"{self._path.name} is incomplete: the file ends inside its header. "
                "The download was probably interrupted; download the model again."
            )
        return data

    def skip(self, n: int) -> None:
        self._handle.seek(n, io.SEEK_CUR)

    def u32(self) -> int:
        return int(_U32.unpack(self.read(4))[0])

    def u64(self) -> int:
        return int(_U64.unpack(self.read(8))[0])

    def string(self) -> str:
        return self.read(self.u64()).decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        self.skip(self.u64())

    def tell(self) -> int:
        return self._handle.tell()


def _value_type(raw: int, path: Path) -> GGUFValueType:
    try:
        return GGUFValueType(raw)
    except ValueError:
        raise ModelFileError(
            f"{path.name} has a damaged header (unknown value type {raw}). Download the model again."
        ) from None


def _read_value(reader: _Reader, vtype: GGUFValueType, key: str, path: Path) -> Any:
    if vtype == GGUFValueType.STRING:
        return reader.string()
    if vtype in _SCALARS:
        fmt = _SCALARS[vtype]
        return fmt.unpack(reader.read(fmt.size))[0]
    if vtype == GGUFValueType.ARRAY:
        item_type = _value_type(reader.u32(), path)
        count = reader.u64()
        keep = key in _KEEP_ARRAYS or count <= _KEEP_ARRAY_MAX
        if item_type == GGUFValueType.STRING:
            if keep:
                return [reader.string() for _ in range(count)]
            for _ in range(count):
                reader.skip_string()
            return count
        if item_type in _SCALARS:
            fmt = _SCALARS[item_type]
            if keep:
                return [fmt.unpack(reader.read(fmt.size))[0] for _ in range(count)]
            reader.skip(fmt.size * count)
            return count
        return [_read_value(reader, item_type, key, path) for _ in range(count)]
    raise ModelFileError(f"{path.name} has a damaged header (value type {vtype}). Download the model again.")


def _tensor_bytes(shape: tuple[int, ...], ggml_type: int, path: Path, name: str) -> int:
    try:
        block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(ggml_type)]
    except (ValueError, KeyError):
        raise ModelFileError(
            f"{path.name} uses a tensor type ({ggml_type}, in {name}) this version of Moss does not know. "
            "Update Moss, or use a different quantization of the model."
        ) from None
    return math.prod(shape) // block * type_size


def read_gguf_header(path: str | Path) -> GGUFHeader:
    """Read and check the header of the GGUF file at ``path``; raises ModelFileError for unusable files.

    A model split over several files (``...-00001-of-00003.gguf``, as large models are published) is read
    whole from its first part: the tensors of every part, and their total size.
    """
    return _read_split(_read_one(Path(path)))


def split_part_names(first: GGUFHeader) -> list[str]:
    """The file names of the other parts of a split model, given its first part (an empty list if whole)."""
    count = first.metadata.get("split.count", 0)
    if not isinstance(count, int) or count < 2:
        return []
    match = _SPLIT_NAME.match(first.path.name)
    if match is None or first.metadata.get("split.no", 0) != 0:
        raise ModelFileError(
            f"{first.path.name} is one part of a model split into {count} files. Open its first part "
            "(the file whose name ends in -00001-of-...gguf)."
        )
    return [f"{match.group(1)}-{number:05d}-of-{count:05d}.gguf" for number in range(2, count + 1)]


def merge_split_parts(first: GGUFHeader, others: list[GGUFHeader]) -> GGUFHeader:
    """One header for a split model: the first part's metadata, every part's tensors, the total size."""
    parts = [first, *others]
    return dataclasses.replace(
        first, tensors=tuple(t for p in parts for t in p.tensors), file_size=sum(p.file_size for p in parts)
    )


def _read_split(first: GGUFHeader) -> GGUFHeader:
    others = []
    names = split_part_names(first)
    for number, name in enumerate(names, 2):
        part = first.path.with_name(name)
        if not part.exists():
            raise ModelFileError(
                f"{first.path.name} is part 1 of {len(names) + 1}, and part {number} ({name}) is missing. "
                "Download every part into the same folder."
            )
        others.append(_read_one(part))
    return merge_split_parts(first, others)


def _read_one(path: Path) -> GGUFHeader:
    if not path.exists():
        raise ModelFileError(f"Model file not found: {path}. Check the path, or pick the file again.")
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a model file. Pick a .gguf file.")
    try:
        file_size = path.stat().st_size
        with path.open("rb") as handle:
            return read_gguf_header_from(handle, path, file_size)
    except PermissionError:
        raise ModelFileError(f"Moss may not read {path}. Check the file's permissions.") from None
    except OSError as exc:
        raise ModelFileError(f"Could not read {path}: {exc.strerror or exc}.") from None


def read_gguf_header_from(handle: BinaryIO, path: Path, file_size: int) -> GGUFHeader:
    """Read and check a GGUF header from ``handle`` (a file, or a remote file read in ranges) whose whole
    size is ``file_size``; ``path`` names it in messages."""
    return _parse(_Reader(handle, path), path, file_size)


def _parse(reader: _Reader, path: Path, file_size: int) -> GGUFHeader:
    if file_size < 4 or reader.read(4) != GGUF_MAGIC:
        raise ModelFileError(
            f"{path.name} is not a GGUF model file. Moss runs models in GGUF format (files ending in .gguf)."
        )
    version = reader.u32()
    if version not in (2, 3):
        if version & 0xFFFF == 0:  # a byte-swapped small number: written big-endian
            raise ModelFileError(f"{path.name} is a big-endian GGUF, which llama.cpp cannot run here.")
        raise ModelFileError(f"{path.name} is GGUF version {version}, which Moss cannot read. Update Moss.")
    n_tensors, n_kv = reader.u64(), reader.u64()
    if n_tensors > 1_000_000 or n_kv > 1_000_000:
        raise ModelFileError(f"{path.name} has a damaged header. Download the model again.")
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = reader.string()
        metadata[key] = _read_value(reader, _value_type(reader.u32(), path), key, path)
    tensors = []
    for _ in range(n_tensors):
        name = reader.string()
        n_dims = reader.u32()
        shape = tuple(reader.u64() for _ in range(n_dims))
        ggml_type, offset = reader.u32(), reader.u64()
        tensors.append(TensorInfo(name, shape, ggml_type, offset, _tensor_bytes(shape, ggml_type, path, name)))
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    alignment = alignment if isinstance(alignment, int) and alignment > 0 else DEFAULT_ALIGNMENT
    data_offset = -(-reader.tell() // alignment) * alignment
    raw_tokens = metadata.pop("tokenizer.ggml.tokens", None)
    tokens = tuple(raw_tokens) if isinstance(raw_tokens, list) else ()
    if isinstance(raw_tokens, list):
        metadata["tokenizer.ggml.tokens"] = len(raw_tokens)  # keep the count, not 200k strings, in metadata
    header = GGUFHeader(path, version, metadata, tuple(tensors), data_offset, file_size, tokens)
    _check_complete(header)
    return header


def _check_complete(header: GGUFHeader) -> None:
    path = header.path
    if not header.tensors and header.metadata.get("split.count", 0) in (0, 1):
        raise ModelFileError(
            f"{path.name} holds only a tokenizer vocabulary, no model weights, so it cannot chat. "
            "Pick the full model file."
        )
    if not header.architecture and "split.no" not in header.metadata:
        raise ModelFileError(f"{path.name} does not say which model architecture it is. Use another GGUF.")
    if not header.tensors:
        return  # a part of a split model that holds only metadata
    expected = header.data_offset + max(t.offset + t.n_bytes for t in header.tensors)
    if header.file_size < expected:
        have = header.file_size / 1e9
        need = expected / 1e9
        raise ModelFileError(
            f"{path.name} is incomplete: it holds {have:.2f} GB of the {need:.2f} GB its header describes. "
            "The download was probably interrupted; download the model again."
        )
