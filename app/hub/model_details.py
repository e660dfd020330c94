"""What a GGUF says about itself, for the model details view and ``moss models info``; and whether it fits.

Everything comes from the header (read in a fraction of a second, locally or by HTTP Range), never from the
weights: architecture, parameter count, quantization, context length, chat template, licence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gguf import GGMLQuantizationType, LlamaFileType

from app.core.errors import UserError
from app.core.units import format_size
from app.engine.gguf_header import GGUFHeader, read_gguf_header
from app.engine.hardware import Machine
from app.engine.model_layout import ModelLayout, model_layout
from app.engine.planner import DEFAULT_CONTEXT_CAP, Plan, plan
from app.hub.library import InstalledModel
from app.hub.repo_files import quantization_of


@dataclass(frozen=True, slots=True)
class ModelDetails:
    name: str
    architecture: str
    parameters: int
    quantization: str
    context_length: int
    has_chat_template: bool
    license: str
    file_size: int

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "architecture": self.architecture,
            "parameters": self.parameters,
            "quantization": self.quantization,
            "context_length": self.context_length,
            "has_chat_template": self.has_chat_template,
            "license": self.license,
            "file_size": self.file_size,
        }


@dataclass(frozen=True, slots=True)
class Fit:
    """Whether a model runs on this machine, and the plan in one line.

    ``n_ctx`` is the context the plan gives, ``full_ctx`` the one it would have liked (the model's, up to the
    planner's cap), ``needed_bytes`` the memory the smallest plan needs when it does not fit; 0 where not
    known (a verdict cached by an older Moss). ``known`` is False when the planner has no figures for the
    model's architecture."""

    fits: bool
    summary: str
    n_ctx: int = 0
    full_ctx: int = 0
    needed_bytes: int = 0
    known: bool = True

    @property
    def label(self) -> str:
        """The verdict in a few words, for a table cell: yes, with a shorter context, no: needs 14 GB."""
        if not self.known:
            return "unknown: no figures for this kind of model"
        if not self.fits:
            return f"no: needs {format_size(self.needed_bytes)}" if self.needed_bytes else "no: too big"
        if self.n_ctx and self.full_ctx and self.n_ctx < self.full_ctx:
            return "with a shorter context"
        return "yes"

    def to_json(self) -> dict[str, Any]:
        return {
            "fits": self.fits,
            "summary": self.summary,
            "n_ctx": self.n_ctx,
            "full_ctx": self.full_ctx,
            "needed_bytes": self.needed_bytes,
            "known": self.known,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Fit:
        def number(key: str) -> int:
            value = raw.get(key)
            return value if isinstance(value, int) and value >= 0 else 0

        return cls(
            bool(raw.get("fits")),
            str(raw.get("summary") or ""),
            number("n_ctx"),
            number("full_ctx"),
            number("needed_bytes"),
            raw.get("known") is not False,
        )


def fit_of_plan(chosen: Plan, layout: ModelLayout) -> Fit:
    """The planner's verdict on ``layout`` as a :class:`Fit`."""
    full_ctx = min(layout.n_ctx_train or DEFAULT_CONTEXT_CAP, DEFAULT_CONTEXT_CAP)
    needed = 0 if chosen.fits else chosen.ram_bytes + chosen.vram_bytes
    return Fit(chosen.fits, chosen.summary(), chosen.n_ctx, full_ctx, needed)


def details_of(header: GGUFHeader) -> ModelDetails:
    return ModelDetails(
        name=header.name,
        architecture=header.architecture,
        parameters=sum(math.prod(t.shape) for t in header.tensors),
        quantization=quantization_from_header(header),
        context_length=header.context_length,
        has_chat_template=header.chat_template is not None,
        license=str(header.metadata.get("general.license") or ""),
        file_size=header.file_size,
    )


def quantization_from_header(header: GGUFHeader) -> str:
    """The file type the converter recorded (``Q4_K_M``, ``MXFP4_MOE``…), else the file name's, else the
    type most of the weight bytes use."""
    file_type = header.metadata.get("general.file_type")
    if isinstance(file_type, int):
        try:
            name = LlamaFileType(file_type).name
        except ValueError:
            name = ""
        if name.startswith("MOSTLY_"):
            return name.removeprefix("MOSTLY_")
        if name == "ALL_F32":
            return "F32"
    from_name = quantization_of(header.path.name)
    if from_name:
        return from_name
    by_type: dict[int, int] = {}
    for tensor in header.tensors:
        by_type[tensor.type] = by_type.get(tensor.type, 0) + tensor.n_bytes
    if not by_type:
        return ""
    dominant = max(by_type, key=lambda t: by_type[t])
    try:
        return GGMLQuantizationType(dominant).name
    except ValueError:
        return ""


def format_parameters(count: int) -> str:
    if count >= 1e9:
        return f"{count / 1e9:.1f}B"
    if count >= 1e6:
        return f"{count / 1e6:.0f}M"
    return f"{count / 1e3:.0f}K"


def fit_of(header: GGUFHeader, machine: Machine) -> Fit:
    """The offload planner's verdict for this model on ``machine``."""
    try:
        layout = model_layout(header)
    except Exception as exc:  # an architecture the planner has no figures for
        return Fit(True, f"Moss cannot tell whether it fits: {exc}", known=False)
    return fit_of_plan(plan(layout, machine), layout)


def short_path(path: Path) -> str:
    """``path`` with the home folder as ``~``, for display."""
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)


@dataclass(frozen=True, slots=True)
class InstalledRow:
    """An installed model with what its header says and whether it fits (for lists and ``models info``)."""

    model: InstalledModel
    details: ModelDetails | None
    fit: Fit | None
    problem: str = ""

    def to_json(self) -> dict[str, Any]:
        item = self.model.to_json()
        empty = ModelDetails("", "", 0, "", 0, False, "", 0)
        item.update((self.details or empty).to_json())
        item["size_bytes"] = self.model.size_bytes
        item["fit"] = self.fit.to_json() if self.fit else None
        item["problem"] = self.problem
        return item


def installed_row(model: InstalledModel, machine: Machine | None) -> InstalledRow:
    """Read ``model``'s header (a fraction of a second) and plan it on ``machine``."""
    if not model.available:
        missing = "The file is missing: it was moved or deleted, or its disk is not connected."
        return InstalledRow(model, None, None, missing)
    try:
        header = read_gguf_header(model.path)
    except UserError as exc:
        return InstalledRow(model, None, None, str(exc))
    return InstalledRow(model, details_of(header), fit_of(header, machine) if machine else None)
