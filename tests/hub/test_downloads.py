"""Downloads against a real loopback Hub (app/devtools/fake_hub.py): verified, resumed, retried, refused.

Each test runs the real huggingface_hub client and Moss's own HTTP streaming against two real servers (the
hub, and a CDN on another port that the hub redirects to)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.devtools.fake_hub import FakeHub, FakeRepo, serve_fake_hub
from app.hub.download import (
    ChecksumError,
    DiskFullError,
    DownloadBusyError,
    DownloadError,
    ModelDownload,
    Progress,
    Stopped,
    StopReason,
    StopSignal,
    part_path,
    unfinished_downloads,
)
from app.hub.download_queue import DownloadQueue, DownloadState, DownloadStatus
from app.hub.hub_client import HubAccessError, HubClient, HubError, HubOfflineError
from app.hub.library import ModelLibrary
from app.hub.repo_files import RemoteModel, find_model
from tests.helpers.tiny_gpt_oss import write_tiny_gpt_oss

REPO = "ggml-org/tiny-gpt-oss-GGUF"
FAST_RETRIES = (0.01, 0.01, 0.01)


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_tiny_gpt_oss(tmp_path_factory.mktemp("src") / "tiny.gguf").read_bytes()


@pytest.fixture(scope="module")
def split_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    first = write_tiny_gpt_oss(tmp_path_factory.mktemp("split") / "tiny-split-mxfp4.gguf", split_max_tensors=10)
    return {p.name: p.read_bytes() for p in sorted(first.parent.glob("*.gguf"))}


@pytest.fixture
def hub(model_bytes: bytes, split_files: dict[str, bytes]) -> Iterator[FakeHub]:
    with serve_fake_hub() as fake:
        fake.add_repo(FakeRepo(REPO, {"tiny-gpt-oss-MXFP4.gguf": model_bytes, "README.md": b"# tiny\n"}))
        fake.add_repo(FakeRepo("org/split-GGUF", dict(split_files)))
        fake.add_repo(FakeRepo("org/gated-GGUF", {"gated-Q4_K_M.gguf": model_bytes}, gated=True))
        yield fake


@pytest.fixture
def library(tmp_path: Path) -> ModelLibrary:
    return ModelLibrary(tmp_path / "models", tmp_path / "data" / "models.json")


def _model(client: HubClient, repo: str = REPO, wanted: str = "MXFP4") -> tuple[RemoteModel, str]:
    listing = client.listing(repo)
    model = find_model(list(listing.models), wanted)
    assert model is not None
    return model, listing.commit


def _cdn_ranges(hub: FakeHub) -> list[str]:
    return [r.headers.get("Range") or "" for r in hub.requests if r.server == "cdn" and r.method == "GET"]


def test_listing_groups_quantizations_and_split_parts(hub: FakeHub, split_files: dict[str, bytes]) -> None:
    client = HubClient(endpoint=hub.endpoint)
    listing = client.listing("org/split-GGUF")
    (model,) = listing.models
    assert len(model.files) == len(split_files) > 1
    assert model.name == "tiny-split-mxfp4" and model.quantization == "MXFP4"
    assert [f.sha256 for f in model.files] == [hashlib.sha256(b).hexdigest() for b in split_files.values()]
    assert listing.license == "apache-2.0" and listing.commit == hub.repos["org/split-GGUF"].commit
    assert [r.repo_id for r in client.search("tiny")] == [REPO]


def test_full_download_is_verified_and_moved_into_place(
    hub: FakeHub, library: ModelLibrary, model_bytes: bytes
) -> None:
    client = HubClient(endpoint=hub.endpoint)
    model, commit = _model(client)
    seen: list[Progress] = []
    path = ModelDownload(client, model, library.models_dir, revision=commit, on_progress=seen.append).run()
    assert path == library.models_dir / "ggml-org" / "tiny-gpt-oss-GGUF" / "tiny-gpt-oss-MXFP4.gguf"
    assert path.read_bytes() == model_bytes
    assert not part_path(path).exists() and unfinished_downloads(library.models_dir) == []
    assert seen[-1].phase.value == "verifying" and seen[-1].done == len(model_bytes)
    # The download was pinned to the listing's commit.
    assert any(f"/resolve/{commit}/" in r.path for r in hub.requests if r.server == "hub")


def test_a_dropped_connection_resumes_with_a_range_request(
    hub: FakeHub, library: ModelLibrary, model_bytes: bytes
) -> None:
    client = HubClient(endpoint=hub.endpoint)
    model, commit = _model(client)
    hub.fail_next("drop", after_bytes=100_000)
    path = ModelDownload(client, model, library.models_dir, revision=commit, retry_delays=FAST_RETRIES).run()
    assert path.read_bytes() == model_bytes
    assert _cdn_ranges(hub) == ["", "bytes=100000-"]


def test_a_server_error_is_retried(hub: FakeHub, library: ModelLibrary, model_bytes: bytes) -> None:
    client = HubClient(endpoint=hub.endpoint)
    model, commit = _model(client)
    hub.fail_next("500", times=2)
    path = ModelDownload(client, model, library.models_dir, revision=commit, retry_delays=FAST_RETRIES).run()
    assert path.read_bytes() == model_bytes
    assert len(_cdn_ranges(hub)) == 3


def test_a_server_that_keeps_failing_gives_up_and_keeps_the_partial_file(hub: FakeHub, library: ModelLibrary) -> None:
    client = HubClient(endpoint=hub.endpoint)
    model, commit = _model(client)
    hub.fail_next("drop", after_bytes=50_000)
    hub.fail_next("503", times=10)
    job = ModelDownload(client, model, library.models_dir, revision=commit, retry_delays=FAST_RETRIES)
    with pytest.raises(DownloadError, match=r"keeps failing.*partial file is kept"):
        job.run()
    part = part_path(job.destination)
    assert part.stat().st_size == 50_000
    assert [m.name for m, _rev, have in unfinished_downloads(library.models_dir) if have == 50_000] == [model.name]


def test_a_file_damaged_on_the_way_is_downloaded_again(hub: FakeHub, library: ModelLibrary, model_bytes: bytes) -> None:
    client = HubClient(endpoint=hub.endpoint)
    model, commit = _model(client)
    hub.fail_next("corrupt")
    job = ModelDownload(client, model, library.models_dir, revision=commit)
    assert job.run().read_bytes() == model_bytes
    assert _cdn_ranges(hub) == ["", ""]
    assert any("arrived damaged" in note and "downloaded again" in note for note in job.notes)


def test_too_little_disk_space_is_refused_before_any_byte(hub: FakeHub, library: ModelLibrary) -> None:
    client = HubClient(endpoint=hub.endpoint)
    model, commit = _model(client)
    # It fits, but would leave less spare than the file's own size (the margin for a small file).
    free = model.size + 100_000
    job = ModelDownload(client, model, library.models_dir, revision=commit, free_bytes=lambda _p: free)
    with pytest.raises(DiskFullError, match=r"Not enough disk space.*Settings → Models"):
        job.run()
    assert _cdn_ranges(hub) == []


def test_a_gated_repo_needs_the_token_which_never_reaches_the_cdn(
    hub: FakeHub, library: ModelLibrary, model_bytes: bytes
) -> None:
    anonymous = HubClient(endpoint=hub.endpoint)
    model, commit = _model(anonymous, "org/gated-GGUF", "Q4_K_M")
    with pytest.raises(HubAccessError, match=r"needs a Hugging Face token.*Settings → Privacy"):
        ModelDownload(anonymous, model, library.models_dir, revision=commit).run()
    wrong = HubClient(endpoint=hub.endpoint, token="hf_wrong")
    with pytest.raises(HubAccessError, match="has no access"):
        ModelDownload(wrong, model, library.models_dir, revision=commit).run()
    authed = HubClient(endpoint=hub.endpoint, token=hub.token)
    path = ModelDownload(authed, model, library.models_dir, revision=commit).run()
    assert path.read_bytes() == model_bytes
    assert any(r.headers.get("Authorization") == f"Bearer {hub.token}" for r in hub.requests if r.server == "hub")
    assert all("Authorization" not in r.headers for r in hub.requests if r.server == "cdn")


def test_split_files_download_as_one_model(hub: FakeHub, library: ModelLibrary, split_files: dict[str, bytes]) -> None:
    client = HubClient(endpoint=hub.endpoint)
    model, commit = _model(client, "org/split-GGUF")
    first = ModelDownload(client, model, library.models_dir, revision=commit).run()
    installed = library.add_download(first, repo_id=model.repo_id, sha256=tuple(f.sha256 for f in model.files))
    assert [p.read_bytes() for p in installed.parts] == list(split_files.values())
    assert installed.id == "tiny-split-mxfp4" and installed.size_bytes == sum(map(len, split_files.values()))
    assert [m.id for m in library.models()] == [installed.id]  # the later parts are not listed on their own


def test_cancel_deletes_the_partial_file_and_pause_keeps_it(hub: FakeHub, library: ModelLibrary) -> None:
    client = HubClient(endpoint=hub.endpoint)
    model, commit = _model(client)
    hub.throttle_bytes_per_s = 200_000
    for reason in (StopReason.PAUSE, StopReason.CANCEL):
        stop = StopSignal()

        def on_progress(p: Progress, stop: StopSignal = stop, reason: StopReason = reason) -> None:
            if p.done > 50_000:
                stop.stop(reason)

        job = ModelDownload(client, model, library.models_dir, revision=commit, on_progress=on_progress, stop=stop)
        with pytest.raises(Stopped):
            job.run()
        part = part_path(job.destination)
        if reason is StopReason.PAUSE:
            assert part.stat().st_size > 50_000
        else:
            assert not part.exists() and not job.manifest.exists()


def test_offline_is_one_clear_error(library: ModelLibrary) -> None:
    with serve_fake_hub() as fake:
        endpoint = fake.endpoint
        fake.set_offline(True)
        with pytest.raises(HubOfflineError, match=r"Could not reach 127.0.0.1.*downloaded models still work"):
            HubClient(endpoint=endpoint).listing(REPO)


def test_missing_repo_and_file_say_what_to_do(hub: FakeHub) -> None:
    client = HubClient(endpoint=hub.endpoint)
    with pytest.raises(HubError, match="no model repository nobody/nothing"):
        client.listing("nobody/nothing")


def test_the_queue_runs_downloads_in_turn_and_resumes_a_paused_one(
    hub: FakeHub, library: ModelLibrary, model_bytes: bytes
) -> None:
    client = HubClient(endpoint=hub.endpoint)
    single, commit = _model(client)
    split, split_commit = _model(client, "org/split-GGUF")
    events: list[DownloadStatus] = []
    done, paused = threading.Event(), threading.Event()

    def on_change(status: DownloadStatus) -> None:
        events.append(status)
        if status.key == key and status.progress and status.progress.done > 50_000 and not paused.is_set():
            queue.pause(key)  # pausing the running one keeps its file; the next one starts
        if status.state is DownloadState.PAUSED:
            paused.set()
        finished = [s for s in queue.statuses() if s.state is DownloadState.DONE]
        if len(finished) == 2:
            done.set()

    hub.throttle_bytes_per_s = 400_000
    queue = DownloadQueue(library, lambda: HubClient(endpoint=hub.endpoint), on_change)
    key = single.spec
    queue.enqueue(single, commit)
    queue.enqueue(split, split_commit)
    assert paused.wait(10)
    queue.resume(key)  # it goes back into the queue, after the split model
    assert done.wait(30), [(s.key, s.state) for s in queue.statuses()]
    queue.shutdown()
    assert {m.id for m in library.models()} == {"tiny-gpt-oss-mxfp4", "tiny-split-mxfp4"}
    states = [s.state for s in events if s.key == key]
    assert DownloadState.PAUSED in states and states[-1] is DownloadState.DONE
    # It continued from its partial file: the second request to the CDN for it asked for a range.
    ranges = [r.headers.get("Range") for r in hub.requests if r.server == "cdn" and "MXFP4.gguf" in r.path]
    assert ranges[0] is None and ranges[-1] is not None and ranges[-1].startswith("bytes=")
    assert library.get("tiny-gpt-oss-mxfp4").path.read_bytes() == model_bytes


# --- issue 16: what a fuzzing run found ------------------------------------------------------------------------


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_damaged_file_already_in_place_is_checked_and_downloaded_again(
    hub: FakeHub, library: ModelLibrary, model_bytes: bytes
) -> None:
    client = HubClient(endpoint=hub.endpoint)
    model, commit = _model(client)
    path = ModelDownload(client, model, library.models_dir, revision=commit).run()
    damaged = bytearray(path.read_bytes())
    damaged[len(damaged) // 3] ^= 0x01  # one flipped bit: same size, wrong hash
    path.write_bytes(bytes(damaged))
    again = ModelDownload(client, model, library.models_dir, revision=commit)
    assert again.run() == path
    assert path.read_bytes() == model_bytes
    assert any("did not match" in note and "downloaded again" in note for note in again.notes)
    assert again.fetched == len(model_bytes) and again.verified
    # An intact file is checked and not fetched again.
    third = ModelDownload(client, model, library.models_dir, revision=commit)
    requests = len(hub.requests)
    assert third.run() == path and third.fetched == 0 and third.verified and third.notes == []
    assert [r for r in hub.requests[requests:] if r.server == "cdn"] == []


def _job_with_part(hub: FakeHub, library: ModelLibrary, part_bytes: bytes) -> ModelDownload:
    """A download of the test model with ``part_bytes`` left in its partial file by an earlier try."""
    client = HubClient(endpoint=hub.endpoint)
    model, commit = _model(client)
    job = ModelDownload(client, model, library.models_dir, revision=commit)
    part = part_path(job.destination)
    part.parent.mkdir(parents=True)
    part.write_bytes(part_bytes)
    return job


def test_a_part_larger_than_the_file_is_discarded_and_said_so(
    hub: FakeHub, library: ModelLibrary, model_bytes: bytes
) -> None:
    job = _job_with_part(hub, library, model_bytes + b"\0" * 4096)
    assert job.run().read_bytes() == model_bytes
    assert job.resumed_from == 0  # nothing was continued: the request started at byte 0
    assert _cdn_ranges(hub) == [""]
    assert any("larger than" in note and "discarded" in note for note in job.notes)


def test_a_damaged_part_is_downloaded_again_from_the_start(
    hub: FakeHub, library: ModelLibrary, model_bytes: bytes
) -> None:
    job = _job_with_part(hub, library, b"\xff" * 100_000)  # not the file's first bytes
    assert job.run().read_bytes() == model_bytes
    assert _cdn_ranges(hub) == ["bytes=100000-", ""]
    assert job.resumed_from == 0 and any("damaged" in note for note in job.notes)


def test_a_download_corrupted_twice_is_deleted_and_never_called_verified(hub: FakeHub, library: ModelLibrary) -> None:
    client = HubClient(endpoint=hub.endpoint)
    model, commit = _model(client)
    hub.fail_next("corrupt", times=2)
    job = ModelDownload(client, model, library.models_dir, revision=commit)
    with pytest.raises(ChecksumError, match="did not match the Hub's checksum"):
        job.run()
    assert not job.destination.exists() and not part_path(job.destination).exists()


def test_a_small_model_needs_only_a_small_margin_of_free_space(
    hub: FakeHub, library: ModelLibrary, model_bytes: bytes
) -> None:
    client = HubClient(endpoint=hub.endpoint)
    model, commit = _model(client)
    free = 2 * len(model_bytes) + 10_000_000  # 10 MB left after it: plenty for a 0.5 MB file
    job = ModelDownload(client, model, library.models_dir, revision=commit, free_bytes=lambda _p: free)
    assert job.run().read_bytes() == model_bytes


@pytest.mark.parametrize("free", [0, 100_000, 452_000, 460_000])
def test_the_disk_space_message_never_contradicts_itself(hub: FakeHub, library: ModelLibrary, free: int) -> None:
    client = HubClient(endpoint=hub.endpoint)
    model, commit = _model(client)
    job = ModelDownload(client, model, library.models_dir, revision=commit, free_bytes=lambda _p: free)
    with pytest.raises(DiskFullError) as raised:
        job.run()
    message = str(raised.value)
    assert "Not enough disk space" in message and "free at least" in message
    needs = message.split("it needs ")[1].split(" ")[0]
    has = message.split(" and ")[1].split(" is free")[0].split(" ")[0]
    # The shortfall is stated, rounded up, and never as nothing.
    short = message.split("free at least ")[1].split(" more")[0]
    assert float(short.split(" ")[0]) > 0, message
    assert float(needs) > 0 and float(has) >= 0
    assert _cdn_ranges(hub) == []


def test_a_second_download_of_the_same_model_is_refused_while_the_first_runs(
    hub: FakeHub, library: ModelLibrary, model_bytes: bytes
) -> None:
    client = HubClient(endpoint=hub.endpoint)
    model, commit = _model(client)
    hub.throttle_bytes_per_s = 400_000
    started = threading.Event()

    def on_progress(p: Progress) -> None:
        if p.done > 50_000:
            started.set()

    first = ModelDownload(client, model, library.models_dir, revision=commit, on_progress=on_progress)
    result: list[Path] = []
    thread = threading.Thread(target=lambda: result.append(first.run()))
    thread.start()
    assert started.wait(10)
    second = ModelDownload(client, model, library.models_dir, revision=commit)
    with pytest.raises(DownloadBusyError, match="already being downloaded by another Moss"):
        second.run()
    second.discard()  # a cancel elsewhere leaves the running download's files alone
    assert part_path(first.destination).exists()
    thread.join(30)
    assert result and result[0].read_bytes() == model_bytes
    assert not first.lock_path.exists()  # tidied away once done


def test_a_lock_left_by_a_process_that_died_does_not_block(
    hub: FakeHub, library: ModelLibrary, model_bytes: bytes
) -> None:
    client = HubClient(endpoint=hub.endpoint)
    model, commit = _model(client)
    job = ModelDownload(client, model, library.models_dir, revision=commit)
    job.lock_path.parent.mkdir(parents=True)
    job.lock_path.write_text("")  # the file stays when a process is killed; the OS lock on it does not
    assert job.run().read_bytes() == model_bytes


def test_the_window_queue_honours_another_download_of_the_same_model(
    hub: FakeHub, library: ModelLibrary, model_bytes: bytes
) -> None:
    client = HubClient(endpoint=hub.endpoint)
    model, commit = _model(client)
    hub.throttle_bytes_per_s = 400_000
    started = threading.Event()
    other = ModelDownload(
        client, model, library.models_dir, revision=commit, on_progress=lambda p: p.done > 50_000 and started.set()
    )
    thread = threading.Thread(target=other.run)
    thread.start()
    assert started.wait(10)
    failed = threading.Event()
    queue = DownloadQueue(
        library,
        lambda: HubClient(endpoint=hub.endpoint),
        lambda s: s.state is DownloadState.FAILED and failed.set(),
    )
    key = queue.enqueue(model, commit)
    assert failed.wait(10)
    (status,) = queue.statuses()
    assert "already being downloaded by another Moss" in status.error
    queue.cancel(key)  # cancelling the failed entry must not delete the other download's partial file
    assert part_path(other.destination).exists()
    (status,) = queue.statuses()
    assert status.state is DownloadState.FAILED and status.error.startswith("Not cancelled")
    queue.shutdown()
    thread.join(30)
    assert other.destination.read_bytes() == model_bytes
