"""Planning before a download: a remote GGUF's header read over real HTTP Range requests (loopback)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.core.errors import ModelFileError, UserError
from app.devtools.replicas import write_gpt_oss_replica
from app.engine.gguf_header import read_gguf_header
from app.engine.hardware import GIB, simulated_machine
from app.engine.model_layout import model_layout
from app.engine.planner import plan
from app.hub.remote_header import read_remote_gguf_header
from tests.helpers.http_server import serve_folder


def test_the_header_of_a_12_gb_model_costs_a_few_megabytes(tmp_path: Path) -> None:
    local = write_gpt_oss_replica(tmp_path / "gpt-oss-20b-mxfp4.gguf", "20b")
    with serve_folder(tmp_path) as server:
        header, fetched = read_remote_gguf_header(server.url(local.name))
        sent = server.bytes_sent
    assert header.path.name == "gpt-oss-20b-mxfp4.gguf"
    assert header.file_size == local.stat().st_size
    assert header.tensors == read_gguf_header(local).tensors
    assert fetched == sent < 16 * 1024**2  # of a 12.1 GB file
    fit = plan(model_layout(header), simulated_machine(16 * GIB, 32 * GIB))
    assert fit.fits and fit.n_cpu_moe == 0


def test_a_remote_file_shorter_than_its_header_says_is_reported(tmp_path: Path, smollm2: Path) -> None:
    cut = tmp_path / "cut.gguf"
    with smollm2.open("rb") as source, cut.open("wb") as target:
        shutil.copyfileobj(source, target)
        target.truncate(20_000_000)
    with serve_folder(tmp_path) as server, pytest.raises(ModelFileError, match="is incomplete"):
        read_remote_gguf_header(server.url("cut.gguf"))


def test_a_missing_remote_file_is_a_clear_error(tmp_path: Path) -> None:
    with serve_folder(tmp_path) as server, pytest.raises(UserError, match="HTTP 404"):
        read_remote_gguf_header(server.url("nothing-here.gguf"))


def test_moss_plan_takes_a_url(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    write_gpt_oss_replica(tmp_path / "gpt-oss-120b.gguf", "120b")
    with serve_folder(tmp_path) as server:
        result = subprocess.run(
            [sys.executable, "-m", "app", "--data-dir", str(tmp_path / "data"), "plan", "--json",
             "--model", server.url("gpt-oss-120b.gguf"), "--vram", "16GiB", "--ram", "32GiB"],
            capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2],
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["fits"] is False


def test_a_split_remote_model_is_planned_from_all_its_parts(tmp_path: Path) -> None:
    from tests.helpers.tiny_gpt_oss import write_tiny_gpt_oss

    first = write_tiny_gpt_oss(tmp_path / "tiny.gguf", split_max_tensors=15)
    with serve_folder(tmp_path) as server:
        header, _ = read_remote_gguf_header(server.url(first.name))
    assert header.tensors == read_gguf_header(first).tensors
    assert header.file_size == sum(p.stat().st_size for p in tmp_path.glob("tiny-*.gguf"))
