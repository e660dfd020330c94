"""The curated catalog: the gpt-oss GGUFs worth downloading, what each costs, and whether it fits here.

Entries name a repository and the quantization to take from it; the files, sizes and hashes come from the
Hub when it can be reached and are remembered in ``cache/catalog.json``, so the catalog still shows what it
last knew when the machine is offline. Whether a model fits is the offload planner's verdict on its header,
fetched with HTTP Range requests (a few MB of a 12-60 GB file) and remembered per file and machine.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.errors import UserError
from app.engine.hardware import Machine
from app.hub.hub_client import HubClient, HubOfflineError, RepoListing
from app.hub.model_details import Fit, fit_of
from app.hub.remote_header import read_remote_gguf_header
from app.hub.repo_files import RemoteFile, RemoteModel, find_model

log = logging.getLogger(__name__)

CACHE_VERSION = 1


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    family: str  # "gpt-oss-20b"
    repo_id: str
    quantization: str
    about_bytes: int  # shown before the Hub has been asked (offline, first run)
    note: str

    @property
    def title(self) -> str:
        return f"{self.family} · {self.quantization}"


CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        "gpt-oss-20b",
        "ggml-org/gpt-oss-20b-GGUF",
        "MXFP4",
        12_110_000_000,
        "llama.cpp's own conversion, in MXFP4, the format OpenAI released. Runs on a 16 GB GPU or Mac.",
    ),
    CatalogEntry(
        "gpt-oss-120b",
        "ggml-org/gpt-oss-120b-GGUF",
        "MXFP4",
        63_390_000_000,
        "llama.cpp's own conversion, in three parts. Needs about 64 GB of GPU and system memory together.",
    ),
    CatalogEntry(
        "gpt-oss-20b",
        "unsloth/gpt-oss-20b-GGUF",
        "F16",
        13_800_000_000,
        "Unsloth's conversion with their chat-template fixes; experts in MXFP4, the rest in 16-bit.",
    ),
    CatalogEntry(
        "gpt-oss-20b",
        "bartowski/openai_gpt-oss-20b-GGUF",
        "MXFP4",
        12_100_000_000,
        "bartowski's conversion; his other quantizations of this model keep the experts in MXFP4 too.",
    ),
    CatalogEntry(
        "gpt-oss-20b",
        "lmstudio-community/gpt-oss-20b-GGUF",
        "MXFP4",
        12_100_000_000,
        "The file LM Studio offers; handy if you use both apps.",
    ),
    CatalogEntry(
        "gpt-oss-120b",
        "unsloth/gpt-oss-120b-GGUF",
        "F16",
        65_400_000_000,
        "Unsloth's conversion of the large model, in parts.",
    ),
)


@dataclass(frozen=True, slots=True)
class CatalogRow:
    entry: CatalogEntry
    model: RemoteModel | None  # None until the Hub has been asked (or when it lacks the file)
    fit: Fit | None
    checked: str  # when the Hub was last asked, ISO time; "" if never
    problem: str = ""  # why the row is incomplete (offline, no access…)
    commit: str = ""  # the repository's commit the files came from (downloads pin it)
    offline: bool = False  # the Hub could not be reached (or was too slow) for this row: it shows the cache

    @property
    def size(self) -> int:
        return self.model.size if self.model else self.entry.about_bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "family": self.entry.family,
            "repo_id": self.entry.repo_id,
            "quantization": self.entry.quantization,
            "note": self.entry.note,
            "size_bytes": self.size,
            "model": self.model.to_json() if self.model else None,
            "fit": self.fit.to_json() if self.fit else None,
            "checked": self.checked,
            "problem": self.problem,
        }


def listing_from_json(raw: dict[str, Any]) -> RepoListing:
    models = tuple(
        RemoteModel(
            str(raw["repo_id"]),
            tuple(RemoteFile(f["path"], int(f["size_bytes"]), f.get("sha256")) for f in m["files"]),
            str(m.get("quantization", "")),
        )
        for m in raw["models"]
    )
    return RepoListing(str(raw["repo_id"]), str(raw["commit"]), str(raw["license"]), bool(raw["gated"]), models)


class CatalogCache:
    """What the Hub said last time: listings per repository, and fits per file and machine."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data = self._read()

    def _read(self) -> dict[str, Any]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(raw, dict) and raw.get("version") == CACHE_VERSION:
                return raw
        except (OSError, ValueError, RecursionError):  # (RecursionError: JSON nested too deeply to parse)
            pass
        return {"version": CACHE_VERSION, "listings": {}, "fits": {}}

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self._data, indent=1), encoding="utf-8")
        tmp.replace(self.path)

    def listing(self, repo_id: str) -> tuple[RepoListing, str] | None:
        item = self._data["listings"].get(repo_id)
        if not item:
            return None
        try:
            return listing_from_json(item["listing"]), str(item["checked"])
        except (KeyError, TypeError, ValueError):
            return None

    def put_listing(self, listing: RepoListing) -> str:
        checked = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self._data["listings"][listing.repo_id] = {"listing": listing.to_json(), "checked": checked}
        return checked

    def fit(self, key: str) -> Fit | None:
        item = self._data["fits"].get(key)
        return Fit.from_json(item) if isinstance(item, dict) else None

    def put_fit(self, key: str, fit: Fit) -> None:
        self._data["fits"][key] = fit.to_json()


