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
import os
import re
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType

from app.core.errors import ModelFileError
from app.engine.model_checks import check_model_header

GGUF_MAGIC = b"GGUF"
_SPLIT_NAME = re.compile(r"^(.*)-(\d{5})-of-(\d{5})\.gguf$")
DEFAULT_ALIGNMENT = 32
# Arrays longer than this are skipped rather than kept, except the token list (needed for special tokens).
# Numeric arrays are kept up to llama.cpp's most layers (LLAMA_MAX_LAYERS, 512): some keys hold one value per
# layer (head counts, feed-forward lengths), and the planner reads them.
_KEEP_ARRAY_MAX = 64
_KEEP_NUMBERS_MAX = 1024
_KEEP_ARRAYS = frozenset({"tokenizer.ggml.tokens"})

# Bounds on what a header may claim, checked before anything is allocated or looped over: a damaged or hostile
# file must end in a ModelFileError, never in a MemoryError, a hang or a crash. Each is far above any real model
# (gpt-oss-20b: 459 tensors, 35 keys, 201,088 tokens, 446k merges; the longest real string, a chat template, is a
# few tens of kB) and each also has to fit in the bytes the file has left.
MAX_KEYS = 65_536
MAX_TENSORS = 65_536
MAX_KEY_LENGTH = 65_535  # the GGUF spec's limit for keys
MAX_TENSOR_NAME = 63  # ggml's GGML_MAX_NAME (64) with its terminating zero; llama.cpp refuses longer names
MAX_STRING = 64 * 1024 * 1024
MAX_ARRAY_STRINGS = 4 * 1024 * 1024
MAX_VALUES = 8 * 1024 * 1024  # strings and nested arrays read in one header, all keys together
MAX_NESTING = 4  # arrays of arrays; llama.cpp itself reads none
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_SPLIT_PARTS = 99_999  # five digits in "-00001-of-00003.gguf"
NAME_MAX = 120  # characters of general.name shown
_INT64_MAX = 2**63 - 1
# The least bytes one metadata entry (u64 key length, u32 type, one u8) and one tensor-table entry (u64 name
# length, u32 dimensions, u32 type, u64 offset) take: a count is first checked against the bytes left.
_MIN_KV_BYTES = 13
_MIN_TENSOR_BYTES = 24

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
    # The size of each part's header (its data offset), first part first: what llama.cpp reads of the files
    # before the weights, and what a fingerprint of the header covers (app.engine.load_probe).
    header_sizes: tuple[int, ...] = ()

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    @property
    def name(self) -> str:
        """The model's name for lists and the status bar: one line of at most 120 characters, whatever the
        file holds (a name of megabytes would stall every label that shows it)."""
        value = self.metadata.get("general.name")
        text = " ".join(value.split())[:NAME_MAX] if isinstance(value, str) else ""
        return text or self.path.stem

    @property
    def chat_template(self) -> str | None:
        value = self.metadata.get("tokenizer.chat_template")
        return value if isinstance(value, str) and value.strip() else None

    @property
    def context_length(self) -> int:
        value = self.metadata.get(f"{self.architecture}.context_length", 0)
        return int(value) if isinstance(value, int) and value > 0 else 0

    def token_text(self, key: str) -> str:
        """The text of the special token whose id is stored under ``tokenizer.ggml.<key>_token_id``."""
        token_id = self.metadata.get(f"tokenizer.ggml.{key}_token_id")
        if isinstance(token_id, int) and 0 <= token_id < len(self.tokens):
            return self.tokens[token_id]
        return ""


def damaged(path: Path, detail: str) -> ModelFileError:
    """The error for a header that says something impossible (``detail`` names it, in a few words)."""
    message = f"{path.name} has a damaged header ({detail}). Download the model again, or use another GGUF file."
    return ModelFileError(" ".join(message.splitlines()))  # text from the file never breaks the line


def _incomplete(path: Path) -> ModelFileError:
    return ModelFileError(
        f"{path.name} is incomplete: the file ends inside its header. "
        "The download was probably interrupted; download the model again."
    )


