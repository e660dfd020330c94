"""GGUF models that other apps already downloaded, found on disk so Moss can use them in place.

People who try Moss often have gpt-oss (or other GGUF models) from the Hugging Face cache, LM Studio, Jan or
GPT4All already, and a second 12 GB copy would waste their disk. `known_roots` lists where those apps keep
models on this OS; `scan` walks those folders (bounded in depth and time, never following folder links) and
returns one `FoundModel` per model: a single file, or every part of a split model. Files are never copied or
moved. Ollama is left out on purpose: its blobs are not loadable by llama.cpp for gpt-oss.
"""

from __future__ import annotations

import logging
import os
import platform
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

HF_CACHE = "Hugging Face cache"
LM_STUDIO = "LM Studio"
JAN = "Jan"
GPT4ALL = "GPT4All"

# llama.cpp's split naming (gguf-split): NAME-00001-of-00003.gguf.
_SPLIT = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<total>\d{5})\.gguf$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class FoundModel:
    path: Path  # the file to load: the only file, or the -00001-of-0000N part (llama.cpp finds the rest)
    parts: tuple[Path, ...]  # every file of the model, in order
    source: str  # where it was found, for people: "Hugging Face cache", "LM Studio", "Jan", "GPT4All"
    size_bytes: int  # all parts together, through symlinks (the HF cache's snapshot files are links)
    repo_id: str | None  # "org/name" where the folder layout tells it, else None


@dataclass(frozen=True, slots=True)
class ScanRoot:
    source: str
    path: Path


def known_roots(
    *, home: Path | None = None, env: Mapping[str, str] | None = None, system: str | None = None
) -> list[ScanRoot]:
    """Every folder where a known app keeps GGUF models on this OS, whether it exists or not."""
    home = Path.home() if home is None else home
    env = os.environ if env is None else env
    system = platform.system() if system is None else system

    def var(name: str) -> Path | None:
        value = env.get(name, "")
        if not value:
            return None
        # Expand "~" against the given home (not the real one), so tests stay hermetic.
        return home / value[2:] if value == "~" or value.startswith(("~/", "~\\")) else Path(value)

    # huggingface_hub's own precedence (constants.py); it reads XDG_CACHE_HOME on every OS, Windows included.
    hf_home = var("HF_HOME") or (var("XDG_CACHE_HOME") or home / ".cache") / "huggingface"
    hf_hub = var("HF_HUB_CACHE") or var("HUGGINGFACE_HUB_CACHE") or hf_home / "hub"
    roots = [ScanRoot(HF_CACHE, hf_hub)]

    # LM Studio 0.3+ keeps models in ~/.lmstudio/models on every OS; 0.2 used ~/.cache/lm-studio/models.
    roots += [
        ScanRoot(LM_STUDIO, home / ".lmstudio" / "models"),
        ScanRoot(LM_STUDIO, home / ".cache" / "lm-studio" / "models"),
    ]

    # Jan 0.6+ (its llama.cpp extension) downloads into <data folder>/llamacpp/models/<model>/, the data folder
    # being Tauri's per-user config folder: %APPDATA%\Jan\data, ~/Library/Application Support/Jan/data,
    # $XDG_CONFIG_HOME/Jan/data (per Jan's "Data Folder" docs). Jan up to 0.5 kept everything in ~/jan.
    if system == "Windows":
        jan_data = (var("APPDATA") or home / "AppData" / "Roaming") / "Jan" / "data"
    elif system == "Darwin":
        jan_data = home / "Library" / "Application Support" / "Jan" / "data"
    else:
        jan_data = (var("XDG_CONFIG_HOME") or home / ".config") / "Jan" / "data"
    roots += [ScanRoot(JAN, jan_data / "llamacpp" / "models"), ScanRoot(JAN, home / "jan" / "models")]

    # GPT4All keeps models in Qt's AppLocalDataLocation for organisation "nomic.ai", application "GPT4All".
    if system == "Windows":
        gpt4all = (var("LOCALAPPDATA") or home / "AppData" / "Local") / "nomic.ai" / "GPT4All"
    elif system == "Darwin":
        gpt4all = home / "Library" / "Application Support" / "nomic.ai" / "GPT4All"
    else:
        gpt4all = (var("XDG_DATA_HOME") or home / ".local" / "share") / "nomic.ai" / "GPT4All"
    roots.append(ScanRoot(GPT4ALL, gpt4all))
    return roots


