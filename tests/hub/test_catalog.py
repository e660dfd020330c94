"""The curated catalog against a loopback Hub: files, sizes and fit from a Range-read header; offline, the
catalog shows what the Hub said last time."""

from __future__ import annotations

from pathlib import Path

from app.devtools.fake_hub import FakeRepo, serve_fake_hub
from app.engine.hardware import simulated_machine
from app.hub.catalog import CATALOG, CatalogCache, catalog_rows
from app.hub.hub_client import HubClient
from tests.helpers.tiny_gpt_oss import write_tiny_gpt_oss


def test_catalog_rows_online_then_offline(tmp_path: Path) -> None:
    data = write_tiny_gpt_oss(tmp_path / "tiny.gguf").read_bytes()
    machine = simulated_machine(None, 16 * 2**30)
    cache = CatalogCache(tmp_path / "cache" / "catalog.json")
    with serve_fake_hub() as hub:
        hub.add_repo(FakeRepo("ggml-org/gpt-oss-20b-GGUF", {"gpt-oss-20b-mxfp4.gguf": data}))
        client = HubClient(endpoint=hub.endpoint)
        rows = catalog_rows(client, cache, machine)
        first = rows[0]
        assert first.entry.repo_id == "ggml-org/gpt-oss-20b-GGUF"
        assert first.model is not None and first.size == len(data)
        assert first.fit is not None and first.fit.fits
        assert first.commit == hub.repos["ggml-org/gpt-oss-20b-GGUF"].commit
        # The others are not on this hub: each says so, and keeps its usual size.
        assert all(r.model is None and r.problem and r.size == r.entry.about_bytes for r in rows[1:])
        ranged = [r for r in hub.requests if r.server == "cdn" and r.headers.get("Range")]
        assert ranged and hub.bytes_sent <= len(data)
        hub.set_offline(True)
        offline = catalog_rows(client, CatalogCache(cache.path), machine)
    assert len(offline) == len(CATALOG)
    assert offline[0].model == first.model and offline[0].fit == first.fit and offline[0].checked == first.checked
    assert len({r.problem for r in offline}) == 1 and "Could not reach" in offline[0].problem
