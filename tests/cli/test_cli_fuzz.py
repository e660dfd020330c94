"""Fuzzing the command line: every sub-command with hostile arguments and paths, in this process through
``app.__main__.main`` (the code of the ``moss`` executable). Whatever the arguments, Moss ends with exit code 0
or 2, and a refusal (2) is exactly one line on stderr: no traceback, no "unexpected error" (exit 1), no hang on
a FIFO, no read of /dev/zero without end.

And a corpus of damaged model files, each given to ``moss models import`` and to ``moss chat``: the two agree,
word for word, on whether and why a file is refused (import used to accept files chat refused).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import shutil
import stat
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.__main__ import main
from app.core.types import Role
from app.platform.paths import AppPaths
from app.storage.history import HistoryStore
from tests.helpers.damaged_copies import damaged_models

# A command that hangs (a FIFO opened for reading blocks until someone writes) fails the test rather than the run.
pytestmark = pytest.mark.timeout(120)

HUGE = str(10**30)
NUMBERS = ["-1", "0", "1", "2", "3", "4096", "1048576", "1048577", HUGE, "-" + HUGE, "nan", "inf", "-inf", "1.5",
           "1e3", "", " ", "x", "0x10", "١", "1_0", "\udcff", "--"]  # fmt: skip
BAD_NUMBERS = ["-1", "0", HUGE, "-" + HUGE, "nan", "inf", "-inf", "", "x", "\udcff"]
SIZES = ["16GiB", "0", "-5GiB", "1e400GiB", "1000000000000000GiB", "512MiB", "nanGiB", "", "GiB", "\udcff"]
WORDS = ["", " ", "\udcff", "-x", "--", "a" * 3000, "glaciers", "*", '"', "NEAR(", "'; DROP TABLE messages; --"]
IDS = ["1", "2", "0", "-1", HUGE, "abc", "", "\udcff", "١", "1e3", "0x1", "tiny", "tiny-gpt-oss", "../.."]
# Path kinds, made for each run by Corpus.path: "tiny" is a fresh copy of a real model each time (a command may
# move or delete it).
INPUTS = ["missing", "folder", "fifo", "device", "empty", "garbage", "short", "tiny", "conversation",
          "bad-json", "export", "zip", "through-file", "long-name", "not-utf8", "tilde", "blank"]  # fmt: skip
OUTPUTS = ["new", "existing", "missing-folder", "folder", "fifo", "device", "through-file", "blank", "not-utf8"]
URLS = ["http://[::1", "http://", "https://127.0.0.1:9/m.gguf", "http://x:99999/m.gguf", "https://\udcff/m"]

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same inputs on every run: a failure is reproducible and the time is bounded
)


@dataclass(frozen=True)
class Corpus:
    root: Path
    data: Path  # a data folder with a history of two conversations
    tiny: Path
    counter: Iterator[int]

    def path(self, kind: str) -> str:
        """A path of this kind: for an input, something to read; for an output, somewhere to write."""
        fresh = self.root / f"run-{next(self.counter)}"
        fresh.mkdir()
        made = {
            "missing": lambda: str(fresh / "nothing-here.gguf"),
            "folder": lambda: str(self.root / "a-folder"),
            "fifo": lambda: str(self.root / "a-fifo"),
            "device": lambda: str(self.root / "a-device"),
            "empty": lambda: str(self.root / "empty.gguf"),
            "garbage": lambda: str(self.root / "notes.gguf"),
            "short": lambda: str(self.root / "short.gguf"),
            "tiny": lambda: str(shutil.copy(self.tiny, fresh / "tiny-gpt-oss.gguf")),
            "conversation": lambda: str(self.root / "conversation.json"),
            "bad-json": lambda: str(self.root / "bad.json"),
            "export": lambda: str(self.root / "export.json"),
            "zip": lambda: str(self.root / "export.zip"),
            "through-file": lambda: str(self.root / "notes.gguf" / "inside.md"),
            "long-name": lambda: str(fresh / ("x" * 300)),
            "not-utf8": lambda: str(fresh / "caf\udce9.md"),
            "tilde": lambda: "~",
            "blank": lambda: "",
            "new": lambda: str(fresh / "export.md"),
            "existing": lambda: str(shutil.copy(self.root / "conversation.json", fresh / "old.md")),
            "missing-folder": lambda: str(fresh / "typo" / "export.md"),
        }
        return made[kind]()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, tiny_gpt_oss: Path) -> Corpus:
    root = tmp_path_factory.mktemp("cli-fuzz")
    (root / "a-folder").mkdir()
    os.mkfifo(root / "a-fifo")
    device = root / "a-device"
    if os.geteuid() == 0:
        os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero's numbers: it never ends
    else:
        device.symlink_to("/dev/zero")
    (root / "empty.gguf").write_bytes(b"")
    (root / "notes.gguf").write_text("not a model\n")
    data = tiny_gpt_oss.read_bytes()
    (root / "short.gguf").write_bytes(data[:-1])
    (root / "conversation.json").write_text('[{"role": "user", "content": "Hello"}]')
    (root / "bad.json").write_text('[{"role": "user", "content": ')
    home = root / "home"
    home.mkdir()
    data_dir = root / "data"
    store = HistoryStore.open(AppPaths.resolve(data_dir).history_file, recover=False)
    try:
        for title in ("Glaciers", "Penguins"):
            conversation = store.create_conversation().id
            store.add_message(conversation, None, Role.USER, f"Tell me about {title.lower()}")
    finally:
        store.close()
    code = main(["--data-dir", str(data_dir), "history", "export", "--all", "--format", "json", "-o",
                 str(root / "export.json")])  # fmt: skip
    assert code == 0
    with zipfile.ZipFile(root / "export.zip", "w") as archive:
        archive.writestr("conversations.json", "[{")
    return Corpus(root, data_dir, tiny_gpt_oss, itertools.count())


@contextlib.contextmanager
def offline_and_at_home(root: Path) -> Iterator[None]:
    """No Hub (a closed local port answers at once), and an empty home folder for `models scan`."""
    import huggingface_hub.constants

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")
        patch.setenv("HOME", str(root / "home"))
        for name in ("HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
            patch.delenv(name, raising=False)
        yield


def run(argv: list[str]) -> tuple[int, str, str]:
    """``main(argv)`` with stdout and stderr captured as a terminal would take them."""
    out_bytes, err_bytes = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_bytes, encoding="utf-8")
    err = io.TextIOWrapper(err_bytes, encoding="utf-8", errors="backslashreplace")
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
        out.flush()
        err.flush()
    return code, out_bytes.getvalue().decode("utf-8"), err_bytes.getvalue().decode("utf-8")


def check(corpus: Corpus, argv: list[str]) -> None:
    """The promise for any command line: exit 0, or exit 2 with exactly one line saying why."""
    with offline_and_at_home(corpus.root):
        code, _out, err = run(["--data-dir", str(corpus.data), *argv])
    assert "Traceback" not in err and "unexpected error" not in err, (argv, err)
    assert code in (0, 2), (argv, code, err)
    if code == 2:
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("moss"), (argv, err)


Draw = Callable[[st.SearchStrategy[str]], str]


def _options(draw: Draw, options: dict[str, st.SearchStrategy[str] | None]) -> list[str]:
    """Some of ``options`` (None: a flag), in a drawn order."""
    chosen = draw(st.lists(st.sampled_from(sorted(options)), unique=True, max_size=len(options)))
    argv: list[str] = []
    for name in chosen:
        value = options[name]
        argv += [name] if value is None else [name, draw(value)]
    return argv


def _input(corpus: Corpus) -> st.SearchStrategy[str]:
    return st.sampled_from(INPUTS).map(corpus.path)


def _model(corpus: Corpus) -> st.SearchStrategy[str]:
    """A model path: the real one about a third of the time, so that commands also get past their checks."""
    return st.sampled_from(["tiny"] * 8 + INPUTS).map(corpus.path)


def _fair(valid: list[str], values: list[str] = NUMBERS) -> st.SearchStrategy[str]:
    """A value, valid about half the time."""
    return st.sampled_from(valid * (len(values) // len(valid)) + values)


@st.composite
def plan_or_prompt(draw: st.DrawFn, corpus: Corpus) -> list[str]:
    if draw(st.booleans()):
        model = draw(_model(corpus) | st.sampled_from(URLS))
        options = {"--vram": _fair(["8GiB"], SIZES), "--ram": _fair(["16GiB"], SIZES), "--unified": None,
                   "--ctx": _fair(["2048", "8192"]), "--json": None}  # fmt: skip
        return ["plan", "--model", model, *_options(draw, options)]
    options = {"--date": st.sampled_from(["2025-01-31", "yesterday", "", "9999-99-99"]),
               "--reasoning": st.sampled_from(["low", "high", "extreme", ""])}  # fmt: skip
    conversation = draw(st.sampled_from(["conversation"] * 8 + INPUTS).map(corpus.path))
    return ["prompt", "--model", draw(_model(corpus)), "--conversation", conversation, *_options(draw, options)]


@st.composite
def chat(draw: st.DrawFn, corpus: Corpus) -> list[str]:
    options = {
        "--max-tokens": st.sampled_from(["1", "2", *BAD_NUMBERS]),  # a real reply stays short: the time is bounded
        "--context": _fair(["512", "1024"]),
        "--seed": _fair(["1", "42"]),
        "--temperature": _fair(["0", "0.7"]),
        "--system": st.sampled_from(WORDS) | TEXT,
        "--conversation": _input(corpus),
        "--reasoning": st.sampled_from(["low", "medium", "bogus"]),
        "--json": None,
        "--show-reasoning": None,
    }
    argv = ["chat", "--model", draw(_model(corpus)), *_options(draw, options)]
    if "--max-tokens" not in argv:
        argv += ["--max-tokens", "1"]
    prompt = draw(st.sampled_from(["Hi", "Hi", "Hi", None, *WORDS[:4]]) | TEXT)
    return argv if prompt is None else [*argv, prompt]


@st.composite
def models(draw: st.DrawFn, corpus: Corpus) -> list[str]:
    command = draw(st.sampled_from(["list", "info", "import", "rm", "scan", "search", "files", "pull"]))
    ids = st.sampled_from(IDS) | _input(corpus)
    argv = {
        "list": lambda: [],
        "info": lambda: [draw(ids)],
        "import": lambda: [draw(_model(corpus)), *_options(draw, {"--copy": None, "--move": None})],
        "rm": lambda: [draw(ids), *_options(draw, {"--yes": None, "--delete-file": None})],
        "scan": lambda: _options(draw, {"--add": None}),
        "search": lambda: [draw(st.sampled_from(WORDS) | TEXT), *_options(draw, {"--limit": st.sampled_from(NUMBERS)})],
        "files": lambda: [draw(st.sampled_from(["a/b", "", "\udcff", "x" * 500, "a/b/c"]))],
        "pull": lambda: [draw(st.sampled_from(["a/b", "a/b:Q4_K_M", "", "//", ":", "\udcff/x"]))],
    }[command]()
    return ["models", command, *argv, *(["--json"] if draw(st.booleans()) else [])]


@st.composite
def history(draw: st.DrawFn, corpus: Corpus) -> list[str]:
    command = draw(st.sampled_from(["list", "show", "search", "export", "import"]))
    limit = {"--limit": st.sampled_from(NUMBERS)}
    if command == "list":
        argv = _options(draw, {**limit, "--all": None})
    elif command == "show":
        argv = [draw(st.sampled_from(IDS)), *_options(draw, {"--reasoning": None})]
    elif command == "search":
        argv = [draw(st.sampled_from(WORDS) | TEXT), *_options(draw, limit)]
    elif command == "export":
        which = draw(st.sampled_from([["--all"], [draw(st.sampled_from(IDS))]]))
        options = {"--format": st.sampled_from(["md", "json", "pdf"]),
                   "-o": st.sampled_from(OUTPUTS).map(corpus.path)}  # fmt: skip
        argv = [*which, *_options(draw, options)]
    else:
        argv = [draw(_input(corpus))]
    return ["history", command, *argv, *(["--json"] if draw(st.booleans()) else [])]


@st.composite
def anything_else(draw: st.DrawFn, corpus: Corpus) -> list[str]:
    """The global options, the window's commands with a number they refuse (a valid one would open the window),
    and words in any order after a headless command."""
    kind = draw(st.sampled_from(["global", "bench", "screenshots", "shuffle"]))
    if kind == "global":
        first = draw(st.sampled_from([["--version"], ["--help"], ["--data-dir", draw(_input(corpus))],
                                      ["--model", draw(_input(corpus))], ["--verbose"]]))  # fmt: skip
        return [*first, "history", "list"]
    if kind == "bench":
        option = draw(st.sampled_from(["--tokens", "--repeat", "--turns"]))
        ui = draw(
            st.sampled_from([[], ["ui", draw(st.sampled_from(["--messages", "--tokens", "--tokens-per-second"]))]])
        )
        return [
            "bench",
            option,
            draw(st.sampled_from(BAD_NUMBERS)),
            *ui,
            *([draw(st.sampled_from(BAD_NUMBERS))] if ui else []),
        ]
    if kind == "screenshots":
        return ["screenshots", draw(_input(corpus)), "--theme", draw(st.sampled_from(["sepia", "", "\udcff"]))]
    words = st.sampled_from(["--json", "--limit", "--all", "-o", "--model", "--copy", "1", HUGE, "\udcff", "--",
                             "-", "list", "show"]) | TEXT  # fmt: skip
    command = draw(st.sampled_from([["history", "list"], ["history", "search"], ["models", "list"], ["plan"]]))
    return [*command, *draw(st.lists(words, max_size=5))]


@FUZZ
@given(data=st.data())
def test_plan_and_prompt_take_any_arguments(corpus: Corpus, data: st.DataObject) -> None:
    check(corpus, data.draw(plan_or_prompt(corpus)))


@settings(FUZZ, max_examples=40)
@given(data=st.data())
def test_chat_takes_any_arguments(corpus: Corpus, data: st.DataObject) -> None:
    check(corpus, data.draw(chat(corpus)))


@FUZZ
@given(data=st.data())
def test_models_commands_take_any_arguments(corpus: Corpus, data: st.DataObject) -> None:
    check(corpus, data.draw(models(corpus)))


@settings(FUZZ, max_examples=150)
@given(data=st.data())
def test_history_commands_take_any_arguments(corpus: Corpus, data: st.DataObject) -> None:
    check(corpus, data.draw(history(corpus)))


@settings(FUZZ, max_examples=150)
@given(data=st.data())
def test_global_options_and_stray_words(corpus: Corpus, data: st.DataObject) -> None:
    check(corpus, data.draw(anything_else(corpus)))


def test_fifos_and_devices_are_left_as_they_were(corpus: Corpus) -> None:
    """After all the above (this module's fuzz tests run first), the FIFO and the device are still what they
    were: no export or import replaced or consumed them."""
    assert stat.S_ISFIFO((corpus.root / "a-fifo").lstat().st_mode)
    device = corpus.root / "a-device"
    assert device.is_symlink() or stat.S_ISCHR(device.lstat().st_mode)


# -- import and chat agree ------------------------------------------------------------------------------------


def test_import_refuses_what_chat_refuses_in_the_same_words(tmp_path: Path, tiny_gpt_oss: Path) -> None:
    """Each damaged file through `moss models import` and `moss chat`: both accept it, or both refuse it with the
    same line (the header's checks, the chat template, llama.cpp's own refusal, a special token's text)."""
    files = damaged_models(tiny_gpt_oss, tmp_path / "corpus")
    outcomes = {}
    for label, path in files.items():
        imported = run(["--data-dir", str(tmp_path / "data"), "models", "import", str(path)])
        chatted = run(["--data-dir", str(tmp_path / "data"), "chat", "--model", str(path), "--max-tokens", "1", "Hi"])
        outcomes[label] = (imported[0], chatted[0])
        assert imported[0] == chatted[0], (label, imported, chatted)
        if imported[0] == 2:
            assert imported[2] == chatted[2] and len(imported[2].splitlines()) == 1, (label, imported, chatted)
    assert outcomes["intact"] == (0, 0)
    refused = [label for label, codes in outcomes.items() if codes == (2, 2)]
    assert sorted(refused) == sorted(set(files) - {"intact", "template not UTF-8"}), outcomes
