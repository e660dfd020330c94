"""Fuzzing the GGUF header reader, the model layout and the planner (issue 16, classes 1 and 2).

Whatever a header says, reading it and planning it must end in a result or a ModelFileError: quickly, in
bounded memory, never in a MemoryError, an OverflowError, a RecursionError or a loop over a count the file
made up. Three generators: headers built field by field (lengths, counts, types and nesting that lie), byte
mutations of the real tiny gpt-oss header, and hyper-parameters of that model set to any number (where what
is accepted must also be what llama.cpp accepts without aborting).
"""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.errors import ModelFileError
from app.engine.gguf_header import read_gguf_header_from
from app.engine.hardware import GIB, simulated_machine
from app.engine.model_checks import LLAMA_MAX_EXPERTS, LLAMA_MAX_LAYERS, check_model_header
from app.engine.model_layout import model_layout
from app.engine.planner import plan
from tests.helpers.bad_models import VT, GGUFParts, Meta, gguf_bytes, gguf_kv, gguf_string, take_apart
from tests.helpers.tiny_gpt_oss import write_tiny_gpt_oss

FUZZ = settings(
    max_examples=300,
    deadline=None,  # each example is timed below, against a bound of its own
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the same inputs on every run: a failure here is reproducible, not a flake
)
MACHINE = simulated_machine(8 * GIB, 16 * GIB)
PER_INPUT_S = 1.0
PEAK_BYTES = 32 * 1024**2
# Sizes a lying field likes: the edges of every integer width, and values just past what a file could hold.
EDGES = (0, 1, 2, 7, 255, 256, 2**16 - 1, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**40, 2**62, 2**63 - 1, 2**63, 2**64 - 1)


def survives(data: bytes, *, file_size: int | None = None) -> None:
    """Read, lay out and plan ``data`` as a file of ``file_size`` bytes (its own length by default): a result
    or a ModelFileError, within the time and memory bounds."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        header = read_gguf_header_from(io.BytesIO(data), Path("fuzz.gguf"), file_size or len(data))
        check_model_header(header)
        plan(model_layout(header), MACHINE)
    except ModelFileError as exc:
        assert "\n" not in str(exc) and "fuzz.gguf" in str(exc)
    finally:
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert elapsed < PER_INPUT_S, f"took {elapsed:.2f} s"
    assert peak < PEAK_BYTES, f"allocated {peak:,} bytes"


# -- headers built field by field ------------------------------------------------------------------------------

sizes = st.one_of(st.sampled_from(EDGES), st.integers(0, 300))
keys = st.text(st.characters(codec="utf-8"), max_size=12)
scalar_types = st.sampled_from([t for t in VT if t not in (VT.STRING, VT.ARRAY)])


@st.composite
def scalars(draw: st.DrawFn) -> Meta:
    vtype = draw(scalar_types)
    fmt = {VT.FLOAT32: "f", VT.FLOAT64: "d", VT.BOOL: "?"}.get(vtype)
    if fmt == "?":
        return Meta(vtype, draw(st.booleans()))
    if fmt is not None:
        return Meta(vtype, draw(st.floats(width=32 if fmt == "f" else 64)))
    bits = {VT.UINT8: 8, VT.INT8: 8, VT.UINT16: 16, VT.INT16: 16, VT.UINT32: 32, VT.INT32: 32}.get(vtype, 64)
    signed = vtype in (VT.INT8, VT.INT16, VT.INT32, VT.INT64)
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    return Meta(vtype, draw(st.integers(low, high)))


@st.composite
def entries(draw: st.DrawFn) -> bytes:
    """One metadata entry, often with a lie: its key length, its type, its array's count or nesting."""
    key = draw(
        st.one_of(keys, st.sampled_from(["gpt-oss.block_count", "x.block_count", "split.count", "general.alignment"]))
    )
    kind = draw(st.sampled_from(["scalar", "string", "array", "strings", "nested", "bad-type"]))
    if kind == "scalar":
        meta = draw(scalars())
    elif kind == "string":
        meta = Meta(VT.STRING, draw(st.text(max_size=20)))
    elif kind == "array":
        item = draw(scalars())
        meta = Meta(VT.ARRAY, [item.value] * draw(st.integers(0, 5)), item.vtype)
    elif kind == "strings":
        meta = Meta(VT.ARRAY, draw(st.lists(st.text(max_size=5), max_size=5)), VT.STRING)
    elif kind == "nested":
        depth = draw(st.integers(1, 12))
        levels = struct.pack("<IQ", int(VT.ARRAY), 1) * (depth - 1)
        return gguf_string(key) + struct.pack("<I", int(VT.ARRAY)) + levels + struct.pack("<IQB", 0, 1, 1)
    else:
        return gguf_string(key) + struct.pack("<I", draw(st.integers(13, 2**32 - 1)))
    key_length = draw(st.one_of(st.none(), sizes))
    count = draw(st.one_of(st.none(), sizes)) if meta.vtype == VT.ARRAY else None
    return gguf_kv(key, meta, key_length=key_length, count=count)


