"""Build the packaged Moss with build.spec and prove that it works, the way a person would use it.

    .venv/bin/python tools/frozen_smoke.py [--build-dir build] [--dist-dir dist] [--no-build]

(``python3 bootstrap.py package`` sets up .venv with PyInstaller and runs this.) Every run of the app is
offscreen, in a throwaway folder, with nothing from this checkout or .venv on its way:

- the build: ``dist/Moss/moss`` exists, llama.cpp's libraries are in it, and the modules that are imported
  by name at run time (keyring's backends, pygments' lexers and styles) were collected;
- ``moss --version`` and ``moss --self-test`` (folders, settings, keychain, llama.cpp, starter model, python
  tool, window);
- ``moss chat`` on the tiny gpt-oss model (tests/helpers/tiny_gpt_oss.py writes it) and on the bundled
  SmolLM2, which must answer "Paris";
- ``moss chat --server`` against a loopback server (the openai SDK, httpx2 and pydantic, frozen);
- ``moss screenshots DIR --theme light``: the whole window, Markdown included; the pictures must not be blank
  and the chat's code block must be coloured by pygments;
- a first launch: ``moss`` with a fresh home folder and no network creates its folders, shows the window and
  loads the bundled demo model;
- on Linux, ``ldd`` finds every Qt and llama.cpp library the app links to inside the folder.

It prints the folder's size with its ten largest files, and the cold-start times. Exit code 0 when every check
passes; otherwise 1, after a line starting with FAIL that says what failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app import __version__  # noqa: E402
from app.engine.formats.harmony_render import HARMONY_MARKERS  # noqa: E402
from app.hub.starter import STARTER_FILE, STARTER_PACKAGE  # noqa: E402

EXE_NAME = "moss.exe" if sys.platform == "win32" else "moss"
# Modules that the app imports by name at run time, which a build can miss without failing.
REQUIRED_MODULES = (
    "keyring.backends.SecretService",
    "keyring.backends.Windows",
    "keyring.backends.macOS",
    "pygments.lexers.python",
    "pygments.lexers.rust",
    "pygments.styles.default",
    "pygments.styles.gh_dark",
    "markdown_it.rules_block",
    "llama_cpp.llama_cpp",
    # The openai SDK's resources Moss calls (imported when first used; check_chat_remote runs them).
    "openai.resources.chat.completions.completions",
    "openai.resources.models",
) + (("secretstorage", "jeepney") if sys.platform.startswith("linux") else ())
# Colours of pygments' "default" style (light theme) in the chat scene's Python code: keywords and strings.
PYGMENTS_COLOURS = {"keyword": (0x00, 0x80, 0x00), "string": (0xBA, 0x21, 0x21)}
# Said by the offscreen platform when a window is shown: the moment the first launch has its window up.
WINDOW_SHOWN = "This plugin does not support propagateSizeHints()"


class SmokeFailure(Exception):
    """A check failed; the message says which and what was seen."""


def check(condition: object, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


def say(text: str) -> None:
    print(text, flush=True)


class Frozen:
    """The built app: runs it as a child process, offscreen, in a throwaway working folder."""

    def __init__(self, folder: Path, scratch: Path) -> None:
        self.folder = folder
        self.exe = folder / EXE_NAME
        self.scratch = scratch
        self.data_dir = scratch / "data"
        # Nothing that points into the checkout or .venv: the app must stand on its own.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "MOSS_"))}
        self.env.update(QT_QPA_PLATFORM="offscreen", LANG=os.environ.get("LANG", "C.UTF-8"))

    def run(
        self, *args: str | Path, timeout: float = 300, data_dir: bool = True
    ) -> tuple[subprocess.CompletedProcess[str], float]:
        """Run ``moss ARGS`` (with ``--data-dir`` unless told not to); returns the result and seconds taken."""
        command = [str(self.exe), *(["--data-dir", str(self.data_dir)] if data_dir else []), *map(str, args)]
        started = time.perf_counter()
        result = subprocess.run(
            command,
            cwd=self.scratch,
            env=self.env,
            capture_output=True,
            encoding="utf-8",  # the app writes UTF-8 (build.spec turns on Python's UTF-8 mode)
            errors="replace",
            timeout=timeout,
            check=False,
        )
        return result, time.perf_counter() - started

    def ok(self, *args: str | Path, timeout: float = 300) -> tuple[str, float]:
        """Run ``moss ARGS``, which must succeed; returns its stdout and seconds taken."""
        result, seconds = self.run(*args, timeout=timeout)
        shown = " ".join(map(str, args))
        check(
            result.returncode == 0,
            f"`moss {shown}` exited with {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}",
        )
        return result.stdout, seconds


# -- building and measuring ------------------------------------------------------------------------------


def build(build_dir: Path, dist_dir: Path) -> float:
    """PyInstaller on build.spec; returns the seconds it took. build_dir is reused: later builds are faster."""
    command = [
        sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
        "--workpath", str(build_dir), "--distpath", str(dist_dir), str(ROOT / "build.spec"),
    ]  # fmt: skip
    say("+ " + " ".join(command))
    started = time.perf_counter()
    code = subprocess.call(command, cwd=ROOT)
    check(code == 0, f"PyInstaller failed (exit code {code}); its output is above")
    return time.perf_counter() - started


def folder_size(folder: Path) -> tuple[int, list[tuple[int, Path]]]:
    """Total bytes of the files under ``folder`` (links not followed nor counted twice), and all files by size."""
    files = [(p.lstat().st_size, p) for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    files.sort(key=lambda item: -item[0])
    return sum(size for size, _ in files), files


def report_size(folder: Path) -> float:
    total, files = folder_size(folder)
    say(f"size of {folder}: {total / 1e6:.0f} MB in {len(files)} files; the largest:")
    for size, path in files[:10]:
        say(f"  {size / 1e6:7.1f} MB  {path.relative_to(folder)}")
    return total / 1e6


# -- the checks -------------------------------------------------------------------------------------------


def check_layout(app: Frozen) -> Path | None:
    """The executable, llama.cpp's libraries and the modules loaded by name are in the build."""
    check(app.exe.is_file() and os.access(app.exe, os.X_OK), f"{app.exe} is missing or not executable")
    internal = app.folder / "_internal"
    libraries = list((internal / "llama_cpp" / "lib").glob("*llama*"))
    check(libraries, f"llama.cpp's library is not in {internal / 'llama_cpp' / 'lib'}")
    check((internal / "resources" / "icons" / "moss.svg").is_file(), "resources/ was not collected")
    from PyInstaller.archive.readers import pkg_archive_contents

    collected = set(pkg_archive_contents(str(app.exe)))
    missing = [name for name in REQUIRED_MODULES if name not in collected]
    check(not missing, f"modules imported by name at run time were not collected: {', '.join(missing)}")
    if sys.platform == "darwin":
        check((app.folder.parent / "Moss.app" / "Contents" / "Info.plist").is_file(), "Moss.app was not built")
    starter = internal / STARTER_PACKAGE / STARTER_FILE
    say(f"ok    layout: {app.exe.name}, {', '.join(sorted(p.name for p in libraries))}, {len(REQUIRED_MODULES)} "
        f"modules loaded by name; starter model {'bundled' if starter.is_file() else 'not bundled'}")  # fmt: skip
    return starter if starter.is_file() else None