def machine_key(machine: Machine) -> str:
    # Totals, not free memory: free memory moves by the minute and would make every cached verdict stale.
    return f"{machine.gpu_name}|{machine.gpu_total >> 30}|{machine.ram_total >> 30}|{machine.unified}"


def remote_fit(client: HubClient, model: RemoteModel, commit: str, machine: Machine, cache: CatalogCache) -> Fit:
    """The plan for ``model`` on ``machine``, from its header fetched by Range (remembered)."""
    key = f"{model.repo_id}/{commit}/{model.first.path}|{machine_key(machine)}"
    known = cache.fit(key)
    if known is not None:
        return known
    url = client.file_url(model.repo_id, model.first.path, revision=commit)
    header, fetched = client.bounded(
        lambda: read_remote_gguf_header(url, headers=client.auth_headers()),
        what=f"read the header of {model.name}",
        repo_id=model.repo_id,
    )
    log.info("read the header of %s (%d bytes) to plan it", model.spec, fetched)
    fit = fit_of(header, machine)
    cache.put_fit(key, fit)
    return fit


def catalog_rows(
    client: HubClient, cache: CatalogCache, machine: Machine | None, *, online: bool = True
) -> list[CatalogRow]:
    """The catalog with what the Hub says now (or, offline, said last), one row per entry. Blocking: run it
    off the GUI thread. A network failure is recorded once per row, not raised. All the requests together
    take at most ``client.timeout_s``: once the Hub is found unreachable or slow, the rest of the rows show
    what was cached."""
    client = client.sharing_deadline()
    rows = []
    offline_problem = ""
    for entry in CATALOG:
        problem = ""
        cached = cache.listing(entry.repo_id)
        listing, checked = cached if cached else (None, "")
        if online and not offline_problem:
            try:
                listing = client.listing(entry.repo_id, purpose="check the recommended gpt-oss models")
                checked = cache.put_listing(listing)
            except HubOfflineError as exc:
                offline_problem = problem = str(exc)  # stop asking: one line, not one per entry
            except UserError as exc:
                problem = str(exc)
        elif offline_problem:
            problem = offline_problem
        model = find_model(list(listing.models), entry.quantization) if listing else None
        fit = None
        if model is not None and listing is not None and machine is not None:
            try:
                fit = (
                    remote_fit(client, model, listing.commit, machine, cache)
                    if online and not offline_problem
                    else cache.fit(f"{model.repo_id}/{listing.commit}/{model.first.path}|{machine_key(machine)}")
                )
            except HubOfflineError as exc:
                offline_problem = problem = problem or str(exc)
            except UserError as exc:
                problem = problem or str(exc)
        commit = listing.commit if listing else ""
        rows.append(CatalogRow(entry, model, fit, checked, problem, commit, offline=bool(offline_problem)))
    cache.save()
    return rows
