"""``moss models …``: find, download, list, inspect, import and remove models from the command line.

Each sub-command takes ``--json`` for scripts. ``pull`` shows progress on stderr; Ctrl+C pauses it and keeps
the partial file, so running the same command again continues where it stopped (an HTTP Range request).
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

from app.cli.chat import EXIT_INTERRUPTED
from app.cli.common import command_group, input_file, print_json, whole_number
from app.core.errors import UserError
from app.core.units import format_duration, format_size
from app.engine.hardware import Machine, probe_machine
from app.hub.download import ModelDownload, Phase, Progress, Stopped, StopReason, StopSignal
from app.hub.hub_client import HubClient
from app.hub.library import ImportMode, InstalledModel, ModelLibrary
from app.hub.local_scan import known_roots, scan
from app.hub.model_details import installed_row
from app.hub.repo_files import RemoteModel, find_model, preferred_model
from app.hub.session import hub_client, open_library
from app.platform.paths import AppPaths
from app.platform.secrets import open_secret_store
from app.platform.settings_store import load_settings


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = command_group(subparsers, "models", "find, download and manage GGUF models", dest="models_command")
    search = command("search", "search the Hugging Face Hub for GGUF repositories")
    search.add_argument("query", help="words in the repository's name, like gpt-oss")
    search.add_argument(
        "--limit", type=whole_number(1, 1000), default=20, metavar="N", help="show at most N (1 to 1,000; 20)"
    )
    files = command("files", "the models in a Hub repository, one per quantization")
    files.add_argument("repo", metavar="REPO", help="like ggml-org/gpt-oss-20b-GGUF")
    pull = command("pull", "download a model (again to continue an interrupted download)")
    pull.add_argument("spec", metavar="REPO[:FILE_OR_QUANT]", help="like ggml-org/gpt-oss-20b-GGUF or REPO:Q4_K_M")
    command("list", "the models Moss has")
    info = command("info", "details of a model Moss has")
    info.add_argument("id", metavar="ID", help="its id (see `moss models list`) or path")
    imp = command("import", "add a GGUF file you already have")
    imp.add_argument("path", type=input_file, metavar="PATH")
    how = imp.add_mutually_exclusive_group()
    how.add_argument("--copy", action="store_true", help="copy it into the models folder")
    how.add_argument("--move", action="store_true", help="move it into the models folder")
    rm = command("rm", "remove a model (deletes files in the models folder; forgets models used in place)")
    rm.add_argument("id", metavar="ID")
    rm.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    rm.add_argument("--delete-file", action="store_true", help="also delete a model file used in place")
    found = command("scan", "find models other apps downloaded (Hugging Face cache, LM Studio, Jan, GPT4All)")
    found.add_argument("--add", action="store_true", help="add what is found, used in place (nothing is copied)")


def run(args: argparse.Namespace, paths: AppPaths) -> int | None:
    if args.command != "models":
        return None
    settings = load_settings(paths.settings_file)
    library = open_library(paths, settings)
    handlers: dict[str, Callable[[argparse.Namespace, ModelLibrary], int]] = {
        "search": _search,
        "files": _files,
        "pull": _pull,
        "list": _list,
        "info": _info,
        "import": _import,
        "rm": _rm,
        "scan": _scan,
    }
    return handlers[args.models_command](args, library)


def _client() -> HubClient:
    return hub_client(open_secret_store())


def _search(args: argparse.Namespace, _library: ModelLibrary) -> int:
    found = _client().search(args.query, limit=args.limit)
    if args.json:
        print_json([r.to_json() for r in found])
        return 0
    if not found:
        print(f"No GGUF repositories match {args.query!r}.")
    for repo in found:
        gated = "  (needs a token)" if repo.gated else ""
        print(f"{repo.repo_id:60} {repo.downloads:>10,} downloads{gated}")
    return 0


def _files(args: argparse.Namespace, _library: ModelLibrary) -> int:
    listing = _client().listing(args.repo)
    if args.json:
        print_json(listing.to_json())
        return 0
    print(f"{listing.repo_id}  (licence: {listing.license or 'not stated'})")
    if not listing.models:
        print("  no GGUF models in this repository")
    for model in listing.models:
        parts = f"  ({len(model.files)} parts)" if len(model.files) > 1 else ""
        print(f"  {model.quantization or '?':12} {format_size(model.size):>9}  {model.first.path}{parts}")
    return 0


def choose_model(models: list[RemoteModel], repo: str, wanted: str | None) -> RemoteModel:
    chosen = find_model(models, wanted) if wanted else preferred_model(models)
    if chosen is not None:
        return chosen
    choices = ", ".join(sorted({m.quantization or m.first.path for m in models})) or "none"
    if not models:
        raise UserError(f"{repo} has no GGUF model files.")
    if wanted:
        raise UserError(f"{repo} has no model {wanted!r}. Choose one of: {choices}.")
    example = models[0].quantization or models[0].first.path
    raise UserError(f"{repo} has several models: name one, like {repo}:{example} (choices: {choices}).")


def _pull(args: argparse.Namespace, library: ModelLibrary) -> int:
    repo, _, wanted = args.spec.partition(":")
    if repo.count("/") != 1:
        raise UserError(f"{args.spec!r} is not a repository name: write it as OWNER/NAME[:FILE_OR_QUANT].")
    client = _client()
    listing = client.listing(repo)
    model = choose_model(list(listing.models), repo, wanted or None)
    stop = StopSignal()
    reporter = _ProgressLine(model, quiet=args.json)
    job = ModelDownload(client, model, library.models_dir, revision=listing.commit, on_progress=reporter, stop=stop)
    previous = signal.signal(signal.SIGINT, _pause_on_interrupt(stop))
    try:
        path = job.run()
    except Stopped:
        reporter.finish()
        print(
            f"moss: paused {model.name}; the partial file is kept. Run the same command to continue.", file=sys.stderr
        )
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGINT, previous)
    reporter.finish()
    for note in job.notes:  # what was found damaged and repaired: said, never hidden
        print(f"moss: {note}", file=sys.stderr)
    installed = library.add_download(path, repo_id=model.repo_id, sha256=tuple(f.sha256 for f in model.files))
    if args.json:
        print_json(
            {
                **installed.to_json(),
                "resumed_from_bytes": job.resumed_from,
                "downloaded_bytes": job.fetched,
                "verified": job.verified,
                "notes": job.notes,
            }
        )
    else:
        print(f"{_pull_summary(job)} {installed.id}: {installed.path}")
    return 0


def _pull_summary(job: ModelDownload) -> str:
    """How the pull ended, in words that claim only what was done: "verified" only when every file was hashed
    on disk against the Hub's sha256, "continued" only when a Range request continued a partial file."""
    checked = "verified" if job.verified else "size-checked (the Hub lists no checksum for it)"
    if not job.fetched:
        return f"Already downloaded and {checked}"
    resumed = f" (continued from {format_size(job.resumed_from)})" if job.resumed_from else ""
    return f"Downloaded and {checked}{resumed}"


