"""Finding models other apps downloaded: real folders laid out like each app's, in a temporary directory."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.hub.local_scan import GPT4ALL, HF_CACHE, JAN, LM_STUDIO, FoundModel, ScanRoot, known_roots, scan


def write(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"GGUF" + b"\0" * (size - 4))
    return path


def link(path: Path, target: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)
    return path


def hf_cache(hub: Path) -> None:
    """huggingface_hub's layout: blobs named by hash, snapshot files as relative links to them."""
    repo = hub / "models--ggml-org--gpt-oss-20b-GGUF"
    write(repo / "blobs" / "aaaa", 3000)
    write(repo / "blobs" / "bbbb.incomplete", 100)  # a download in progress
    write(repo / "refs" / "main", 40)
    # Two revisions that share the model's blob: one model, not two.
    link(repo / "snapshots" / "rev1" / "gpt-oss-20b-mxfp4.gguf", "../../blobs/aaaa")
    link(repo / "snapshots" / "rev2" / "gpt-oss-20b-mxfp4.gguf", "../../blobs/aaaa")
    write(hub / "models--gpt2" / "blobs" / "cccc", 50)
    link(hub / "models--gpt2" / "snapshots" / "r" / "ggml" / "gpt2-q8_0.GGUF", "../../../blobs/cccc")
    write(hub / "datasets--someone--data" / "snapshots" / "r" / "not-a-model.gguf", 10)


def lm_studio(models: Path) -> None:
    repo = models / "lmstudio-community" / "gpt-oss-120b-GGUF"
    for i in (1, 2, 3):
        write(repo / f"gpt-oss-120b-MXFP4-0000{i}-of-00003.gguf", 1000 * i)
    # Parts 1 and 3 of another set: still downloading, not offered.
    write(repo / "gpt-oss-120b-Q8_0-00001-of-00003.gguf", 10)
    write(repo / "gpt-oss-120b-Q8_0-00003-of-00003.gguf", 10)
    write(models / "unsloth" / "Qwen-VL-GGUF" / "qwen-vl-q4.gguf", 700)
    write(models / "unsloth" / "Qwen-VL-GGUF" / "mmproj-qwen-vl-f16.gguf", 70)
    write(models / "unsloth" / "Qwen-VL-GGUF" / "qwen-vl-q8.gguf.part", 70)
    write(models / "stray.gguf", 5)  # no publisher/repo: no repo id


def test_each_app_s_layout_yields_its_models_once(tmp_path: Path) -> None:
    hf_cache(tmp_path / "hf")
    lm_studio(tmp_path / "lms")
    jan_file = write(tmp_path / "jan" / "gpt-oss-20b" / "model.gguf", 400)
    write(tmp_path / "jan" / "gpt-oss-20b" / "model.gguf.download", 400)
    gpt4all_file = write(tmp_path / "gpt4all" / "Llama-3.2-3B-Instruct-Q4_0.gguf", 300)
    roots = [
        ScanRoot(JAN, tmp_path / "jan"),
        ScanRoot(HF_CACHE, tmp_path / "hf"),
        ScanRoot(LM_STUDIO, tmp_path / "lms"),
        ScanRoot(GPT4ALL, tmp_path / "gpt4all"),
        ScanRoot(JAN, tmp_path / "missing"),
    ]

    found = scan(roots)

    hf20 = tmp_path / "hf" / "models--ggml-org--gpt-oss-20b-GGUF" / "snapshots" / "rev1" / "gpt-oss-20b-mxfp4.gguf"
    gpt2 = tmp_path / "hf" / "models--gpt2" / "snapshots" / "r" / "ggml" / "gpt2-q8_0.GGUF"
    lms = tmp_path / "lms" / "lmstudio-community" / "gpt-oss-120b-GGUF"
    split = tuple(lms / f"gpt-oss-120b-MXFP4-0000{i}-of-00003.gguf" for i in (1, 2, 3))
    vl = tmp_path / "lms" / "unsloth" / "Qwen-VL-GGUF" / "qwen-vl-q4.gguf"
    stray = tmp_path / "lms" / "stray.gguf"
    assert found == [
        FoundModel(gpt4all_file, (gpt4all_file,), GPT4ALL, 300, None),
        FoundModel(hf20, (hf20,), HF_CACHE, 3000, "ggml-org/gpt-oss-20b-GGUF"),
        FoundModel(gpt2, (gpt2,), HF_CACHE, 50, "gpt2"),
        FoundModel(jan_file, (jan_file,), JAN, 400, None),
        FoundModel(split[0], split, LM_STUDIO, 6000, "lmstudio-community/gpt-oss-120b-GGUF"),
        FoundModel(stray, (stray,), LM_STUDIO, 5, None),
        FoundModel(vl, (vl,), LM_STUDIO, 700, "unsloth/Qwen-VL-GGUF"),
    ]


