"""Linux: the tarball, built from a stand-in app, and install.sh run into a throwaway home folder."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from tests.helpers.missing_library import ABSENT, compiler, write_library_needing_an_absent_one
from tests.installers.common import INSTALLERS, _executable, _run, _version, posix_only

# -- Linux: the tarball and install.sh ----------------------------------------------------------------------------


def _fake_dist(tmp_path: Path) -> Path:
    """A stand-in for PyInstaller's dist/Moss: `moss` writes the arguments it got to $MOSS_ARGS_LOG."""
    dist = tmp_path / "dist" / "Moss"
    _executable(dist / "moss", '#!/bin/sh\nprintf "[%s]" "$@" > "$MOSS_ARGS_LOG"\n')
    internal = dist / "_internal" / "llama_cpp" / "lib"
    internal.mkdir(parents=True)
    (internal / "libllama.so").write_bytes(b"\x7fELF")
    (internal / "libllama.so.0").symlink_to("libllama.so")
    return dist


def _make_tarball(tmp_path: Path) -> Path:
    env = {key: value for key, value in os.environ.items() if key not in ("MOSS_VERSION", "MOSS_ARCH")}
    _run([INSTALLERS / "linux" / "make_tarball.sh", _fake_dist(tmp_path), tmp_path / "out"], env=env)
    (tarball,) = (tmp_path / "out").glob("*.tar.gz")
    return tarball


def _unpacked_package(tmp_path: Path) -> Path:
    """The tarball's one folder, unpacked as a person would before running its install.sh."""
    with tarfile.open(_make_tarball(tmp_path)) as archive:
        archive.extractall(tmp_path / "unpacked", filter="tar")
    (package,) = (tmp_path / "unpacked").iterdir()
    return package


def _desktop_entry(path: Path) -> configparser.SectionProxy:
    """The [Desktop Entry] of a .desktop file, its keys as written (configparser would lower-case them)."""
    desktop = configparser.ConfigParser(interpolation=None)
    desktop.optionxform = str
    desktop.read(path, encoding="utf-8")
    return desktop["Desktop Entry"]


@posix_only
def test_tarball_holds_the_app_its_menu_entry_icon_and_installer(tmp_path: Path) -> None:
    tarball = _make_tarball(tmp_path)
    name = f"Moss-{_version()}-linux-{os.uname().machine}"
    assert tarball.name == f"{name}.tar.gz"
    with tarfile.open(tarball) as archive:
        members = {member.name.removeprefix(f"{name}/"): member for member in archive.getmembers()}
    for file in ("Moss/moss", "install.sh", "moss-open"):
        assert members[file].mode & stat.S_IXUSR, f"{file} is not executable"
    for file in ("moss.desktop", "moss.png", "moss.svg", "moss-gguf.xml"):
        assert members[file].isfile()
    link = members["Moss/_internal/llama_cpp/lib/libllama.so.0"]
    assert link.issym()
    assert link.linkname == "libllama.so"

    entry = _desktop_entry(INSTALLERS / "linux" / "moss.desktop")
    assert entry["Type"] == "Application"
    assert entry["Icon"] == "moss"
    assert entry["Exec"].endswith(" %f")
    mime = (INSTALLERS / "linux" / "moss-gguf.xml").read_text(encoding="utf-8")
    mime_type = re.search(r'<mime-type type="([^"]+)"', mime)
    assert mime_type is not None
    assert entry["MimeType"] == f"{mime_type.group(1)};"
    assert '<glob pattern="*.gguf"/>' in mime


