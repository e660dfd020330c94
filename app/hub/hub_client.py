"""Talking to the Hugging Face Hub: search, a repository's GGUF models, file URLs and their auth headers.

Built on ``huggingface_hub`` (``HfApi`` for search, model info and file trees with LFS sha256;
``hf_hub_url``, ``get_hf_file_metadata`` and ``build_hf_headers`` for files), so ``HF_ENDPOINT``, proxies
and TLS settings work as they do for every Hugging Face tool; TLS verification is never turned off. The
token is passed explicitly (Moss's own, from the keychain) and never read from elsewhere implicitly, so
what is sent is exactly what the person entered. Every failure becomes a :class:`HubError` saying what to do;
the words for network failures (no name resolution, refused, TLS, timeouts, HTTP 429 and 5xx) are
:func:`network_reason`'s, here and nowhere else.

Every request is bounded: a call gives up after ``timeout_s`` (15 s unless told), however huggingface_hub
retries. Its paginated listings (search, file trees) retry a failed request five times with back-off
(1+2+4+8+8 s) and its shared HTTP client has no timeout at all, so without a bound a stalled server or a
flaky network keeps "Asking the Hub…" up for a minute or for ever.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from app import __version__
from app.core.errors import UserError
from app.hub.repo_files import RemoteFile, RemoteModel, group_models

log = logging.getLogger(__name__)
T = TypeVar("T")
TOKEN_KEY = "huggingface-token"  # the secret store's key for the Hugging Face token
TOKEN_ENV = "HF_TOKEN"
DEFAULT_TIMEOUT_S = 15.0  # how long one request from Moss may take, retries included, before it gives up
REACHABLE_TIMEOUT_S = 5.0  # the quick "is the Hub there at all" check before each call


class HubError(UserError):
    """The Hub could not give what was asked: no network, no access, no such repository or file."""


class HubOfflineError(HubError):
    """The Hub cannot be reached: no network, a proxy in the way, or offline mode."""


class HubTimeoutError(HubOfflineError):
    """The Hub did not answer within the time allowed."""


class HubAccessError(HubError):
    """The repository needs a token (gated or private), or the token given has no access."""


@dataclass(frozen=True, slots=True)
class RepoSummary:
    repo_id: str
    downloads: int
    likes: int
    gated: bool
    last_modified: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RepoListing:
    """A repository's GGUF models at one commit."""

    repo_id: str
    commit: str
    license: str
    gated: bool
    models: tuple[RemoteModel, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "commit": self.commit,
            "license": self.license,
            "gated": self.gated,
            "models": [m.to_json() for m in self.models],
        }


def repo_page(endpoint: str, repo_id: str) -> str:
    return f"{endpoint.rstrip('/')}/{repo_id}"


