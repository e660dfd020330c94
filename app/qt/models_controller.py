"""The GUI's model manager: installed models, the catalog, Hub search, downloads, import, scan and removal.

Lives on the GUI thread. Everything slow (header reads, planning, Hub requests, copying, scanning) runs on
the task runner's pool or the download queue's thread; results come back as signals. Network failures are
reported once, as one line, through ``problem``.

Each Hub request gives up after ``hub_timeout_s`` (the pane says so while it waits). The catalog and a search
fill the same list, so only the latest of them is answered: a result or failure of an earlier one, arriving
late, is dropped.

Signals:
    installed_changed(list[InstalledRow]), download_changed(DownloadStatus), catalog_changed(list[CatalogRow]),
    search_finished(query, list[RepoSummary]), search_failed(query, message) (query "" for the catalog),
    listing_finished(repo_id, RepoListing), listing_failed(repo_id, message),
    scan_finished(list[FoundModel]), problem(message), notice(message), usage_changed(folder, bytes),
    token_changed(): the token was saved or cleared (read `has_token`, `token_storage`),
    folder_moved(path): the models folder was moved there (already saved in the settings).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from app.engine.hardware import Machine, probe_machine
from app.hub.catalog import catalog_rows
from app.hub.download_queue import DownloadQueue, DownloadState, DownloadStatus
from app.hub.hub_client import DEFAULT_TIMEOUT_S, TOKEN_KEY, HubClient
from app.hub.library import ImportMode, InstalledModel, ModelLibrary
from app.hub.local_scan import FoundModel, known_roots, scan
from app.hub.model_details import InstalledRow, installed_row
from app.hub.recommend import with_builtin_fits
from app.hub.repo_files import RemoteModel
from app.hub.session import hub_client, open_catalog_cache, open_library
from app.platform.paths import AppPaths
from app.platform.secrets import SecretStore
from app.qt.engine_worker import EngineController
from app.qt.settings_controller import SettingsController
from app.qt.task_runner import TaskRunner

log = logging.getLogger(__name__)


class ModelsController(QObject):
    installed_changed = Signal(object)
    download_changed = Signal(object)
    catalog_changed = Signal(object)
    search_finished = Signal(str, object)
    search_failed = Signal(str, str)
    listing_finished = Signal(str, object)
    listing_failed = Signal(str, str)
    scan_finished = Signal(object)
    problem = Signal(str)
    notice = Signal(str)
    usage_changed = Signal(str, object)
    token_changed = Signal()
    folder_moved = Signal(str)
    _download_update = Signal(object)  # from the download thread

    def __init__(
        self,
        paths: AppPaths,
        settings: SettingsController,
        secrets: SecretStore,
        *,
        engine: EngineController | None = None,
        endpoint: str | None = None,
        machine: Machine | None = None,
        hub_timeout_s: float = DEFAULT_TIMEOUT_S,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._paths = paths
        self._settings = settings  # where the models folder is kept
        self._secrets = secrets
        self._engine = engine
        self._endpoint = endpoint
        self._machine = machine
        self.hub_timeout_s = hub_timeout_s
        self._list_request = 0  # the latest catalog refresh or search; earlier ones' answers are dropped
        self.tasks = TaskRunner(self)
        self.library: ModelLibrary = open_library(paths, settings.settings)
        self.rows: list[InstalledRow] = []
        self.usage = 0  # bytes the models folder takes, as last measured
        self._download_update.connect(self._on_download_update)
        self.queue = DownloadQueue(self.library, self.client, self._download_update.emit)
        self._pending_removal: tuple[InstalledModel, bool] | None = None
        if engine is not None:
            engine.model_unloaded.connect(self._on_model_unloaded)

    # -- plumbing -----------------------------------------------------------------------------------------

    def client(self) -> HubClient:
        return hub_client(self._secrets, endpoint=self._endpoint, timeout_s=self.hub_timeout_s)

    def machine_now(self) -> Machine:
        """Pool thread: the machine, probed once (it loads llama.cpp's device registry)."""
        if self._machine is None:
            self._machine = probe_machine()
        return self._machine

    def _run(self, job: Callable[[], object], on_done: Callable[[object], None], name: str) -> None:
        self.tasks.run(job, on_done, self.problem.emit, name=name)

    def start(self) -> None:
        """Load what is known: installed models, downloads left unfinished, the catalog as last seen."""
        self.tasks.run(self.queue.restore_unfinished, lambda _r: None, self.problem.emit, name="restore downloads")
        self.refresh_installed()

    def shutdown(self) -> None:
        self.queue.shutdown()
        self.tasks.wait()

    # -- installed models ---------------------------------------------------------------------------------

    def refresh_installed(self) -> None:
        library = self.library

        def job() -> tuple[list[InstalledRow], int]:
            machine = self.machine_now()
            return [installed_row(m, machine) for m in library.models()], library.usage()

        self._run(job, self._on_installed, "list models")

    def _on_installed(self, result: object) -> None:
        assert isinstance(result, tuple)
        rows, usage = result
        self.rows = list(rows)
        self.usage = int(usage)
        self.installed_changed.emit(rows)
        self.usage_changed.emit(str(self.library.models_dir), usage)

    def import_files(self, paths: list[Path], mode: ImportMode) -> None:
        library = self.library

        def job() -> list[str]:
            notes = []
            for path in paths:
                result = library.import_model(path, mode)
                verb = "is already in the library as" if result.already_there else "added as"
                notes.append(f"{path.name} {verb} {result.model.id}.")
            return notes

        def done(notes: object) -> None:
            self.notice.emit(" ".join(notes))  # type: ignore[arg-type]
            self.refresh_installed()

        self._run(job, done, "import")

    def scan_other_apps(self) -> None:
        library = self.library

        def job() -> list[FoundModel]:
            found = scan(known_roots())
            return [f for f in found if library.find_same(f.path) is None]

        self._run(job, self.scan_finished.emit, "scan")

    def add_found(self, found: list[FoundModel]) -> None:
        library = self.library

        def job() -> int:
            for item in found:
                library.import_model(item.path, ImportMode.IN_PLACE, origin=item.source)
            return len(found)

        def done(count: object) -> None:
            self.notice.emit(f"Added {count} model(s), used where they are: nothing was copied.")
            self.refresh_installed()

        self._run(job, done, "add found models")

    def remove(self, model_id: str, *, delete_file: bool = False) -> None:
        """Remove a model; one that is loaded is unloaded first (its file cannot be deleted while mapped)."""
        model = next((row.model for row in self.rows if row.model.id == model_id), None)  # no disk I/O here
        if model is None:
            self.problem.emit(f"No model {model_id!r} in the list; it may have been removed already.")
            return
        loaded = self._engine.model.path if self._engine and self._engine.model else None
        loading = self._engine.loading_path if self._engine else None
        if self._engine is not None and {loaded, loading} & {str(p) for p in model.parts}:
            self._pending_removal = (model, delete_file)
            self._engine.unload_model()
            return
        self._remove_now(model, delete_file)

    @Slot()
    def _on_model_unloaded(self) -> None:
        if self._pending_removal is not None:
            model, delete_file = self._pending_removal
            self._pending_removal = None
            self._remove_now(model, delete_file)

    def _remove_now(self, model: InstalledModel, delete_file: bool) -> None:
        library = self.library

        def done(freed: object) -> None:
            gb = int(freed) / 1e9  # type: ignore[call-overload]
            self.notice.emit(f"Removed {model.id}" + (f" and freed {gb:.1f} GB." if freed else "."))
            self.refresh_installed()

        self._run(lambda: library.remove(model.id, delete_file=delete_file), done, "remove")

    def move_folder(self, new_dir: Path) -> None:
        """Move the models folder (and every file in it) to ``new_dir``, then remember the new place."""
        if any(s.state is DownloadState.ACTIVE for s in self.queue.statuses()):
            self.problem.emit("Pause or finish the downloads first: their files move with the folder.")
            return
        library = self.library

        def done(_result: object) -> None:
            folder = str(library.models_dir)
            self._settings.update(models_dir=folder)
            self.folder_moved.emit(folder)
            self.notice.emit(f"The models folder is now {folder}.")
            self.refresh_installed()

        self._run(lambda: library.move_to(new_dir), done, "move models folder")

    # -- the Hub ------------------------------------------------------------------------------------------

    def refresh_catalog(self, *, online: bool = True) -> None:
        cache = open_catalog_cache(self._paths)
        request = self._next_list_request()

        def job() -> object:
            machine = self.machine_now()
            return with_builtin_fits(catalog_rows(self.client(), cache, machine, online=online), machine)

        def done(rows: object) -> None:
            if request != self._list_request:
                return  # a newer search or refresh was asked for since
            self.catalog_changed.emit(rows)
            problems = {r.problem for r in rows if r.problem}  # type: ignore[attr-defined]
            if problems:
                self.problem.emit(sorted(problems)[0])  # one line, not one per row

        self.tasks.run(job, done, lambda message: self._list_failed(request, "", message), name="catalog")

    def search(self, query: str) -> None:
        request = self._next_list_request()

        def done(results: object) -> None:
            if request == self._list_request:
                self.search_finished.emit(query, results)

        def job() -> object:
            return self.client().search(query)

        self.tasks.run(job, done, lambda message: self._list_failed(request, query, message), name="search")

    def _next_list_request(self) -> int:
        self._list_request += 1
        return self._list_request

    def _list_failed(self, request: int, query: str, message: str) -> None:
        if request == self._list_request:
            self.search_failed.emit(query, message)
            self.problem.emit(message)

    def list_repo(self, repo_id: str) -> None:
        def failed(message: str) -> None:
            self.listing_failed.emit(repo_id, message)
            self.problem.emit(message)

        def job() -> object:
            return self.client().listing(repo_id)

        self.tasks.run(job, lambda r: self.listing_finished.emit(repo_id, r), failed, name="files")

    # -- downloads ----------------------------------------------------------------------------------------

    def download(self, model: RemoteModel, revision: str) -> None:
        self.queue.enqueue(model, revision)

    def pause(self, key: str) -> None:
        self.queue.pause(key)

    def resume(self, key: str) -> None:
        self.queue.resume(key)

    def cancel(self, key: str) -> None:
        self.queue.cancel(key)

    @Slot(object)
    def _on_download_update(self, status: DownloadStatus) -> None:
        self.download_changed.emit(status)
        if status.state is DownloadState.DONE:
            self.notice.emit(f"{status.model.name} is downloaded and verified.")
            self.refresh_installed()
        elif status.state is DownloadState.FAILED:
            self.problem.emit(status.error)

    # -- the Hugging Face token ---------------------------------------------------------------------------

    @property
    def has_token(self) -> bool:
        return bool(self._secrets.get(TOKEN_KEY))

    @property
    def token_storage(self) -> str:
        return self._secrets.description

    @property
    def token_persistent(self) -> bool:
        return self._secrets.persistent

    def set_token(self, token: str) -> None:
        token = token.strip()
        if token:
            self._secrets.set(TOKEN_KEY, token)
        else:
            self._secrets.delete(TOKEN_KEY)
        self.token_changed.emit()
