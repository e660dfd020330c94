"""Damaged copies of a small real GGUF, one for each way a model file was seen to break (by fuzzing): for tests
that check Moss refuses each for its real reason, and refuses it alike wherever the file is used."""

from __future__ import annotations

import struct
from pathlib import Path

from app.engine.gguf_header import read_gguf_header


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x20]) + data[at + 1 :]


def damaged_models(tiny: Path, folder: Path) -> dict[str, Path]:
    """Copies of the tiny gpt-oss in ``folder`` (created), by label: "intact", and one per kind of damage. All but
    "intact" and "template not UTF-8" are refused by a load (llama-cpp-python reads no metadata it cannot decode,
    and gpt-oss is rendered without its template)."""
    data = tiny.read_bytes()
    header = read_gguf_header(tiny)
    template = header.metadata["tokenizer.chat_template"].encode()
    bos = header.token_text("bos").encode()

    def first(needle: bytes) -> int:
        at = data.find(needle)
        assert at > 0, needle
        return at

    made = {
        "intact": data,
        "version 0": data[:4] + struct.pack("<I", 0) + data[8:],
        "one byte short": data[:-1],
        "cut in the header": data[: header.data_offset // 2],
        "template broken": _flip(data, first(template) + template.index(b"{%") + 1),  # "{%" becomes "{\x05"
        "template not UTF-8": data.replace(template[:40], b"\xff" + template[1:40], 1),
        "BOS not UTF-8": data.replace(
            struct.pack("<Q", len(bos)) + bos, struct.pack("<Q", len(bos)) + bos[:1] + b"\xff" + bos[2:], 1
        ),
        "a tensor renamed": data.replace(b"blk.1.attn_norm.weight", b"blk.1.attn_norm.weighs", 1),
        "a key renamed": data.replace(b"gpt-oss.embedding_length", b"gpt-oss.embedding_lengtx", 1),
    }
    # A tensor's first dimension doubled: the table no longer matches the hyper-parameters.
    name = b"blk.0.attn_q.weight"
    at = first(struct.pack("<Q", len(name)) + name) + 8 + len(name) + 4
    made["a tensor shape"] = (
        data[:at] + struct.pack("<Q", 2 * struct.unpack("<Q", data[at : at + 8])[0]) + data[at + 8 :]
    )
    paths = {}
    folder.mkdir(parents=True, exist_ok=True)
    for label, content in made.items():
        path = folder / (label.replace(" ", "-") + ".gguf")
        path.write_bytes(content)
        paths[label] = path
    return paths
