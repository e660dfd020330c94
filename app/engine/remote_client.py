"""The connection to a server with an OpenAI-compatible API, through the official ``openai`` SDK.

:func:`open_client` builds an ``openai.OpenAI`` for one server: explicit connect and read timeouts (a dead server
is given up on, never waited for), TLS always verified (against the system's certificate authorities, plus the
server's own CA file when one was added: never "verify off"), and only the credentials the person gave this
server. The SDK also reads ``OPENAI_API_KEY``, ``OPENAI_ORG_ID``, ``OPENAI_PROJECT_ID`` and
``OPENAI_CUSTOM_HEADERS`` from the environment, meant for OpenAI's own service; a hook on every request takes
those off again, so a key meant for OpenAI never reaches a server on the network. :func:`list_models` asks a
server what it serves (``GET /models``).
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.core.servers import RemoteServer, ServerError

if TYPE_CHECKING:
    import httpx2
    import openai

log = logging.getLogger(__name__)

# The SDK insists on a key (without one it reads OPENAI_API_KEY from the environment); for a server that takes
# none, this stands in, and the request hook sends no Authorization header at all.
_NO_KEY = "no-key"
# Headers the SDK may add from the environment for OpenAI's own service: taken off every request.
_AMBIENT_HEADERS = ("OpenAI-Organization", "OpenAI-Project")


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long to wait for a server. ``connect_s``: to connect (a host that is down or unreachable); ``read_s``:
    for each piece of an answer, the first one included, so it must cover a long prompt being read on a slow
    server; ``write_s``: to send a request."""

    connect_s: float = 10.0
    read_s: float = 180.0
    write_s: float = 30.0


DEFAULT_TIMEOUTS = Timeouts()


@dataclass(frozen=True, slots=True)
class ServedModel:
    """A model a server lists: its id (what a request names) and its context length where the server says it
    (vLLM's ``max_model_len``, llama.cpp's ``meta.n_ctx_train``; 0 when it does not)."""

    id: str
    context_length: int = 0


def open_client(server: RemoteServer, api_key: str | None, timeouts: Timeouts = DEFAULT_TIMEOUTS) -> openai.OpenAI:
    """An SDK client for ``server`` sending ``api_key`` (None: no key). Raises ServerError when the server's CA
    file cannot be used. Requests are not retried: a retry of a reply would start it again on the server, and the
    SDK's wait for a rate limit (up to a minute) would block the reply where Stop cannot reach it."""
    import httpx2
    import openai

    http = httpx2.Client(
        verify=tls_context(server),
        timeout=_httpx_timeout(timeouts),
        event_hooks={"request": [_credentials_hook(api_key)]},
        follow_redirects=False,  # a redirect would carry the key to wherever it points
    )
    return openai.OpenAI(
        base_url=server.base_url,
        api_key=api_key or _NO_KEY,
        timeout=_httpx_timeout(timeouts),
        max_retries=0,
        http_client=http,
    )


def _httpx_timeout(timeouts: Timeouts) -> httpx2.Timeout:
    import httpx2

    return httpx2.Timeout(
        connect=timeouts.connect_s, read=timeouts.read_s, write=timeouts.write_s, pool=timeouts.connect_s
    )


def tls_context(server: RemoteServer) -> ssl.SSLContext:
    """The certificate check for ``server``: the system's authorities (as httpx2 finds them), plus those of its CA
    file when it has one. Certificates and host names are always checked."""
    import httpx2

    context = httpx2.create_ssl_context()
    if server.ca_file:
        try:
            context.load_verify_locations(cafile=server.ca_file)
        except FileNotFoundError:
            raise ServerError(
                f"The CA file for {server.label} is missing: {server.ca_file}. Add the server again with the file's "
                "new place, or without a CA file."
            ) from None
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise ServerError(
                f"The CA file for {server.label} ({server.ca_file}) holds no certificate Moss can read "
                f"({getattr(exc, 'strerror', None) or exc}); it must be PEM text (-----BEGIN CERTIFICATE-----)."
            ) from None
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def check_ca_file(path: str) -> None:
    """Raise ServerError unless ``path`` is a PEM file of certificate authorities that TLS can load."""
    tls_context(RemoteServer("", "https://check", ca_file=path))


def _credentials_hook(api_key: str | None) -> Callable[[Any], None]:
    """A request hook that leaves exactly this server's credentials on each request (see the module docstring)."""
    ambient = [*_AMBIENT_HEADERS, *_custom_header_names(os.environ.get("OPENAI_CUSTOM_HEADERS", ""))]

    def hook(request: Any) -> None:
        for name in ambient:
            request.headers.pop(name, None)
        request.headers.pop("Authorization", None)
        if api_key:
            request.headers["Authorization"] = f"Bearer {api_key}"

    return hook


def _custom_header_names(text: str) -> list[str]:
    """The header names in ``OPENAI_CUSTOM_HEADERS`` (``Name: value`` lines), as the SDK reads them."""
    return [line.split(":", 1)[0].strip() for line in text.split("\n") if ":" in line and line.split(":", 1)[0].strip()]


def list_models(client: openai.OpenAI) -> list[ServedModel]:
    """What the server lists at ``/models``, in its order. SDK errors pass through (see app.engine.remote_errors)."""
    import openai

    raw = client.models.with_raw_response.list()
    if "json" not in raw.headers.get("content-type", ""):  # a web page (a router's, a proxy's login), not the API
        raise ValueError("not a JSON answer")
    page = raw.parse()
    data = getattr(page, "data", None)
    if not isinstance(data, list):
        raise ValueError("not a model list")
    models: list[ServedModel] = []
    for item in data:
        if not isinstance(item, openai.types.Model) or not isinstance(item.id, str):
            raise ValueError("a model without an id")
        models.append(ServedModel(item.id, _context_length(item.model_extra or {})))
    return models


def _context_length(extra: dict[str, Any]) -> int:
    """The context length a model listing states, where it states one."""
    meta = extra.get("meta")
    candidates = [extra.get("max_model_len"), extra.get("context_length")]
    if isinstance(meta, dict):
        candidates += [meta.get("n_ctx"), meta.get("n_ctx_train")]
    for value in candidates:
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 1 << 31:
            return value
    return 0
