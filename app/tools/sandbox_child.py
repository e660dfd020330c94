"""The Python tool's own process: confines itself, then runs the model's code cell by cell in one namespace,
as a notebook does, answering each cell with its output.

Started by ``PythonSandbox`` with multiprocessing's spawn method (the packaged app too: ``freeze_support``
turns the frozen executable into this child). Imports nothing heavy: it starts in a fraction of a second.
"""

from __future__ import annotations

import ast
import io
import os
import sys
import tempfile
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from app.tools.confinement import confine

# A file the cell writes that grows past this fails with "File too large" instead of filling the disk.
_MAX_FILE_BYTES = 1 << 30
_CELL = "<cell>"


def main(conn: Connection, folder: str, memory_bytes: int, max_output_chars: int) -> None:
    home = Path(folder)
    scratch = home / ".tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    os.chdir(home)
    os.environ.update(HOME=str(home), TMPDIR=str(scratch), MPLBACKEND="Agg", PYTHONIOENCODING="utf-8")
    tempfile.tempdir = str(scratch)
    capture = tempfile.TemporaryFile(dir=scratch)  # noqa: SIM115 - fds 1 and 2 point here while a cell runs
    _limit_file_size()
    confinement = confine(home, memory_bytes)
    conn.send(("ready", confinement))
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    while True:
        try:
            code = conn.recv()
        except KeyboardInterrupt:  # an interrupt that came as a cell finished: nothing left to stop
            continue
        except EOFError:
            return
        if code is None:
            return
        ok = _run_cell(code, namespace, capture)
        conn.send((ok, _read_output(capture, max_output_chars)))


def _limit_file_size() -> None:
    if sys.platform == "win32":
        return
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (_MAX_FILE_BYTES, _MAX_FILE_BYTES))


def _run_cell(code: str, namespace: dict[str, Any], capture: io.BufferedRandom) -> bool:
    """Runs ``code``; its output (stdout, stderr, the value of a last expression, a traceback) goes to
    ``capture`` through file descriptors 1 and 2, so what C code and child processes print is caught too."""
    capture.seek(0)
    capture.truncate()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    os.dup2(capture.fileno(), 1)
    os.dup2(capture.fileno(), 2)
    ok = True
    try:
        tree = ast.parse(code, _CELL, "exec")
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        assert last is None or isinstance(last, ast.Expr)
        exec(compile(tree, _CELL, "exec"), namespace)  # running the model's code is the tool's purpose
        if last is not None:
            value = eval(compile(ast.Expression(last.value), _CELL, "eval"), namespace)
            if value is not None:
                print(repr(value))
    except BaseException as exc:  # SystemExit and KeyboardInterrupt too: they end the cell, not the tool
        ok = False
        _print_traceback(exc)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
    return ok


def _print_traceback(exc: BaseException) -> None:
    """The traceback from the cell's own frames on (this module's frames say nothing to the model)."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [i for i, frame in enumerate(frames) if frame.filename == _CELL]
    shown = exc.__traceback__
    for _ in range(own[0] if own else 0):
        shown = shown.tb_next if shown is not None else None
    sys.stderr.write("".join(traceback.format_exception(type(exc), exc, shown)))


def _read_output(capture: io.BufferedRandom, max_chars: int) -> str:
    """The cell's output; a long one keeps its start and its end, with what was cut said between them."""
    size = capture.seek(0, io.SEEK_END)
    head_bytes, tail_bytes = max_chars * 3 // 4, max_chars // 4
    capture.seek(0)
    if size <= max_chars:
        return capture.read().decode("utf-8", "replace")
    head = capture.read(head_bytes).decode("utf-8", "ignore")
    capture.seek(size - tail_bytes)
    tail = capture.read().decode("utf-8", "ignore")
    cut = size - head_bytes - tail_bytes
    return f"{head}\n[… {cut:,} bytes of output cut: {size:,} in all …]\n{tail}"
