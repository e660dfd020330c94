"""The settings window, offscreen: every section's controls change the right settings through their one owner
(which saves and announces each change), "Apply and reload", presets, the theme applied live, "Delete all data" on
a real history and real files, and About from the task pool."""

from __future__ import annotations

import logging
import logging.handlers
from collections.abc import Iterator
from pathlib import Path

import llama_cpp
import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QWidget,
)
from pytestqt.qtbot import QtBot

from app.core.settings import BUILTIN_PRESETS, Settings
from app.core.types import GenerationParams, LoadParams, ModelInfo, Role
from app.core.units import format_size
from app.engine.hardware import simulated_machine
from app.hub.hub_client import TOKEN_KEY
from app.hub.library import ImportMode
from app.platform.paths import AppPaths
from app.platform.secrets import MemorySecretStore
from app.platform.settings_store import load_settings
from app.qt.models_controller import ModelsController
from app.qt.settings_controller import SettingsController
from app.storage.history import HistoryStore
from app.ui.settings.window import SettingsWindow
from app.ui.theme import colours
from tests.helpers.tiny_gpt_oss import write_tiny_gpt_oss

GPT_OSS = ModelInfo(
    path="/models/gpt-oss-20b-MXFP4.gguf",
    name="gpt-oss-20b",
    architecture="gpt-oss",
    chat_format="harmony",
    n_ctx=32768,
    n_ctx_train=131072,
    size_bytes=12_100_000_000,
    supports_reasoning_effort=True,
    default_params=GenerationParams(temperature=1.0, top_p=1.0, top_k=0, min_p=0.0),
    plan=("All 24 layers on the GPU with a 32,768-token context.", "KV cache f16: 0.8 GB."),
    load_params=LoadParams(n_ctx=32768, n_gpu_layers=-1, n_cpu_moe=3, type_k="q8_0", flash_attn=True),
)


@pytest.fixture
def store(paths: AppPaths) -> Iterator[HistoryStore]:
    history = HistoryStore.open(paths.history_file)
    yield history
    history.close()


@pytest.fixture
def owner(paths: AppPaths) -> SettingsController:
    return SettingsController(paths.settings_file)


@pytest.fixture
def emitted(owner: SettingsController) -> list[Settings]:
    """The settings after each change the owner announced."""
    changes: list[Settings] = []
    owner.changed.connect(lambda settings, _before: changes.append(settings))
    return changes


@pytest.fixture
def window(qtbot: QtBot, paths: AppPaths, store: HistoryStore, owner: SettingsController) -> Iterator[SettingsWindow]:
    settings_window = SettingsWindow(owner, paths, store)
    qtbot.addWidget(settings_window)
    settings_window.show()
    yield settings_window
    settings_window.tasks.wait()