class HubClient:
    """The Hub at ``endpoint`` (default: ``HF_ENDPOINT`` or huggingface.co), with an optional token.

    ``timeout_s`` bounds each call (search, listing, :meth:`bounded`); a client made by :meth:`sharing_deadline`
    bounds all its calls together, for work made of several requests (the catalog)."""

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        token: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        deadline: float | None = None,
    ) -> None:
        from huggingface_hub import constants

        # huggingface_hub prints its retry notices straight to stderr; send them to Moss's log instead.
        hf_root = logging.getLogger("huggingface_hub")
        for handler in list(hf_root.handlers):
            if type(handler) is logging.StreamHandler:
                hf_root.removeHandler(handler)

        self.endpoint = (endpoint or constants.ENDPOINT).rstrip("/")
        self.token = token or None
        self.timeout_s = timeout_s
        self.deadline = deadline  # time.monotonic() after which no call starts or waits

    def sharing_deadline(self) -> HubClient:
        """A copy whose calls together take at most ``timeout_s`` from now."""
        return HubClient(
            endpoint=self.endpoint,
            token=self.token,
            timeout_s=self.timeout_s,
            deadline=time.monotonic() + self.timeout_s,
        )

    def _time_left(self) -> float:
        if self.deadline is None:
            return self.timeout_s
        return min(self.timeout_s, self.deadline - time.monotonic())

    @property
    def host(self) -> str:
        from urllib.parse import urlparse

        return urlparse(self.endpoint).netloc or self.endpoint

    def _api(self) -> Any:
        from huggingface_hub import HfApi

        # token=False: never fall back to a token some other tool saved; send only the one Moss was given.
        return HfApi(
            endpoint=self.endpoint, token=self.token or False, library_name="moss", library_version=__version__
        )

    def search(self, query: str, *, limit: int = 20) -> list[RepoSummary]:
        """GGUF repositories whose name contains ``query``, most downloaded first."""

        def call() -> list[RepoSummary]:
            found = self._api().list_models(search=query or None, filter="gguf", sort="downloads", limit=limit)
            return [
                RepoSummary(
                    repo_id=m.id,
                    downloads=int(m.downloads or 0),
                    likes=int(m.likes or 0),
                    gated=bool(m.gated),
                    last_modified=m.last_modified.isoformat() if m.last_modified else "",
                )
                for m in found
            ]

        return self._call(call, what=f"search for {query!r}" if query else "list the GGUF models")

    def listing(self, repo_id: str, *, revision: str = "main", purpose: str = "") -> RepoListing:
        """The repository's GGUF models (split parts merged), with sizes and LFS sha256. ``purpose`` names
        the errand in a failure's words ("check the recommended models"); by default, listing the files."""

        def call() -> RepoListing:
            api = self._api()
            info = api.model_info(repo_id, revision=revision)
            tree = api.list_repo_tree(repo_id, revision=revision, recursive=True)
            files = [
                RemoteFile(entry.path, int(entry.size), entry.lfs.sha256 if entry.lfs else None)
                for entry in tree
                if getattr(entry, "size", None) is not None
            ]
            card = info.card_data.to_dict() if info.card_data else {}
            return RepoListing(
                repo_id=info.id,
                commit=info.sha or revision,
                license=str(card.get("license") or ""),
                gated=bool(info.gated),
                models=tuple(group_models(info.id, files)),
            )

        return self._call(call, what=purpose or f"list the files of {repo_id}", repo_id=repo_id)

    def file_url(self, repo_id: str, path: str, *, revision: str = "main") -> str:
        from huggingface_hub import hf_hub_url

        return str(hf_hub_url(repo_id, path, revision=revision, endpoint=self.endpoint))

    def auth_headers(self) -> dict[str, str]:
        """Headers for a request to the Hub itself (the token goes only there, never to a CDN redirect)."""
        from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]  # public, re-exported lazily

        return dict(build_hf_headers(token=self.token or False, library_name="moss", library_version=__version__))

    def bounded(self, call: Callable[[], T], *, what: str, repo_id: str | None = None, path: str | None = None) -> T:
        """``call()`` (requests to this Hub or its CDN) within this client's time limit, its failure in words."""
        return self._call(call, what=what, repo_id=repo_id, path=path)

    def _check_reachable(self) -> None:
        """Fail fast when offline: one HEAD to the Hub's root before the real requests, which huggingface_hub
        would retry for about 25 s (right for a flaky server, wrong for a laptop with Wi-Fi off)."""
        import httpx2
        from huggingface_hub import get_session

        wait = max(0.1, min(REACHABLE_TIMEOUT_S, self._time_left()))
        get_session().head(self.endpoint + "/", timeout=httpx2.Timeout(wait), follow_redirects=False)

    def _call(self, call: Callable[[], T], *, what: str, repo_id: str | None = None, path: str | None = None) -> T:
        def checked() -> T:
            _bound_shared_session()
            self._check_reachable()
            return call()

        try:
            return self._within_time_left(checked, what)
        except Exception as exc:
            raise self.explain(exc, what=what, repo_id=repo_id, path=path) from exc

    def _within_time_left(self, call: Callable[[], T], what: str) -> T:
        """``call()`` on a helper thread, waited for at most the time left: huggingface_hub's retries and DNS
        look-ups (which no socket timeout covers) cannot hold the caller past it. A call that overstays runs on
        to its own end in the background, its result dropped."""
        left = self._time_left()
        if left <= 0:
            raise HubTimeoutError(self._timeout_text(what))
        outcome: list[tuple[bool, Any]] = []

        def run() -> None:
            try:
                outcome.append((True, call()))
            except BaseException as exc:  # handed to the waiting thread as it is
                outcome.append((False, exc))

        worker = threading.Thread(target=run, name="hub request", daemon=True)
        worker.start()
        worker.join(left)
        if not outcome:
            raise HubTimeoutError(self._timeout_text(what))
        ok, value = outcome[0]
        if ok:
            return value  # type: ignore[no-any-return]
        raise value

    def _timeout_text(self, what: str) -> str:
        return f"Could not reach {site_name(self.endpoint)} to {what}: {waited_text(self.timeout_s)}. {_CHECK_AGAIN}"

    def explain(
        self, exc: BaseException, *, what: str, repo_id: str | None = None, path: str | None = None
    ) -> UserError:
        """``exc`` (from huggingface_hub or the HTTP client) as an error that says what to do."""
        has_token = bool(self.token)
        return explain_hub_error(
            exc,
            endpoint=self.endpoint,
            has_token=has_token,
            what=what,
            repo_id=repo_id,
            path=path,
            timeout_s=self.timeout_s,
        )


_CHECK_AGAIN = "Check the connection; downloaded models still work."  # tests elsewhere match it
_REQUEST_TIMEOUT_S = 30.0  # one HTTP request on huggingface_hub's shared client (it has none of its own)
_bounded_session: object = None


def _bound_shared_session() -> None:
    """Give huggingface_hub's shared HTTP client a timeout (it has none), so that a request which overstays
    :meth:`HubClient._within_time_left` still ends. Downloads pass their own timeouts and are not affected.
    Checked before every call: huggingface_hub replaces the client after a connection error."""
    global _bounded_session
    import httpx2
    from huggingface_hub import get_session

    session = get_session()
    if session is not _bounded_session:
        session.timeout = httpx2.Timeout(_REQUEST_TIMEOUT_S)
        _bounded_session = session