@st.composite
def tensor_rows(draw: st.DrawFn) -> bytes:
    name = draw(st.one_of(st.sampled_from(["token_embd.weight", "blk.0.attn_k.weight", "output.weight"]), keys))
    n_dims = draw(st.one_of(st.integers(0, 5), st.sampled_from([2**31, 2**32 - 1])))
    shape = draw(st.lists(sizes, min_size=min(n_dims, 5), max_size=min(n_dims, 5)))
    row = gguf_string(name) + struct.pack("<I", n_dims) + b"".join(struct.pack("<Q", d) for d in shape)
    return row + struct.pack("<IQ", draw(st.one_of(st.integers(0, 45), st.sampled_from(EDGES[:10]))), draw(sizes))


@st.composite
def crafted_files(draw: st.DrawFn) -> tuple[bytes, int | None]:
    kvs = [gguf_kv("general.architecture", Meta(VT.STRING, draw(st.sampled_from(["gpt-oss", "llama", "x"]))))]
    kvs += draw(st.lists(entries(), max_size=6))
    tensors = draw(st.lists(tensor_rows(), max_size=4))
    n_kv = draw(st.one_of(st.none(), sizes))
    n_tensors = draw(st.one_of(st.none(), sizes))
    data = gguf_bytes(kvs, tensors, n_kv=n_kv, n_tensors=n_tensors, data=b"\0" * draw(st.integers(0, 64)))
    # Sometimes the file claims to be huge (as a sparse or remote file would): then only the limits refuse.
    return data, draw(st.sampled_from([None, None, 2**35, 2**62]))


@FUZZ
@given(crafted_files())
def test_crafted_headers_end_in_a_result_or_a_model_file_error(case: tuple[bytes, int | None]) -> None:
    data, file_size = case
    survives(data, file_size=file_size)


# -- byte mutations of the real tiny gpt-oss header -----------------------------------------------------------


class Tiny:
    """The tiny gpt-oss taken apart, its header bytes (what the mutations change) and its whole size."""

    def __init__(self, parts: GGUFParts, header: bytes, size: int) -> None:
        self.parts, self.header, self.size = parts, header, size

    def __repr__(self) -> str:  # hypothesis prints the arguments of a failing example
        return "Tiny(the tiny gpt-oss)"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    path = write_tiny_gpt_oss(tmp_path_factory.mktemp("fuzz") / "tiny.gguf")
    parts = take_apart(path)
    whole = path.read_bytes()
    return Tiny(parts, whole[: len(whole) - len(parts.data)], len(whole))


mutations = st.lists(
    st.tuples(
        st.floats(0, 1, exclude_max=True), st.sampled_from(["byte", "u32", "u64", "cut"]), st.sampled_from(EDGES)
    ),
    min_size=1,
    max_size=4,
)


def _mutate(header: bytes, changes: list[tuple[float, str, int]]) -> bytes:
    out = bytearray(header)
    for where, kind, value in changes:
        at = int(where * len(out))
        if kind == "cut":
            del out[at:]
        elif kind == "byte":
            out[at : at + 1] = bytes([value & 0xFF])
        else:  # a length, count or type field overwritten with an edge value
            width = 4 if kind == "u32" else 8
            out[at : at + width] = (value % 2 ** (8 * width)).to_bytes(width, "little")
    return bytes(out)