@pytest.fixture
def restore_look() -> Iterator[None]:
    """The theme is the application's: put it back so later tests see the look they started with."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    palette, sheet, font, style = QPalette(app.palette()), app.styleSheet(), app.font(), app.style().name()
    yield
    app.setStyle(style)
    app.setPalette(palette)
    app.setStyleSheet(sheet)
    app.setFont(font)
    app.setProperty("compact", False)


def test_sections_in_order_every_control_named_and_no_models_section_without_a_manager(
    window: SettingsWindow,
) -> None:
    names = [window.sections.item(i).text() for i in range(window.sections.count())]
    assert tuple(names) == SettingsWindow.SECTIONS == ("Models", "Inference", "Chat", "Appearance", "Privacy", "About")
    for name in SettingsWindow.SECTIONS:
        window.show_section(name)
        assert window.stack.currentIndex() == names.index(name)
    assert window.models_pane is None
    assert not hasattr(window.privacy_pane, "token_edit")  # the token needs the model manager
    controls = (QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit, QPlainTextEdit)
    unnamed = [
        f"{type(w).__name__} {getattr(w, 'text', lambda: '')()!r}"
        for w in window.findChildren(QWidget)
        if isinstance(w, controls)
        and not isinstance(w.parent(), QAbstractSpinBox)
        and not w.accessibleName()
        and not (isinstance(w, QAbstractButton) and w.text())
    ]
    assert unnamed == []


def test_tab_order_follows_the_inference_page_top_to_bottom(window: SettingsWindow) -> None:
    pane = window.inference_pane
    wanted = [pane.manual, pane.context, pane.gpu_layers, pane.cpu_moe, pane.kv_type, pane.flash_attn]
    wanted += [pane.threads, pane.batch, pane.reset_button, pane.apply_button, pane.recommended, pane.temperature]
    seen: list[QWidget] = []
    widget: QWidget = pane.manual
    for _ in range(200):
        if widget in wanted and widget not in seen:
            seen.append(widget)
        widget = widget.nextInFocusChain()
    assert seen == wanted


def test_inference_shows_the_plan_and_starts_from_what_the_model_was_loaded_with(window: SettingsWindow) -> None:
    pane = window.inference_pane
    assert pane.model_name.text() == "No model is loaded."
    window.set_model(GPT_OSS)
    assert pane.plan.text() == "\n".join(GPT_OSS.plan)
    assert "gpt-oss-20b" in pane.model_name.text()
    # Automatic: the manual-only values start from the loaded model's, greyed out.
    assert (pane.cpu_moe.value(), pane.kv_type.currentData(), pane.gpu_layers.value()) == (3, "q8_0", -1)
    assert not pane.kv_type.isEnabled() and not pane.cpu_moe.isEnabled()
    assert not pane.pending_note.isVisibleTo(pane)  # shown, not changed: nothing waits to be applied
    # The model's recommended sampling is what is shown while it is used.
    assert pane.recommended.isChecked() and pane.top_k.value() == 0 and not pane.temperature.isEnabled()
    window.set_model(None)
    assert pane.model_name.text() == "No model is loaded."


def test_sampling_changes_are_saved_at_once(
    window: SettingsWindow, owner: SettingsController, emitted: list[Settings], paths: AppPaths
) -> None:
    pane = window.inference_pane
    window.set_model(GPT_OSS)
    pane.recommended.setChecked(False)
    assert emitted[-1].sampling_custom and emitted[-1].temperature == 1.0  # starts from the model's values
    for box, value, field in (
        (pane.temperature, 0.55, "temperature"),
        (pane.top_p, 0.9, "top_p"),
        (pane.top_k, 40, "top_k"),
        (pane.min_p, 0.05, "min_p"),
        (pane.repeat_penalty, 1.1, "repeat_penalty"),
        (pane.max_tokens, 1024, "max_tokens"),
    ):
        box.setValue(value)
        assert getattr(emitted[-1], field) == pytest.approx(value), field
    pane.recommended.setChecked(True)
    assert not emitted[-1].sampling_custom
    assert emitted[-1].temperature == pytest.approx(0.55)  # the person's values are kept for next time
    assert pane.temperature.value() == 1.0  # and the model's are shown, as they are what runs
    assert owner.settings == emitted[-1] == load_settings(paths.settings_file)
    pane.recommended.setChecked(False)  # back to their own: their numbers, not the model's
    assert emitted[-1].sampling_custom and emitted[-1].temperature == pytest.approx(0.55)
    assert pane.temperature.value() == pytest.approx(0.55)


def test_apply_and_reload_saves_the_loading_settings_then_asks_for_a_reload(
    window: SettingsWindow, owner: SettingsController, emitted: list[Settings]
) -> None:
    pane = window.inference_pane
    events: list[str] = []
    owner.changed.connect(lambda s, _before: events.append(f"settings ctx={s.context_length}"))
    window.reload_requested.connect(lambda: events.append("reload"))
    pane.manual.setChecked(True)
    pane.context.setValue(4096)
    pane.gpu_layers.setValue(12)
    pane.cpu_moe.setValue(2)
    pane.kv_type.setCurrentIndex(pane.kv_type.findData("q8_0"))
    pane.flash_attn.setChecked(True)
    pane.threads.setValue(3)
    pane.batch.setValue(256)
    assert emitted == [] and pane.pending_note.isVisibleTo(pane)  # nothing applies before Apply
    pane.apply_button.click()
    assert events == ["settings ctx=4096", "reload"]
    s = emitted[-1]
    assert (s.manual_load, s.context_length, s.gpu_layers, s.cpu_moe) == (True, 4096, 12, 2)
    assert (s.kv_type, s.flash_attn, s.n_threads, s.n_batch) == ("q8_0", True, 3, 256)
    assert not pane.pending_note.isVisibleTo(pane)
    events.clear()
    pane.reset_button.click()
    assert events == ["settings ctx=0", "reload"]
    s = emitted[-1]
    assert (s.manual_load, s.context_length, s.n_threads, s.n_batch) == (False, 0, 0, 0)
    assert not pane.kv_type.isEnabled()


def test_chat_prompt_presets_and_reasoning(window: SettingsWindow, emitted: list[Settings]) -> None:
    pane = window.chat_pane
    window.show_section("Chat")
    pane.prompt.setPlainText("You are a patient tutor.")
    assert emitted == []  # saved once typing pauses, not per key
    pane.flush()
    assert emitted[-1].system_prompt == "You are a patient tutor."

    # A built-in preset fills the prompt; it cannot be deleted.
    builtin_name, builtin_text = BUILTIN_PRESETS[1]
    index = pane.presets.findText(builtin_name)
    pane.presets.setCurrentIndex(index)
    pane.presets.activated.emit(index)
    assert pane.prompt.toPlainText() == builtin_text and emitted[-1].system_prompt == builtin_text
    assert not pane.delete_preset_button.isEnabled()

    # Save the current prompt as a preset of one's own, under a name asked for.
    pane.prompt.setPlainText("Answer in French.")
    pane.ask_name = lambda _question, _suggested: "  French "
    pane.save_preset_button.click()
    assert emitted[-1].system_prompt_presets == (("French", "Answer in French."),)
    assert pane.presets.currentText() == "French" and pane.delete_preset_button.isEnabled()
    pane.ask_name = lambda _question, _suggested: builtin_name.upper()  # a built-in's name is refused
    pane.save_preset_button.click()
    assert emitted[-1].system_prompt_presets == (("French", "Answer in French."),)
    assert "comes with Moss" in pane.status.text()
    pane.ask_name = lambda _question, _suggested: None  # cancelled: nothing happens
    pane.save_preset_button.click()
    assert len(emitted[-1].system_prompt_presets) == 1

    pane.delete_preset_button.click()
    assert emitted[-1].system_prompt_presets == ()
    assert pane.presets.findText("French") == -1 and pane.prompt.toPlainText() == "Answer in French."

    pane.display.setCurrentIndex(pane.display.findData("hidden"))
    pane.display.activated.emit(pane.display.currentIndex())
    assert emitted[-1].reasoning_display == "hidden"
    pane.effort.setCurrentIndex(pane.effort.findData("high"))
    pane.effort.activated.emit(pane.effort.currentIndex())
    assert emitted[-1].reasoning_effort == "high"


def test_typed_instructions_are_saved_when_the_pause_timer_fires(
    qtbot: QtBot, window: SettingsWindow, emitted: list[Settings]
) -> None:
    window.chat_pane.prompt.setPlainText("Short answers, please.")
    qtbot.waitUntil(lambda: bool(emitted) and emitted[-1].system_prompt == "Short answers, please.", timeout=5000)


def test_appearance_is_applied_to_the_running_app_at_once(
    window: SettingsWindow, emitted: list[Settings], restore_look: None
) -> None:
    pane = window.appearance_pane
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    pane.theme_buttons["dark"].click()
    assert emitted[-1].theme == "dark"
    assert app.palette().color(QPalette.ColorRole.Window) == QColor(colours("dark")["window"])
    pane.theme_buttons["light"].click()
    assert emitted[-1].theme == "light"
    assert app.palette().color(QPalette.ColorRole.Window) == QColor(colours("light")["window"])
    pane.font_size.setCurrentIndex(pane.font_size.findData(15))
    pane.font_size.activated.emit(pane.font_size.currentIndex())
    assert emitted[-1].font_size == 15 and app.font().pointSize() == 15
    assert window.font().pointSize() == 15
    pane.compact.setChecked(True)
    assert emitted[-1].compact and app.property("compact") and "padding: 3px 8px" in app.styleSheet()
    pane.font_size.setCurrentIndex(0)
    pane.font_size.activated.emit(0)
    assert emitted[-1].font_size == 0 and app.font().pointSize() != 15


def test_about_fills_in_from_the_task_pool_and_copies_everything(
    qtbot: QtBot, window: SettingsWindow, paths: AppPaths
) -> None:
    pane = window.about_pane
    with qtbot.waitSignal(pane.collected, timeout=30_000):
        window.show_section("About")  # llama.cpp is asked on the pool, once the section is shown
    versions = dict(pane.versions)
    assert versions["llama-cpp-python"] == llama_cpp.__version__
    assert "CPU" in versions["llama.cpp backend"] and versions["Devices"]
    opened: list[QUrl] = []
    pane.open_url = opened.append
    pane.open_buttons["Logs"].click()
    pane.open_buttons["Log file"].click()
    pane.open_buttons["Data"].click()
    assert [u.toLocalFile() for u in opened] == [str(paths.logs), str(paths.logs), str(paths.data)]
    moved = paths.data.parent / "moved-models"
    pane.set_models_folder(str(moved))  # Settings → Models → Move folder…
    pane.open_buttons["Models"].click()
    assert opened[-1].toLocalFile() == str(moved) and moved.is_dir()
    pane.copy_button.click()
    text = QGuiApplication.clipboard().text()
    assert text == pane.as_text()
    assert f"llama-cpp-python: {llama_cpp.__version__}" in text and f"Logs folder: {paths.logs}" in text
    assert "Moss: " in text and "Python: " in text and "Qt: " in text and "Devices: " in text


@pytest.fixture
def models(paths: AppPaths, owner: SettingsController, qtbot: QtBot) -> Iterator[ModelsController]:
    controller = ModelsController(
        paths,
        owner,
        MemorySecretStore(),
        endpoint="http://127.0.0.1:9",  # nothing listens there: no Hub request can leave the machine
        machine=simulated_machine(8 * 2**30, 16 * 2**30),
    )
    yield controller
    controller.shutdown()


@pytest.fixture
def log_handler(paths: AppPaths) -> Iterator[logging.Handler]:
    """A live rotating log file, as setup_logging installs one."""
    handler = logging.handlers.RotatingFileHandler(paths.log_file, maxBytes=1 << 20, backupCount=2)
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    handler.close()


def _fill_everything(paths: AppPaths, store: HistoryStore, models: ModelsController, tmp_path: Path) -> Path:
    """Conversations, a backup, logs, a cache, a token, a model Moss owns and one used in place; returns the
    model used in place (in another app's folder)."""
    for n in range(3):
        info = store.create_conversation(title=f"Secret plans {n}")
        store.add_message(info.id, None, Role.USER, "The hidden-walrus recipe")
    (paths.data / "history.db.v1-backup").write_bytes(b"hidden-walrus")
    logging.getLogger("moss.test").warning("hidden-walrus in the log")
    (paths.logs / "moss.log.1").write_text("hidden-walrus, rotated\n", encoding="utf-8")
    (paths.cache / "catalog.json").write_text("{}", encoding="utf-8")
    models.set_token("hf_secret_token")
    owned = write_tiny_gpt_oss(tmp_path / "tiny-owned.gguf")
    models.library.import_model(owned, ImportMode.MOVE)
    other_app = write_tiny_gpt_oss(tmp_path / "lm-studio" / "tiny-elsewhere.gguf", seed=1)
    models.library.import_model(other_app, ImportMode.IN_PLACE)
    return other_app


def _walrus_files(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*") if p.is_file() and b"hidden-walrus" in p.read_bytes())


@pytest.mark.parametrize("delete_models", [False, True])
def test_delete_all_data_erases_everything_and_respects_keeping_the_models(
    qtbot: QtBot,
    paths: AppPaths,
    store: HistoryStore,
    owner: SettingsController,
    emitted: list[Settings],
    models: ModelsController,
    log_handler: logging.Handler,
    tmp_path: Path,
    delete_models: bool,
) -> None:
    other_app = _fill_everything(paths, store, models, tmp_path)
    with qtbot.waitSignal(models.installed_changed, timeout=20_000):
        models.refresh_installed()
    assert len(models.rows) == 2
    owned_file = next(row.model.path for row in models.rows if row.model.managed)
    usage = models.usage  # what the models folder holds before (the removal measures it again)
    assert usage > 0
    mine = {"theme": "dark", "temperature": 0.2, "recent_models": ("/m.gguf",), "window_state": "AAAA"}
    owner.update(models_dir=str(paths.models), **mine)
    window = SettingsWindow(owner, paths, store, models)
    qtbot.addWidget(window)
    asked: list[tuple[str, str, str]] = []

    def answer(title: str, text: str, check: str) -> tuple[bool, bool]:
        asked.append((title, text, check))
        return True, delete_models

    window.privacy_pane.confirm = answer
    window.show_section("Privacy")
    assert _walrus_files(paths.data) and _walrus_files(paths.logs)
    with qtbot.waitSignal(window.data_deleted, timeout=20_000):
        window.privacy_pane.delete_button.click()

    ((_title, text, check),) = asked
    for what in ("every conversation", "backups", "settings", "Hugging Face token", "log files"):
        assert what in text
    assert "other apps' folders always stay" in text and str(paths.models) in text
    assert check == f"Also delete the downloaded models ({format_size(usage)})"
    # The history is empty, in the same store object, and none of its text is left on disk.
    assert store.count_conversations() == 0
    assert _walrus_files(paths.data) == [] and _walrus_files(paths.logs) == []
    assert not (paths.data / "history.db.v1-backup").exists()
    assert list(paths.cache.iterdir()) == []
    assert not models.has_token and models._secrets.get(TOKEN_KEY) is None
    # Settings back to their defaults, the models used with them (the models folder and the window's place stay
    # where they are); saved, and the look follows.
    reset = Settings(models_dir=str(paths.models), window_state="AAAA")
    assert emitted[-1] == reset == owner.settings == load_settings(paths.settings_file)
    assert window.appearance_pane.theme_buttons["system"].isChecked()
    assert window.inference_pane.temperature.value() != pytest.approx(0.2)
    # Logging goes on, into a new file.
    logging.getLogger("moss.test").warning("after the reset")
    log_handler.flush()
    assert paths.log_file.read_text(encoding="utf-8").strip().endswith("after the reset")
    assert "Moss starts afresh" in window.privacy_pane.erase_status.text()
    if delete_models:
        qtbot.waitUntil(lambda: not models.rows and not owned_file.exists(), timeout=20_000)
        assert other_app.exists()  # another app's model is forgotten, never deleted
    else:
        assert owned_file.exists() and other_app.exists()
        with qtbot.waitSignal(models.installed_changed, timeout=20_000):
            models.refresh_installed()
        assert len(models.rows) == 2
    window.tasks.wait()
    models.tasks.wait()


def test_delete_all_data_cancelled_deletes_nothing(
    window: SettingsWindow, store: HistoryStore, emitted: list[Settings]
) -> None:
    store.create_conversation(title="Keep me")
    window.privacy_pane.confirm = lambda _title, _text, check: (False, True)
    assert window.privacy_pane.confirm("", "", "")[1]  # even with the box ticked
    window.privacy_pane.delete_button.click()
    assert store.count_conversations() == 1 and emitted == []


def test_the_owner_saves_and_announces_each_change_once(paths: AppPaths) -> None:
    owner = SettingsController(paths.settings_file)
    assert owner.settings == Settings()  # no file yet: the defaults
    changes: list[tuple[Settings, Settings]] = []
    owner.changed.connect(lambda settings, before: changes.append((settings, before)))
    owner.update(theme="dark", max_tokens=1024)
    ((now, before),) = changes
    assert before == Settings() and now == Settings(theme="dark", max_tokens=1024) == owner.settings
    assert load_settings(paths.settings_file) == now
    owner.update(theme="dark")  # the same values: no change, nothing saved or announced
    owner.submit(owner.settings)
    assert len(changes) == 1
    owner.submit(now.with_recent_model("/m.gguf"))  # a whole edited copy
    assert load_settings(paths.settings_file).recent_models == ("/m.gguf",)
    assert SettingsController(paths.settings_file).settings == owner.settings  # what the next start reads


def test_a_settings_file_that_cannot_be_written_is_reported_and_the_change_still_applies(tmp_path: Path) -> None:
    blocker = tmp_path / "config"
    blocker.write_text("a file where the settings folder should be", encoding="utf-8")
    owner = SettingsController(blocker / "settings.json", Settings())
    failures: list[str] = []
    owner.save_failed.connect(failures.append)
    changed: list[Settings] = []
    owner.changed.connect(lambda settings, _before: changed.append(settings))
    owner.update(theme="dark")  # no exception: it is a slot's job that called it
    assert len(failures) == 1 and "Could not save settings" in failures[0]
    assert owner.settings.theme == "dark" and changed == [owner.settings]  # in use for this session


def test_a_section_keeps_its_own_edits_and_shows_changes_made_elsewhere(
    window: SettingsWindow, owner: SettingsController
) -> None:
    inference, chat = window.inference_pane, window.chat_pane
    inference.manual.setChecked(True)
    inference.context.setValue(2048)  # not applied yet
    inference.recommended.setChecked(False)
    inference.temperature.setValue(0.4)  # a sampling change is saved at once...
    assert owner.settings.temperature == pytest.approx(0.4) and not owner.settings.manual_load
    assert inference.manual.isChecked() and inference.context.value() == 2048  # ...and leaves those alone
    assert inference.pending_note.isVisibleTo(inference)
    chat.prompt.setPlainText("Half-typed instru")  # not saved until typing pauses
    owner.submit(owner.settings.with_recent_model("/m.gguf"))  # the main window noted a model: none of theirs
    assert chat.prompt.toPlainText() == "Half-typed instru" and inference.context.value() == 2048
    owner.update(max_tokens=512, reasoning_effort="low")  # theirs, changed elsewhere: shown
    assert inference.max_tokens.value() == 512 and chat.effort.currentData() == "low"


def test_moving_the_models_folder_saves_it_in_the_settings(
    qtbot: QtBot, paths: AppPaths, owner: SettingsController, models: ModelsController
) -> None:
    new_folder = paths.data.parent / "elsewhere" / "models"
    with qtbot.waitSignal(models.folder_moved, timeout=20_000) as moved:
        models.move_folder(new_folder)
    assert moved.args == [str(new_folder.resolve())]
    assert owner.settings.models_dir == str(new_folder.resolve()) == load_settings(paths.settings_file).models_dir
    models.tasks.wait()