class _Reader:
    """Sequential little-endian reads of a header that never trust a length or count from the file.

    Every length and count is checked against the bytes the file has left and against a sane limit before
    anything is read, allocated or looped over: one that runs past the end means a cut file ('incomplete'),
    one over a limit a damaged one."""

    def __init__(self, handle: BinaryIO, path: Path, file_size: int) -> None:
        self._handle = handle
        self._path = path
        self._file_size = file_size
        self._values_left = MAX_VALUES

    def left(self) -> int:
        """Bytes between here and the end of the file."""
        return self._file_size - self.tell()

    def read(self, n: int) -> bytes:
        if n > self.left():
            raise _incomplete(self._path)
        data = self._handle.read(n)
        if len(data) != n:
            raise _incomplete(self._path)
        return data

    def skip(self, n: int) -> None:
        if n > self.left():
            raise _incomplete(self._path)
        self._handle.seek(n, io.SEEK_CUR)

    def u32(self) -> int:
        return int(_U32.unpack(self.read(4))[0])

    def u64(self) -> int:
        return int(_U64.unpack(self.read(8))[0])

    def count(self, n: int, item_bytes: int, limit: int, what: str) -> int:
        """``n`` items of at least ``item_bytes`` each, if the file has room for them and ``limit`` allows."""
        if n * item_bytes > self.left():
            raise _incomplete(self._path)
        if n > limit:
            raise damaged(self._path, f"{n:,} {what}, more than any model has")
        return n

    def value_read(self) -> None:
        """Count one more string or array against the header's budget (a loop over them stays bounded)."""
        self._values_left -= 1
        if self._values_left < 0:
            raise damaged(self._path, f"more than {MAX_VALUES:,} values")

    def string(self, limit: int = MAX_STRING, what: str = "a string") -> str:
        self.value_read()
        length = self.count(self.u64(), 1, limit, f"bytes in {what}")
        return self.read(length).decode("utf-8", errors="replace")

    def strings(self, count: int, keep: bool) -> list[str] | None:
        """``count`` strings in a row (the items of an array), kept or skipped.

        The same checks as :meth:`string`, in one tight loop: a vocabulary is 200k strings and its merges
        450k, and a method call or two per string would triple the time a header takes to read."""
        self._values_left -= count
        if self._values_left < 0:
            raise damaged(self._path, f"more than {MAX_VALUES:,} values")
        handle, unpack, end = self._handle, _U64.unpack, self._file_size
        position = self.tell()
        kept: list[str] | None = [] if keep else None
        for _ in range(count):
            raw = handle.read(8)
            if len(raw) != 8:
                raise _incomplete(self._path)
            length = unpack(raw)[0]
            position += 8
            if length > end - position:
                raise _incomplete(self._path)
            if length > MAX_STRING:
                raise damaged(self._path, f"{length:,} bytes in a string, more than any model has")
            if kept is None:
                handle.seek(length, io.SEEK_CUR)
            else:
                data = handle.read(length)
                if len(data) != length:
                    raise _incomplete(self._path)
                kept.append(data.decode("utf-8", errors="replace"))
            position += length
        return kept

    def tell(self) -> int:
        return self._handle.tell()


def _value_type(raw: int, path: Path) -> GGUFValueType:
    try:
        return GGUFValueType(raw)
    except ValueError:
        raise damaged(path, f"unknown value type {raw}") from None


def _read_value(reader: _Reader, vtype: GGUFValueType, key: str, path: Path, depth: int = 0) -> Any:
    if vtype == GGUFValueType.STRING:
        return reader.string()
    if vtype in _SCALARS:
        fmt = _SCALARS[vtype]
        return fmt.unpack(reader.read(fmt.size))[0]
    if vtype == GGUFValueType.ARRAY:
        return _read_array(reader, key, path, depth + 1)
    raise damaged(path, f"value type {vtype}")


def _read_array(reader: _Reader, key: str, path: Path, depth: int) -> Any:
    """An array's items when they are worth keeping, else its length (skipped without a loop where it can)."""
    if depth > MAX_NESTING:
        raise damaged(path, f"arrays nested more than {MAX_NESTING} deep under {key[:80]!r}")
    reader.value_read()
    item_type = _value_type(reader.u32(), path)
    raw_count = reader.u64()
    if item_type in _SCALARS:
        fmt = _SCALARS[item_type]
        count = reader.count(raw_count, fmt.size, _INT64_MAX, "array items")
        if count <= _KEEP_NUMBERS_MAX:
            return list(struct.unpack(f"<{count}{fmt.format[-1]}", reader.read(fmt.size * count)))
        reader.skip(fmt.size * count)
        return count
    if item_type == GGUFValueType.STRING:
        count = reader.count(raw_count, 8, MAX_ARRAY_STRINGS, "strings in one array")
        kept = reader.strings(count, keep=key in _KEEP_ARRAYS or count <= _KEEP_ARRAY_MAX)
        return count if kept is None else kept
    if item_type == GGUFValueType.ARRAY:  # each item at least its own item type and count
        count = reader.count(raw_count, 12, MAX_ARRAY_STRINGS, "arrays in one array")
        for _ in range(count):
            _read_array(reader, key, path, depth + 1)
        return count
    raise damaged(path, f"array of value type {item_type}")


