"""The first-run panel, offscreen: the recommendation for several computers (offline: any connection attempt is
recorded and refused), models found on disk, the demo link, and a download through a loopback Hub."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.devtools.fake_hub import FakeRepo, serve_fake_hub
from app.engine.hardware import GIB, Machine, simulated_machine
from app.hub.download_queue import DownloadState
from app.hub.library import ImportMode
from app.hub.starter import starter_model_path
from app.platform.paths import AppPaths
from app.platform.secrets import MemorySecretStore
from app.qt.models_controller import ModelsController
from app.qt.settings_controller import SettingsController
from app.ui.first_run.panel import FirstRunPanel
from app.ui.theme import apply_theme, colours

RTX_16GB = Machine("NVIDIA GeForce RTX 4070 Ti", 16 * GIB, 15 * GIB, 32 * GIB, 26 * GIB)
LAPTOP_8GB_GPU = Machine("NVIDIA GeForce RTX 4060 Laptop GPU", 8 * GIB, int(7.5 * GIB), 16 * GIB, 11 * GIB)
LAPTOP_8GB_RAM = Machine(None, 0, 0, 8 * GIB, 5 * GIB)
MAC_32GB = simulated_machine(None, 32 * GIB, unified=True)
NOWHERE = "http://127.0.0.1:9"  # nothing listens there (and the guard below refuses it anyway)


class NetworkGuard:
    """Refuses and records every connection and name lookup made through Python's sockets."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.attempts: list[str] = []

        def refuse(what: str) -> Any:
            def guarded(*args: Any, **_kwargs: Any) -> Any:
                self.attempts.append(f"{what} {args[1:] if what == 'connect' else args[:1]}")
                raise OSError(f"network access in a test that must work offline ({what})")

            return guarded

        monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
        monkeypatch.setattr(socket.socket, "connect_ex", refuse("connect"))
        monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> NetworkGuard:
    return NetworkGuard(monkeypatch)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home folder of its own, so the scan of other apps' folders sees only what a test puts there."""
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    monkeypatch.setenv("USERPROFILE", str(folder))
    for name in ("HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    return folder


def make_models(paths: AppPaths, qtbot: QtBot, machine: Machine, endpoint: str = NOWHERE) -> ModelsController:
    models = ModelsController(
        paths, SettingsController(paths.settings_file), MemorySecretStore(), endpoint=endpoint, machine=machine
    )
    with qtbot.waitSignal(models.installed_changed, timeout=20_000):
        models.start()
    return models


@pytest.fixture
def models(paths: AppPaths, qtbot: QtBot, home: Path) -> Iterator[ModelsController]:
    models = make_models(paths, qtbot, RTX_16GB)
    yield models
    models.shutdown()


def open_panel(qtbot: QtBot, machine: Machine, models: ModelsController | None) -> FirstRunPanel:
    panel = FirstRunPanel(machine, models)
    qtbot.addWidget(panel)
    panel.resize(900, 800)
    qtbot.waitUntil(lambda: not panel.scanning, timeout=20_000)
    return panel


def test_a_16gb_gpu_gets_the_20b_entirely_on_the_gpu_offline(
    qtbot: QtBot, models: ModelsController, offline: NetworkGuard
) -> None:
    panel = open_panel(qtbot, RTX_16GB, models)
    assert panel.machine_label.text() == "This computer: NVIDIA GeForce RTX 4070 Ti 16 GB, 32 GB RAM"
    assert panel.overline.text() == "RECOMMENDED FOR THIS COMPUTER"
    assert panel.model_name.text() == "gpt-oss-20b"
    assert panel.download_button.text() == "Download gpt-oss-20b (12.1 GB)"
    assert "Runs entirely on your graphics card" in panel.verdict.text()
    assert panel.plan_detail.text().startswith("All 24 layers on your NVIDIA GeForce RTX 4070 Ti")
    assert panel.other_button.isHidden()  # the 120b does not run here
    assert offline.attempts == [], "deciding needs no network"


def test_an_8gb_laptop_gpu_is_told_it_works_more_slowly(
    qtbot: QtBot, models: ModelsController, offline: NetworkGuard
) -> None:
    panel = open_panel(qtbot, LAPTOP_8GB_GPU, models)
    assert panel.machine_label.text() == "This computer: NVIDIA GeForce RTX 4060 Laptop GPU 8 GB, 16 GB RAM"
    assert panel.model_name.text() == "gpt-oss-20b"
    verdict = panel.verdict.text()
    assert "experts in system RAM" in verdict and "slower" in verdict and "works" in verdict
    assert "in system RAM" in panel.plan_detail.text()
    assert panel.download_button.objectName() == "primaryButton"
    assert offline.attempts == []


def test_an_8gb_laptop_without_a_gpu_is_told_what_to_do(
    qtbot: QtBot, models: ModelsController, offline: NetworkGuard
) -> None:
    panel = open_panel(qtbot, LAPTOP_8GB_RAM, models)
    assert panel.machine_label.text() == "This computer: 8 GB RAM, no graphics card llama.cpp can use"
    assert panel.overline.text() == "THE MODEL MOSS IS MADE FOR"
    verdict = panel.verdict.text()
    assert "needs about" in verdict and "Close other programs" in verdict and "at least 16 GB" in verdict
    assert "tiny demo model" in verdict  # something that works here now
    assert panel.download_button.text() == "Download gpt-oss-20b anyway (12.1 GB)"
    assert panel.download_button.objectName() != "primaryButton"
    assert panel.recommend_box.property("fits") is False
    assert offline.attempts == []


def test_a_32gb_mac_runs_the_20b_on_its_gpu(qtbot: QtBot, models: ModelsController, offline: NetworkGuard) -> None:
    panel = open_panel(qtbot, MAC_32GB, models)
    assert panel.machine_label.text() == "This computer: Apple GPU (simulated), 32 GB of unified memory"
    assert panel.model_name.text() == "gpt-oss-20b"
    assert "Runs entirely on your Mac's GPU" in panel.verdict.text()
    assert offline.attempts == []


def test_a_big_mac_gets_the_120b_with_the_20b_offered(
    qtbot: QtBot, models: ModelsController, offline: NetworkGuard
) -> None:
    panel = open_panel(qtbot, simulated_machine(None, 128 * GIB, unified=True), models)
    assert panel.model_name.text() == "gpt-oss-120b"
    assert panel.download_button.text() == "Download gpt-oss-120b (63.4 GB)"
    assert panel.other_button.text().startswith("Or the smaller gpt-oss-20b")
    assert not panel.other_button.isHidden()
    assert offline.attempts == []


def test_models_on_disk_are_listed_and_use_loads_them(
    qtbot: QtBot,
    paths: AppPaths,
    home: Path,
    tmp_path: Path,
    tiny_gpt_oss: Path,
    smollm2: Path,
    offline: NetworkGuard,
) -> None:
    lm_studio = home / ".lmstudio" / "models" / "lmstudio-community" / "gpt-oss-20b-GGUF"
    lm_studio.mkdir(parents=True)
    found = shutil.copy(tiny_gpt_oss, lm_studio / "gpt-oss-20b-MXFP4.gguf")
    installed = shutil.copy(smollm2, tmp_path / "Other-Model-Q4_1.gguf")  # a file Moss already uses in place
    models = ModelsController(
        paths, SettingsController(paths.settings_file), MemorySecretStore(), endpoint=NOWHERE, machine=RTX_16GB
    )
    models.library.import_model(Path(installed), ImportMode.IN_PLACE)
    with qtbot.waitSignal(models.installed_changed, timeout=20_000):
        models.start()
    try:
        panel = open_panel(qtbot, RTX_16GB, models)
        rows = {row.title.text(): row for row in panel.model_rows}
        assert list(rows) == ["gpt-oss-20b-MXFP4.gguf", "Other-Model-Q4_1.gguf"], "gpt-oss first"
        assert rows["gpt-oss-20b-MXFP4.gguf"].meta.text().startswith("LM Studio · ")
        assert rows["Other-Model-Q4_1.gguf"].meta.text().startswith("In Moss · ")
        with qtbot.waitSignal(panel.model_chosen) as chosen:
            rows["Other-Model-Q4_1.gguf"].use_button.click()
        assert chosen.args == [str(installed)]
        with (
            qtbot.waitSignal(panel.model_chosen) as chosen,
            qtbot.waitSignal(models.installed_changed, timeout=20_000),
        ):
            rows["gpt-oss-20b-MXFP4.gguf"].use_button.click()
        assert chosen.args == [str(found)]
        # The model from LM Studio is now in the library, used in place: listed once, as Moss's own.
        assert models.library.find_same(Path(found)) is not None
        assert [row.meta.text().split(" · ")[0] for row in panel.model_rows] == ["In Moss", "In Moss"]
        assert offline.attempts == []
    finally:
        models.shutdown()


def test_nothing_on_disk_says_so_and_offers_a_file(
    qtbot: QtBot, models: ModelsController, offline: NetworkGuard
) -> None:
    panel = open_panel(qtbot, RTX_16GB, models)
    assert panel.model_rows == []
    assert "None found" in panel.scan_label.text()
    with qtbot.waitSignal(panel.open_file_requested):
        panel.open_button.click()


def test_the_demo_link_loads_the_starter_model(qtbot: QtBot, models: ModelsController, offline: NetworkGuard) -> None:
    starter = starter_model_path()
    assert starter is not None
    panel = open_panel(qtbot, RTX_16GB, models)
    assert not panel.footer.isHidden()
    assert all(row.path != starter for row in panel.model_rows), "the demo is offered by its link, not listed"
    with qtbot.waitSignal(panel.model_chosen) as chosen:
        panel.demo_button.click()
    assert chosen.args == [str(starter)]


def test_a_download_while_offline_says_what_to_do(
    qtbot: QtBot, models: ModelsController, offline: NetworkGuard
) -> None:
    panel = open_panel(qtbot, RTX_16GB, models)
    box = panel.download_box
    assert box is not None and box.isHidden()
    with qtbot.assertNotEmitted(panel.download_started):
        panel.download_button.click()
        assert panel.download_button.isHidden()  # one request at a time
        assert box.label.text() == "Asking Hugging Face for gpt-oss-20b…"
        qtbot.waitUntil(lambda: not box.error.isHidden(), timeout=20_000)
    assert "Check the connection; downloaded models still work." in box.error.text()
    assert not panel.download_button.isHidden(), "it can be tried again"
    assert offline.attempts, "the download did try the network (and only then)"


def test_download_the_recommended_model_then_start_chatting(
    qtbot: QtBot, paths: AppPaths, home: Path, tiny_gpt_oss: Path
) -> None:
    repo = FakeRepo("ggml-org/gpt-oss-20b-GGUF", {"gpt-oss-20b-mxfp4.gguf": tiny_gpt_oss.read_bytes()})
    with serve_fake_hub(repo) as hub:
        models = make_models(paths, qtbot, RTX_16GB, hub.endpoint)
        try:
            panel = open_panel(qtbot, RTX_16GB, models)
            box = panel.download_box
            assert box is not None
            with qtbot.waitSignal(panel.download_started, timeout=20_000):
                panel.download_button.click()
            assert panel.download_button.isHidden() and not box.isHidden()
            qtbot.waitUntil(lambda: not box.start_button.isHidden(), timeout=30_000)
            assert "downloaded and verified" in box.label.text()
            assert models.queue.statuses()[0].state is DownloadState.DONE
            with qtbot.waitSignal(panel.model_chosen) as chosen:
                box.start_button.click()
            path = Path(chosen.args[0])
            assert path.name == "gpt-oss-20b-mxfp4.gguf" and path.is_relative_to(models.library.models_dir)
            assert path.read_bytes() == tiny_gpt_oss.read_bytes()
        finally:
            models.shutdown()


def test_without_a_models_controller_it_still_recommends(qtbot: QtBot, offline: NetworkGuard) -> None:
    panel = open_panel(qtbot, RTX_16GB, None)
    assert panel.model_name.text() == "gpt-oss-20b"
    assert not panel.download_button.isEnabled() and panel.download_box is None
    assert panel.model_rows == [] and offline.attempts == []


def test_it_follows_the_theme(qtbot: QtBot, models: ModelsController, offline: NetworkGuard) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    saved = (QPalette(app.palette()), app.styleSheet())
    try:
        apply_theme(app, "light")
        panel = open_panel(qtbot, RTX_16GB, models)
        light = panel.grab().toImage()
        assert colours("light")["window"] in panel.styleSheet()
        apply_theme(app, "dark")
        assert colours("dark")["window"] in panel.styleSheet(), "restyled when the palette changed"
        dark = panel.grab().toImage()
        corner = (5, 5)  # the page behind the card
        assert light.pixelColor(*corner).lightness() > 200 and dark.pixelColor(*corner).lightness() < 60
    finally:
        app.setPalette(saved[0])
        app.setStyleSheet(saved[1])