def test_overlapping_roots_list_a_file_once_under_the_first_root(tmp_path: Path) -> None:
    model = write(tmp_path / "models" / "pub" / "repo" / "m.gguf", 10)
    found = scan([ScanRoot(LM_STUDIO, tmp_path / "models"), ScanRoot(JAN, tmp_path)])
    assert found == [FoundModel(model, (model,), LM_STUDIO, 10, "pub/repo")]


def test_a_link_loop_does_not_hang_and_folder_links_are_not_followed(tmp_path: Path) -> None:
    model = write(tmp_path / "a" / "b" / "m.gguf", 10)
    link(tmp_path / "a" / "b" / "up", "..")  # a folder link back up: a loop if followed
    link(tmp_path / "a" / "self.gguf", "self.gguf")  # a link to itself: neither file nor folder
    link(tmp_path / "a" / "broken.gguf", "nowhere.gguf")
    outside = write(tmp_path / "elsewhere" / "x.gguf", 10)
    link(tmp_path / "a" / "elsewhere", "../elsewhere")
    started = time.monotonic()
    assert scan([ScanRoot(JAN, tmp_path / "a")]) == [FoundModel(model, (model,), JAN, 10, None)]
    assert time.monotonic() - started < 5
    assert outside.exists()


@pytest.mark.skipif(os.name == "nt" or os.geteuid() == 0, reason="needs folder permissions that bind its owner")
def test_an_unreadable_folder_is_skipped(tmp_path: Path) -> None:
    model = write(tmp_path / "open" / "m.gguf", 10)
    write(tmp_path / "closed" / "secret.gguf", 10)
    (tmp_path / "closed").chmod(0)
    try:
        assert scan([ScanRoot(JAN, tmp_path)]) == [FoundModel(model, (model,), JAN, 10, None)]
    finally:
        (tmp_path / "closed").chmod(0o755)


def test_a_folder_that_refuses_listing_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The same as above where permissions bind no one (root, CI containers): the OS's answer, simulated.
    model = write(tmp_path / "open" / "m.gguf", 10)
    write(tmp_path / "closed" / "secret.gguf", 10)
    real_scandir = os.scandir

    def scandir(path: str | Path) -> Iterator[os.DirEntry[str]]:
        if Path(path) == tmp_path / "closed":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    assert scan([ScanRoot(JAN, tmp_path)]) == [FoundModel(model, (model,), JAN, 10, None)]


def test_depth_is_bounded(tmp_path: Path) -> None:
    shallow = write(tmp_path / "1" / "2" / "shallow.gguf", 10)
    write(tmp_path / "1" / "2" / "3" / "4" / "deep.gguf", 10)
    assert [m.path for m in scan([ScanRoot(JAN, tmp_path)], max_depth=3)] == [shallow]


def test_the_deadline_stops_the_scan_with_what_it_found(tmp_path: Path) -> None:
    write(tmp_path / "m.gguf", 10)
    assert scan([ScanRoot(JAN, tmp_path)], deadline_s=0.0) == []
    assert len(scan([ScanRoot(JAN, tmp_path)], deadline_s=10.0)) == 1


def roots_of(source: str, roots: list[ScanRoot]) -> list[Path]:
    return [r.path for r in roots if r.source == source]


