"""The real window, not offscreen: the platform plugin loads, the window opens under a real X server (Xvfb), and
when it cannot, the terminal says why and what to install (a fresh Linux without libxcb-icccm4 once exited with
code 134 and said nothing).

CI installs Xvfb and Qt's xcb libraries (.ci/run), so these run there; elsewhere, without them, they skip and
say so. They start Moss as a separate process with the offscreen platform the other tests use taken away."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.qt.window_system import NO_DISPLAY, check_window_system, install_hint
from tests.helpers.missing_library import ABSENT, compiler, write_library_needing_an_absent_one

IN_CI = bool(os.environ.get("CI"))


def _real_platform_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "DISPLAY")}
    env["MOSS_DATA_DIR"] = str(tmp_path / "data")
    env.update(extra)
    return env


def _moss(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _needs(condition: bool, why: str) -> None:
    """In CI a missing prerequisite is a failure (.ci/run installs it); on a developer's machine, a skip."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{why}: .ci/run installs it, so CI must have it")
    pytest.skip(why)


@pytest.fixture
def plugin_missing_a_library(tmp_path: Path) -> Path:
    """A folder with an xcb "plugin" that needs a library this computer lacks."""
    _needs(compiler() is not None, "no C compiler to build a plugin with a missing library")
    plugins = tmp_path / "platforms"
    write_library_needing_an_absent_one(plugins / "libqxcb.so")
    return plugins


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the xcb plugin and its libraries are Linux's")
def test_a_missing_system_library_is_named_with_the_command_that_installs_it(
    tmp_path: Path, plugin_missing_a_library: Path
) -> None:
    env = _real_platform_env(tmp_path, DISPLAY=":0", QT_QPA_PLATFORM_PLUGIN_PATH=str(plugin_missing_a_library))
    started = _moss(env)
    assert started.returncode == 2, started.stderr
    assert ABSENT in started.stderr
    assert "sudo apt install libmoss-absent1" in started.stderr
    assert "Aborted" not in started.stderr

    checked = _moss(env, "--self-test")
    assert checked.returncode == 1
    assert "FAIL  window system" in checked.stdout
    assert ABSENT in checked.stdout


def test_debian_package_names_follow_the_library_names() -> None:
    hint = install_hint(("libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxkbcommon-x11.so.0", "libX11-xcb.so.1"))
    assert "sudo apt install libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0 libx11-xcb1" in hint
    assert "sudo dnf install xcb-util-wm xcb-util-keysyms libxkbcommon-x11 libX11-xcb" in hint


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="DISPLAY is X11's")
def test_no_display_is_said_in_words(tmp_path: Path) -> None:
    _needs(check_window_system({"DISPLAY": ":0"}).problem is None, "Qt's xcb plugin does not load here")
    started = _moss(_real_platform_env(tmp_path))
    assert started.returncode == 2
    assert NO_DISPLAY in started.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11's")
def test_a_fatal_qt_message_reaches_the_terminal(tmp_path: Path) -> None:
    # The plugin loads, so the check before Qt passes; then Qt finds no X server at that display and stops.
    _needs(check_window_system({"DISPLAY": ":0"}).problem is None, "Qt's xcb plugin does not load here")
    started = _moss(_real_platform_env(tmp_path, DISPLAY=":4093"))
    assert started.returncode == 2, started.stderr
    assert "Moss could not start: Qt, the toolkit of its window, stopped with this message:" in started.stderr
    assert "could not connect to display" in started.stderr


@pytest.fixture
def xvfb(tmp_path: Path) -> Iterator[str]:
    server = shutil.which("Xvfb")
    _needs(server is not None, "Xvfb is not installed (apt install xvfb)")
    assert server is not None
    read, write = os.pipe()
    # -displayfd: Xvfb picks a free display number and writes it to the pipe once it accepts connections.
    process = subprocess.Popen(
        [server, "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()
        assert number, "Xvfb did not start"
        yield f":{number}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Xvfb is X11's")
def test_the_window_opens_on_a_real_x_server(tmp_path: Path, xvfb: str) -> None:
    _needs(check_window_system({"DISPLAY": xvfb}).problem is None, "Qt's xcb plugin does not load here")
    # MOSS_STARTUP_PROBE: the app prints one JSON line once its window is first painted, then quits.
    env = _real_platform_env(tmp_path, DISPLAY=xvfb, MOSS_STARTUP_PROBE="1")
    started_at = time.time()
    opened = _moss(env)
    assert opened.returncode == 0, opened.stderr
    shown = json.loads(opened.stdout.strip().splitlines()[-1])
    assert shown["platform"] == "xcb"
    assert shown["shown_at"] >= started_at

    checked = _moss(_real_platform_env(tmp_path, DISPLAY=xvfb), "--self-test")
    assert "ok    window system: Qt's 'xcb' plugin loads" in checked.stdout


def test_the_readme_lists_the_libraries_ci_installs() -> None:
    root = Path(__file__).resolve().parents[1]
    listed = root / "installers" / "linux" / "window-libraries.txt"
    packages = [line for line in listed.read_text().splitlines() if line and not line.startswith("#")]
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert f"sudo apt install {' '.join(packages)}\n" in readme
    assert "window-libraries.txt" in (root / ".ci" / "run").read_text()
