"""``moss servers …``: the servers with an OpenAI-compatible API that Moss may chat through (add, list, rm,
models), and ``moss chat --server`` (app.cli.remote_chat).

Servers are kept in the settings file; an API key only in the secret store. A key is never an argument (it would
stay in the shell's history and in the log's command line): ``--api-key-env VAR`` names the environment variable
that holds it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli import remote_chat
from app.cli.common import command_group, input_file, print_json
from app.cli.remote_chat import key_from_env
from app.core.servers import PRESETS, RemoteServer, ServerKind, check_base_url, check_server_name, guess_kind
from app.engine.remote_client import check_ca_file
from app.hub.servers import add_server, find_server, remove_server, saved_key, server_for, server_models
from app.platform.paths import AppPaths
from app.platform.secrets import SecretStore, open_secret_store
from app.platform.settings_store import load_settings, save_settings


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = command_group(
        subparsers, "servers", "servers with an OpenAI-compatible API to chat through", dest="servers_command"
    )
    presets = "; ".join(f"{kind.value}: {preset.url}" for kind, preset in PRESETS.items())
    add = command("add", "add a server (or change the one of that name)")
    add.description = f"Add a server with an OpenAI-compatible API. Base URL shapes: {presets}."
    add.add_argument("name", metavar="NAME", help="a short name for it, like gpu-box")
    add.add_argument("url", metavar="URL", help="the API's base URL, like http://gpu-box:8000/v1")
    add.add_argument(
        "--preset",
        type=ServerKind,
        choices=list(ServerKind),
        metavar="|".join(kind.value for kind in ServerKind),
        help="what serves it (default: guessed from the URL, else other)",
    )
    add_key_option(add, "its API key, saved in the system keychain (never in a file)")
    add.add_argument("--ca-file", type=input_file, metavar="PEM", help="trust the certificate authorities in this file")
    command("list", "the servers added")
    rm = command("rm", "remove a server and its saved key")
    rm.add_argument("name", metavar="NAME")
    models = command("models", "the models a server serves (checks the address and the key)")
    models.add_argument("server", metavar="NAME|URL", help="a server's name, or a base URL")
    add_key_option(models, "use the API key in this environment variable instead of the saved one")
    remote_chat.add_options(subparsers.choices["chat"])


def add_key_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--api-key-env", metavar="VAR", help=f"{help_text} (the variable's name, not the key)")


def run(args: argparse.Namespace, paths: AppPaths) -> int | None:
    """Run ``moss servers …`` or ``moss chat --server``; None for any other command."""
    if args.command == "chat" and getattr(args, "server", None):
        return remote_chat.chat(args, load_settings(paths.settings_file), open_secret_store())
    if args.command != "servers":
        return None
    store = open_secret_store()
    if args.servers_command == "add":
        return _add(args, paths.settings_file, store)
    if args.servers_command == "list":
        return _list(args, paths.settings_file, store)
    if args.servers_command == "rm":
        settings, server = remove_server(load_settings(paths.settings_file), args.name, store)
        save_settings(paths.settings_file, settings)
        if args.json:
            print_json({"removed": server.name})
        else:
            print(f"Removed {server.name} and its saved key.")
        return 0
    return _models(args, paths.settings_file, store)


def _add(args: argparse.Namespace, settings_file: Path, store: SecretStore) -> int:
    name, url = check_server_name(args.name), check_base_url(args.url)
    ca_file = ""
    if args.ca_file:
        ca_file = str(Path(args.ca_file).expanduser().resolve())
        check_ca_file(ca_file)
    key = key_from_env(args.api_key_env)
    server = RemoteServer(name, url, args.preset or guess_kind(url), ca_file)
    settings = load_settings(settings_file)
    replaced = find_server(settings, name) is not None
    settings = add_server(settings, server, store, key)
    save_settings(settings_file, settings)
    has_key = saved_key(store, server) is not None
    if args.json:
        print_json({**server.to_json(), "key_saved": has_key, "replaced": replaced})
        return 0
    print(f"{'Changed' if replaced else 'Added'} {name}: {url} ({PRESETS[server.kind].title}).")
    if key and not store.persistent:
        print(
            "This computer has no system keychain Moss can use, so the key is not kept after this command: give "
            "--api-key-env again when you chat.",
            file=sys.stderr,
        )
    elif PRESETS[server.kind].needs_key and not has_key:
        print(f"{PRESETS[server.kind].title} needs an API key: add it again with --api-key-env VAR.", file=sys.stderr)
    print(f"See what it serves: moss servers models {name}")
    return 0


def _list(args: argparse.Namespace, settings_file: Path, store: SecretStore) -> int:
    servers = load_settings(settings_file).servers
    rows = [{**server.to_json(), "key_saved": saved_key(store, server) is not None} for server in servers]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("No server has been added. Add one with: moss servers add NAME URL")
    for server, row in zip(servers, rows, strict=True):
        notes = [PRESETS[server.kind].title, "key saved" if row["key_saved"] else "no key"]
        if server.ca_file:
            notes.append(f"CA file {server.ca_file}")
        print(f"{server.name}  {server.base_url}  ({', '.join(notes)})")
    return 0


def _models(args: argparse.Namespace, settings_file: Path, store: SecretStore) -> int:
    server = server_for(load_settings(settings_file), args.server)
    served = server_models(server, store, api_key=key_from_env(args.api_key_env))
    if args.json:
        listed = None if served is None else [{"id": m.id, "context_length": m.context_length} for m in served]
        print_json({"server": server.name or server.base_url, "models": listed})
        return 0
    if served is None:
        print(f"{server.label} answers, but lists no models: name the model with --model when you chat.")
    elif not served:
        print(f"{server.label} answers, but serves no model yet.")
    for model in served or []:
        print(model.id + (f"  ({model.context_length:,}-token context)" if model.context_length else ""))
    return 0
