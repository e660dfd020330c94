"""gpt-oss's python tool: a real child process per chat, its state kept between calls, its limits enforced,
and on Linux no network and no writes outside its folder (the kernel's own rules: network namespace, Landlock)."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.tools.python_sandbox import PythonLimits, PythonSandbox

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's confinement")


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[PythonSandbox]:
    box = PythonSandbox(tmp_path / "chat", PythonLimits(timeout_s=3, memory_bytes=512 << 20, max_output_chars=2000))
    yield box
    box.close()


def test_state_is_kept_between_calls_and_the_last_expression_is_shown(sandbox: PythonSandbox) -> None:
    first = sandbox.run("import math\nx = 41\nprint('working')\nx + 1")
    assert first.ok
    assert first.output == "working\n42\n"
    assert sandbox.run("math.sqrt(x + 40)").output == "9.0\n"


def test_an_exception_is_the_answer_and_the_state_survives_it(sandbox: PythonSandbox) -> None:
    sandbox.run("kept = 'yes'")
    failed = sandbox.run("1 / 0")
    assert not failed.ok
    assert failed.output.startswith('Traceback (most recent call last):\n  File "<cell>", line 1')
    assert "ZeroDivisionError: division by zero" in failed.output
    assert "sandbox_child" not in failed.output  # the tool's own frames say nothing to the model
    assert sandbox.run("kept").output == "'yes'\n"
    assert "SystemExit" in sandbox.run("raise SystemExit(3)").output
    assert sandbox.run("kept").output == "'yes'\n"  # exit() ends the cell, not the process


def test_output_from_c_code_and_child_processes_is_caught(sandbox: PythonSandbox) -> None:
    code = "import os, subprocess, sys\nos.write(1, b'from fd 1\\n')\nsys.stderr.write('to stderr\\n')\n"
    code += "subprocess.run([sys.executable, '-c', 'print(\"from a child\")'])\nNone"
    assert sandbox.run(code).output == "from fd 1\nto stderr\nfrom a child\n"


def test_a_cell_over_its_time_is_interrupted_and_the_state_kept(sandbox: PythonSandbox) -> None:
    sandbox.run("before = 1")
    result = sandbox.run("while True: pass")
    assert result.timed_out and not result.ok and not result.state_lost
    assert "KeyboardInterrupt" in result.output
    assert "[Timed out after 3 s and interrupted; variables are kept.]" in result.output
    assert sandbox.run("before").output == "1\n"


def test_code_that_ignores_the_interrupt_is_killed_and_the_next_call_starts_afresh(sandbox: PythonSandbox) -> None:
    sandbox.run("before = 1")
    result = sandbox.run("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass")
    assert result.timed_out and result.state_lost
    assert "earlier variables and imports are gone" in result.output
    assert sandbox.run("'before' in dir()").output == "False\n"


def test_stop_interrupts_a_running_cell(sandbox: PythonSandbox) -> None:
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    result = sandbox.run("import time\nwhile True: time.sleep(0.01)", cancel=stop)
    assert result.stopped and not result.timed_out
    assert result.seconds < 3  # well before the time limit
    assert "[Stopped by the user; variables are kept.]" in result.output


def test_a_crash_is_reported_and_the_tool_restarts(sandbox: PythonSandbox) -> None:
    result = sandbox.run("import os\nos._exit(7)")
    assert result.state_lost
    assert "ended unexpectedly (exit code 7)" in result.output
    assert sandbox.run("6 * 7").output == "42\n"


def test_long_output_keeps_its_start_and_end(sandbox: PythonSandbox) -> None:
    result = sandbox.run("for i in range(10000): print(f'line {i}')")
    assert result.output.startswith("line 0\nline 1\n")
    assert result.output.rstrip().endswith("line 9999")
    assert "bytes of output cut" in result.output
    assert len(result.output) < 2200


@pytest.mark.skipif(sys.platform == "win32", reason="Windows has no RLIMIT_AS")
def test_memory_beyond_the_limit_is_a_memory_error(sandbox: PythonSandbox) -> None:
    result = sandbox.run("block = bytearray(1 << 30)")
    assert "MemoryError" in result.output
    assert sandbox.run("len(bytearray(1 << 20))").output == "1048576\n"


def test_the_working_folder_is_the_chats_own(sandbox: PythonSandbox, tmp_path: Path) -> None:
    assert sandbox.run("open('notes.txt', 'w').write('kept')\nimport os\nos.getcwd()").ok
    assert (tmp_path / "chat" / "notes.txt").read_text() == "kept"


@linux_only
def test_on_linux_it_cannot_write_outside_its_folder(sandbox: PythonSandbox, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    (tmp_path / "existing.txt").write_text("the user's")
    code = f"""
attempts = []
for action in (lambda: open({str(outside)!r}, 'w'), lambda: open({str(tmp_path / "existing.txt")!r}, 'a'),
               lambda: __import__('os').remove({str(tmp_path / "existing.txt")!r}),
               lambda: __import__('os').mkdir({str(tmp_path / "new-folder")!r})):
    try:
        action()
        attempts.append('done')
    except PermissionError:
        attempts.append('refused')
attempts
"""
    assert sandbox.run(code).output == "['refused', 'refused', 'refused', 'refused']\n"
    assert not outside.exists()
    assert (tmp_path / "existing.txt").read_text() == "the user's"
    assert sandbox.confinement is not None and sandbox.confinement.writes_confined


@linux_only
def test_on_linux_it_has_no_network_not_even_this_computers(sandbox: PythonSandbox) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        socket.create_connection(("127.0.0.1", port), timeout=2).close()  # reachable from outside the tool
        result = sandbox.run(
            f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
            "    outcome = 'connected'\nexcept OSError as exc:\n    outcome = type(exc).__name__\noutcome"
        )
    assert result.output in ("'OSError'\n", "'ConnectionRefusedError'\n", "'PermissionError'\n")
    assert sandbox.confinement is not None and sandbox.confinement.network_blocked
