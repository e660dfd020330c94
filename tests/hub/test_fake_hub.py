"""The fake Hub (app/devtools/fake_hub.py) against the real huggingface_hub client and plain HTTP."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_url
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile, RepoFolder

from app.devtools.fake_hub import FakeHub, FakeRepo, serve_fake_hub

BLOB = bytes(range(256)) * 40  # 10 240 bytes
SPLIT = b"part one of two" * 100
ROOT = Path(__file__).resolve().parents[2]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any name other than the loopback address fails: no test can reach huggingface.co."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", b"127.0.0.1"):
            raise OSError(f"test tried to reach {host!r}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with serve_fake_hub(
        FakeRepo("acme/Tiny-GGUF", {"tiny.Q4_0.gguf": BLOB, "README.md": b"# tiny"}, downloads=10, likes=3),
        FakeRepo("acme/Big-GGUF", {"big/big-00001-of-00002.gguf": SPLIT, "big/big-00002-of-00002.gguf": SPLIT},
                 downloads=50, license="mit"),
        FakeRepo("acme/tiny-safetensors", {"model.safetensors": b"x"}, tags=("safetensors",), downloads=99),
        FakeRepo("meta/Gated-GGUF", {"gated.gguf": BLOB}, gated=True, downloads=5),
    ) as fake:  # fmt: skip
        yield fake


def _api(hub: FakeHub, token: str | bool = False) -> HfApi:
    return HfApi(endpoint=hub.endpoint, token=token)


def test_search_filters_by_name_and_tag_most_downloaded_first(hub: FakeHub) -> None:
    found = list(_api(hub).list_models(search="gguf", filter="gguf", sort="downloads", limit=10))
    assert [m.id for m in found] == ["acme/Big-GGUF", "acme/Tiny-GGUF", "meta/Gated-GGUF"]
    big, _, gated = found
    assert (big.downloads, big.likes, big.gated, big.private) == (50, 0, False, False)
    assert gated.gated == "auto" and big.last_modified is not None and big.siblings is None
    assert [m.id for m in _api(hub).list_models(search="TINY", filter="gguf", limit=1)] == ["acme/Tiny-GGUF"]
    assert [r.path for r in hub.requests] == [
        "/api/models?filter=gguf&search=gguf&sort=downloads&limit=10",
        "/api/models?filter=gguf&search=TINY&limit=1",
    ]
    assert "authorization" not in hub.requests[0].headers


def test_model_info_lists_files_with_sizes_and_sha256(hub: FakeHub) -> None:
    info = _api(hub).model_info("acme/Tiny-GGUF", files_metadata=True)
    repo = hub.repos["acme/Tiny-GGUF"]
    assert (info.id, info.sha, info.gated, info.downloads, info.likes) == ("acme/Tiny-GGUF", repo.commit, False, 10, 3)
    assert info.card_data is not None and info.card_data.license == "apache-2.0"
    assert info.tags == ["gguf"] and info.siblings is not None
    gguf = next(s for s in info.siblings if s.rfilename == "tiny.Q4_0.gguf")
    assert gguf.size == len(BLOB) and gguf.lfs is not None and gguf.lfs.sha256 == _sha(BLOB)
    assert gguf.lfs.size == len(BLOB) and 130 <= gguf.lfs.pointer_size <= 140 and gguf.blob_id
    assert hub.requests[-1].path == "/api/models/acme/Tiny-GGUF?blobs=true"

    plain = _api(hub).model_info("acme/Big-GGUF", revision=hub.repos["acme/Big-GGUF"].commit)
    assert plain.siblings is not None and {s.size for s in plain.siblings} == {None}
    assert plain.card_data is not None and plain.card_data.license == "mit"
    assert hub.requests[-1].path == f"/api/models/acme/Big-GGUF/revision/{plain.sha}"


def test_the_tree_has_folders_files_and_lfs_sha256_and_no_xet(hub: FakeHub) -> None:
    tree = list(_api(hub).list_repo_tree("acme/Big-GGUF", recursive=True, expand=True))
    assert [(type(e), e.path) for e in tree] == [
        (RepoFolder, "big"),
        (RepoFile, "big/big-00001-of-00002.gguf"),
        (RepoFile, "big/big-00002-of-00002.gguf"),
    ]
    part = tree[1]
    assert isinstance(part, RepoFile) and part.lfs is not None and part.xet_hash is None
    assert (part.size, part.lfs.sha256, part.lfs.size) == (len(SPLIT), _sha(SPLIT), len(SPLIT))
    assert part.last_commit is not None and part.last_commit.oid == hub.repos["acme/Big-GGUF"].commit
    assert hub.requests[-1].path == "/api/models/acme/Big-GGUF/tree/main?recursive=true&expand=true"

    assert [e.path for e in _api(hub).list_repo_tree("acme/Big-GGUF")] == ["big"]
    assert len(list(_api(hub).list_repo_tree("acme/Big-GGUF", "big"))) == 2
    assert hub.requests[-1].path == "/api/models/acme/Big-GGUF/tree/main/big?recursive=false&expand=false"
    with pytest.raises(RemoteEntryNotFoundError):
        list(_api(hub).list_repo_tree("acme/Big-GGUF", "nothing"))


def test_file_metadata_comes_from_the_redirect_without_following_it(hub: FakeHub) -> None:
    url = hf_hub_url("acme/Tiny-GGUF", "tiny.Q4_0.gguf", endpoint=hub.endpoint)
    assert url == hub.url("acme/Tiny-GGUF", "tiny.Q4_0.gguf")
    meta = get_hf_file_metadata(url, token=False)
    assert meta.commit_hash == hub.repos["acme/Tiny-GGUF"].commit
    assert (meta.etag, meta.size, meta.xet_file_data) == (_sha(BLOB), len(BLOB), None)
    assert meta.location.startswith(hub.cdn_endpoint + "/") and hub.cdn_endpoint != hub.endpoint
    [head] = hub.requests  # the CDN was not asked: huggingface_hub stops at a redirect to another host
    assert (head.method, head.server, head.headers["Accept-Encoding"]) == ("HEAD", "hub", "identity")


def test_a_gated_repo_needs_the_token_for_its_files_only(hub: FakeHub) -> None:
    info = _api(hub).model_info("meta/Gated-GGUF", files_metadata=True)  # metadata is public, as on the Hub
    assert info.gated == "auto" and info.siblings and info.siblings[0].lfs is not None
    url = hub.url("meta/Gated-GGUF", "gated.gguf")
    with pytest.raises(GatedRepoError) as denied:
        get_hf_file_metadata(url, token=False)
    assert denied.value.response.status_code == 401
    assert "Access to model meta/Gated-GGUF is restricted" in str(denied.value)
    with pytest.raises(HfHubHTTPError) as bad:
        get_hf_file_metadata(url, token="hf_wrong")
    assert bad.value.response.status_code == 401 and "Invalid credentials" in str(bad.value)
    assert get_hf_file_metadata(url, token=hub.token).size == len(BLOB)

    hub.access_granted = False  # a valid token whose user has not been granted access: 403
    with pytest.raises(GatedRepoError) as refused:
        get_hf_file_metadata(url, token=hub.token)
    assert refused.value.response.status_code == 403
    hub.gate_metadata = True
    with pytest.raises(GatedRepoError):
        _api(hub).model_info("meta/Gated-GGUF")
    assert _api(hub, hub.token).model_info("meta/Gated-GGUF").id == "meta/Gated-GGUF"


def test_the_token_goes_to_the_hub_never_to_the_cdn(hub: FakeHub) -> None:
    with httpx2.Client(follow_redirects=True) as client:
        reply = client.get(hub.url("meta/Gated-GGUF", "gated.gguf"), headers={"Authorization": f"Bearer {hub.token}"})
    assert reply.status_code == 200 and reply.content == BLOB
    resolve, download = hub.requests
    assert resolve.server == "hub" and resolve.headers["authorization"] == f"Bearer {hub.token}"
    assert download.server == "cdn" and "Authorization" not in download.headers
    assert hub.bytes_sent == len(BLOB)


def test_missing_repos_files_and_revisions_raise_their_errors(hub: FakeHub) -> None:
    with pytest.raises(RepositoryNotFoundError) as missing:
        _api(hub).model_info("acme/nothing")
    assert not isinstance(missing.value, GatedRepoError) and missing.value.response.status_code == 404
    with pytest.raises(RepositoryNotFoundError):
        list(_api(hub).list_repo_tree("acme/nothing", recursive=True))
    with pytest.raises(RemoteEntryNotFoundError) as no_file:
        get_hf_file_metadata(hub.url("acme/Tiny-GGUF", "nothing.gguf"), token=False)
    assert isinstance(no_file.value, EntryNotFoundError) and no_file.value.response.status_code == 404
    with pytest.raises(RevisionNotFoundError):
        get_hf_file_metadata(hub.url("acme/Tiny-GGUF", "tiny.Q4_0.gguf", revision="v9"), token=False)
    with pytest.raises(RepositoryNotFoundError):
        get_hf_file_metadata(hub.url("acme/nothing", "x.gguf"), token=False)


def test_a_private_repo_is_hidden_without_the_token(hub: FakeHub) -> None:
    hub.add_repo(FakeRepo("acme/Private-GGUF", {"p.gguf": b"p"}, private=True))
    with pytest.raises(RepositoryNotFoundError) as hidden:
        _api(hub).model_info("acme/Private-GGUF")
    assert hidden.value.response.status_code == 401
    assert "acme/Private-GGUF" not in [m.id for m in _api(hub).list_models(search="private")]
    assert _api(hub, hub.token).model_info("acme/Private-GGUF").private is True


def test_the_cdn_serves_ranges(hub: FakeHub) -> None:
    with httpx2.Client(follow_redirects=True) as client:
        url = hub.url("acme/Tiny-GGUF", "tiny.Q4_0.gguf")
        whole = client.get(url)
        etag = whole.headers["ETag"]
        assert (whole.status_code, whole.content, etag) == (200, BLOB, f'"{_sha(BLOB)}"')
        assert whole.headers["Accept-Ranges"] == "bytes" and whole.headers["Content-Length"] == str(len(BLOB))
        cdn = str(whole.url)  # the signed CDN address, as a downloader would keep it

        def get(range_: str, **headers: str) -> httpx2.Response:
            return client.get(cdn, headers={"Range": range_, **headers})

        tail = get("bytes=10000-")
        assert (tail.status_code, tail.content) == (206, BLOB[10000:])
        assert tail.headers["Content-Range"] == f"bytes 10000-{len(BLOB) - 1}/{len(BLOB)}"
        assert get("bytes=5-9").content == BLOB[5:10] and get("bytes=-4").content == BLOB[-4:]
        assert get("bytes=10000-99999").content == BLOB[10000:]
        beyond = get(f"bytes={len(BLOB)}-")
        assert (beyond.status_code, beyond.headers["Content-Range"]) == (416, f"bytes */{len(BLOB)}")
        assert get("bytes=100-", **{"If-Range": etag}).status_code == 206
        changed = get("bytes=100-", **{"If-Range": '"0000"'})
        assert (changed.status_code, changed.content) == (200, BLOB)
        assert client.get(cdn.replace(_sha(BLOB), _sha(b"other"))).status_code == 404
    assert hub.bytes_sent == 2 * len(BLOB) + (len(BLOB) - 10000) * 2 + 5 + 4 + (len(BLOB) - 100)
    assert all("authorization" not in r.headers for r in hub.requests)


def test_injected_failures(hub: FakeHub) -> None:
    url = hub.url("acme/Tiny-GGUF", "tiny.Q4_0.gguf")
    with httpx2.Client(follow_redirects=True) as client:
        hub.fail_next("500", times=2)
        assert [client.get(url).status_code for _ in range(3)] == [500, 500, 200]
        assert [r.server for r in hub.requests[-2:]] == ["hub", "cdn"]  # the hub itself was not failed

        hub.fail_next("503", path_contains="/resolve/")
        with pytest.raises(HfHubHTTPError) as unavailable:
            get_hf_file_metadata(url, token=False)
        assert unavailable.value.response.status_code == 503
        assert client.get(url).content == BLOB

        hub.fail_next("corrupt", path_contains="tiny.Q4_0")
        corrupt = client.get(url).content
        assert len(corrupt) == len(BLOB) and _sha(corrupt) != _sha(BLOB)
        assert client.get(url).content == BLOB

        hub.fail_next("drop", after_bytes=1000)
        received = bytearray()
        with pytest.raises(httpx2.RemoteProtocolError), client.stream("GET", url) as reply:
            assert reply.status_code == 200 and reply.headers["Content-Length"] == str(len(BLOB))
            for chunk in reply.iter_bytes():
                received += chunk
        assert bytes(received) == BLOB[:1000]
        assert client.get(url, headers={"Range": "bytes=1000-"}).content == BLOB[1000:]  # resumes


def test_a_throttled_download_can_be_cut_off_mid_file(hub: FakeHub) -> None:
    hub.throttle_bytes_per_s = 40_000
    start = time.monotonic()
    with httpx2.Client(follow_redirects=True) as client:
        assert client.get(hub.url("acme/Tiny-GGUF", "tiny.Q4_0.gguf")).content == BLOB
    assert time.monotonic() - start >= 0.2  # 10 KB at 40 KB/s
    hub.throttle_bytes_per_s = 1_000
    url = hub.url("acme/Big-GGUF", "big/big-00001-of-00002.gguf")
    with httpx2.Client(follow_redirects=True) as client, client.stream("GET", url) as reply:
        next(reply.iter_bytes())
    # The client went away mid-file; the server notices and stops sending well short of the file.
    time.sleep(0.15)
    sent = hub.bytes_sent
    time.sleep(0.1)
    assert hub.bytes_sent == sent < len(BLOB) + len(SPLIT)


def test_offline_refuses_connections_and_comes_back_on_the_same_address(hub: FakeHub) -> None:
    endpoint = hub.endpoint
    hub.set_offline(True)
    with httpx2.Client() as client:
        with pytest.raises(httpx2.ConnectError):
            client.get(f"{endpoint}/api/models")
        hub.set_offline(False)
        assert client.get(f"{endpoint}/api/models").status_code == 200
    assert hub.endpoint == endpoint


def test_stopping_closes_everything_even_mid_download() -> None:
    before = set(threading.enumerate())
    with httpx2.Client(follow_redirects=True) as client:
        with serve_fake_hub(FakeRepo("acme/Slow-GGUF", {"slow.gguf": BLOB})) as fake:
            fake.throttle_bytes_per_s = 1_000
            with client.stream("GET", fake.url("acme/Slow-GGUF", "slow.gguf")) as reply:
                started = time.monotonic()
                chunks = reply.iter_bytes()
                next(chunks)
                # the server stops while this response is still being sent: it must not wait for it
                fake.close()
                assert time.monotonic() - started < 2
                with pytest.raises(httpx2.RemoteProtocolError):
                    b"".join(chunks)
        with pytest.raises(httpx2.ConnectError):
            client.get(f"{fake.endpoint}/api/models")
    assert set(threading.enumerate()) <= before


def test_the_hub_runs_in_a_subprocess_from_a_spec(tmp_path: Path) -> None:
    (tmp_path / "local.gguf").write_bytes(SPLIT)
    spec = {
        "repos": [
            {"repo_id": "acme/Sub-GGUF", "files": {"a.gguf": "base64:" + base64.b64encode(BLOB).decode(),
                                                   "b.gguf": str(tmp_path / "local.gguf")}, "gated": True},
        ]
    }  # fmt: skip
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    command = [sys.executable, "-m", "app.devtools.fake_hub", "--spec", str(tmp_path / "spec.json")]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            endpoint = process.stdout.readline().strip()
            assert [m.gated for m in HfApi(endpoint=endpoint, token=False).list_models(search="sub")] == ["auto"]
            with httpx2.Client(follow_redirects=True) as client:
                headers = {"Authorization": "Bearer hf_test_token_123"}
                assert client.get(f"{endpoint}/acme/Sub-GGUF/resolve/main/a.gguf", headers=headers).content == BLOB
                assert client.get(f"{endpoint}/acme/Sub-GGUF/resolve/main/b.gguf", headers=headers).content == SPLIT
        finally:
            process.terminate()
