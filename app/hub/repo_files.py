"""The GGUF files of a Hugging Face repository, grouped into the models a person would pick from.

A repository usually holds one model in several quantizations (``…-Q4_K_M.gguf``, ``…-Q8_0.gguf``), and a
big model is split into parts (``…-00001-of-00003.gguf``) that only make sense together. This module turns
a flat file list into :class:`RemoteModel` s: one per quantization, split parts merged, vision projectors
(``mmproj``) left out. Pure functions, no network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

SPLIT_NAME = re.compile(r"^(?P<stem>.+)-(?P<part>\d{5})-of-(?P<total>\d{5})\.gguf$", re.IGNORECASE)
# Ordered longest first so "Q4_K_M" wins over "Q4_K" and "UD-Q4_K_XL" keeps its prefix.
_QUANT = re.compile(
    r"(?<![A-Za-z0-9])("
    r"UD-[A-Z0-9_]+|MXFP4(?:_MOE)?|IQ\d_[A-Z]+(?:_[A-Z]+)?|IQ\d_[A-Z]\d?|Q\d_K_[SMLX]L?|Q\d_K|Q\d_\d|Q\d|"
    r"TQ\d_\d|BF16|F16|F32|FP16|FP32"
    r")(?![A-Za-z0-9])",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class RemoteFile:
    path: str  # inside the repository, with "/" separators
    size: int
    sha256: str | None = None  # the LFS object's hash; None for a small file kept in git

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name


@dataclass(frozen=True, slots=True)
class RemoteModel:
    """One downloadable model: a GGUF file, or every part of a split one, in order."""

    repo_id: str
    files: tuple[RemoteFile, ...]
    quantization: str

    @property
    def name(self) -> str:
        """The model's file name without the split suffix and extension: ``gpt-oss-120b-mxfp4``."""
        return model_stem(self.files[0].name)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def first(self) -> RemoteFile:
        return self.files[0]

    @property
    def spec(self) -> str:
        """How to name this model on the command line: ``REPO:FILE``."""
        return f"{self.repo_id}:{self.files[0].path}"

    def to_json(self) -> dict[str, object]:
        return {
            "repo_id": self.repo_id,
            "name": self.name,
            "quantization": self.quantization,
            "size_bytes": self.size,
            "files": [{"path": f.path, "size_bytes": f.size, "sha256": f.sha256} for f in self.files],
        }


def model_stem(filename: str) -> str:
    """``gpt-oss-120b-mxfp4-00001-of-00003.gguf`` → ``gpt-oss-120b-mxfp4``; ``x.gguf`` → ``x``."""
    name = PurePosixPath(filename).name
    match = SPLIT_NAME.match(name)
    if match:
        return match.group("stem")
    return name[: -len(".gguf")] if name.lower().endswith(".gguf") else name


def quantization_of(filename: str) -> str:
    """The quantization a file name states (``Q4_K_M``, ``MXFP4``, ``F16``…), upper case; "" if none."""
    found = _QUANT.findall(model_stem(filename))
    return found[-1].upper() if found else ""


def is_model_file(path: str) -> bool:
    """A GGUF that holds a chat model (not a vision projector or an imatrix)."""
    name = PurePosixPath(path).name.lower()
    return name.endswith(".gguf") and not name.startswith("mmproj") and "imatrix" not in name


def group_models(repo_id: str, files: list[RemoteFile]) -> list[RemoteModel]:
    """The models among ``files``: split parts merged (incomplete sets left out), smallest first."""
    singles: list[RemoteModel] = []
    splits: dict[tuple[str, str], dict[int, RemoteFile]] = {}
    totals: dict[tuple[str, str], int] = {}
    for file in files:
        if not is_model_file(file.path):
            continue
        match = SPLIT_NAME.match(file.name)
        if match is None:
            singles.append(RemoteModel(repo_id, (file,), quantization_of(file.name)))
            continue
        folder = str(PurePosixPath(file.path).parent)
        key = (folder, match.group("stem"))
        splits.setdefault(key, {})[int(match.group("part"))] = file
        totals[key] = int(match.group("total"))
    for key, parts in splits.items():
        total = totals[key]
        if sorted(parts) != list(range(1, total + 1)):
            continue  # a part is missing: not downloadable as a whole
        ordered = tuple(parts[i] for i in range(1, total + 1))
        singles.append(RemoteModel(repo_id, ordered, quantization_of(ordered[0].name)))
    return sorted(singles, key=lambda m: (m.size, m.first.path))


def find_model(models: list[RemoteModel], wanted: str) -> RemoteModel | None:
    """The model a person named: a file path (any part of a split model), a file name, or a quantization."""
    lowered = wanted.lower()
    for model in models:
        if any(lowered in (f.path.lower(), f.name.lower()) for f in model.files) or lowered == model.name.lower():
            return model
    matches = [m for m in models if m.quantization.lower() == lowered]
    return matches[0] if len(matches) == 1 else None


def preferred_model(models: list[RemoteModel]) -> RemoteModel | None:
    """The one to pull when a person names only the repository: MXFP4 (gpt-oss's native format), else Q4_K_M,
    else the only one."""
    for quant in ("MXFP4", "MXFP4_MOE", "Q4_K_M"):
        for model in models:
            if model.quantization == quant:
                return model
    return models[0] if len(models) == 1 else None