@FUZZ
@given(changes=mutations, big=st.booleans())
def test_mutated_headers_end_in_a_result_or_a_model_file_error(
    tiny: Tiny, changes: list[tuple[float, str, int]], big: bool
) -> None:
    survives(_mutate(tiny.header, changes), file_size=2**35 if big else tiny.size)


# -- hyper-parameters set to any number: accepted means llama.cpp accepts them too --------------------------------

NUMBERS = (
    "block_count",
    "expert_count",
    "expert_used_count",
    "expert_group_count",
    "expert_group_used_count",
    "nextn_predict_layers",
    "attention.head_count",
    "attention.head_count_kv",
    "attention.key_length",
    "attention.value_length",
    "context_length",
    "embedding_length",
)
numbers = st.one_of(st.integers(0, 10), st.sampled_from(EDGES[:10]))


@st.composite
def hyperparameters(draw: st.DrawFn) -> dict[str, Meta]:
    changes = {}
    for key in draw(st.lists(st.sampled_from(NUMBERS), min_size=1, max_size=3, unique=True)):
        if draw(st.booleans()):
            changes[f"gpt-oss.{key}"] = Meta(VT.UINT32, draw(numbers) % 2**32)
        else:  # one value per layer
            changes[f"gpt-oss.{key}"] = Meta(VT.ARRAY, draw(st.lists(numbers, max_size=4)), VT.UINT64)
    if draw(st.booleans()):
        changes["gpt-oss.rope.scaling.type"] = Meta(VT.STRING, draw(st.sampled_from(["yarn", "none", "linear", "x"])))
    return changes


# llama.cpp reads these with get_key (one number; a list is a clean "wrong type" error) and the others with
# get_key_or_arr (a number, or one per layer; a list of another length is a clean error).
ONE_NUMBER = (
    "block_count",
    "expert_count",
    "expert_group_count",
    "expert_group_used_count",
    "nextn_predict_layers",
    "attention.key_length",
    "attention.value_length",
)


def _values(metadata: dict[str, Any]) -> dict[str, int] | None:
    """The numbers as llama.cpp's load_hparams sees them (the largest of a per-layer list; missing ones as its
    defaults), or None when llama.cpp refuses the file with an error of its own before its asserts."""
    n_layers = metadata.get("gpt-oss.block_count")
    seen = {}
    for key in NUMBERS:
        value = metadata.get(f"gpt-oss.{key}")
        if isinstance(value, list) and (key in ONE_NUMBER or len(value) != n_layers):
            return None
        seen[key] = max(value) if isinstance(value, list) else value
    return seen


@FUZZ
@given(changes=hyperparameters())
def test_accepted_hyperparameters_are_ones_llama_cpp_does_not_abort_on(tiny: Tiny, changes: dict[str, Meta]) -> None:
    """llama.cpp's own asserts (load_hparams) hold for every header the checks let through."""
    data = tiny.parts.to_bytes(changes)  # the whole file, weights included
    survives(data)
    try:
        header = read_gguf_header_from(io.BytesIO(data), Path("fuzz.gguf"), len(data))
        check_model_header(header)
    except ModelFileError:
        return
    seen = _values(header.metadata)
    if seen is None:
        return
    n_layers, n_expert = seen["block_count"], seen["expert_count"] or 0
    used, groups = seen["expert_used_count"] or 0, seen["expert_group_count"] or 0
    assert n_layers is not None and 1 <= n_layers <= LLAMA_MAX_LAYERS
    assert (seen["nextn_predict_layers"] or 0) <= n_layers
    assert n_expert <= LLAMA_MAX_EXPERTS and used <= n_expert
    assert (used > 0 and groups < n_expert) if n_expert else (used == 0 and groups == 0)
    assert header.metadata.get("gpt-oss.rope.scaling.type", "none") in ("none", "linear", "yarn", "longrope")
    assert seen["attention.key_length"] != 0 and seen["attention.value_length"] != 0
