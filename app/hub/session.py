"""Opening the hub's pieces the way both front ends need them: the library over the chosen models folder,
and a Hub client carrying the person's token (from the keychain, else ``HF_TOKEN``)."""

from __future__ import annotations

import os
from pathlib import Path

from app.core.settings import Settings
from app.engine.load_probe import CHECKED_MODELS
from app.hub.catalog import CatalogCache
from app.hub.hub_client import DEFAULT_TIMEOUT_S, TOKEN_ENV, TOKEN_KEY, HubClient
from app.hub.library import ModelLibrary
from app.platform.paths import AppPaths
from app.platform.secrets import SecretStore


def models_folder(paths: AppPaths, settings: Settings) -> Path:
    return Path(settings.models_dir).expanduser() if settings.models_dir else paths.models


def open_library(paths: AppPaths, settings: Settings) -> ModelLibrary:
    checked = paths.cache / CHECKED_MODELS  # the load probe's record: a model checked on import is not probed again
    return ModelLibrary(models_folder(paths, settings), paths.data / "models.json", checked_models=checked)


def open_catalog_cache(paths: AppPaths) -> CatalogCache:
    return CatalogCache(paths.cache / "catalog.json")


def saved_token(store: SecretStore | None) -> str | None:
    """The Hugging Face token: the one saved in Moss's settings (the keychain), else ``$HF_TOKEN``."""
    token = store.get(TOKEN_KEY) if store is not None else None
    return token or os.environ.get(TOKEN_ENV) or None


def hub_client(
    store: SecretStore | None, *, endpoint: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S
) -> HubClient:
    """A Hub client with the saved token; each of its calls gives up after ``timeout_s``."""
    return HubClient(endpoint=endpoint, token=saved_token(store), timeout_s=timeout_s)
