"""Remote servers as data: a server a person added (name, base URL, kind, trusted CA file), the kinds Moss knows
with the shape of their base URL and a line of help, the checks a name and a URL pass before they are kept, and
the error every failure of a server becomes.

A server's API key is never part of this data: it lives in the secret store only (app.platform.secrets), under
:func:`api_key_name`, so settings files, logs and exports cannot hold it. Servers are kept in the settings
(``Settings.servers``); app.hub.servers adds, removes and opens them; app.engine.remote_engine talks to them.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

from app.core.errors import UserError, one_line
from app.core.types import GenerationResult

MAX_NAME_LENGTH = 64
MAX_URL_LENGTH = 2048


class ServerKind(enum.StrEnum):
    """What serves the API: it chooses the help shown and the shape of the base URL suggested."""

    VLLM = "vllm"
    LLAMA_CPP = "llama.cpp"
    OLLAMA = "ollama"
    LMSTUDIO = "lmstudio"
    AZURE = "azure"
    BEDROCK = "bedrock"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class ServerPreset:
    """A kind of server as offered when adding one: its title, the base URL to start from (capital words are
    placeholders to replace), and one line of help."""

    kind: ServerKind
    title: str
    url: str
    help: str
    needs_key: bool = False


PRESETS: dict[ServerKind, ServerPreset] = {
    preset.kind: preset
    for preset in (
        ServerPreset(
            ServerKind.VLLM,
            "vLLM",
            "http://HOST:8000/v1",
            "A GPU server running `vllm serve openai/gpt-oss-120b` (one GPU or several with "
            "--tensor-parallel-size); HOST is its name or address on your network.",
        ),
        ServerPreset(
            ServerKind.LLAMA_CPP,
            "llama.cpp server",
            "http://HOST:8080/v1",
            "llama.cpp's `llama-server -m gpt-oss-120b.gguf --jinja --host 0.0.0.0` on a machine of your network; "
            "HOST is its name or address.",
        ),
        ServerPreset(
            ServerKind.OLLAMA,
            "Ollama",
            "http://localhost:11434/v1",
            "Ollama on this computer (`ollama pull gpt-oss:20b`); for another computer, put its address in place "
            "of localhost.",
        ),
        ServerPreset(
            ServerKind.LMSTUDIO,
            "LM Studio",
            "http://localhost:1234/v1",
            "LM Studio's local server (Developer → Start server) on this computer.",
        ),
        ServerPreset(
            ServerKind.AZURE,
            "Azure AI Foundry",
            "https://RESOURCE.openai.azure.com/openai/v1",
            "A gpt-oss deployment in Azure AI Foundry: RESOURCE is your resource's name, the key is the resource's "
            "API key, and the model is the deployment's name.",
            needs_key=True,
        ),
        ServerPreset(
            ServerKind.BEDROCK,
            "AWS Bedrock",
            "https://bedrock-runtime.REGION.amazonaws.com/openai/v1",
            "Amazon Bedrock's OpenAI-compatible endpoint: REGION such as us-west-2, the key a Bedrock API key, the "
            "model openai.gpt-oss-120b-1:0 or openai.gpt-oss-20b-1:0.",
            needs_key=True,
        ),
        ServerPreset(
            ServerKind.OTHER,
            "Other",
            "https://HOST/v1",
            "Any server with an OpenAI-compatible Chat Completions API; its base URL usually ends in /v1.",
        ),
    )
}

# The presets' placeholders: a host with one of them left in was copied without being filled in.
_PLACEHOLDERS = ("HOST", "RESOURCE", "REGION")


def guess_kind(base_url: str) -> ServerKind:
    """The kind a URL most likely is, from what only that kind uses (its host or default port); OTHER if unsure."""
    parts = urllib.parse.urlsplit(base_url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if host.endswith(".openai.azure.com") or host.endswith(".services.ai.azure.com"):
        return ServerKind.AZURE
    if host.startswith("bedrock-runtime.") and host.endswith(".amazonaws.com"):
        return ServerKind.BEDROCK
    return {11434: ServerKind.OLLAMA, 1234: ServerKind.LMSTUDIO}.get(port or 0, ServerKind.OTHER)


@dataclass(frozen=True, slots=True)
class RemoteServer:
    """A server with an OpenAI-compatible API. ``name`` is how the person calls it ("" for a URL given once on the
    command line), ``base_url`` the API's base as the ``openai`` SDK takes it (``http://gpu-box:8000/v1``),
    ``ca_file`` a PEM file of certificate authorities to trust besides the system's ("" for none)."""

    name: str
    base_url: str
    kind: ServerKind = ServerKind.OTHER
    ca_file: str = ""

    @property
    def host(self) -> str:
        """``host:port`` (or the host alone when the URL gives no port), for messages."""
        return urllib.parse.urlsplit(self.base_url).netloc

    @property
    def label(self) -> str:
        """How messages name it: ``gpu-box (10.0.0.5:8000)``, or the address alone for an unnamed server."""
        return f"{self.name} ({self.host})" if self.name else self.host

    @property
    def origin(self) -> str:
        """Scheme, host and port: a key saved for one origin is never sent to another."""
        parts = urllib.parse.urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}".lower()

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "base_url": self.base_url, "kind": self.kind.value, "ca_file": self.ca_file}

    @classmethod
    def from_json(cls, item: Any) -> RemoteServer:
        """A server from its settings entry; ValueError when the entry is not one (a hand-edited file)."""
        if not isinstance(item, dict):
            raise ValueError("not an object")
        name, url, kind, ca_file = (item.get(key, "") for key in ("name", "base_url", "kind", "ca_file"))
        if not all(isinstance(value, str) for value in (name, url, kind, ca_file)):
            raise ValueError("a field is not text")
        try:
            return cls(check_server_name(name), check_base_url(url), ServerKind(kind or "other"), ca_file)
        except UserError as exc:
            raise ValueError(exc.message) from None


