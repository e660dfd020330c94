"""Fuzzing downloads (issue 16): random fault schedules of the loopback Hub, random leftovers on disk, two
downloads of one model at once, random manifests, random free space. Whatever happens, a download ends with
the right file or none (a partial file at most as long as the file), never "verified" with a wrong hash, and
never with anything but a :class:`UserError` (one line for the person) or success.

Each example serves its own repository on one module-wide fake Hub, so a fault left unused by one example
cannot reach the next (faults match on the file name)."""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import threading
from collections.abc import Iterator
from pathlib import Path
from tempfile import TemporaryDirectory

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.errors import UserError
from app.devtools.fake_hub import FakeHub, FakeRepo, serve_fake_hub
from app.hub.download import ModelDownload, part_path, unfinished_downloads
from app.hub.download_files import DISK_MARGIN, space_margin, space_problem
from app.hub.download_queue import DownloadQueue, DownloadState, DownloadStatus
from app.hub.hub_client import HubClient
from app.hub.library import ModelLibrary
from app.hub.repo_files import RemoteFile, RemoteModel

SIZE = 150_000
FAST = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
_serial = itertools.count()


@pytest.fixture(scope="module")
def hub() -> Iterator[FakeHub]:
    with serve_fake_hub() as fake:
        yield fake


faults = st.lists(st.tuples(st.sampled_from(["drop", "500", "503", "corrupt"]), st.integers(0, SIZE)), max_size=6)
# What an earlier run, a crash or a person left on disk: (kind, size) of the partial file and the file itself.
leftover_part = st.one_of(
    st.none(),
    st.tuples(st.just("prefix"), st.integers(0, SIZE)),
    st.tuples(st.just("random"), st.integers(0, SIZE + 5_000)),
    st.tuples(st.just("longer"), st.integers(1, 5_000)),
)
leftover_file = st.sampled_from([None, "right", "flipped", "short", "long"])


def _content(seed: int) -> bytes:
    return random.Random(seed).randbytes(SIZE)


def _leftovers(dest: Path, data: bytes, part: tuple[str, int] | None, file: str | None, seed: int) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    noise = random.Random(seed + 1)
    if part is not None:
        kind, n = part
        body = {"prefix": data[:n], "random": noise.randbytes(n), "longer": data + noise.randbytes(n)}[kind]
        part_path(dest).write_bytes(body)
    if file is not None:
        flipped = bytearray(data)
        flipped[noise.randrange(len(data))] ^= 1 << noise.randrange(8)
        body = {"right": data, "flipped": bytes(flipped), "short": data[:-7], "long": data + b"x"}[file]
        dest.write_bytes(body)


@settings(FAST, max_examples=40)
@given(
    schedule=faults,
    part=leftover_part,
    file=leftover_file,
    concurrent=st.booleans(),
    throttle=st.sampled_from([None, 2_000_000]),
)
def test_fuzz_fault_schedules_end_with_the_right_file_or_none(
    hub: FakeHub,
    schedule: list[tuple[str, int]],
    part: tuple[str, int] | None,
    file: str | None,
    concurrent: bool,
    throttle: int | None,
) -> None:
    n = next(_serial)
    name = f"fuzz{n}-Q4_K_M.gguf"
    data = _content(n)
    repo = hub.add_repo(FakeRepo(f"fuzz/fuzz{n}-GGUF", {name: data}))
    for kind, after in schedule:
        hub.fail_next(kind, path_contains=name, after_bytes=after)
    hub.throttle_bytes_per_s = throttle
    client = HubClient(endpoint=hub.endpoint)
    listing = client.listing(repo.repo_id)
    (model,) = listing.models
    with TemporaryDirectory() as tmp:
        models_dir = Path(tmp) / "models"
        jobs = [
            ModelDownload(client, model, models_dir, revision=listing.commit, retry_delays=(0.0, 0.0, 0.0, 0.0))
            for _ in range(2 if concurrent else 1)
        ]
        dest = jobs[0].destination
        _leftovers(dest, data, part, file, n)
        outcomes: list[object] = [None] * len(jobs)

        def run(i: int) -> None:
            try:
                outcomes[i] = jobs[i].run()
            except UserError as exc:
                outcomes[i] = exc
            except BaseException as exc:  # anything else is a bug the fuzzer found
                outcomes[i] = ("bug", exc)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        hub.throttle_bytes_per_s = None
        assert all(isinstance(o, Path | UserError) for o in outcomes), outcomes
        for job, outcome in zip(jobs, outcomes, strict=True):
            if isinstance(outcome, Path):  # "verified": what is on disk is the Hub's file
                assert job.verified and hashlib.sha256(outcome.read_bytes()).hexdigest() == repo.sha256(name)
            else:
                assert str(outcome).strip() and "\n" not in str(outcome)
        if dest.exists():
            assert dest.read_bytes() == data  # a file in place is always the right one
        if part_path(dest).exists():
            assert part_path(dest).stat().st_size <= SIZE
        assert not jobs[0].lock_path.exists()
        if any(isinstance(o, Path) for o in outcomes):
            assert dest.exists() and unfinished_downloads(models_dir) == []


