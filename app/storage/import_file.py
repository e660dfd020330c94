"""Reading a file to import as JSON, within bounds: a plain .json, or the conversations.json inside ChatGPT's
export .zip.

What an import file can do to the process is bounded before it is parsed: its size (:data:`MAX_JSON_BYTES`);
for a .zip, the size the member says it unpacks to, checked before anything is unpacked (a 1 MB archive can
unpack to a gigabyte; one did, and parsing it took 2 GB of memory), and the bytes unpacked, counted as they
come (a damaged or crafted archive can say less than it holds); and the memory parsing would take, estimated
from the number of values in the text (:data:`MAX_PARSE_BYTES`: a few hundred MB of ``[],[],…`` would take
ten times that as Python objects). An encrypted member, a compression Python
cannot unpack (Deflate64, which Windows' own zipper writes for large files), a damaged archive, JSON nested
deeper than Python's parser follows, or a number with more digits than Python reads, each becomes an
:class:`ImportFormatError` saying what to do, never a crash.
"""

from __future__ import annotations

import json
import lzma
import struct
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any

from app.core.errors import ImportFormatError

CHATGPT_MEMBER = "conversations.json"
MAX_JSON_BYTES = 512 * 2**20  # several times the largest ChatGPT export seen; parsing it takes a few GB
# How much larger than its packed size a member may say it is, beyond the first few MB: JSON packs about
# 5 to 20 times (130 for an export of one conversation copied over and over); more is an archive made to fill
# memory.
MAX_PACKING_RATIO = 200
# The memory parsing may take, as estimated by :func:`parse_cost`: what a 512 MB export of real chats takes,
# with room to spare.
MAX_PARSE_BYTES = 4 * 2**30
_SMALL = 8 * 2**20
_READ_CHUNK = 2**20
_UNPACKABLE = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_METHODS = {9: "Deflate64", 93: "Zstandard", 95: "XZ", 96: "JPEG", 97: "WavPack", 98: "PPMd", 99: "AES encryption"}
_NOTHING = "Nothing was imported."
# What a damaged archive raises while it is read, whatever its compression: zipfile's own errors, a stream cut
# short, a bad CRC, a damaged deflate, bzip2 (OSError) or LZMA stream, a field that cannot be decoded.
_DAMAGED_ARCHIVE = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    OSError,
    ValueError,
    RuntimeError,
    NotImplementedError,
    struct.error,
    zlib.error,
    lzma.LZMAError,
)


def load_json(path: Path) -> Any:
    """The JSON value in ``path`` (or in its conversations.json, for a .zip); ImportFormatError otherwise."""
    try:
        raw = _read_archive(path) if zipfile.is_zipfile(path) else _read_plain(path)
    except FileNotFoundError:
        raise ImportFormatError(f"There is no file {path}.") from None
    except IsADirectoryError:
        raise ImportFormatError(f"{path} is a folder; choose the export file inside it. {_NOTHING}") from None
    except OSError as exc:
        raise ImportFormatError(f"Moss could not read {path}: {exc.strerror or exc}. {_NOTHING}") from None
    cost = parse_cost(raw)
    if cost > MAX_PARSE_BYTES:
        raise ImportFormatError(
            f"{path.name} holds so many values that reading it would take about {cost / 2**30:,.0f} GB of memory, "
            f"more than any export of its size would. {_NOTHING}"
        )
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise ImportFormatError(f"{path.name} is not a text (JSON) file. {_NOTHING}") from None
    except json.JSONDecodeError as exc:
        raise ImportFormatError(
            f"{path.name} is not valid JSON (line {exc.lineno}: {exc.msg}); it may be cut short. {_NOTHING}"
        ) from None
    except RecursionError:
        raise ImportFormatError(
            f"{path.name} nests lists or objects deeper than any Moss or ChatGPT export does; it is not one. {_NOTHING}"
        ) from None
    except ValueError:  # a number of more than 4,300 digits: Python refuses to read it
        raise ImportFormatError(
            f"{path.name} holds a number with more digits than Moss reads; it is not a Moss or ChatGPT export. "
            f"{_NOTHING}"
        ) from None