class _ProgressLine:
    """One line on stderr, rewritten a few times a second: bytes, percent, speed and time left."""

    def __init__(self, model: RemoteModel, *, quiet: bool) -> None:
        self.model, self.quiet = model, quiet
        self.tty = sys.stderr.isatty()
        self.shown = False

    def __call__(self, p: Progress) -> None:
        if self.quiet:
            return
        text = f"{self.model.name}: {p.phase.value} {format_size(p.done)} of {format_size(p.total)} ({p.fraction:.0%})"
        if p.phase is Phase.DOWNLOADING and p.speed:
            text += f", {p.speed / 1e6:.1f} MB/s"
            if p.eta_s is not None:
                text += f", {format_duration(p.eta_s)} left"
        if p.note:
            text += f" ({p.note})"
        if self.tty:
            sys.stderr.write("\r\x1b[2K" + text)
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()
        self.shown = True

    def finish(self) -> None:
        if self.shown and self.tty:
            sys.stderr.write("\n")


def _pause_on_interrupt(stop: StopSignal) -> Callable[[int, FrameType | None], None]:
    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop.stop(StopReason.PAUSE)

    return handler


def describe(model: InstalledModel, machine: Machine | None) -> dict[str, Any]:
    return installed_row(model, machine).to_json()


def _list(args: argparse.Namespace, library: ModelLibrary) -> int:
    models = library.models()
    machine = probe_machine() if models else None
    items = [describe(m, machine) for m in models]
    if args.json:
        print_json(items)
        return 0
    if not items:
        print("No models yet. Try `moss models pull ggml-org/gpt-oss-20b-GGUF` or `moss models scan`.")
    for item in items:
        fit = item["fit"]
        verdict = item["problem"] or (("fits" if fit["fits"] else "too big") if fit else "")
        print(f"{item['id']:36} {item['quantization'] or '?':10} {format_size(item['size_bytes']):>9}  {verdict}")
    print(f"Models folder: {library.models_dir} ({format_size(library.usage())} used)")
    return 0


