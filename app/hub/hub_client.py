"""Talking to the Hugging Face Hub: search, a repository's GGUF models, file URLs and their auth headers.

Built on ``huggingface_hub`` (``HfApi`` for search, model info and file trees with LFS sha256;
``hf_hub_url``, ``get_hf_file_metadata`` and ``build_hf_headers`` for files), so ``HF_ENDPOINT``, proxies
and TLS settings work as they do for every Hugging Face tool; TLS verification is never turned off. The
token is passed explicitly (Moss's own, from the keychain) and never read from elsewhere implicitly, so
what is sent is exactly what the person entered. Every failure becomes a :class:`HubError` saying what to do.
"""

from __future__ import annotations

import logging
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


class HubError(UserError):
    """The Hub could not give what was asked: no network, no access, no such repository or file."""


class HubOfflineError(HubError):
    """The Hub cannot be reached: no network, a proxy in the way, or offline mode."""


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
    """The Hub at ``endpoint`` (default: ``HF_ENDPOINT`` or huggingface.co), with an optional token."""

    def __init__(self, *, endpoint: str | None = None, token: str | None = None) -> None:
        from huggingface_hub import constants

        # huggingface_hub prints its retry notices straight to stderr; send them to Moss's log instead.
        hf_root = logging.getLogger("huggingface_hub")
        for handler in list(hf_root.handlers):
            if type(handler) is logging.StreamHandler:
                hf_root.removeHandler(handler)

        self.endpoint = (endpoint or constants.ENDPOINT).rstrip("/")
        self.token = token or None

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

        return self._call(call, what=f"search the Hub for {query!r}")

    def listing(self, repo_id: str, *, revision: str = "main") -> RepoListing:
        """The repository's GGUF models (split parts merged), with sizes and LFS sha256."""

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

        return self._call(call, what=repo_id, repo_id=repo_id)

    def file_url(self, repo_id: str, path: str, *, revision: str = "main") -> str:
        from huggingface_hub import hf_hub_url

        return str(hf_hub_url(repo_id, path, revision=revision, endpoint=self.endpoint))

    def auth_headers(self) -> dict[str, str]:
        """Headers for a request to the Hub itself (the token goes only there, never to a CDN redirect)."""
        from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]  # public, re-exported lazily

        return dict(build_hf_headers(token=self.token or False, library_name="moss", library_version=__version__))

    def _check_reachable(self) -> None:
        """Fail fast when offline: huggingface_hub retries listings for ~20 s before giving up, which is right
        for a flaky server and wrong for a laptop with Wi-Fi off."""
        import httpx2
        from huggingface_hub import get_session

        try:
            get_session().head(self.endpoint + "/", timeout=httpx2.Timeout(5.0), follow_redirects=False)
        except httpx2.TransportError as exc:
            raise HubOfflineError(
                f"Could not reach {self.host}: {_short(exc)}. Check the connection; downloaded models still work."
            ) from exc

    def _call(self, call: Callable[[], T], *, what: str, repo_id: str | None = None, path: str | None = None) -> T:
        try:
            self._check_reachable()
            return call()
        except Exception as exc:
            raise self.explain(exc, what=what, repo_id=repo_id, path=path) from exc

    def explain(
        self, exc: BaseException, *, what: str, repo_id: str | None = None, path: str | None = None
    ) -> UserError:
        """``exc`` (from huggingface_hub or the HTTP client) as an error that says what to do."""
        has_token = bool(self.token)
        return explain_hub_error(
            exc, endpoint=self.endpoint, has_token=has_token, what=what, repo_id=repo_id, path=path
        )


def explain_hub_error(
    exc: BaseException,
    *,
    endpoint: str,
    has_token: bool,
    what: str,
    repo_id: str | None = None,
    path: str | None = None,
) -> UserError:
    import httpx2
    from huggingface_hub import errors

    if isinstance(exc, UserError):
        return exc
    host = endpoint.split("://", 1)[-1]
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
            f"{endpoint}/settings/tokens, and add it in Settings → Models (or set {TOKEN_ENV})."
        )
    if isinstance(exc, errors.RepositoryNotFoundError):
        hint = "" if has_token else " (if it is private, add a Hugging Face token in Settings → Models)"
        return HubError(f"There is no model repository {repo_id} on {host}{hint}. Check the name.")
    if isinstance(exc, errors.RevisionNotFoundError):
        return HubError(f"{repo_id} has no such revision. Check the name.")
    if isinstance(exc, errors.EntryNotFoundError):
        return HubError(f"{repo_id} has no file {path or ''}. Run `moss models search` to see its files.")
    if isinstance(exc, errors.OfflineModeIsEnabled | httpx2.TransportError | ConnectionError | TimeoutError):
        return HubOfflineError(
            f"Could not reach {host} to {what}: {_short(exc)}. Check the connection; downloaded models still work."
        )
    if isinstance(exc, errors.HfHubHTTPError):
        return HubError(f"{host} answered HTTP {_status(exc)} to {what}; try again later.")
    log.exception("unexpected error from the Hub client")
    return HubError(f"Could not {what}: {_short(exc)}.")


def _status(exc: BaseException) -> int:
    response = getattr(exc, "response", None)
    return int(getattr(response, "status_code", 0) or 0)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