def parse_cost(raw: bytes) -> int:
    """About how many bytes of memory ``json.loads(raw)`` takes, at most: the text as a str (up to 4 bytes a
    character) and, for every value, a Python object and the slot that holds it. Each value but the first is
    preceded by a comma or a colon, each container opened by a bracket (counting them is fast, in C)."""
    values = raw.count(b",") + raw.count(b":") + 1
    containers = raw.count(b"[") + raw.count(b"{")
    return 4 * len(raw) + 72 * values + 64 * containers


def _too_big(name: str, size: int) -> ImportFormatError:
    return ImportFormatError(
        f"{name} is {size / 2**20:,.0f} MB, more than the {MAX_JSON_BYTES // 2**20} MB of JSON Moss imports at "
        f"once. {_NOTHING}"
    )


def _read_plain(path: Path) -> bytes:
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise _too_big(path.name, size)
    with path.open("rb") as file:
        return _read_at_most(file, path.name)


def _read_archive(path: Path) -> bytes:
    try:
        with zipfile.ZipFile(path) as archive:
            members = [info for info in archive.infolist() if Path(info.filename).name == CHATGPT_MEMBER]
            if not members:
                raise ImportFormatError(
                    f"{path.name} is a .zip without a conversations.json; choose ChatGPT's data export .zip."
                )
            member = min(members, key=lambda info: len(info.filename))
            _check_member(path, member)
            with archive.open(member) as file:
                return _read_at_most(file, f"conversations.json in {path.name}")
    except ImportFormatError:
        raise
    except _DAMAGED_ARCHIVE as exc:
        raise _damaged_archive(path, exc) from None


def _check_member(path: Path, member: zipfile.ZipInfo) -> None:
    """Refuse a member that cannot or must not be unpacked, before unpacking any of it."""
    if member.flag_bits & 0x1:
        raise ImportFormatError(
            f"conversations.json in {path.name} is protected by a password, which Moss cannot open. Unpack the "
            f".zip yourself and import the conversations.json inside. {_NOTHING}"
        )
    if member.compress_type not in _UNPACKABLE:
        method = _METHODS.get(member.compress_type, f"method {member.compress_type}")
        raise ImportFormatError(
            f"conversations.json in {path.name} is packed with {method}, which Moss cannot unpack. Unpack the .zip "
            f"with your system's tool and import the conversations.json inside. {_NOTHING}"
        )
    if member.file_size > MAX_JSON_BYTES:
        raise _too_big(f"conversations.json in {path.name}", member.file_size)
    if member.file_size > _SMALL and member.file_size > MAX_PACKING_RATIO * max(member.compress_size, 1):
        raise ImportFormatError(
            f"conversations.json in {path.name} says it unpacks to {member.file_size / 2**20:,.0f} MB from "
            f"{member.compress_size / 2**20:,.1f} MB, far more than an export packs; the .zip looks made to fill "
            f"memory. If you trust it, unpack it yourself and import the conversations.json inside. {_NOTHING}"
        )


def _read_at_most(file: IO[bytes], name: str) -> bytes:
    """All of ``file``, refusing it as soon as it passes :data:`MAX_JSON_BYTES` (a size can be misstated)."""
    chunks: list[bytes] = []
    total = 0
    while chunk := file.read(_READ_CHUNK):
        total += len(chunk)
        if total > MAX_JSON_BYTES:
            raise _too_big(name, total)
        chunks.append(chunk)
    return b"".join(chunks)


def _damaged_archive(path: Path, exc: BaseException) -> ImportFormatError:
    detail = " ".join(str(exc).split()) or type(exc).__name__
    return ImportFormatError(f"{path.name} is a damaged .zip ({detail[:200]}); download the export again. {_NOTHING}")