def check_version(app: Frozen) -> list[float]:
    times = []
    for _ in range(5):
        out, seconds = app.ok("--version")
        check(out.strip() == f"Moss {__version__}", f"`moss --version` printed {out!r}, not 'Moss {__version__}'")
        times.append(seconds)
    say(f"ok    --version: {out.strip()}")
    return times


def check_self_test(app: Frozen, starter: Path | None) -> float:
    out, seconds = app.ok("--self-test")
    for line in ("ok    llama.cpp backend", "ok    python tool", "ok    main window", "self-test passed"):
        check(line in out, f"`moss --self-test` did not say {line!r}:\n{out}")
    if starter is not None:
        check("ok    starter model" in out, f"the self-test did not find the bundled starter model:\n{out}")
    say("ok    --self-test:\n" + "\n".join(f"        {line}" for line in out.splitlines()))
    return seconds


def check_chat_gpt_oss(app: Frozen) -> None:
    from tests.helpers.tiny_gpt_oss import write_tiny_gpt_oss

    model = write_tiny_gpt_oss(app.scratch / "tiny-gpt-oss.gguf")
    args = ("chat", "--model", model, "--json", "--reasoning", "high", "--max-tokens", "48", "--seed", "5", "Hello")
    out, seconds = app.ok(*args)
    reply = json.loads(out)
    check(reply["prompt_tokens"] > 0 and reply["completion_tokens"] > 0, f"the tiny gpt-oss wrote nothing: {reply}")
    for text in (reply["content"], reply["reasoning"] or ""):
        check(not any(marker in text for marker in HARMONY_MARKERS), f"harmony markup in the reply: {reply}")
    say(f"ok    chat, tiny gpt-oss: {reply['completion_tokens']} tokens ({reply['finish_reason']}) in {seconds:.1f} s")