def _desktop_exec(line: str) -> list[str]:
    """The command of a .desktop Exec value, unquoted as the Desktop Entry specification says (strictly: a
    reserved character that is not escaped is an error, where lenient readers would guess)."""
    value = re.sub(r"\\(.)", lambda m: {"s": " ", "n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)), line)
    args, current, quoted, i = [], "", False, 0
    while i < len(value):
        char = value[i]
        if quoted and char == "\\":
            assert value[i + 1 : i + 2] in ('"', "`", "$", "\\"), f"a stray backslash in Exec={line}"
            current, i = current + value[i + 1], i + 2
            continue
        assert char not in "`$" and (quoted or char not in "\\'><~|&;*?#()"), f"{char!r} unescaped in Exec={line}"
        if char == '"':
            quoted = not quoted
        elif char == " " and not quoted:
            args, current = ([*args, current] if current else args), ""
        else:
            current += char
        i += 1
    return [arg.replace("%%", "%") for arg in [*args, current] if arg]


def _wait_for(path: Path) -> str:
    for _ in range(100):
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} was never written")


@posix_only
def test_install_sh_installs_the_menu_entry_icon_and_file_type(tmp_path: Path) -> None:
    package = _unpacked_package(tmp_path)
    home = tmp_path / "home with spaces and $dollar"  # a path the .desktop Exec line must quote and escape
    (home / ".local" / "share" / "Moss").mkdir(parents=True)
    (home / ".local" / "share" / "Moss" / "history.db").write_text("the person's conversations")
    args_log = tmp_path / "moss-args.txt"
    env = {
        "HOME": str(home),
        "PATH": os.environ["PATH"],
        "MOSS_ARGS_LOG": str(args_log),
        "LANG": "C.UTF-8",
    }
    _run(["sh", package / "install.sh"], env=env)
    _run(["sh", package / "install.sh"], env=env)  # again, as an update does

    share, prefix = home / ".local" / "share", home / ".local" / "opt" / "moss"
    assert (prefix / "Moss" / "moss").is_file()
    assert (prefix / "Moss" / "_internal" / "llama_cpp" / "lib" / "libllama.so.0").is_symlink()
    assert (share / "icons" / "hicolor" / "256x256" / "apps" / "moss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (share / "icons" / "hicolor" / "scalable" / "apps" / "moss.svg").is_file()
    assert (share / "mime" / "packages" / "moss-gguf.xml").is_file()
    assert (home / ".local" / "bin" / "moss").resolve() == (prefix / "Moss" / "moss").resolve()
    desktop_file = share / "applications" / "moss.desktop"
    entry = _desktop_entry(desktop_file)
    assert entry["MimeType"] == "application/x-gguf;"
    command = _desktop_exec(entry["Exec"])
    assert command == [str(prefix / "moss-open"), "%f"]

    # The menu entry's launcher opens the app, with the file the desktop passes as the model to open.
    model = tmp_path / "my model.gguf"
    _run([command[0], model], env=env)
    assert args_log.read_text() == f"[--model][{model}]"
    _run([command[0]], env=env)
    assert args_log.read_text() == "[]"
    if shutil.which("gio"):  # GLib's own reading of the entry, where it is installed (it is on this CI)
        args_log.unlink()
        _run(["gio", "launch", desktop_file, model], env=env)
        assert _wait_for(args_log) == f"[--model][{model}]"

    _run(["sh", package / "install.sh", "--uninstall"], env=env)
    assert not prefix.exists()
    assert not desktop_file.exists()
    assert not (home / ".local" / "bin" / "moss").exists()
    assert not (share / "mime" / "packages" / "moss-gguf.xml").exists()
    assert (share / "Moss" / "history.db").read_text() == "the person's conversations"


@posix_only
def test_install_sh_replaces_only_a_folder_that_holds_moss(tmp_path: Path) -> None:
    package = _unpacked_package(tmp_path)
    prefix = tmp_path / "someone's folder"
    (prefix / "Moss").mkdir(parents=True)
    (prefix / "Moss" / "thesis.txt").write_text("keep me")
    env = {"HOME": str(tmp_path / "home"), "PATH": os.environ["PATH"], "MOSS_PREFIX": str(prefix)}
    result = subprocess.run(["sh", str(package / "install.sh")], env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert "is not a Moss install" in result.stderr
    assert (prefix / "Moss" / "thesis.txt").read_text() == "keep me"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ldd and the xcb window plugin are Linux's")
def test_install_sh_names_the_system_libraries_the_window_lacks(tmp_path: Path) -> None:
    package = _unpacked_package(tmp_path)
    plugin = package / "Moss" / "_internal" / "PySide6" / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    if compiler() is None:
        pytest.skip("no C compiler to build a window plugin with a missing library")
    env = {"HOME": str(tmp_path / "home"), "PATH": os.environ["PATH"], "LANG": "C.UTF-8"}
    installed = _run(["sh", package / "install.sh"], env=env)
    assert "Warning" not in installed  # the stand-in app has no window plugin: nothing to say

    write_library_needing_an_absent_one(plugin)
    installed = _run(["sh", package / "install.sh"], env=env)
    assert f"Moss's window needs system libraries this computer lacks: {ABSENT}" in installed
    assert "sudo apt install libmoss-absent1)" in installed
    assert "Moss is installed in" in installed  # the command line works without them: the install goes on