def _tensor_bytes(shape: tuple[int, ...], ggml_type: int, path: Path, name: str) -> int:
    try:
        block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(ggml_type)]
    except (ValueError, KeyError):
        raise ModelFileError(
            f"{path.name} uses a tensor type ({ggml_type}, in {name!r}) this version of Moss does not know. "
            "Update Moss, or use a different quantization of the model."
        ) from None
    elements = math.prod(shape)
    if elements > _INT64_MAX:  # ggml counts elements in an int64_t
        raise damaged(path, f"tensor {name!r} has {elements:.3g} elements")
    if shape and shape[0] % block:  # a row is made of whole blocks (llama.cpp checks this too)
        raise damaged(path, f"tensor {name!r} has rows of {shape[0]}, not a multiple of its block of {block}")
    return elements // block * type_size


def read_gguf_header(path: str | Path) -> GGUFHeader:
    """Read and check the header of the GGUF file at ``path``; raises ModelFileError for unusable files.

    A model split over several files (``...-00001-of-00003.gguf``, as large models are published) is read
    whole from its first part: the tensors of every part, and their total size. The hyper-parameters are
    checked too (app.engine.model_checks): a header llama.cpp would abort on is refused here.
    """
    header = _read_split(_read_one(Path(path)))
    check_model_header(header)
    return header


def split_part_names(first: GGUFHeader) -> list[str]:
    """The file names of the other parts of a split model, given its first part (an empty list if whole)."""
    count = first.metadata.get("split.count", 0)
    if not isinstance(count, int) or count < 2:
        return []
    if count > MAX_SPLIT_PARTS:
        raise damaged(first.path, f"split into {count:,} parts")
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
        first,
        tensors=tuple(t for p in parts for t in p.tensors),
        file_size=sum(p.file_size for p in parts),
        header_sizes=tuple(size for p in parts for size in p.header_sizes),
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