def scan(roots: Iterable[ScanRoot], *, max_depth: int = 6, deadline_s: float = 10.0) -> list[FoundModel]:
    """The models under `roots`, sorted by source then path; missing or unreadable folders are skipped.

    Stops at the deadline and returns what it found by then: a home folder on a slow network drive must not
    keep the model picker waiting. The same file reached twice (two HF revisions sharing a blob, overlapping
    roots) is listed once, under the first root that reached it.
    """
    deadline = time.monotonic() + deadline_s
    found: list[FoundModel] = []
    seen: set[tuple[int, int]] = set()
    for root in roots:
        files = list(_root_files(root, max_depth, deadline))
        for model in _group(root, files):
            try:
                first = model.path.stat()
            except OSError:
                continue
            key = (first.st_dev, first.st_ino)
            if key not in seen:
                seen.add(key)
                found.append(model)
        if time.monotonic() >= deadline:
            break
    return sorted(found, key=lambda m: (m.source, str(m.path)))


def _root_files(root: ScanRoot, max_depth: int, deadline: float) -> Iterator[Path]:
    if root.source != HF_CACHE:
        yield from _walk(root.path, max_depth, deadline)
        return
    # The HF cache is models--org--name/{blobs,snapshots,refs}/: only snapshots/ holds real file names (links
    # into blobs/, whose names are hashes and where unfinished downloads end in .incomplete).
    for repo in _subfolders(root.path):
        if repo.name.startswith("models--"):
            yield from _walk(repo / "snapshots", max_depth - 2, deadline)


def _subfolders(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as entries:
            return sorted(Path(e.path) for e in entries if e.is_dir(follow_symlinks=False))
    except OSError:
        return []


def _walk(folder: Path, depth_left: int, deadline: float) -> Iterator[Path]:
    """GGUF files under `folder`, in name order; folder links are not followed, so a link loop cannot hang it."""
    if depth_left < 0 or time.monotonic() >= deadline:
        return
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as error:  # missing, not a folder, or no permission: nothing to offer from there
        log.debug("Not scanning %s: %s", folder, error)
        return
    for entry in entries:
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
            # Follows file links (the HF cache's); a broken or looping link is no file.
            is_file = not is_dir and entry.is_file()
        except OSError:
            continue
        if is_dir:
            yield from _walk(Path(entry.path), depth_left - 1, deadline)
        # Partial downloads (.part, .incomplete, .download) do not end in .gguf; vision projectors (mmproj)
        # are not chat models.
        elif is_file and entry.name.lower().endswith(".gguf") and "mmproj" not in entry.name.lower():
            yield Path(entry.path)


def _group(root: ScanRoot, files: list[Path]) -> Iterator[FoundModel]:
    """One model per single file, and per complete split set; a split set missing a part is left out."""
    splits: dict[tuple[Path, str, int], dict[int, Path]] = {}
    for file in files:
        match = _SPLIT.match(file.name)
        if match is None:
            yield from _model(root, (file,))
        else:
            key = (file.parent, match["stem"], int(match["total"]))
            splits.setdefault(key, {})[int(match["index"])] = file
    for (_, _, total), parts in splits.items():
        if total > 0 and sorted(parts) == list(range(1, total + 1)):
            yield from _model(root, tuple(parts[i] for i in range(1, total + 1)))


def _model(root: ScanRoot, parts: tuple[Path, ...]) -> Iterator[FoundModel]:
    try:
        size = sum(part.stat().st_size for part in parts)
    except OSError:  # vanished or unreadable since the walk
        return
    yield FoundModel(parts[0], parts, root.source, size, _repo_id(root, parts[0]))


def _repo_id(root: ScanRoot, file: Path) -> str | None:
    try:
        relative = file.relative_to(root.path).parts
    except ValueError:
        return None
    if root.source == HF_CACHE and relative and relative[0].startswith("models--"):
        return relative[0].removeprefix("models--").replace("--", "/", 1)
    if root.source == LM_STUDIO and len(relative) >= 3:  # publisher/repo/file.gguf
        return f"{relative[0]}/{relative[1]}"
    return None