def test_linux_roots(tmp_path: Path) -> None:
    home = tmp_path / "home"
    roots = known_roots(home=home, env={}, system="Linux")
    assert roots_of(HF_CACHE, roots) == [home / ".cache" / "huggingface" / "hub"]
    assert roots_of(LM_STUDIO, roots) == [home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"]
    assert roots_of(JAN, roots) == [home / ".config" / "Jan" / "data" / "llamacpp" / "models", home / "jan" / "models"]
    assert roots_of(GPT4ALL, roots) == [home / ".local" / "share" / "nomic.ai" / "GPT4All"]

    xdg = {"XDG_CACHE_HOME": "/c", "XDG_CONFIG_HOME": "/cfg", "XDG_DATA_HOME": "~/data"}
    roots = known_roots(home=home, env=xdg, system="Linux")
    assert roots_of(HF_CACHE, roots) == [Path("/c/huggingface/hub")]
    assert roots_of(JAN, roots)[0] == Path("/cfg/Jan/data/llamacpp/models")
    assert roots_of(GPT4ALL, roots) == [home / "data" / "nomic.ai" / "GPT4All"]


def test_macos_roots(tmp_path: Path) -> None:
    home = tmp_path / "home"
    support = home / "Library" / "Application Support"
    roots = known_roots(home=home, env={"XDG_CONFIG_HOME": "/ignored"}, system="Darwin")
    assert roots_of(HF_CACHE, roots) == [home / ".cache" / "huggingface" / "hub"]
    assert roots_of(LM_STUDIO, roots) == [home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"]
    assert roots_of(JAN, roots) == [support / "Jan" / "data" / "llamacpp" / "models", home / "jan" / "models"]
    assert roots_of(GPT4ALL, roots) == [support / "nomic.ai" / "GPT4All"]


def test_windows_roots(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"APPDATA": str(tmp_path / "Roaming"), "LOCALAPPDATA": str(tmp_path / "Local")}
    roots = known_roots(home=home, env=env, system="Windows")
    assert roots_of(HF_CACHE, roots) == [home / ".cache" / "huggingface" / "hub"]
    assert roots_of(LM_STUDIO, roots) == [home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"]
    assert roots_of(JAN, roots) == [
        tmp_path / "Roaming" / "Jan" / "data" / "llamacpp" / "models",
        home / "jan" / "models",
    ]
    assert roots_of(GPT4ALL, roots) == [tmp_path / "Local" / "nomic.ai" / "GPT4All"]
    # Without the variables, their usual places under the profile.
    roots = known_roots(home=home, env={}, system="Windows")
    assert roots_of(JAN, roots)[0] == home / "AppData" / "Roaming" / "Jan" / "data" / "llamacpp" / "models"
    assert roots_of(GPT4ALL, roots) == [home / "AppData" / "Local" / "nomic.ai" / "GPT4All"]


def test_hugging_face_variables_take_huggingface_hub_s_precedence(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for env, expected in [
        ({"HF_HUB_CACHE": "/hub", "HF_HOME": "/hf", "XDG_CACHE_HOME": "/xdg"}, Path("/hub")),
        ({"HUGGINGFACE_HUB_CACHE": "/old", "HF_HOME": "/hf"}, Path("/old")),
        ({"HF_HOME": "/hf", "XDG_CACHE_HOME": "/xdg"}, Path("/hf/hub")),
        ({"HF_HOME": "~/hf"}, home / "hf" / "hub"),
        ({"HF_HOME": "", "XDG_CACHE_HOME": "/xdg"}, Path("/xdg/huggingface/hub")),
    ]:
        for system in ("Linux", "Darwin", "Windows"):
            assert roots_of(HF_CACHE, known_roots(home=home, env=env, system=system)) == [expected], (env, system)


def test_defaults_describe_this_machine() -> None:
    roots = known_roots()
    assert {r.source for r in roots} == {HF_CACHE, LM_STUDIO, JAN, GPT4ALL}
    assert all(r.path.is_absolute() for r in roots)