def check_chat_remote(app: Frozen) -> None:
    """`moss chat --server` through the frozen openai SDK (and httpx2, pydantic under it), against a loopback server
    that streams a canned reply with reasoning and usage."""
    from tests.remote.fault_server import chunk, fault_server, stream

    usage = {"prompt_tokens": 12, "completion_tokens": 3}
    with fault_server() as server:
        server.respond = stream([chunk(reasoning_content="Hm."), chunk("Hi!", finish="stop"), chunk(usage=usage)])
        out, seconds = app.ok("chat", "--server", server.base_url, "--model", "gpt-oss-20b", "--json", "Hello")
    reply = json.loads(out)
    got = (reply["content"], reply["reasoning"], reply["prompt_tokens"])
    check(got == ("Hi!", "Hm.", 12), f"`moss chat --server` answered {reply}")
    say(f"ok    chat through a server (openai SDK): {reply['content']!r} in {seconds:.1f} s")


def check_chat_starter(app: Frozen, starter: Path) -> None:
    question = "What is the capital of France?"
    args = ("chat", "--model", starter, "--json", "--max-tokens", "24", "--temperature", "0", "--system",
            "You are a helpful assistant.", question)  # fmt: skip
    out, seconds = app.ok(*args)
    answer = json.loads(out)["content"]
    check("Paris" in answer, f"SmolLM2 was asked {question!r} and answered {answer!r}")
    say(f"ok    chat, bundled SmolLM2: {answer.strip()!r} in {seconds:.1f} s")


def check_screenshots(app: Frozen) -> float:
    """`moss screenshots` builds the real window in each scene: pictures exist, are not blank, code is coloured."""
    out_dir = app.scratch / "screenshots"
    out, seconds = app.ok("screenshots", out_dir, "--theme", "light")
    check("FAIL" not in out, f"a screenshot scene failed:\n{out}")
    pictures = sorted(out_dir.glob("*.png"))
    check(len(pictures) >= 6, f"`moss screenshots` wrote {len(pictures)} pictures:\n{out}")
    for picture in pictures:
        check(distinct_colours(picture) > 50, f"{picture.name} is blank")
    for name in ("first-run-light.png", "chat-light.png"):
        check((out_dir / name).is_file(), f"`moss screenshots` did not write {name}:\n{out}")
    counts = {what: colour_count(out_dir / "chat-light.png", rgb) for what, rgb in PYGMENTS_COLOURS.items()}
    check(all(n >= 20 for n in counts.values()), f"the chat's Python code is not highlighted by pygments: {counts}")
    in_first_run = {what: colour_count(out_dir / "first-run-light.png", rgb) for what, rgb in PYGMENTS_COLOURS.items()}
    check(not any(in_first_run.values()), f"the colour check sees code colours where there is no code: {in_first_run}")
    say(f"ok    screenshots: {len(pictures)} pictures in {seconds:.1f} s; code colours in the chat: {counts}")
    return seconds


def _rgb(path: Path) -> np.ndarray:
    """The picture's pixels as rows of (red, green, blue)."""
    from PySide6.QtGui import QImage

    image = QImage(str(path)).convertToFormat(QImage.Format.Format_RGB32)
    check(not image.isNull(), f"{path.name} is not a readable PNG")
    count = image.width() * image.height()
    bgra = np.frombuffer(image.constBits(), dtype=np.uint8)[: count * 4].reshape(count, 4)
    return bgra[:, 2::-1].astype(np.int32)


def distinct_colours(path: Path) -> int:
    rgb = _rgb(path)
    return len(np.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2]))


def colour_count(path: Path, rgb: tuple[int, int, int], tolerance: int = 16) -> int:
    """Pixels within ``tolerance`` of ``rgb`` on every channel (the cores of glyphs drawn in that colour)."""
    return int(np.all(np.abs(_rgb(path) - np.array(rgb)) <= tolerance, axis=1).sum())


def check_first_launch(app: Frozen, starter: Path | None) -> float:
    """`moss` opened for the first time, offline: returns the seconds until its window was shown."""
    home = app.scratch / "home"
    home.mkdir()
    env = {k: v for k, v in app.env.items() if not k.startswith("XDG_")}
    if sys.platform == "win32":  # platformdirs asks Windows for its folders: re-root them the supported way
        env["MOSS_DATA_DIR"] = str(home)
    else:
        env["HOME"] = str(home)
    env["HF_ENDPOINT"] = "http://127.0.0.1:9"  # nothing answers there: the first launch must not need the network
    loaded = 0.0
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(app.exe)], cwd=app.scratch, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        shown = wait_for(lambda: log_says(home, WINDOW_SHOWN), process, 60, "the window to show")
        window_seconds = shown - started
        if starter is not None:
            wait_for(lambda: settings_mention(home, STARTER_FILE), process, 60, "the demo model to load")
            loaded = time.perf_counter() - started
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode(errors="replace")
    check("Traceback" not in output, f"the first launch printed a traceback:\n{output}")
    folders = platform_folders(env)
    absent = [f"{name} {folder}" for name, folder in folders.items() if not folder.is_dir()]
    check(not absent, f"the first launch did not create its folders: {', '.join(absent)}")
    files = [folders["config"] / "settings.json", folders["data"] / "history.db", folders["logs"] / "moss.log"]
    check(all(f.is_file() for f in files), f"the first launch did not write {', '.join(map(str, files))}")
    demo = f"; the demo model loaded at {loaded:.1f} s" if starter is not None else ""
    where = ", ".join(f"{name} ~/{folder.relative_to(home)}" for name, folder in folders.items())
    say(f"ok    first launch, offline: window shown at {window_seconds:.1f} s{demo}; folders: {where}")
    return window_seconds


