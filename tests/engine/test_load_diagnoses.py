"""What Moss says when a model cannot be used: the reason that is true, not one that merely looks close.

Each case was found by fuzzing and said something misleading: a GGUF version of 0 was called big-endian, a
file one byte short "held 0.10 GB of the 0.10 GB", any failed load of a file with "context" in its name was
"not enough memory", a vocabulary token that is not UTF-8 was explained by a sliding-window warning llama.cpp
logged on the way, and a context length of -1 ran out of "memory". Real llama.cpp on real (damaged) files.
"""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import pytest

from app.core.errors import ModelFileError, UserError
from app.core.types import LoadOptions, LoadParams
from app.engine.gguf_header import read_gguf_header
from app.engine.llama_engine import LlamaEngine
from app.engine.loading import OutOfMemoryError, create_llama
from tests.helpers import bad_models
from tests.helpers.damaged_copies import damaged_models

SMALL_LOAD = LoadParams(n_ctx=512, n_batch=64)


def _with_version(src: Path, folder: Path, version: int) -> Path:
    """A copy of ``src`` whose GGUF version field (the 4 bytes after the magic) holds ``version``."""
    data = bytearray(src.read_bytes())
    data[4:8] = struct.pack("<I", version)
    path = folder / f"version-{version}.gguf"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("version", [0, 1, 0xDEADBEEF])
def test_an_impossible_version_is_called_damaged_not_big_endian(
    tmp_path: Path, tiny_gpt_oss: Path, version: int
) -> None:
    with pytest.raises(ModelFileError) as caught:
        read_gguf_header(_with_version(tiny_gpt_oss, tmp_path, version))
    assert "big-endian" not in caught.value.message
    assert f"({version})" in caught.value.message and "Download the model again" in caught.value.message


def test_a_big_endian_file_is_still_called_big_endian(tmp_path: Path, tiny_gpt_oss: Path) -> None:
    with pytest.raises(ModelFileError, match="big-endian"):
        read_gguf_header(_with_version(tiny_gpt_oss, tmp_path, 0x03000000))  # 3, byte-swapped


def test_a_file_one_byte_short_says_so_in_bytes(tmp_path: Path, smollm2: Path) -> None:
    size = smollm2.stat().st_size
    short = tmp_path / "short.gguf"
    with smollm2.open("rb") as src:
        short.write_bytes(src.read(size - 1))
    with pytest.raises(ModelFileError) as caught:
        read_gguf_header(short)
    assert f"{size - 1:,} of the {size:,} bytes" in caught.value.message
    assert "GB of the" not in caught.value.message


def test_a_failed_load_is_not_blamed_on_memory_because_of_the_file_name(tmp_path: Path, tiny_gpt_oss: Path) -> None:
    """llama.cpp refuses the file (not a GGUF); its name says "context", which used to mean "memory"."""
    bad = bad_models.write_not_gguf(tmp_path).rename(tmp_path / "long-context-notes.gguf")
    header = dataclasses.replace(read_gguf_header(tiny_gpt_oss), path=bad)  # past Moss's checks, to llama.cpp
    with pytest.raises(UserError) as caught:
        create_llama(header, SMALL_LOAD)
    assert not isinstance(caught.value, OutOfMemoryError)
    assert "memory" not in caught.value.message.lower()
    assert caught.value.message.startswith("llama.cpp could not load long-context-notes.gguf")


def test_a_token_that_is_not_utf8_is_the_reason_given_not_a_warning(tmp_path: Path, tiny_gpt_oss: Path) -> None:
    """llama.cpp loads the model and creates its context (logging a sliding-window cache warning on the way),
    then llama-cpp-python fails to decode the BOS token's text: that is the reason, in words."""
    engine = LlamaEngine()
    with pytest.raises(ModelFileError) as caught:
        engine.load(damaged_models(tiny_gpt_oss, tmp_path)["BOS not UTF-8"], LoadOptions(SMALL_LOAD))
    assert "SWA" not in caught.value.message
    assert "not valid UTF-8" in caught.value.message
    assert engine.info is None


def test_a_context_llama_cpp_cannot_create_is_not_called_a_memory_problem(tiny_gpt_oss: Path) -> None:
    """A context length past what llama.cpp accepts (reached here without Moss's own check) fails in llama.cpp
    with its own words, which the message carries; it is no memory problem."""
    header = read_gguf_header(tiny_gpt_oss)
    with pytest.raises(UserError) as caught:
        create_llama(dataclasses.replace(header, metadata={}), LoadParams(n_ctx=2**32 - 1, n_batch=64))
    assert not isinstance(caught.value, OutOfMemoryError)
    assert "could not set it up to chat" in caught.value.message


@pytest.mark.parametrize(
    "options",
    [
        LoadOptions(wanted_ctx=-1),
        LoadOptions(wanted_ctx=0),
        LoadOptions(LoadParams(n_ctx=-1)),
        LoadOptions(LoadParams(n_ctx=2**30 + 1)),
    ],
)
def test_an_impossible_context_length_is_refused_before_the_model_is_unloaded(
    smollm2_engine: LlamaEngine, smollm2: Path, options: LoadOptions
) -> None:
    """The window's path: a hand-edited settings file with a context length of -1 is refused with what to
    change, and the model loaded stays loaded."""
    before = smollm2_engine.info
    with pytest.raises(UserError, match="The context length must be from 1 to") as caught:
        smollm2_engine.load(smollm2, options)
    assert "memory" not in caught.value.message.lower()
    assert smollm2_engine.info is before
