"""Settings → Models, offscreen, against a real loopback Hub: catalog/search, a download with its progress
row, pause and resume, import, details, removal of the model in use, and the token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.core.units import format_size
from app.devtools.fake_hub import FakeHub, FakeRepo, serve_fake_hub
from app.engine.hardware import simulated_machine
from app.hub.catalog import CATALOG
from app.hub.download_queue import DownloadState
from app.hub.hub_client import TOKEN_KEY
from app.hub.repo_files import RemoteModel
from app.hub.starter import STARTER_LABEL, starter_model_path
from app.platform.paths import AppPaths
from app.platform.secrets import MemorySecretStore
from app.qt.engine_worker import EngineController
from app.qt.models_controller import ModelsController
from app.qt.settings_controller import SettingsController
from app.storage.history import HistoryStore
from app.ui.models.pane import ModelsPane
from app.ui.settings.window import SettingsWindow
from tests.helpers.tiny_gpt_oss import write_tiny_gpt_oss
from tests.hub.slow_hub import slow_hub

REPO = "ggml-org/tiny-gpt-oss-GGUF"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[FakeHub]:
    data = write_tiny_gpt_oss(tmp_path / "src" / "tiny.gguf").read_bytes()
    with serve_fake_hub() as fake:
        fake.add_repo(FakeRepo(REPO, {"tiny-gpt-oss-MXFP4.gguf": data}))
        yield fake


@pytest.fixture
def models(hub: FakeHub, paths: AppPaths, controller: EngineController, qtbot: QtBot) -> Iterator[ModelsController]:
    c = ModelsController(
        paths,
        SettingsController(paths.settings_file),
        MemorySecretStore(),
        engine=controller,
        endpoint=hub.endpoint,
        machine=simulated_machine(None, 32 * 2**30),
    )
    with qtbot.waitSignal(c.installed_changed, timeout=20_000):
        c.start()
    yield c
    c.shutdown()


def _answer(pane: ModelsPane, reply: str) -> list[str]:
    asked: list[str] = []

    def ask(_title: str, text: str, _buttons: list[str]) -> str:
        asked.append(text)
        return reply

    pane.ask = ask
    return asked


def test_search_then_download_shows_progress_and_lists_the_model(
    models: ModelsController, hub: FakeHub, qtbot: QtBot
) -> None:
    pane = ModelsPane(models)
    qtbot.addWidget(pane)
    pane.search_box.setText("tiny")
    with qtbot.waitSignal(models.search_finished, timeout=20_000):
        pane.run_search()
    repo_item = pane.remote.topLevelItem(0)
    assert repo_item is not None and repo_item.text(0) == REPO
    with qtbot.waitSignal(models.listing_finished, timeout=20_000):
        repo_item.setExpanded(True)
    child = repo_item.child(0)
    assert child is not None and child.text(1) == "MXFP4"
    pane.remote.setCurrentItem(child)
    assert pane.download_button.isEnabled()

    assert not pane.downloads.isVisibleTo(pane)  # no downloads, no section
    hub.throttle_bytes_per_s = 150_000
    pane.download_selected()
    qtbot.waitUntil(lambda: any(r.bar.value() > 0 for r in pane.downloads.rows.values()), timeout=20_000)
    (row,) = pane.downloads.rows.values()
    assert pane.downloads.isVisibleTo(pane)
    assert row.title.text() == f"tiny-gpt-oss-MXFP4  ·  {REPO}"
    # Once the speed is known, the row says how much of how much, how fast, and how long is left.
    qtbot.waitUntil(lambda: "MB/s" in row.detail.text(), timeout=20_000)
    total = re.escape(format_size(len(hub.repos[REPO].files["tiny-gpt-oss-MXFP4.gguf"])))
    assert re.fullmatch(rf"[\d.]+ MB of {total} · [\d.]+ MB/s · [\d a-z]+ left", row.detail.text()), row.detail.text()
    assert row.buttons["pause"].isVisibleTo(row) and not row.buttons["resume"].isVisibleTo(row)

    models.pause(row.key)
    qtbot.waitUntil(lambda: "Paused" in row.detail.text(), timeout=10_000)
    assert row.buttons["resume"].isVisibleTo(row)
    hub.throttle_bytes_per_s = None
    with qtbot.waitSignal(models.installed_changed, timeout=30_000):
        models.resume(row.key)
        qtbot.waitUntil(lambda: "verified" in row.detail.text(), timeout=30_000)
    ids = [pane.installed.topLevelItem(i).text(0) for i in range(pane.installed.topLevelItemCount())]  # type: ignore[union-attr]
    assert ids == ["tiny-gpt-oss-mxfp4"]
    assert "verified" in pane.message.text


def test_import_details_and_remove_of_the_loaded_model(
    models: ModelsController, controller: EngineController, tmp_path: Path, qtbot: QtBot
) -> None:
    pane = ModelsPane(models)
    qtbot.addWidget(pane)
    source = write_tiny_gpt_oss(tmp_path / "Downloads" / "mine.gguf", seed=5)
    source_size = source.stat().st_size
    _answer(pane, "Move")
    with qtbot.waitSignal(models.installed_changed, timeout=20_000):
        pane.import_paths([source])
    assert not source.exists()
    item = pane.installed.topLevelItem(0)
    assert item is not None and item.text(0) == "mine" and item.text(4) == "yes"
    pane.installed.setCurrentItem(item)
    dialog = pane.show_details()
    assert dialog is not None and dialog.fields["Architecture"] == "gpt-oss"
    dialog.close()

    path = str(models.rows[0].model.path)
    with qtbot.waitSignal(controller.model_loaded, timeout=60_000):
        controller.load_model(path)
    asked = _answer(pane, "Delete")
    with qtbot.waitSignal(models.installed_changed, timeout=30_000):
        pane.remove_selected()
    assert asked == [f"Delete mine from the models folder? This frees {format_size(source_size)}."]
    assert controller.model is None and not Path(path).exists()
    assert pane.installed.topLevelItemCount() == 0


def test_catalog_offline_shows_what_it_last_knew_in_one_line(
    models: ModelsController, hub: FakeHub, qtbot: QtBot
) -> None:
    pane = ModelsPane(models)
    qtbot.addWidget(pane)
    hub.set_offline(True)
    with qtbot.waitSignal(models.catalog_changed, timeout=30_000):
        pane.run_search()
    rows = [pane.remote.topLevelItem(i) for i in range(pane.remote.topLevelItemCount())]
    shown = [(item.text(0), item.text(2)) for item in rows if item is not None]
    # The curated entries (gpt-oss-20b first), with their usual sizes, said to be estimates.
    assert shown == [(f"{e.family}  ·  {e.repo_id}", f"about {format_size(e.about_bytes)}") for e in CATALOG]
    assert shown[0][0].startswith("gpt-oss-20b")
    assert pane.error.isVisibleTo(pane) and "Could not reach" in pane.error.text
    assert pane.error.text.count("Could not reach") == 1
    assert "the Hub could not be asked yet" in pane.remote_status.text()
    # "Fits here" always says something: planned from gpt-oss's built-in layout for the MXFP4 conversions
    # (32 GB of RAM, no GPU: 20b fits, 120b does not), and why not for the others.
    fits = {(e.family, e.quantization): item.text(3) for e, item in zip(CATALOG, rows, strict=True) if item}
    assert fits[("gpt-oss-20b", "MXFP4")] in ("yes", "with a shorter context")
    assert re.fullmatch(r"no: needs [\d.]+ GB", fits[("gpt-oss-120b", "MXFP4")])
    assert fits[("gpt-oss-20b", "F16")] == "unknown: size not known yet"
    # Download is greyed, and the line beside it says why.
    assert rows[0] is not None
    pane.remote.setCurrentItem(rows[0])
    assert not pane.download_button.isEnabled()
    assert "needs this model's file list from the Hub" in pane.download_hint.text()
    assert pane.download_button.toolTip() == pane.download_hint.text()


def test_token_is_kept_in_the_secret_store_only(models: ModelsController, paths: AppPaths, qtbot: QtBot) -> None:
    window = SettingsWindow(
        SettingsController(paths.settings_file), paths, HistoryStore.open(paths.history_file), models
    )
    qtbot.addWidget(window)
    window.show_section("Privacy")
    privacy = window.privacy_pane
    privacy.token_edit.setText("hf_secret_value")
    privacy.save()
    assert models.has_token and models._secrets.get(TOKEN_KEY) == "hf_secret_value"
    # A MemorySecretStore, like a machine without a keychain: the person is told the token will not outlast Moss.
    assert privacy.status.text() == "A token is saved for this session: Moss forgets it when it closes."
    assert "no system keychain Moss can use" in privacy.token_hint.text()  # said once, and not "in the keychain"
    assert "kept in the system keychain" not in privacy.token_hint.text()
    assert privacy.token_edit.text() == ""
    for file in paths.config.parent.rglob("*"):
        if file.is_file():
            assert b"hf_secret_value" not in file.read_bytes(), file
    privacy.clear_button.click()
    assert not models.has_token and models._secrets.get(TOKEN_KEY) is None
    assert privacy.status.text() == "No token saved." and not privacy.clear_button.isEnabled()


def test_unfinished_downloads_come_back_paused(
    paths: AppPaths, hub: FakeHub, controller: EngineController, qtbot: QtBot
) -> None:
    first = ModelsController(paths, SettingsController(paths.settings_file), MemorySecretStore(), endpoint=hub.endpoint)
    listing = first.client().listing(REPO)
    model: RemoteModel = listing.models[0]
    hub.throttle_bytes_per_s = 100_000
    first.download(model, listing.commit)
    qtbot.waitUntil(lambda: any(s.done > 50_000 for s in first.queue.statuses()), timeout=20_000)
    first.shutdown()  # the app closes mid-download
    second = ModelsController(
        paths, SettingsController(paths.settings_file), MemorySecretStore(), endpoint=hub.endpoint
    )
    with qtbot.waitSignal(second.download_changed, timeout=20_000):  # found off the GUI thread
        second.start()
    (status,) = second.queue.statuses()
    assert status.state is DownloadState.PAUSED and status.done > 50_000
    second.tasks.wait()
    second.shutdown()


def test_enter_in_a_field_presses_no_button_of_the_settings_window(
    models: ModelsController, paths: AppPaths, qtbot: QtBot
) -> None:
    """Enter in the Hub search runs the search and nothing else (a dialog would also press its default button:
    "Open folder" opened a file manager at every search)."""
    from PySide6.QtCore import QObject, Qt, QUrl, Slot
    from PySide6.QtGui import QDesktopServices
    from PySide6.QtWidgets import QPushButton

    class Opened(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.urls: list[str] = []

        @Slot(QUrl)
        def open(self, url: QUrl) -> None:
            self.urls.append(url.toString())

    opened = Opened()
    QDesktopServices.setUrlHandler("file", opened, "open")
    try:
        window = SettingsWindow(
            SettingsController(paths.settings_file), paths, HistoryStore.open(paths.history_file), models
        )
        qtbot.addWidget(window)
        window.show()
        window.show_section("Models")
        pane = window.models_pane
        assert pane is not None
        assert not any(b.isDefault() or b.autoDefault() for b in window.findChildren(QPushButton))
        pane.tabs.setCurrentIndex(1)
        pane.search_box.setFocus()
        searches: list[str] = []
        models.search_finished.connect(lambda query, _result: searches.append(query))
        for field in (pane.search_box, window.privacy_pane.token_edit):
            field.setFocus()
            qtbot.keyClicks(field, "tiny" if field is pane.search_box else "")
            qtbot.keyClick(field, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: searches == ["tiny"], timeout=20_000)
        qtbot.wait(100)
        assert opened.urls == []
    finally:
        QDesktopServices.unsetUrlHandler("file")


def test_a_typed_search_offline_ends_in_words_and_leaves_no_old_results(
    models: ModelsController, hub: FakeHub, qtbot: QtBot
) -> None:
    """Issue 17: offline, "Asking the Hub…" stayed for ever (a failed search never ended it), under the
    previous query's results, and the banner showed "[Errno …]"."""
    pane = ModelsPane(models)
    qtbot.addWidget(pane)
    pane.search_box.setText("tiny")
    with qtbot.waitSignal(models.search_finished, timeout=20_000):
        pane.run_search()
    assert pane.remote.topLevelItemCount() == 1
    hub.set_offline(True)
    pane.search_box.setText("qwen")
    with qtbot.waitSignal(models.search_failed, timeout=20_000):
        pane.run_search()
        # While it waits, the old answer is gone and the time limit is said.
        assert pane.remote.topLevelItemCount() == 0
        assert pane.remote_status.text() == "Asking the Hub for 'qwen'… (gives up after 15 s)"
    assert pane.remote_status.text() == "The search for 'qwen' did not finish: see the message above."
    assert pane.remote.topLevelItemCount() == 0 and not pane.remote.placeholder.isHidden()
    assert pane.remote.placeholder.text().startswith("No results: the search did not finish")
    text = pane.error.text
    assert pane.error.isVisibleTo(pane) and "to search for 'qwen': nothing answered at 127.0.0.1:" in text
    assert "(the connection was refused)" in text and "Errno" not in text
    # Back online, the next search clears that failure's banner and answers.
    hub.set_offline(False)
    pane.search_box.setText("tiny")
    with qtbot.waitSignal(models.search_finished, timeout=20_000):
        pane.run_search()
        assert not pane.error.isVisibleTo(pane)
    assert pane.remote.topLevelItemCount() == 1


