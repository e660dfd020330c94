"""The model library on real files: import (in place, copy, move), no duplicates, removal, the folder move,
and models dropped into the folder by hand."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from app.core.errors import ModelFileError, UserError
from app.core.types import LoadOptions, LoadParams
from app.engine.gguf_header import read_gguf_header
from app.engine.llama_engine import LlamaEngine
from app.hub.library import ImportMode, ModelLibrary, model_parts
from app.hub.model_details import details_of
from tests.helpers.bad_models import write_not_gguf, write_truncated
from tests.helpers.damaged_copies import damaged_models
from tests.helpers.tiny_gpt_oss import write_tiny_gpt_oss


@pytest.fixture
def library(tmp_path: Path) -> ModelLibrary:
    return ModelLibrary(tmp_path / "models", tmp_path / "data" / "models.json")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    return write_tiny_gpt_oss(tmp_path / "Downloads" / "tiny-gpt-oss-MXFP4.gguf")


def test_import_in_place_keeps_the_file_where_it_is(library: ModelLibrary, outside: Path) -> None:
    result = library.import_model(outside)
    assert not result.already_there
    model = result.model
    assert model.path == outside.resolve() and not model.managed
    assert model.id == "tiny-gpt-oss-mxfp4"
    assert model.size_bytes == outside.stat().st_size
    assert list(library.models_dir.rglob("*.gguf")) == []  # nothing copied into the models folder
    assert [m.id for m in library.models()] == [model.id]
    assert library.get(model.id) == library.get(str(outside)) == model


def test_the_same_file_is_never_added_twice(library: ModelLibrary, outside: Path, tmp_path: Path) -> None:
    first = library.import_model(outside).model
    again = library.import_model(outside, ImportMode.COPY)
    assert again.already_there and again.model.id == first.id
    assert not (library.models_dir / "imported").exists()  # nothing was copied
    # A byte-identical copy elsewhere is recognised too.
    twin = tmp_path / "elsewhere" / "renamed.gguf"
    twin.parent.mkdir()
    twin.write_bytes(outside.read_bytes())
    assert library.import_model(twin).already_there
    assert len(library.models()) == 1


def test_copy_and_move_bring_the_file_into_the_models_folder(library: ModelLibrary, tmp_path: Path) -> None:
    a = write_tiny_gpt_oss(tmp_path / "in" / "a.gguf", seed=1)
    b = write_tiny_gpt_oss(tmp_path / "in" / "b.gguf", seed=2)
    seen: list[tuple[int, int]] = []
    copied = library.import_model(a, ImportMode.COPY, on_progress=lambda done, total: seen.append((done, total)))
    moved = library.import_model(b, ImportMode.MOVE).model
    assert copied.model.managed and copied.model.path == library.models_dir / "imported" / "a.gguf"
    assert a.exists() and seen[-1] == (a.stat().st_size, a.stat().st_size)
    assert moved.managed and not b.exists() and moved.path.is_file()
    assert not list(library.models_dir.rglob("*.part"))


def test_a_broken_file_is_refused_and_nothing_is_registered(library: ModelLibrary, tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"is not a model, although its name ends in \.gguf: it holds text"):
        library.import_model(write_not_gguf(tmp_path))
    good = write_tiny_gpt_oss(tmp_path / "good.gguf")
    with pytest.raises(ModelFileError):
        library.import_model(write_truncated(good, tmp_path / "cut"))
    assert library.models() == []


@pytest.mark.parametrize("damage", ["template broken", "BOS not UTF-8", "a tensor renamed", "a key renamed"])
def test_a_file_a_load_refuses_is_refused_on_import_for_the_same_reason(
    library: ModelLibrary, tmp_path: Path, tiny_gpt_oss: Path, damage: str
) -> None:
    """Import checks what a load checks (without the weights): a chat template llama-cpp-python cannot compile, a
    BOS token whose text is not UTF-8, llama.cpp's own refusal of a missing tensor or key. It used to read the
    header only and accept all of these; the window and `moss chat` then refused them."""
    damaged = damaged_models(tiny_gpt_oss, tmp_path / "damaged")[damage]
    engine = LlamaEngine()
    with pytest.raises(UserError) as loading:
        engine.load(damaged, LoadOptions(LoadParams(n_ctx=256, n_batch=64)))
    with pytest.raises(UserError) as importing:
        library.import_model(damaged)
    assert importing.value.message == loading.value.message
    assert library.models() == []


def test_split_model_imports_as_one_and_a_later_part_is_refused(library: ModelLibrary, tmp_path: Path) -> None:
    first = write_tiny_gpt_oss(tmp_path / "split" / "big.gguf", split_max_tensors=8)
    parts = model_parts(first)
    assert len(parts) > 1 and all(p.exists() for p in parts)
    with pytest.raises(ModelFileError, match="first part"):
        library.import_model(parts[1])
    model = library.import_model(first, ImportMode.COPY).model
    assert model.parts == tuple(library.models_dir / "imported" / p.name for p in parts)
    assert model.size_bytes == sum(p.stat().st_size for p in parts)
    assert model.id == "big"


def test_remove_deletes_own_files_and_only_forgets_files_used_in_place(
    library: ModelLibrary, outside: Path, tmp_path: Path
) -> None:
    in_place = library.import_model(outside).model
    own = library.import_model(write_tiny_gpt_oss(tmp_path / "x" / "own.gguf", seed=3), ImportMode.MOVE).model
    assert library.remove(in_place.id) == 0 and outside.exists()
    assert library.remove(own.id) == own.size_bytes and not own.path.exists()
    assert not (library.models_dir / "imported").exists()  # emptied folders go too
    assert library.models() == []
    again = library.import_model(outside).model
    size = outside.stat().st_size
    assert library.remove(again.id, delete_file=True) == size
    assert not outside.exists()
    with pytest.raises(UserError, match="No model 'nope'"):
        library.remove("nope")


def test_a_gguf_put_into_the_models_folder_by_hand_is_listed(library: ModelLibrary) -> None:
    dropped = write_tiny_gpt_oss(library.models_dir / "mine" / "hand-placed.gguf")
    (library.models_dir / "mine" / "half.gguf.part").write_bytes(b"partial")
    (library.models_dir / "mine" / "mmproj-vision.gguf").write_bytes(b"projector")
    models = library.models()
    assert [(m.id, m.path, m.managed) for m in models] == [("hand-placed", dropped, True)]
    assert library.models() == models  # registered once, stable id


def test_moving_the_models_folder_moves_the_files(library: ModelLibrary, tmp_path: Path) -> None:
    model = library.import_model(write_tiny_gpt_oss(tmp_path / "in" / "m.gguf"), ImportMode.MOVE).model
    partial = library.models_dir / "org" / "repo" / "next.gguf.part"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"half a model")
    new_dir = tmp_path / "bigger-disk" / "models"
    library.move_to(new_dir)
    assert library.models_dir == new_dir.resolve()
    moved = library.get(model.id)
    assert moved.path == new_dir.resolve() / "imported" / "m.gguf" and moved.available
    assert (new_dir / "org" / "repo" / "next.gguf.part").read_bytes() == b"half a model"
    assert not any(p.is_file() for p in (tmp_path / "models").rglob("*"))
    with pytest.raises(UserError, match="neither inside"):
        library.move_to(new_dir / "sub")


def test_a_missing_file_is_shown_as_unavailable(library: ModelLibrary, outside: Path) -> None:
    model = library.import_model(outside).model
    outside.unlink()
    (listed,) = library.models()
    assert listed.id == model.id and not listed.available


def test_a_corrupt_registry_is_set_aside_not_fatal(library: ModelLibrary, outside: Path) -> None:
    library.registry_file.parent.mkdir(parents=True)
    library.registry_file.write_text("{not json", encoding="utf-8")
    assert library.models() == []
    assert library.registry_file.with_name("models.json.corrupt").read_text() == "{not json"
    library.import_model(outside)
    assert json.loads(library.registry_file.read_text())["models"][0]["id"] == "tiny-gpt-oss-mxfp4"


def test_details_come_from_the_header(outside: Path) -> None:
    details = details_of(read_gguf_header(outside))
    assert details.architecture == "gpt-oss"
    assert details.quantization == "MXFP4_MOE"
    assert details.has_chat_template
    assert details.context_length > 0 and details.parameters > 0
    assert details.file_size == outside.stat().st_size


@pytest.mark.parametrize("kind", ["file", "fifo", "under a file"])
def test_the_models_folder_is_not_moved_onto_something_that_is_not_a_folder(
    library: ModelLibrary, tmp_path: Path, kind: str
) -> None:
    """The window's "Move models folder…": a file or a FIFO where the folder is to be is refused in words (it
    was an OSError), and nothing moves."""
    model = library.import_model(write_tiny_gpt_oss(tmp_path / "in" / "m.gguf"), ImportMode.MOVE).model
    blocker = tmp_path / "elsewhere"
    if kind == "fifo":
        os.mkfifo(blocker)
    else:
        blocker.write_text("notes")
    target = blocker / "models" if kind == "under a file" else blocker
    with pytest.raises(UserError, match=f"^{re.escape(str(blocker))} is not a folder"):
        library.move_to(target)
    assert library.models_dir == tmp_path / "models" and model.path.is_file()
