"""A server's failures in one line each, saying what happened and what to do.

:func:`explain` turns what the ``openai`` SDK (and httpx2 under it) raised into a
:class:`~app.core.servers.ServerError`. It decides by exception type, the SDK's (``AuthenticationError``,
``RateLimitError``, ...) and, for a connection that failed, the causes chained under it (``socket.gaierror``,
``ConnectionRefusedError``, ``ssl.SSLCertVerificationError``, httpx2's timeouts); text is read only to quote the
server's own message.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import socket
import ssl
from collections.abc import Iterator, Sequence
from typing import Any

from app.core.errors import one_line
from app.core.servers import RemoteServer, ServerError
from app.core.types import GenerationResult
from app.engine.remote_client import DEFAULT_TIMEOUTS, Timeouts

_MAX_QUOTE = 200  # characters of a server's own message quoted in ours


def explain(
    exc: BaseException,
    server: RemoteServer,
    *,
    model: str | None = None,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
    served: Sequence[str] | None = None,
    partial: GenerationResult | None = None,
) -> ServerError | None:
    """The ServerError for ``exc``, or None when it is no failure of the server or the network (a bug).

    ``model``: the model asked for; ``served``: what the server lists, named in a 404's message; ``partial``: the
    reply as far as it had come, when the failure cut a stream short (kept, and said so)."""
    import httpx2
    import openai

    who = server.label
    if isinstance(exc, ServerError):
        return exc
    if isinstance(exc, openai.APIStatusError):
        return _status_error(exc, who, model=model, served=served, partial=partial)
    kept = " What had arrived is kept." if partial is not None and (partial.content or partial.reasoning) else ""
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        if any(isinstance(cause, httpx2.ConnectTimeout | httpx2.PoolTimeout) for cause in _causes(exc)):
            return ServerError(
                f"Moss could not connect to {who} within {timeouts.connect_s:g} s. Check that the server is running "
                "and that this computer can reach it (network, VPN, firewall), then try again."
            )
        if partial is not None:
            return ServerError(
                f"{who} sent nothing for {timeouts.read_s:g} s in the middle of the reply, so Moss stopped "
                f"waiting.{kept} Try again; if it happens again, check the server.",
                partial=partial,
            )
        return ServerError(
            f"{who} did not answer within {timeouts.read_s:g} s. The server may be overloaded or stuck: check it, "
            "then try again."
        )
    if isinstance(exc, openai.APIConnectionError | httpx2.TransportError | ConnectionError):
        return _connection_error(exc, server, partial=partial, kept=kept)
    if isinstance(exc, openai.APIResponseValidationError | ValueError):
        return ServerError(
            f"{who} answered with something that is not an OpenAI-compatible reply.{kept} Check that the base URL "
            f"({server.base_url}) points to the API: it usually ends in /v1.",
            partial=partial,
        )
    if isinstance(exc, openai.APIError):  # an error the server reported inside its stream
        quote = _quote(exc.body) or _brief(exc.message)
        return ServerError(
            f"{who} reported an error during the reply{': ' + quote if quote else ''}.{kept} Try again; if it keeps "
            "failing, check the server's log.",
            partial=partial,
        )
    return None


def _connection_error(
    exc: BaseException, server: RemoteServer, *, partial: GenerationResult | None, kept: str
) -> ServerError:
    import httpx2

    who, host = server.label, server.host
    causes = _causes(exc)
    for cause in causes:
        if isinstance(cause, socket.gaierror):
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            return ServerError(
                f"Moss cannot find the server {name}: its name does not resolve (DNS). Check the address for typing "
                "mistakes, and that this computer is on the network (or VPN) where that name exists."
            )
        if isinstance(cause, ConnectionRefusedError):
            return ServerError(
                f"{who} refused the connection: nothing is listening at {host}. Check that the server is running, "
                "and the port in its URL."
            )
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = _brief(cause.verify_message or "") or "its certificate is not trusted"
            return ServerError(
                f"{who}'s certificate is not trusted by this computer ({reason}). If the server uses your "
                "organisation's own certificate authority, add the server with that authority's CA file "
                '(--ca-file CA.pem, or "CA file" in its settings).'
            )
        if isinstance(cause, ssl.SSLError):
            return ServerError(
                f"The secure (TLS) connection to {who} failed. If the server does not use TLS, its URL starts with "
                "http:// rather than https://."
            )
        if isinstance(cause, httpx2.ProxyError):
            return ServerError(f"The proxy refused the connection to {who}: check the proxy settings (HTTPS_PROXY).")
    if partial is not None or any(isinstance(c, httpx2.RemoteProtocolError | httpx2.ReadError) for c in causes):
        return ServerError(
            f"The connection to {who} broke in the middle of the reply.{kept} Try again; if it keeps happening, "
            "check the server and the network.",
            partial=partial,
        )
    return ServerError(
        f"Moss could not connect to {who}. Check that the server is running and that this computer can reach it, "
        "then try again."
    )


def _status_error(
    exc: Any, who: str, *, model: str | None, served: Sequence[str] | None, partial: GenerationResult | None
) -> ServerError:
    import openai

    status = exc.status_code
    quote = _quote(exc.body)
    said = f" It said: {quote}" if quote else ""
    if isinstance(exc, openai.AuthenticationError):
        return ServerError(
            f"{who} refused the API key (HTTP 401). Give the key this server expects (moss servers add … "
            "--api-key-env VAR, or the key field in its settings)."
        )
    if isinstance(exc, openai.PermissionDeniedError):
        return ServerError(
            f"{who} refused access (HTTP 403): the API key is not allowed to use "
            f"{model or 'this model'}.{said} Check the key's permissions on the server."
        )
    if isinstance(exc, openai.NotFoundError):
        if served:
            return ServerError(
                f"{who} does not serve {model or 'that model'} (HTTP 404). It serves: {_names(served)}. Pick one "
                "of those."
            )
        return ServerError(
            f'{who} answered "not found" (HTTP 404) for {model or "the request"}. Check the model\'s name, and the '
            "server's base URL (it usually ends in /v1)."
        )
    if isinstance(exc, openai.RateLimitError):
        wait = retry_after(exc.response.headers)
        when = f"in {wait:g} s" if wait is not None else "in a minute"
        return ServerError(
            f"{who} is limiting how often it may be asked (HTTP 429). Try again {when}.", retry_after_s=wait
        )
    if isinstance(exc, openai.InternalServerError) or status >= 500:
        return ServerError(
            f"{who} failed with an error of its own (HTTP {status}).{said} Try again; if it keeps failing, check "
            "the server's log."
        )
    return ServerError(
        f"{who} refused the request (HTTP {status}).{said} Check the model's name and the server's limits (a "
        "conversation longer than its context is refused)."
    )


def retry_after(headers: Any) -> float | None:
    """The wait a server asked for, in seconds: ``retry-after-ms``, or ``retry-after`` in seconds or as a date."""
    try:
        millis = headers.get("retry-after-ms")
        if millis is not None:
            return max(0.0, round(float(millis) / 1000, 1))
    except ValueError:
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, round((when - dt.datetime.now(dt.UTC)).total_seconds()))


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 20:
        seen.append(current)
        yield current
        current = current.__cause__ or current.__context__


def _quote(body: object) -> str:
    """The server's own message in an error body (``{"error": {"message": …}}`` and the shapes servers use)."""
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            value = body.get(key)
            found = _quote(value) if isinstance(value, dict | list) else value
            if isinstance(found, str) and found.strip():
                return _brief(found)
    if isinstance(body, list) and body:
        return _quote(body[0])
    if isinstance(body, str):
        try:
            return _quote(json.loads(body))
        except ValueError:
            return ""  # an HTML error page, say: not worth quoting
    return ""


def _brief(text: str) -> str:
    text = one_line(" ".join(text.split()))
    return text if len(text) <= _MAX_QUOTE else text[: _MAX_QUOTE - 1] + "…"


def _names(models: Sequence[str]) -> str:
    shown = ", ".join(models[:8])
    return shown + (f" and {len(models) - 8} more" if len(models) > 8 else "")
