"""Bad arguments and paths on the command line: each is one line on stderr and exit code 2, and nothing the person
had is touched. Run in-process through ``app.__main__.main`` (the same code as the ``moss`` executable), except
where the bytes of the command line itself matter.

The cases were found by fuzzing: a malformed URL raised ValueError, ``--data-dir ""`` used the real folders,
``history export -o`` replaced FIFOs and devices and created missing folders, numbers such as -1 or 10^30 went
through to llama.cpp or SQLite, a non-UTF-8 argument crashed with exit 1, and argparse's own errors printed the
whole usage before the line that mattered.
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from app.__main__ import main
from app.core.settings import Settings
from app.core.types import Role
from app.platform.paths import AppPaths
from app.platform.settings_store import load_settings
from app.storage.history import HistoryStore

ROOT = Path(__file__).resolve().parents[2]
HUGE = str(10**30)


def run(capsys: pytest.CaptureFixture[str], data_dir: Path, *args: str | Path) -> tuple[int, str, str]:
    """``moss --data-dir DATA_DIR ARGS`` in this process: (exit code, stdout, stderr)."""
    code = main(["--data-dir", str(data_dir), *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    """The single line a refusal writes on stderr (and an assertion that it is only one)."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def with_a_conversation(data_dir: Path) -> None:
    store = HistoryStore.open(AppPaths.resolve(data_dir).history_file, recover=False)
    try:
        conversation = store.create_conversation().id
        store.add_message(conversation, None, Role.USER, "How do glaciers move?")
    finally:
        store.close()


@pytest.mark.parametrize(
    "args",
    [
        ["frobnicate"],
        ["history"],
        ["chat", "--model"],
        ["plan", "--model", "m.gguf", "--vram", "-5GiB"],
        ["models", "import", "m.gguf", "--copy", "--move"],
        ["history", "export", "1", "--all"],
        ["prompt", "--model", "m.gguf", "--conversation", "c.json", "--date", "yesterday"],
    ],
)
def test_a_mistyped_command_line_is_one_line_pointing_to_help(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str]
) -> None:
    code, _, err = run(capsys, tmp_path, *args)
    line = one_line(err)
    assert code == 2
    assert line.startswith("moss") and line.endswith("--help`.")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["plan", "--model", "m.gguf", "--ctx", "-1"], "--ctx: expected a whole number from 1 to 1,048,576"),
        (["plan", "--model", "m.gguf", "--ctx", "0"], "leave the option out for the automatic length"),
        (["plan", "--model", "m.gguf", "--ctx", HUGE], "--ctx: expected a whole number"),
        (["plan", "--model", "m.gguf", "--ram", "1000000000000000GiB"], "more memory than any computer"),
        (["chat", "--model", "m.gguf", "--context", "-1", "hi"], "--context: expected a whole number from 1"),
        (["chat", "--model", "m.gguf", "--max-tokens", "0", "hi"], "--max-tokens: expected a whole number from 1"),
        (["chat", "--model", "m.gguf", "--max-tokens", HUGE, "hi"], "--max-tokens: expected a whole number"),
        (["chat", "--model", "m.gguf", "--seed", "-1", "hi"], "--seed: expected a whole number from 0"),
        (["chat", "--model", "m.gguf", "--seed", HUGE, "hi"], "--seed: expected a whole number from 0"),
        (["chat", "--model", "m.gguf", "--temperature", "nan", "hi"], "--temperature: expected a number from 0"),
        (["chat", "--model", "m.gguf", "--temperature", "inf", "hi"], "--temperature: expected a number from 0"),
        (["chat", "--model", "m.gguf", "--temperature", "-1", "hi"], "--temperature: expected a number from 0"),
        (["models", "search", "gpt-oss", "--limit", "0"], "--limit: expected a whole number from 1"),
        (["models", "search", "gpt-oss", "--limit", HUGE], "--limit: expected a whole number from 1"),
        (["history", "list", "--limit", HUGE], "--limit: expected a whole number from 1"),
        (["history", "search", "glacier", "--limit", "-3"], "--limit: expected a whole number from 1"),
        (["bench", "--tokens", HUGE], "--tokens: expected a whole number from 1"),
        (["bench", "ui", "--tokens-per-second", "nan"], "--tokens-per-second: expected a number above 0"),
        (["bench", "ui", "--tokens-per-second", "inf"], "--tokens-per-second: expected a number above 0"),
        (["bench", "ui", "--messages", HUGE], "--messages: expected a whole number from 1"),
    ],
)
def test_a_number_out_of_range_is_refused_by_the_parser(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], expected: str
) -> None:
    code, _, err = run(capsys, tmp_path, *args)
    assert code == 2
    assert expected in one_line(err)


def test_a_malformed_url_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, tmp_path, "plan", "--model", "http://[::1")
    assert code == 2
    assert one_line(err) == "moss: 'http://[::1' is not a web address Moss can read a model from. Check the address."