def _open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading, if it is a regular file.

    Anything else is refused before it is read: a FIFO would block the reader forever (and llama.cpp after
    it), a device such as /dev/zero never ends. It is opened without blocking and checked on the open file, so
    nothing can swap a FIFO in between a check and the open."""
    if not path.exists():
        raise ModelFileError(f"Model file not found: {path}. Check the path, or pick the file again.")
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a model file. Pick a .gguf file.")
    if not stat.S_ISREG(path.stat().st_mode):
        raise ModelFileError(f"{path} is not a regular file (a pipe or a device?). Pick a .gguf model file.")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ModelFileError(f"{path} is not a regular file (a pipe or a device?). Pick a .gguf model file.")
    return os.fdopen(fd, "rb")


def _read_one(path: Path) -> GGUFHeader:
    try:  # llama.cpp (and llama-cpp-python) open a model by its name in UTF-8
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(path).decode("utf-8", "backslashreplace")
        raise ModelFileError(
            f"The name of {shown} is not UTF-8 text, which llama.cpp cannot open. Rename the file."
        ) from None
    try:
        with _open_regular(path) as handle:
            return read_gguf_header_from(handle, path, os.fstat(handle.fileno()).st_size)
    except PermissionError:
        raise ModelFileError(f"Moss may not read {path}. Check the file's permissions.") from None
    except OSError as exc:
        raise ModelFileError(f"Could not read {path}: {exc.strerror or exc}.") from None


def read_gguf_header_from(handle: BinaryIO, path: Path, file_size: int) -> GGUFHeader:
    """Read and check a GGUF header from ``handle`` (a file, or a remote file read in ranges) whose whole
    size is ``file_size``; ``path`` names it in messages."""
    return _parse(_Reader(handle, path, file_size), path, file_size)


def _not_gguf(path: Path, start: bytes) -> str:
    """Why ``path`` is not a model, in words that fit it: a file named .gguf that is something else is not told
    that models are files ending in .gguf."""
    if not path.name.lower().endswith(".gguf"):
        return f"{path.name} is not a GGUF model file. Moss runs models in GGUF format (files ending in .gguf)."
    if not start:
        kind = "it is empty"
    elif start.lstrip()[:1] == b"<":
        kind = "it holds a web page or other markup (a download that saved an error page?)"
    elif all(32 <= b < 127 or b in b"\t\r\n" for b in start):
        kind = "it holds text"
    else:
        kind = "it does not start as every GGUF file does"
    return (
        f"{path.name} is not a model, although its name ends in .gguf: {kind}. "
        "Download the model again, or open another .gguf file."
    )


def _parse(reader: _Reader, path: Path, file_size: int) -> GGUFHeader:
    start = reader.read(4) if file_size >= 4 else b""
    if start != GGUF_MAGIC:
        raise ModelFileError(_not_gguf(path, start))
    version = reader.u32()
    if version not in (2, 3):
        if int.from_bytes(version.to_bytes(4, "little"), "big") in (1, 2, 3):  # a small version, big-endian
            raise ModelFileError(f"{path.name} is a big-endian GGUF, which llama.cpp cannot run here.")
        if 3 < version < 256:  # a later GGUF than this Moss knows
            raise ModelFileError(f"{path.name} is GGUF version {version}, which Moss cannot read. Update Moss.")
        raise ModelFileError(  # 0, 1 (an early format llama.cpp no longer reads) or noise: a damaged header
            f"{path.name} cannot be read: its GGUF version number ({version}) is not 2 or 3, the versions "
            "llama.cpp reads. Download the model again, or use another GGUF file."
        )
    raw_tensors, raw_kv = reader.u64(), reader.u64()
    n_kv = reader.count(raw_kv, _MIN_KV_BYTES, MAX_KEYS, "metadata entries")
    n_tensors = reader.count(raw_tensors, _MIN_TENSOR_BYTES, MAX_TENSORS, "tensors")
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = reader.string(MAX_KEY_LENGTH, "a key")
        if key in metadata:
            raise damaged(path, f"the key {key[:80]!r} appears twice")
        metadata[key] = _read_value(reader, _value_type(reader.u32(), path), key, path)
    tensors = _read_tensor_table(reader, path, n_tensors)
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or isinstance(alignment, bool) or alignment & (alignment - 1) or alignment < 1:
        raise damaged(path, f"an alignment of {alignment!r}, not a power of two")
    data_offset = -(-reader.tell() // alignment) * alignment
    raw_tokens = metadata.pop("tokenizer.ggml.tokens", None)
    tokens = tuple(raw_tokens) if isinstance(raw_tokens, list) else ()
    if isinstance(raw_tokens, list):
        metadata["tokenizer.ggml.tokens"] = len(raw_tokens)  # keep the count, not 200k strings, in metadata
    elif raw_tokens is not None:
        metadata["tokenizer.ggml.tokens"] = raw_tokens
    header = GGUFHeader(path, version, metadata, tensors, data_offset, file_size, tokens, (data_offset,))
    _check_complete(header)
    return header


def _read_tensor_table(reader: _Reader, path: Path, n_tensors: int) -> tuple[TensorInfo, ...]:
    tensors: dict[str, TensorInfo] = {}
    for _ in range(n_tensors):
        name = reader.string(MAX_TENSOR_NAME, "a tensor name")
        n_dims = reader.u32()
        if n_dims > MAX_DIMS:
            raise damaged(path, f"tensor {name!r} has {n_dims:,} dimensions")
        shape = tuple(reader.u64() for _ in range(n_dims))
        ggml_type, offset = reader.u32(), reader.u64()
        n_bytes = _tensor_bytes(shape, ggml_type, path, name)
        if offset + n_bytes > _INT64_MAX:
            raise damaged(path, f"tensor {name!r} lies beyond any file")
        if name in tensors:
            raise damaged(path, f"two tensors are named {name!r}")
        tensors[name] = TensorInfo(name, shape, ggml_type, offset, n_bytes)
    return tuple(tensors.values())


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
        held = f"{header.file_size / 1e9:.2f} GB of the {expected / 1e9:.2f} GB"
        if f"{header.file_size / 1e9:.2f}" == f"{expected / 1e9:.2f}":  # a few bytes short: say how many
            held = f"{header.file_size:,} of the {expected:,} bytes"
        raise ModelFileError(
            f"{path.name} is incomplete: it holds {held} its header describes. "
            "The download was probably interrupted; download the model again."
        )