def _info(args: argparse.Namespace, library: ModelLibrary) -> int:
    model = library.get(args.id)
    item = describe(model, probe_machine())
    if args.json:
        print_json(item)
        return 0
    rows = [
        ("id", item["id"]),
        ("path", item["path"]),
        ("architecture", item["architecture"]),
        ("parameters", f"{item['parameters'] / 1e9:.2f} billion" if item["parameters"] else ""),
        ("quantization", item["quantization"]),
        ("context length", f"{item['context_length']:,} tokens" if item["context_length"] else ""),
        ("chat template", "yes" if item.get("has_chat_template") else "no"),
        ("licence", item.get("license") or "not stated"),
        ("size", format_size(item["size_bytes"])),
        ("sha256", item["sha256"] or "not known (imported)"),
        ("from", item["repo_id"] or item["origin"]),
        ("fits here", item["fit"]["summary"] if item["fit"] else ""),
        ("problem", item["problem"]),
    ]
    for label, value in rows:
        if value:
            print(f"{label:>15}: {value}")
    return 0


def _import(args: argparse.Namespace, library: ModelLibrary) -> int:
    from pathlib import Path

    mode = ImportMode.COPY if args.copy else ImportMode.MOVE if args.move else ImportMode.IN_PLACE
    result = library.import_model(Path(args.path), mode)
    if args.json:
        print_json({**result.model.to_json(), "already_there": result.already_there})
    elif result.already_there:
        print(f"Already in the library as {result.model.id}: {result.model.path}")
    else:
        print(f"Added {result.model.id}: {result.model.path}")
    return 0


def _rm(args: argparse.Namespace, library: ModelLibrary) -> int:
    model = library.get(args.id)
    deletes = model.managed or args.delete_file
    what = (
        f"delete {model.path.name} and free {format_size(model.size_bytes)}"
        if deletes
        else (f"forget {model.id} (the file stays at {model.path}; add --delete-file to delete it)")
    )
    if not args.yes:
        if not sys.stdin.isatty():
            raise UserError(f"This would {what}. Add --yes to confirm.")
        answer = input(f"Remove {model.id}: {what}? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("Nothing removed.")
            return 0
    freed = library.remove(model.id, delete_file=args.delete_file)
    if args.json:
        print_json({"id": model.id, "freed_bytes": freed, "deleted": deletes})
    else:
        print(f"Removed {model.id}" + (f", freed {format_size(freed)}." if freed else "."))
    return 0


def _scan(args: argparse.Namespace, library: ModelLibrary) -> int:
    found = scan(known_roots())
    items = []
    for model in found:
        item: dict[str, Any] = {
            "path": str(model.path),
            "source": model.source,
            "size_bytes": model.size_bytes,
            "repo_id": model.repo_id,
            "added": None,
            "problem": "",
        }
        if args.add:
            try:
                result = library.import_model(model.path, ImportMode.IN_PLACE, origin=model.source)
                item["added"] = result.model.id
            except UserError as exc:
                item["problem"] = str(exc)
        items.append(item)
    if args.json:
        print_json(items)
        return 0
    if not items:
        print("No GGUF models found in the Hugging Face cache, LM Studio, Jan or GPT4All folders.")
    for item in items:
        note = f" → {item['added']}" if item["added"] else (f" ({item['problem']})" if item["problem"] else "")
        print(f"{item['source']:20} {format_size(item['size_bytes']):>9}  {item['path']}{note}")
    if items and not args.add:
        print("Add them (used in place, nothing copied) with `moss models scan --add`.")
    return 0
