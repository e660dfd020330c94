"""`moss models …` as a real process against a real loopback Hub (HF_ENDPOINT): search, pull (killed with
SIGKILL mid-file, then resumed with a Range request), list, info, import, rm, and the errors (exit 2)."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.devtools.fake_hub import FakeHub, FakeRepo, serve_fake_hub
from tests.helpers.tiny_gpt_oss import write_tiny_gpt_oss

ROOT = Path(__file__).resolve().parents[2]
REPO = "ggml-org/tiny-gpt-oss-GGUF"
FILE = "tiny-gpt-oss-MXFP4.gguf"


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_tiny_gpt_oss(tmp_path_factory.mktemp("src") / "tiny.gguf").read_bytes()


@pytest.fixture
def hub(model_bytes: bytes) -> Iterator[FakeHub]:
    with serve_fake_hub() as fake:
        fake.add_repo(FakeRepo(REPO, {FILE: model_bytes, "tiny-gpt-oss-Q8_0.gguf": model_bytes[:-1] + b"x"}))
        fake.add_repo(FakeRepo("org/gated-GGUF", {"gated-MXFP4.gguf": model_bytes}, gated=True))
        yield fake


def _env(hub: FakeHub, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_HUB_OFFLINE")}
    return {**env, "HF_ENDPOINT": hub.endpoint, "PYTHONUNBUFFERED": "1", **extra}


def moss(hub: FakeHub, data_dir: Path, *args: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", "--data-dir", str(data_dir), "models", *map(str, args)],
        cwd=ROOT,
        env=_env(hub, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def start_pull(hub: FakeHub, data_dir: Path, *, capture: bool) -> subprocess.Popen[str]:
    """``moss models pull`` of the MXFP4 file, running in the background (the hub throttled by the test)."""
    output = subprocess.PIPE if capture else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, "-m", "app", "--data-dir", str(data_dir), "models", "pull", f"{REPO}:MXFP4"],
        cwd=ROOT,
        env=_env(hub),
        stdout=output,
        stderr=output,
        text=True,
    )


def wait_for_part(data_dir: Path, more_than: int) -> Path:
    """The partial file of that pull, once it holds more than ``more_than`` bytes (or after a minute)."""
    part = data_dir / "models" / "ggml-org" / "tiny-gpt-oss-GGUF" / (FILE + ".part")
    deadline = time.monotonic() + 60
    while not (part.exists() and part.stat().st_size > more_than) and time.monotonic() < deadline:
        time.sleep(0.05)
    return part


def test_search_and_files(hub: FakeHub, tmp_path: Path) -> None:
    found = moss(hub, tmp_path, "search", "tiny", "--json")
    assert found.returncode == 0, found.stderr
    assert [r["repo_id"] for r in json.loads(found.stdout)] == [REPO]
    files = moss(hub, tmp_path, "files", REPO)
    assert files.returncode == 0 and "MXFP4" in files.stdout and "Q8_0" in files.stdout


def test_pull_killed_mid_file_resumes_with_a_range_request(hub: FakeHub, tmp_path: Path, model_bytes: bytes) -> None:
    hub.throttle_bytes_per_s = 60_000  # ~8 s for the file: time to kill it part-way
    child = start_pull(hub, tmp_path, capture=False)
    part = wait_for_part(tmp_path, 120_000)
    os.kill(child.pid, signal.SIGKILL)  # no chance to clean up: like a crash or a power cut
    child.wait()
    kept = part.stat().st_size
    assert 120_000 < kept < len(model_bytes)
    lock = part.with_name("tiny-gpt-oss-MXFP4.download.lock")
    assert lock.exists()  # left behind by the killed process; the OS released its lock, so it blocks nothing

    hub.throttle_bytes_per_s = None
    first_request = len(hub.requests)
    again = moss(hub, tmp_path, "pull", f"{REPO}:MXFP4", "--json")
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert result["resumed_from_bytes"] == kept
    assert Path(result["path"]).read_bytes() == model_bytes
    ranges = [r.headers.get("Range") for r in hub.requests[first_request:] if r.server == "cdn"]
    assert ranges == [f"bytes={kept}-"]
    assert not part.exists() and not lock.exists()

    listed = moss(hub, tmp_path, "list", "--json")
    (item,) = json.loads(listed.stdout)
    assert item["id"] == "tiny-gpt-oss-mxfp4" and item["path"] == result["path"]
    assert item["size_bytes"] == len(model_bytes)
    assert item["architecture"] == "gpt-oss" and item["quantization"] == "MXFP4_MOE"
    assert item["sha256"] and item["fit"]["fits"] is True


def test_ctrl_c_pauses_a_pull_and_keeps_the_partial_file(hub: FakeHub, tmp_path: Path) -> None:
    hub.throttle_bytes_per_s = 60_000
    child = start_pull(hub, tmp_path, capture=True)
    part = wait_for_part(tmp_path, 60_000)
    child.send_signal(signal.SIGINT)
    _out, err = child.communicate(timeout=30)
    assert child.returncode == 130
    assert "paused" in err and "Run the same command to continue" in err
    assert part.stat().st_size > 60_000


def test_gated_repo_without_token_exits_2_with_what_to_do(hub: FakeHub, tmp_path: Path) -> None:
    refused = moss(hub, tmp_path, "pull", "org/gated-GGUF")
    assert refused.returncode == 2
    (line,) = refused.stderr.strip().splitlines()
    assert "org/gated-GGUF needs a Hugging Face token" in line and "HF_TOKEN" in line
    allowed = moss(hub, tmp_path, "pull", "org/gated-GGUF", HF_TOKEN=hub.token)
    assert allowed.returncode == 0, allowed.stderr
    assert all("Authorization" not in r.headers for r in hub.requests if r.server == "cdn")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nobody/nothing", "There is no model repository nobody/nothing"),
        (f"{REPO}:Q2_K", "has no model 'Q2_K'. Choose one of: MXFP4, Q8_0"),
        ("not-a-repo", "is not a repository name"),
    ],
)
def test_pull_errors_are_one_line_and_exit_2(hub: FakeHub, tmp_path: Path, spec: str, message: str) -> None:
    result = moss(hub, tmp_path, "pull", spec)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr


def test_no_network_is_one_line(hub: FakeHub, tmp_path: Path) -> None:
    hub.set_offline(True)
    result = moss(hub, tmp_path, "search", "gpt-oss")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "Could not reach 127.0.0.1" in line and "Check the connection" in line


def test_import_info_and_rm(hub: FakeHub, tmp_path: Path) -> None:
    mine = write_tiny_gpt_oss(tmp_path / "Downloads" / "my-model.gguf", seed=4)
    data = tmp_path / "data"
    added = moss(hub, data, "import", mine, "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["id"] == "my-model"
    again = moss(hub, data, "import", mine)
    assert "Already in the library as my-model" in again.stdout
    info = moss(hub, data, "info", "my-model", "--json")
    details = json.loads(info.stdout)
    assert details["architecture"] == "gpt-oss" and details["context_length"] > 0 and details["has_chat_template"]
    unconfirmed = moss(hub, data, "rm", "my-model")
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr
    removed = moss(hub, data, "rm", "my-model", "--yes", "--json")
    assert json.loads(removed.stdout) == {"id": "my-model", "freed_bytes": 0, "deleted": False}
    assert mine.exists()  # used in place: forgotten, not deleted
    missing = moss(hub, data, "info", "my-model")
    assert missing.returncode == 2 and "No model 'my-model'" in missing.stderr


# --- issue 16: what a fuzzing run found ------------------------------------------------------------------------


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_pull_again_checks_the_file_on_disk_and_repairs_a_flipped_byte(
    hub: FakeHub, tmp_path: Path, model_bytes: bytes
) -> None:
    first = moss(hub, tmp_path, "pull", f"{REPO}:MXFP4", "--json")
    assert first.returncode == 0, first.stderr
    path = Path(json.loads(first.stdout)["path"])
    damaged = bytearray(path.read_bytes())
    damaged[1000] ^= 0x01
    path.write_bytes(bytes(damaged))

    again = moss(hub, tmp_path, "pull", f"{REPO}:MXFP4")
    assert again.returncode == 0, again.stderr
    assert _sha(path.read_bytes()) == _sha(model_bytes)  # what is on disk is what was verified
    assert "did not match" in again.stderr and "downloaded again" in again.stderr
    assert "Downloaded and verified" in again.stdout

    intact = moss(hub, tmp_path, "pull", f"{REPO}:MXFP4")
    assert intact.returncode == 0, intact.stderr
    assert "Already downloaded" in intact.stdout and "verified" in intact.stdout
    assert "continued from" not in intact.stdout


def test_two_pulls_of_one_model_at_once_never_mix_their_bytes(hub: FakeHub, tmp_path: Path, model_bytes: bytes) -> None:
    hub.throttle_bytes_per_s = 150_000  # ~3 s for the file: the second pull starts while the first runs
    first = start_pull(hub, tmp_path, capture=True)
    wait_for_part(tmp_path, 50_000)
    second = moss(hub, tmp_path, "pull", f"{REPO}:MXFP4")
    assert second.returncode == 2, second.stderr
    (line,) = second.stderr.strip().splitlines()
    assert "already being downloaded by another Moss" in line
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    path = tmp_path / "models" / "ggml-org" / "tiny-gpt-oss-GGUF" / FILE
    assert path.stat().st_size == len(model_bytes) and _sha(path.read_bytes()) == _sha(model_bytes)
    assert "Downloaded and verified" in out


def test_an_oversized_partial_file_is_discarded_not_continued(hub: FakeHub, tmp_path: Path, model_bytes: bytes) -> None:
    part = tmp_path / "models" / "ggml-org" / "tiny-gpt-oss-GGUF" / (FILE + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\0" * (len(model_bytes) + 100_000))
    result = moss(hub, tmp_path, "pull", f"{REPO}:MXFP4")
    assert result.returncode == 0, result.stderr
    assert "continued from" not in result.stdout
    assert "larger than" in result.stderr and "discarded" in result.stderr
    assert [r.headers.get("Range") for r in hub.requests if r.server == "cdn"] == [None]


def test_a_disk_that_fills_up_during_a_pull_is_one_line_and_keeps_the_partial_file(
    hub: FakeHub, tmp_path: Path
) -> None:
    limit = 200_000  # RLIMIT_FSIZE: writes past it fail (EFBIG) as they would on a full disk (ENOSPC)

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run(
        [sys.executable, "-m", "app", "--data-dir", str(tmp_path), "models", "pull", f"{REPO}:MXFP4"],
        cwd=ROOT,
        env=_env(hub),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=small_files,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "Logging error" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert any("partial file is kept" in line for line in lines), result.stderr
    part = tmp_path / "models" / "ggml-org" / "tiny-gpt-oss-GGUF" / (FILE + ".part")
    assert 0 < part.stat().st_size <= limit


def test_a_log_file_that_cannot_be_written_is_said_once_and_the_command_still_works(
    hub: FakeHub, tmp_path: Path, model_bytes: bytes
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "moss.log").symlink_to("/dev/full")  # every write: "No space left on device"
    result = moss(hub, tmp_path, "pull", f"{REPO}:MXFP4", "--json")  # --json: no progress lines on stderr
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["verified"] is True
    assert "Logging error" not in result.stderr and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "cannot write the log file" in lines[0] and "No space left on device" in lines[0]