def read_servers(value: Any) -> tuple[RemoteServer, ...] | None:
    """The servers of a settings file's ``servers`` list, without the entries that are not servers and without a
    second server of one name; None when the value is not a list at all."""
    if not isinstance(value, list | tuple):
        return None
    servers: dict[str, RemoteServer] = {}
    for item in value:
        if isinstance(item, RemoteServer):
            server = item
        else:
            try:
                server = RemoteServer.from_json(item)
            except ValueError:
                continue
        servers.setdefault(server.name.casefold(), server)
    return tuple(servers.values())


def check_server_name(name: str) -> str:
    """``name`` trimmed, if it can name a server: one line of 1 to 64 characters that is not a URL."""
    name = name.strip()
    if not name:
        raise UserError("A server needs a name, such as gpu-box.")
    if len(name) > MAX_NAME_LENGTH:
        raise UserError(f"A server's name may be {MAX_NAME_LENGTH} characters at most; choose a shorter one.")
    if one_line(name) != name:
        raise UserError("A server's name must be one line of text, without control characters.")
    if "://" in name:
        raise UserError(f"{name!r} looks like a URL; give the server a short name, and its URL after the name.")
    return name


def check_base_url(url: str) -> str:
    """``url`` as a base URL for the API (trailing slashes removed), or a UserError saying what to fix."""
    url = url.strip()
    shown = one_line(url if len(url) <= 100 else url[:97] + "…")
    parts = urllib.parse.urlsplit(url) if len(url) <= MAX_URL_LENGTH and one_line(url) == url else None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname or " " in url:
        raise UserError(
            f"{shown!r} is not a server address: give the API's base URL, starting with http:// or https://, such "
            "as http://gpu-box:8000/v1."
        )
    if parts.username is not None or parts.password is not None:
        raise UserError(
            "Put no name or key in the server's URL (user:key@host): Moss keeps API keys in the system keychain "
            "only. Give the key with --api-key-env (or in the key field) instead."
        )
    if parts.query or parts.fragment:
        raise UserError(f"{shown!r} has a ?query or #fragment; give the API's base URL alone, such as …/v1.")
    try:
        parts.port  # noqa: B018 -- reading it checks it
    except ValueError:
        raise UserError(f"{shown!r} has a port that is not a number from 0 to 65535.") from None
    for label in re.split(r"[.:]", parts.netloc):  # (as typed: .hostname is lower-cased)
        if label in _PLACEHOLDERS:
            raise UserError(f"Replace {label} in {shown!r} with your server's {label.lower()}.")
    return url.rstrip("/")


def is_local_address(base_url: str) -> bool:
    """Whether the URL names this computer (localhost or a loopback address): nothing leaves it then."""
    host = (urllib.parse.urlsplit(base_url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# How a model on a server is named where a local model's path would be (recent models, the last model used):
# moss-server://SERVER/MODEL, both parts percent-encoded.
REMOTE_SCHEME = "moss-server"


def remote_model_ref(server_name: str, model_id: str) -> str:
    """The reference to ``model_id`` on the server called ``server_name``."""
    quote = urllib.parse.quote
    return f"{REMOTE_SCHEME}://{quote(server_name, safe='')}/{quote(model_id, safe='')}"


def parse_remote_ref(ref: str) -> tuple[str, str] | None:
    """The server's name and the model's id in a :func:`remote_model_ref`; None for anything else (a file path)."""
    prefix = f"{REMOTE_SCHEME}://"
    if not ref.startswith(prefix):
        return None
    server, slash, model = ref.removeprefix(prefix).partition("/")
    if not slash or not server or not model:
        return None
    unquote = urllib.parse.unquote
    return unquote(server), unquote(model)


def api_key_name(server_name: str) -> str:
    """The secret store's key under which a server's API key is kept."""
    return f"server-api-key:{server_name}"


def is_gpt_oss_name(model_id: str) -> bool:
    """Whether a server's model id names gpt-oss (``openai/gpt-oss-120b``, ``gpt-oss:20b``,
    ``openai.gpt-oss-20b-1:0``, a GGUF file's path): those take a reasoning effort and speak harmony."""
    flat = model_id.lower().replace("_", "-")
    return "gpt-oss" in flat or "gptoss" in flat


class ServerError(UserError):
    """A server could not be used as asked: unreachable, refused the key, rate-limited, failed, or cut the reply
    short. ``retry_after_s`` is the wait the server asked for (HTTP 429), ``partial`` the reply as far as it came
    before a stream broke (its finish reason ERROR), for the caller to keep."""

    def __init__(
        self, message: str, *, retry_after_s: float | None = None, partial: GenerationResult | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.partial = partial