def test_an_empty_data_dir_is_refused_and_the_real_folders_are_not_touched(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("MOSS_DATA_DIR", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for empty in ("", "  "):
        code = main(["--data-dir", empty, "history", "list"])
        err = capsys.readouterr().err
        assert code == 2
        assert "The data folder given is empty" in one_line(err)
    assert list(home.iterdir()) == []


@pytest.mark.parametrize("blocker", ["file", "fifo"])
def test_a_data_dir_under_something_that_is_not_a_folder_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, blocker: str
) -> None:
    path = tmp_path / "in-the-way"
    if blocker == "file":
        path.write_text("notes")
    else:
        os.mkfifo(path)
    code, _, err = run(capsys, path, "history", "list")
    assert code == 2
    assert f"{path} is not a folder" in one_line(err)


def test_a_non_utf8_argument_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """Bytes that are not UTF-8, as a Linux terminal can pass them: refused before any command runs (they used to
    crash SQLite's binding with exit 1, and the log with a traceback on stderr)."""
    result = subprocess.run(
        [sys.executable, "-m", "app", "--data-dir", str(tmp_path), "history", "show", b"caf\xe9"],
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 2
    line = one_line(result.stderr.decode("utf-8"))
    assert line == "moss: 'caf\\xe9' is not UTF-8 text. Moss reads its arguments and file names as UTF-8: rename " \
        "the file, or type the text again."  # fmt: skip


def test_a_non_utf8_argument_in_process(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, tmp_path, "models", "import", "mod\udcffel.gguf")  # how Python holds such bytes
    assert code == 2
    assert "'mod\\xffel.gguf' is not UTF-8 text" in one_line(err)


# -- history export -o ------------------------------------------------------------------------------------


def _device(path: Path) -> None:
    os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # the null device, made in the test's own folder


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_export_never_replaces_a_fifo_or_a_device(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str
) -> None:
    if kind == "device" and os.geteuid() != 0:
        pytest.skip("only root can make a device node")
    data = tmp_path / "data"
    with_a_conversation(data)
    target = tmp_path / "out.md"
    os.mkfifo(target) if kind == "fifo" else _device(target)
    code, _, err = run(capsys, data, "history", "export", "--all", "-o", target)
    assert code == 2
    assert "is not a regular file" in one_line(err)
    mode = target.lstat().st_mode
    assert stat.S_ISFIFO(mode) if kind == "fifo" else stat.S_ISCHR(mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "out.md"]  # no temporary file left


def test_export_to_a_folder_says_to_name_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "data"
    with_a_conversation(data)
    folder = tmp_path / "exports"
    folder.mkdir()
    code, _, err = run(capsys, data, "history", "export", "--all", "-o", folder)
    assert code == 2
    assert one_line(err) == f"moss: {folder} is a folder. Name a file in it to export to, like {folder / 'chats.md'}."
    assert list(folder.iterdir()) == []


def test_export_into_a_missing_folder_is_refused_and_creates_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    with_a_conversation(data)
    target = tmp_path / "typo" / "deeper" / "chats.md"
    code, _, err = run(capsys, data, "history", "export", "--all", "-o", target)
    assert code == 2
    assert f"{target.parent} does not exist" in one_line(err)
    assert not (tmp_path / "typo").exists()


def test_export_through_a_link_replaces_the_file_it_points_to(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    with_a_conversation(data)
    real = tmp_path / "real.md"
    real.write_text("an older export")
    link = tmp_path / "link.md"
    link.symlink_to(real)
    code, out, err = run(capsys, data, "history", "export", "--all", "-o", link)
    assert (code, err) == (0, "")
    assert out.strip() == f"Exported 1 conversation to {real}."
    assert link.is_symlink() and "How do glaciers move?" in real.read_text(encoding="utf-8")


def test_numbers_out_of_range_in_a_hand_edited_settings_file_are_read_as_the_defaults(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_gpt_oss: Path
) -> None:
    """The settings file is the window's and `moss chat`'s: a -1 context used to become "not enough memory", a
    negative reply length an empty reply. Such a value is read as the default, as a value of the wrong type is."""
    data = tmp_path / "data"
    settings = AppPaths.resolve(data).settings_file
    settings.parent.mkdir(parents=True)
    hand_edited = {"context_length": -1, "n_threads": -2, "n_batch": 10**30, "sampling_custom": True,
                   "temperature": -3.0, "top_k": -7, "top_p": 5.0, "max_tokens": -5, "gpu_layers": -9}  # fmt: skip
    settings.write_text(json.dumps(hand_edited), encoding="utf-8")
    code, out, err = run(capsys, data, "chat", "--model", tiny_gpt_oss, "--json", "--max-tokens", "1", "Hi")
    assert code == 0, err
    reply = json.loads(out)
    defaults = Settings()
    assert reply["params"]["temperature"] == defaults.temperature and reply["params"]["top_k"] == defaults.top_k
    assert reply["params"]["top_p"] == defaults.top_p
    assert reply["load_params"]["n_threads"] is None  # automatic
    assert load_settings(settings) == dataclasses.replace(defaults, sampling_custom=True)


@pytest.mark.parametrize(
    "args",
    [
        ["history", "list", "\r"],
        ["models", "import", "two\nlines.gguf"],
        ["history", "show", "\x1b[2J"],
        ["plan", "--model", "http://[\n"],
    ],
)
def test_a_line_break_in_an_argument_does_not_break_the_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str]
) -> None:
    """Control characters in what a message quotes are written as escapes: the message stays one line, and an
    argument cannot clear the terminal."""
    code, _, err = run(capsys, tmp_path, *args)
    assert code == 2
    line = one_line(err)
    assert "\x1b" not in line and "\r" not in line