_json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", ".", "..", "../../victim.gguf", "a/b", "x.gguf", "C:\\x.gguf", "x\0.gguf", "org/name"]),
    st.text(max_size=12),
)
_json = st.recursive(
    _json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
_file_entry = st.fixed_dictionaries({"path": _json_leaf, "size_bytes": _json_leaf}, optional={"sha256": _json_leaf})
_manifest = st.one_of(
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    _json.map(json.dumps),
    st.fixed_dictionaries(
        {"revision": _json_leaf, "repo_id": _json_leaf, "files": st.lists(_file_entry, max_size=3) | _json_leaf},
        optional={"quantization": _json_leaf, "version": _json_leaf},
    ).map(json.dumps),
)


@settings(FAST, max_examples=80)
@given(text=_manifest, file_name=st.sampled_from(["x", "victim", ".."]))
def test_fuzz_manifests_never_crash_the_restore_or_reach_outside(text: str, file_name: str) -> None:
    """A manifest left by another version, half-written or edited: the window's restore and a cancel of what
    it shows never raise, and never delete a file outside the model's own folder."""
    with TemporaryDirectory() as tmp:
        models_dir = Path(tmp) / "models"
        folder = models_dir / "org" / "name"
        folder.mkdir(parents=True)
        victim = Path(tmp) / "victim.gguf"
        victim.write_bytes(b"mine")
        (models_dir / "victim.gguf").write_bytes(b"mine too")
        (folder / f"{file_name}.download.json").write_text(text, encoding="utf-8", errors="surrogateescape")
        found = unfinished_downloads(models_dir)
        for model, _revision, have in found:
            assert model.repo_id == "org/name" and have >= 0
        changes: list[DownloadStatus] = []
        queue = DownloadQueue(ModelLibrary(models_dir, Path(tmp) / "models.json"), HubClient, changes.append)
        queue.restore_unfinished()
        for status in queue.statuses():
            assert status.state is DownloadState.PAUSED
            queue.cancel(status.key)
        queue.shutdown()
        assert victim.read_bytes() == b"mine" and (models_dir / "victim.gguf").read_bytes() == b"mine too"


@settings(max_examples=300, deadline=None)
@given(needed=st.integers(0, 2**45), free=st.integers(0, 2**45))
def test_fuzz_the_free_space_check_says_only_true_things(needed: int, free: int) -> None:
    margin = space_margin(needed)
    assert 0 <= margin <= min(needed, DISK_MARGIN)  # never more spare than a small file itself needs
    problem = space_problem("m", needed, free, Path("/models"))
    assert (problem is None) == (needed + margin <= free)
    if problem is not None:
        short = problem.split("free at least ")[1].split(" more")[0]
        assert float(short.split(" ")[0]) > 0, problem  # a shortfall is never stated as nothing


def test_the_fuzzed_model_shapes_are_valid() -> None:
    """The fuzz above relies on the Hub listing its one file as one model with a sha256."""
    model = RemoteModel("fuzz/x-GGUF", (RemoteFile("x-Q4_K_M.gguf", SIZE, "0" * 64),), "Q4_K_M")
    assert model.name == "x-Q4_K_M" and model.size == SIZE
