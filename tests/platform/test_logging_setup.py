"""Logging that cannot write (a full disk, a log file that went away) degrades quietly: one line on stderr,
never a "--- Logging error ---" traceback per record, and the program goes on."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.platform.logging_setup import setup_logging

ROOT = Path(__file__).resolve().parents[2]
# Lone surrogates come from undecodable file names (surrogateescape) and are the text a strict codec refuses.
_TEXT = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(categories=["Cs"]), min_size=1, max_size=5),
    st.sampled_from(["%s", "100%", "\0", "\x1b[2K", "model-\udcff.gguf", "\u202e", "x" * 5000]),
)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in before:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def _run(code: str, *, limit_bytes: int | None = None) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter (its own logging and stderr), optionally with RLIMIT_FSIZE set."""

    def small_files() -> None:
        import resource

        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=small_files,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_a_full_disk_is_said_once_and_logging_stops(tmp_path: Path) -> None:
    log = tmp_path / "moss.log"
    log.symlink_to("/dev/full")
    result = _run(
        f"""
        import logging
        from pathlib import Path
        from app.platform.logging_setup import setup_logging
        setup_logging(Path({str(log)!r}))
        for i in range(125):
            logging.getLogger("moss.test").info("record %d", i)
        print("still running")
        """
    )
    assert result.returncode == 0 and result.stdout == "still running\n"
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("moss: cannot write the log file") and "No space left on device" in line
    assert "logging" in line  # says what stopped


def test_a_log_that_hits_the_file_size_limit_part_way_stops_there(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "moss.log"
    result = _run(
        f"""
        import logging
        from pathlib import Path
        from app.platform.logging_setup import setup_logging
        setup_logging(Path({str(log)!r}))
        for i in range(2000):
            logging.getLogger("moss.test").info("record %d %s", i, "x" * 100)
        print("still running")
        """,
        limit_bytes=50_000,
    )
    assert result.returncode == 0 and result.stdout == "still running\n", result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "cannot write the log file" in line
    assert 0 < log.stat().st_size <= 50_000


def test_a_broken_stderr_with_verbose_is_quiet(tmp_path: Path) -> None:
    result = _run(
        f"""
        import logging, os, sys
        from pathlib import Path
        from app.platform.logging_setup import setup_logging
        setup_logging(Path({str(tmp_path / "moss.log")!r}), verbose=True)
        sys.stderr.flush()
        os.close(2)  # stderr gone (a closed pipe, a detached console)
        for i in range(50):
            logging.getLogger("moss.test").warning("record %d", i)
        print("still running")
        """
    )
    assert result.returncode == 0 and result.stdout == "still running\n"
    assert "record 49" in (tmp_path / "moss.log").read_text(encoding="utf-8")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    messages=st.lists(_TEXT, min_size=1, max_size=20),
    args=st.lists(st.one_of(st.text(max_size=20), st.integers(), st.binary(max_size=20)), max_size=3),
)
def test_fuzz_any_text_reaches_the_log_without_a_logging_error(
    tmp_path: Path, restore_logging: None, capsys: pytest.CaptureFixture[str], messages: list[str], args: list[object]
) -> None:
    """Any text (lone surrogates from undecodable file names, NULs, any script) and any arguments: every record
    is written, and nothing is printed on stderr."""
    log = tmp_path / "fuzz.log"
    setup_logging(log)
    logger = logging.getLogger("moss.fuzz")
    for message in messages:
        logger.info(message.replace("%", "%%"))
        logger.warning("%s %r", message, args)
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert "Logging error" not in capsys.readouterr().err
    assert log.read_text(encoding="utf-8").count("moss.fuzz") >= 2 * len(messages)
    log.unlink()


def test_llama_cpp_debug_lines_reach_the_log_only_with_verbose(tmp_path: Path) -> None:
    """The log grew by ~1.6 MB in ten minutes, mostly llama.cpp's debug lines: they are kept for --verbose."""
    llama_log = logging.getLogger("llama.cpp")
    before = llama_log.level
    try:
        for verbose in (False, True):
            log = tmp_path / f"moss-{verbose}.log"
            setup_logging(log, verbose=verbose)
            llama_log.debug("llama_model_loader: - tensor blk.0.attn_q.weight")
            llama_log.info("llama_context: n_ctx = 4096")
            for handler in logging.getLogger().handlers:
                handler.flush()
            text = log.read_text()
            assert "n_ctx = 4096" in text
            assert ("tensor blk.0.attn_q.weight" in text) is verbose
    finally:
        setup_logging(tmp_path / "moss.log")
        llama_log.setLevel(before)
