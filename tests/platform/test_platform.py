from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from app.core.errors import UserError
from app.core.settings import Settings
from app.platform.logging_setup import setup_logging
from app.platform.paths import AppPaths
from app.platform.secrets import MemorySecretStore, open_secret_store
from app.platform.settings_store import load_settings, save_settings


def test_data_dir_reroots_every_folder(tmp_path: Path) -> None:
    paths = AppPaths.resolve(tmp_path / "portable")
    paths.ensure()
    for folder in paths.all().values():
        assert folder.is_dir()
        assert tmp_path / "portable" in folder.parents
    assert paths.settings_file.parent == paths.config


def test_settings_round_trip_atomically(tmp_path: Path) -> None:
    path = tmp_path / "config" / "settings.json"
    assert load_settings(path) == Settings()  # no file yet: defaults
    wanted = Settings(system_prompt="Be brief.", recent_models=("/m.gguf",), theme="dark")
    save_settings(path, wanted)
    assert load_settings(path) == wanted
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]  # no temporary file left behind


def test_corrupt_settings_are_set_aside_not_lost(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "settings.json"
    path.write_text('{"theme": "dark", ', encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        assert load_settings(path) == Settings()
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("settings.json.corrupt-")]
    assert len(aside) == 1 and aside[0].read_text(encoding="utf-8") == '{"theme": "dark", '
    assert "unreadable" in caplog.text


def test_settings_that_are_not_an_object_give_defaults(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps([1, 2]), encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        assert load_settings(path) == Settings()


def test_saving_into_an_unwritable_place_is_a_user_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UserError, match="Could not save settings"):
        save_settings(blocker / "settings.json", Settings())


def test_tests_use_the_memory_secret_store() -> None:
    store = open_secret_store()
    assert isinstance(store, MemorySecretStore) and not store.persistent
    store.set("hf_token", "secret")
    assert store.get("hf_token") == "secret"
    store.delete("hf_token")
    store.delete("hf_token")  # deleting twice is fine
    assert store.get("hf_token") is None


def test_log_file_receives_records(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "moss.log"
    setup_logging(log_file)
    logging.getLogger("moss.test").info("hello log file")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert "hello log file" in log_file.read_text(encoding="utf-8")
    setup_logging(log_file)  # a second call replaces, not duplicates, the handlers
    assert sum(getattr(h, "_moss", False) for h in logging.getLogger().handlers) == 1