def platform_folders(env: dict[str, str]) -> dict[str, Path]:
    """Where Moss keeps its files for a person with this environment (its home folder), as the app decides."""
    code = (
        "import json; from app.platform.paths import AppPaths; "
        "print(json.dumps({k: str(v) for k, v in AppPaths.resolve().all().items()}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {name: Path(folder) for name, folder in json.loads(out).items()}


def log_says(home: Path, text: str) -> bool:
    return any(text in log.read_text(encoding="utf-8", errors="replace") for log in home.rglob("moss.log"))


def settings_mention(home: Path, text: str) -> bool:
    return any(text in s.read_text(encoding="utf-8", errors="replace") for s in home.rglob("settings.json"))


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes], limit: float, what: str) -> float:
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        if condition():
            return time.perf_counter()
        check(process.poll() is None, f"the app exited with {process.returncode} while waiting for {what}")
        time.sleep(0.02)
    raise SmokeFailure(f"waited {limit:.0f} s for {what}")


def check_linked_libraries(app: Frozen) -> None:
    """ldd: the Qt, ICU, Python and llama.cpp libraries each binary needs are found (inside the folder)."""
    if not sys.platform.startswith("linux") or shutil.which("ldd") is None:
        return
    bundled = ("libQt6", "libicu", "libpyside6", "libshiboken6", "libpython", "libllama", "libggml")
    missing: dict[str, set[str]] = {}
    system: set[str] = set()
    for path in app.folder.rglob("*"):
        if not path.is_file() or path.is_symlink() or path.read_bytes()[:4] != b"\x7fELF":
            continue
        result = subprocess.run(["ldd", str(path)], capture_output=True, text=True, check=False)
        for line in result.stdout.splitlines():
            if "not found" in line:
                name = line.split()[0]
                if name.startswith(bundled):
                    missing.setdefault(name, set()).add(path.name)
                else:
                    system.add(name)
    check(not missing, f"libraries the app ships are not found by the libraries that need them: {missing}")
    note = f"; from the system, not found here (desktop-only Qt plugins): {', '.join(sorted(system))}" if system else ""
    say(f"ok    linked libraries: every bundled library resolves{note}")


# -- main ---------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", type=Path, default=ROOT / "build", help="PyInstaller's work folder (build)")
    parser.add_argument("--dist-dir", type=Path, default=ROOT / "dist", help="where dist/Moss is written (dist)")
    parser.add_argument("--no-build", action="store_true", help="check the existing dist/Moss without building")
    args = parser.parse_args(argv)
    figures: dict[str, str] = {}
    try:
        if not args.no_build:
            figures["build"] = f"{build(args.build_dir.resolve(), args.dist_dir.resolve()):.0f} s"
        folder = args.dist_dir.resolve() / "Moss"
        check(folder.is_dir(), f"{folder} does not exist: build it first (without --no-build)")
        figures["dist/Moss"] = f"{report_size(folder):.0f} MB"
        with tempfile.TemporaryDirectory(prefix="moss-frozen-smoke-") as scratch:
            app = Frozen(folder, Path(scratch))
            starter = check_layout(app)
            check_linked_libraries(app)
            times = check_version(app)
            figures["--version, first run"] = f"{times[0]:.2f} s"
            figures["--version, median of 5"] = f"{statistics.median(times):.2f} s"
            figures["--self-test"] = f"{check_self_test(app, starter):.2f} s"
            check_chat_gpt_oss(app)
            check_chat_remote(app)
            if starter is not None:
                check_chat_starter(app, starter)
            figures["screenshots (8 scenes, light)"] = f"{check_screenshots(app):.1f} s"
            figures["first launch: window shown"] = f"{check_first_launch(app, starter):.2f} s"
    except SmokeFailure as failure:
        say(f"FAIL  {failure}")
        say("The packaged app is not ready: fix the cause above, then run python3 bootstrap.py package again.")
        return 1
    except subprocess.TimeoutExpired as timeout:
        say(f"FAIL  `{' '.join(map(str, timeout.cmd))}` did not finish in {timeout.timeout:.0f} s")
        return 1
    say("frozen smoke test passed")
    for name, value in figures.items():
        say(f"  {name:32} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