def site_name(endpoint: str) -> str:
    """How to name the Hub to a person: "Hugging Face" for huggingface.co, else its host (a mirror, a test)."""
    host = endpoint.split("://", 1)[-1].split("/", 1)[0]
    return "Hugging Face" if host.split(":")[0].endswith("huggingface.co") else host


def waited_text(timeout_s: float) -> str:
    return f"no answer within {timeout_s:g} second{'' if timeout_s == 1 else 's'}"


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in chain and len(chain) < 20:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    return chain


def network_reason(exc: BaseException, *, host: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> str | None:
    """Why a connection to ``host`` failed, in words (the OS's codes and the HTTP client's class names never
    reach a person); None when ``exc`` is not a network failure."""
    import httpx2
    from huggingface_hub import errors

    name = host.split(":")[0].strip("[]")
    chain = _causes(exc)
    for cause in chain:
        if isinstance(cause, errors.OfflineModeIsEnabled):
            return "Hugging Face's offline mode is on (HF_HUB_OFFLINE is set)"
        if isinstance(cause, socket.gaierror):
            return f"this computer seems to be offline (the name {name} could not be resolved)"
        if isinstance(cause, ConnectionRefusedError):
            return f"nothing answered at {host} (the connection was refused)"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (
                f"the secure connection to {name} could not be verified (a proxy or security program that "
                "inspects traffic, or a wrong system clock, can cause this)"
            )
        if isinstance(cause, ssl.SSLError):
            return f"the secure connection to {name} failed"
        if isinstance(cause, httpx2.ProxyError):
            return "the proxy refused the connection (check the proxy settings)"
        if isinstance(cause, httpx2.TimeoutException | TimeoutError):
            return waited_text(timeout_s)
        if isinstance(cause, ConnectionResetError | ConnectionAbortedError | httpx2.RemoteProtocolError):
            return "the connection was cut off"
        if isinstance(cause, OSError) and cause.errno is not None:
            return f"the network failed ({cause.strerror or 'error ' + str(cause.errno)})"
    if any(isinstance(c, httpx2.TransportError | ConnectionError) for c in chain):
        return "the connection failed"
    return None


def http_status_text(status: int, *, site: str) -> str | None:
    """What an HTTP status that is nobody's mistake means, in words; None for the others."""
    if status == 429:
        return (
            f"{site} is limiting how often this computer may ask (HTTP 429). Wait a minute and try again; "
            "a Hugging Face token (Settings → Privacy) raises the limit."
        )
    if status >= 500:
        return f"{site} is having trouble (HTTP {status}). Try again in a few minutes."
    return None


def explain_hub_error(
    exc: BaseException,
    *,
    endpoint: str,
    has_token: bool,
    what: str,
    repo_id: str | None = None,
    path: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> UserError:
    import httpx2
    from huggingface_hub import errors

    if isinstance(exc, UserError):
        return exc
    host = endpoint.split("://", 1)[-1]
    site = site_name(endpoint)
    page = repo_page(endpoint, repo_id) if repo_id else endpoint
    if isinstance(exc, errors.GatedRepoError) or (
        isinstance(exc, errors.HfHubHTTPError) and _status(exc) in (401, 403) and repo_id
    ):
        if has_token:
            return HubAccessError(
                f"Your Hugging Face token has no access to {repo_id}: open {page}, accept its terms or request "
                "access with the same account, then try again."
            )
        return HubAccessError(
            f"{repo_id} needs a Hugging Face token: accept its terms at {page}, create a read token at "
            f"{endpoint}/settings/tokens, and add it in Settings → Privacy (or set {TOKEN_ENV})."
        )
    if isinstance(exc, errors.RepositoryNotFoundError):
        hint = "" if has_token else " (if it is private, add a Hugging Face token in Settings → Privacy)"
        return HubError(f"There is no model repository {repo_id} on {host}{hint}. Check the name.")
    if isinstance(exc, errors.RevisionNotFoundError):
        return HubError(f"{repo_id} has no such revision. Check the name.")
    if isinstance(exc, errors.EntryNotFoundError):
        return HubError(f"{repo_id} has no file {path or ''}. Run `moss models search` to see its files.")
    if isinstance(exc, errors.HfHubHTTPError):
        busy = http_status_text(_status(exc), site=site)
        return HubError(busy or f"{host} answered HTTP {_status(exc)} when asked to {what}; try again later.")
    reason = network_reason(exc, host=host, timeout_s=timeout_s)
    if reason is not None:
        timed_out = any(isinstance(c, httpx2.TimeoutException | TimeoutError) for c in _causes(exc))
        error = HubTimeoutError if timed_out else HubOfflineError
        return error(f"Could not reach {site} to {what}: {reason}. {_CHECK_AGAIN}")
    log.exception("unexpected error from the Hub client")
    return HubError(f"Could not {what}: {_short(exc)}.")


def _status(exc: BaseException) -> int:
    response = getattr(exc, "response", None)
    return int(getattr(response, "status_code", 0) or 0)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
