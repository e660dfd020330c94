"""Plan before a download: the header of a remote GGUF, read with HTTP Range requests.

A GGUF's header and tensor table sit at the start of the file (about 11 MB for gpt-oss, of a 12-60 GB
file), so the offload planner can say whether a model fits before a byte of its weights is downloaded. The
header is read through a file-like object that fetches what the reader asks for in 4 MiB ranges.
"""

from __future__ import annotations

import io
import re
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, cast
from urllib.parse import urlparse

from app.core.errors import UserError
from app.engine.gguf_header import GGUFHeader, merge_split_parts, read_gguf_header_from, split_part_names
from app.hub.hub_client import HubOfflineError, http_status_text, network_reason

BLOCK = 4 * 1024 * 1024
_TOTAL = re.compile(r"/(\d+)\s*$")


class _RangeFile(io.RawIOBase):
    """Reads a remote file forward, fetching blocks on demand; ``seek`` only moves (from the current spot)."""

    def __init__(self, session: Any, url: str, headers: dict[str, str]) -> None:
        super().__init__()
        self._session, self._url, self._headers = session, url, headers
        self._blocks: dict[int, bytes] = {}
        self.position = 0
        self.size = 0
        self.fetched = 0
        self._block(0)  # also learns the file's size

    def _block(self, index: int) -> bytes:
        if index not in self._blocks:
            start = index * BLOCK
            headers = {**self._headers, "Range": f"bytes={start}-{start + BLOCK - 1}"}
            host = urlparse(self._url).netloc
            try:
                response = self._session.get(self._url, headers=headers, follow_redirects=True)
            except Exception as exc:  # the HTTP client's connection and timeout errors
                reason = network_reason(exc, host=host)
                if reason is None:
                    raise
                raise HubOfflineError(
                    f"Could not reach {host} to read the model's header: {reason}. Check the connection."
                ) from exc
            if response.status_code == 416:
                return b""
            if response.status_code != 206:
                busy = http_status_text(response.status_code, site=host)
                raise UserError(busy or f"Could not read the model's header from {host} (HTTP {response.status_code}).")
            total = _TOTAL.search(response.headers.get("Content-Range", ""))
            if total:
                self.size = int(total.group(1))
            self._blocks = {index: response.content}  # the reader goes forward: keep one block
            self.fetched += len(response.content)
        return self._blocks[index]

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            raise ValueError("read the header in pieces")
        out = bytearray()
        while len(out) < size:
            index, offset = divmod(self.position + len(out), BLOCK)
            block = self._block(index)
            piece = block[offset : offset + size - len(out)]
            if not piece:
                break
            out += piece
        self.position += len(out)
        return bytes(out)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.position = offset if whence == io.SEEK_SET else self.position + offset
        return self.position

    def tell(self) -> int:
        return self.position


def read_remote_gguf_header(url: str, *, headers: dict[str, str] | None = None) -> tuple[GGUFHeader, int]:
    """The header of the GGUF at ``url`` and how many bytes were downloaded to read it."""
    from huggingface_hub import get_session  # the Hub's HTTP client: proxies and TLS as it sets them up

    try:  # a malformed address ("http://[::1", a port of 99999) is the person's to fix, not a bug
        address = urlparse(url)
        valid = bool(address.hostname) and address.port != 0
    except ValueError:
        valid = False
    if not valid:
        raise UserError(f"{url!r} is not a web address Moss can read a model from. Check the address.")

    session = get_session()

    def read_one(part_url: str) -> tuple[GGUFHeader, int]:
        remote = _RangeFile(session, part_url, headers or {})
        name = PurePosixPath(urlparse(part_url).path).name or "model.gguf"
        return read_gguf_header_from(cast(BinaryIO, remote), Path(name), remote.size), remote.fetched

    first, fetched = read_one(url)
    others = []
    for name in split_part_names(first):  # a split model: every part's tensor table is needed to plan
        part, part_fetched = read_one(url[: url.rindex("/") + 1] + name)
        others.append(part)
        fetched += part_fetched
    return merge_split_parts(first, others), fetched
