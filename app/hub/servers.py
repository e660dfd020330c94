"""The servers a person added, with their API keys: what the command line (``moss servers …``, ``moss chat
--server``) and the window (Settings → Models → Servers, the model picker) share.

Servers are part of the settings (``Settings.servers``; these functions return changed settings, for the caller to
save or submit); each key is in the secret store under ``api_key_name(server name)`` and nowhere else. A key is
only ever sent to the server it was given for: a server whose address changes to another host loses its key.
"""

from __future__ import annotations

import dataclasses

from app.core.errors import UserError
from app.core.servers import RemoteServer, api_key_name, check_base_url
from app.core.settings import Settings
from app.engine.remote_client import DEFAULT_TIMEOUTS, ServedModel, Timeouts
from app.engine.remote_engine import RemoteEngine
from app.platform.secrets import SecretStore


def find_server(settings: Settings, name: str) -> RemoteServer | None:
    """The server added under ``name`` (names are matched without regard to case)."""
    wanted = name.strip().casefold()
    return next((server for server in settings.servers if server.name.casefold() == wanted), None)


def server_for(settings: Settings, name_or_url: str) -> RemoteServer:
    """The server added under that name, or an unnamed one for a URL (the command line's ``--server``)."""
    found = find_server(settings, name_or_url)
    if found is not None:
        return found
    if "://" in name_or_url:
        return RemoteServer("", check_base_url(name_or_url))
    raise UserError(
        f"No server is called {name_or_url!r}.{_servers_added(settings)} Add it with `moss servers add NAME URL`, "
        "or give its URL (such as http://gpu-box:8000/v1)."
    )


def _servers_added(settings: Settings) -> str:
    names = ", ".join(server.name for server in settings.servers)
    return f" The servers added are: {names}." if names else " No server has been added yet."


def add_server(settings: Settings, server: RemoteServer, store: SecretStore, api_key: str | None) -> Settings:
    """``settings`` with ``server`` added, or in place of the one of the same name. ``api_key`` is kept in
    ``store``; without one, the key saved before stays if the server is still at the same address, else it is
    forgotten (it was given for another host)."""
    before = find_server(settings, server.name)
    if before is not None and before.name != server.name:
        store.delete(api_key_name(before.name))  # renamed by case: the key moves with it below
    if api_key:
        store.set(api_key_name(server.name), api_key)
    elif before is not None and before.origin != server.origin:
        store.delete(api_key_name(before.name))
    elif before is not None and before.name != server.name:
        old = store.get(api_key_name(before.name))
        if old:
            store.set(api_key_name(server.name), old)
    kept = tuple(s for s in settings.servers if s is not before)
    return dataclasses.replace(settings, servers=(*kept, server))


def remove_server(settings: Settings, name: str, store: SecretStore) -> tuple[Settings, RemoteServer]:
    """``settings`` without the server called ``name``, whose key is deleted; and that server."""
    server = find_server(settings, name)
    if server is None:
        raise UserError(f"No server is called {name!r}.{_servers_added(settings)}")
    store.delete(api_key_name(server.name))
    return dataclasses.replace(settings, servers=tuple(s for s in settings.servers if s is not server)), server


def forget_server_keys(settings: Settings, store: SecretStore) -> None:
    """Delete the keys of every server in ``settings`` (for "Delete all data")."""
    for server in settings.servers:
        store.delete(api_key_name(server.name))


def saved_key(store: SecretStore, server: RemoteServer) -> str | None:
    """The key saved for ``server``; None for none (and always for an unnamed server)."""
    return store.get(api_key_name(server.name)) if server.name else None


def open_engine(
    server: RemoteServer, store: SecretStore, *, api_key: str | None = None, timeouts: Timeouts = DEFAULT_TIMEOUTS
) -> RemoteEngine:
    """An engine on ``server`` with ``api_key``, else the key saved for it. Sends nothing yet."""
    return RemoteEngine(server, api_key or saved_key(store, server), timeouts=timeouts)


def server_models(
    server: RemoteServer, store: SecretStore, *, api_key: str | None = None, timeouts: Timeouts = DEFAULT_TIMEOUTS
) -> list[ServedModel] | None:
    """What ``server`` serves (the window's "Test connection"), None when it lists no models; a ServerError of one
    line when it cannot be asked. Blocks for up to the connect and read timeouts: call it off the GUI thread."""
    engine = open_engine(server, store, api_key=api_key, timeouts=timeouts)
    try:
        return engine.models()
    finally:
        engine.close()