def test_only_the_latest_search_is_answered(models: ModelsController, qtbot: QtBot) -> None:
    """Both searches are under way before either answer is delivered: the first one's answer, whenever it
    comes, is dropped."""
    answered: list[str] = []
    models.search_finished.connect(lambda query, _results: answered.append(query))
    models.search("tiny")
    models.search("nothing-matches")
    qtbot.waitUntil(lambda: not models.tasks.busy, timeout=20_000)
    assert answered == ["nothing-matches"]


def test_a_stalled_hub_gives_up_after_the_time_limit_the_pane_shows(
    paths: AppPaths, controller: EngineController, qtbot: QtBot
) -> None:
    with slow_hub() as endpoint:
        models = ModelsController(
            paths,
            SettingsController(paths.settings_file),
            MemorySecretStore(),
            endpoint=endpoint,
            machine=simulated_machine(None, 32 * 2**30),
            hub_timeout_s=1,
        )
        pane = ModelsPane(models)
        qtbot.addWidget(pane)
        pane.search_box.setText("qwen")
        with qtbot.waitSignal(models.search_failed, timeout=20_000):
            pane.run_search()
            assert pane.remote_status.text().endswith("(gives up after 1 s)")
        assert "to search for 'qwen': no answer within 1 second." in pane.error.text
        models.shutdown()


def test_an_empty_list_of_models_says_why_and_what_the_demo_is(models: ModelsController, qtbot: QtBot) -> None:
    pane = ModelsPane(models)
    qtbot.addWidget(pane)
    pane.resize(900, 600)
    pane.show()
    assert pane.installed.topLevelItemCount() == 0 and pane.installed.placeholder.isVisible()
    text = pane.installed.placeholder.text()
    assert text.startswith("No models downloaded or imported yet.") and "Download tab" in text
    if starter_model_path() is not None:
        assert f"{STARTER_LABEL} comes with Moss and is not listed here" in text
    assert not pane.use_button.isEnabled() and pane.use_button.toolTip() == "Pick a model in the list first."
