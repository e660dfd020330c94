"""Writing a GGUF file with the ``gguf`` package, for the helpers that make test models.

``GGUFWriter`` wants its header, metadata and tensors written in that order and the file closed even when
filling it fails; ``gguf_file`` does both, so each helper only says what goes in.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gguf


@contextmanager
def gguf_file(path: pathlib.Path, arch: str, **options: Any) -> Iterator[gguf.GGUFWriter]:
    """A writer for ``path``: add metadata and tensors inside the block; the file is written when it ends."""
    writer = gguf.GGUFWriter(path, arch, **options)
    try:
        yield writer
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
