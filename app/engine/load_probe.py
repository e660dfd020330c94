"""Trying a model file in a child process before this process loads it.

llama.cpp checks part of a model file with ``GGML_ASSERT``, which does not fail the load: it aborts the process,
and in the app that process is the window. :mod:`app.engine.model_checks` refuses what Moss knows llama.cpp
aborts on; for the rest, the first load of a file is tried in a child process. The child asks llama.cpp for
everything it does before reading weights: the header, the hyper-parameters, the vocabulary, every tensor
created and checked against them but not allocated (``no_alloc``), and a small context whose graph is built.
That takes about a second and no memory for weights. A child that dies becomes a ModelFileError, and the
window lives on.

A file that passed is remembered by the fingerprint of its header (the bytes llama.cpp reads before the
weights, and the llama-cpp-python version that read them): for the rest of the process, and in a folder the
caller gives (the cache folder), so a model is probed once, not on every load.

The child is a ``multiprocessing`` spawn of this program (the packaged app calls ``freeze_support`` for it),
so it works the same from source, from ``moss chat`` and from the packaged app, on every platform.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import multiprocessing
import os
import re
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from app.core.errors import ModelFileError
from app.engine.gguf_header import GGUFHeader, split_part_names
from app.engine.protocol import LoadCancelled

log = logging.getLogger(__name__)

# The cache folder's sub-folder that remembers the files that passed (callers put it under their cache).
CHECKED_MODELS = "checked-models"
PROBE_TIMEOUT_S = 120.0
PROBE_N_CTX = 256
_PASSED = 0
_REFUSED = 10  # llama.cpp refused the file with an error of its own: the real load will explain it
# What probe_file returns besides None (passed) and a cause of death.
REFUSED = "refused"
UNPROBED = "unprobed"  # the child could not get as far as llama.cpp: no verdict on the file
_READING = "moss-probe: llama.cpp reads the model now\n"  # the child's mark that the file, no longer the
# start-up, is what it is working on
_POLL_S = 0.05
_ASSERT = re.compile(r"(GGML_ASSERT\(.*?\) failed|GGML_ABORT.*|what\(\):.*|terminate called.*)")

_passed: set[str] = set()  # fingerprints that passed in this process, whatever folder (or none) recorded them
_passed_lock = threading.Lock()


def header_fingerprint(header: GGUFHeader, version: str) -> str:
    """A fingerprint of what llama.cpp reads of ``header``'s file(s) before the weights, as ``version`` reads it.

    The header bytes of every part and each part's size: a file changed in any way llama.cpp's checks look at
    gets a new fingerprint; the same file in another folder (or copied) keeps it."""
    digest = hashlib.sha256(version.encode())
    parts = [header.path, *(header.path.with_name(name) for name in split_part_names(header))]
    for part, size in zip(parts, header.header_sizes, strict=False):
        with part.open("rb") as handle:
            digest.update(os.fstat(handle.fileno()).st_size.to_bytes(8, "little"))
            digest.update(handle.read(size))
    return digest.hexdigest()


class LoadProbe:
    """Probes each model file once before it is loaded. ``folder`` keeps the fingerprints of files that passed
    across runs (None: remembered for this process only)."""

    def __init__(self, folder: Path | None = None, *, timeout_s: float = PROBE_TIMEOUT_S) -> None:
        self._folder = folder
        self._timeout_s = timeout_s

    def check(self, header: GGUFHeader, version: str, cancelled: Callable[[], bool] = lambda: False) -> None:
        """Return if llama.cpp can read ``header``'s file without dying (or said why it cannot: the load will
        say it too); raise ModelFileError if it died, LoadCancelled if ``cancelled()`` turned true meanwhile."""
        try:
            fingerprint = header_fingerprint(header, version)
        except OSError as exc:
            raise ModelFileError(f"Could not read {header.path}: {exc.strerror or exc}.") from None
        if self._knows(fingerprint):
            return
        started = time.perf_counter()
        outcome = probe_file(header.path, cancelled, self._timeout_s)
        log.info("probed %s in %.2f s: %s", header.path, time.perf_counter() - started, outcome or "passed")
        if outcome == UNPROBED:
            log.warning("could not probe %s in a child process; loading it without", header.path)
        if outcome in (REFUSED, UNPROBED):
            return
        if outcome is not None:
            raise ModelFileError(
                f"llama.cpp could not read {header.path.name}: it stops on a check of this file ({outcome}). The "
                "file is damaged or was made for another version of llama.cpp; use another GGUF of this model."
            )
        self._remember(fingerprint)

    def _knows(self, fingerprint: str) -> bool:
        if self._folder is not None and (self._folder / f"{fingerprint}.ok").is_file():
            with _passed_lock:
                _passed.add(fingerprint)
            return True
        with _passed_lock:
            known = fingerprint in _passed
        if known:
            self._remember(fingerprint)  # passed in this process, for another folder: this one learns it too
        return known

    def _remember(self, fingerprint: str) -> None:
        with _passed_lock:
            _passed.add(fingerprint)
        if self._folder is None:
            return
        try:
            self._folder.mkdir(parents=True, exist_ok=True)
            (self._folder / f"{fingerprint}.ok").touch()
        except OSError as exc:  # a full or read-only cache: the file is probed again next time, no more
            log.warning("could not record a probed model in %s: %s", self._folder, exc)


def probe_file(
    path: Path, cancelled: Callable[[], bool] = lambda: False, timeout_s: float = PROBE_TIMEOUT_S
) -> str | None:
    """Let llama.cpp read ``path`` in a child process. None when it passed, REFUSED when llama.cpp refused the
    file with an error of its own, UNPROBED when the child died before llama.cpp began (a start-up problem, not
    the file's), else what killed the child (the assertion llama.cpp printed, if any)."""
    handle, log_name = tempfile.mkstemp(prefix="moss-probe-", suffix=".log")
    os.close(handle)
    child_log = Path(log_name)
    try:
        process = multiprocessing.get_context("spawn").Process(
            target=_probe_in_child, args=(str(path), log_name), name="moss-model-probe", daemon=True
        )
        try:
            process.start()
        except OSError as exc:  # no process could be started (out of resources): no verdict
            log.warning("could not start the model probe: %s", exc)
            return UNPROBED
        deadline = time.monotonic() + timeout_s
        while process.exitcode is None:
            process.join(_POLL_S)
            if process.exitcode is not None:
                break
            if cancelled():
                _stop(process)
                raise LoadCancelled
            if time.monotonic() > deadline:
                _stop(process)
                return f"it took more than {timeout_s:.0f} seconds to read the file's header"
        code = process.exitcode
        if code == _PASSED:
            return None
        if code == _REFUSED:
            return REFUSED
        return _cause(child_log, code)
    finally:
        child_log.unlink(missing_ok=True)


def _stop(process: multiprocessing.process.BaseProcess) -> None:
    process.kill()
    process.join(5)


def _cause(child_log: Path, code: int | None) -> str:
    """What the child's stderr says killed it (llama.cpp prints the failed assertion), in one short line."""
    try:
        text = child_log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    if _READING not in text:
        log.warning("the model probe ended with exit code %s before llama.cpp began: %s", code, text[-2000:])
        return UNPROBED
    found = _ASSERT.findall(text[-20_000:])
    if found:
        return " ".join(found[-1].split())[:200]
    if code is not None and code < 0:
        try:
            return f"it ended with {signal.Signals(-code).name}"
        except ValueError:
            pass
    return f"it ended with exit code {code}"


def _probe_in_child(path: str, log_name: str) -> None:
    """The child's work: have llama.cpp read the model at ``path`` without its weights, then exit with
    ``_PASSED`` or ``_REFUSED``; if llama.cpp aborts, the process dies with its message in ``log_name``."""
    # llama.cpp writes a failed assertion to stderr just before it aborts: into the file the parent reads.
    descriptor = os.open(log_name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(descriptor, 2)
    os.environ["GGML_NO_BACKTRACE"] = "1"  # else ggml starts a debugger to print a backtrace as it dies
    from app.engine import backend

    llama_cpp = backend.llama()
    params = llama_cpp.llama_model_default_params()
    params.no_alloc = True  # create and check every tensor, read and allocate no weights
    params.load_mode = llama_cpp.LLAMA_LOAD_MODE_NONE  # llama.cpp asserts on no_alloc with a memory map...
    params.use_extra_bufts = False  # ...and with the CPU's repacking buffers
    params.n_gpu_layers = 0
    no_devices = (ctypes.c_void_p * 1)(None)  # an empty list, not NULL (all): no GPU is started for this
    params.devices = ctypes.cast(no_devices, ctypes.c_void_p)
    os.write(2, _READING.encode())
    model = llama_cpp.llama_model_load_from_file(path.encode("utf-8"), params)
    if not model:
        os._exit(_REFUSED)
    # A context builds the model's graph, where shapes that contradict the numbers are asserted. Attention has
    # two graphs, with and without flash attention (a run setting): both are built.
    for flash in (llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED, llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED):
        context_params = llama_cpp.llama_context_default_params()
        context_params.n_ctx = context_params.n_batch = context_params.n_ubatch = PROBE_N_CTX
        context_params.flash_attn_type = flash
        context = llama_cpp.llama_init_from_model(model, context_params)
        if not context:
            os._exit(_REFUSED)
        llama_cpp.llama_free(context)
    os._exit(_PASSED)  # nothing else to tidy: the process ends
