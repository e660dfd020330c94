"""The settings schema: every persisted preference, its type and its default.

Stored as JSON by app.platform.settings_store; unknown keys are dropped and wrongly typed (or out of range)
values fall back to their default, so an old or hand-edited file can never stop the app from starting.
``load_options`` and ``generation_params`` turn settings into what the engine is asked for: the window and
``moss chat`` both call them, so the same settings file gives the same load and the same sampling in each.
While the app runs, app.qt.settings_controller.SettingsController owns the live settings.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from app.core.servers import RemoteServer, read_servers
from app.core.types import GenerationParams, LoadOptions, LoadParams, ReasoningEffort

_GEN = GenerationParams()  # the sampling defaults when a person chooses their own

# A field's metadata says what its items are when they are not plain text, and what values it accepts.
_PAIRS = {"items": "pairs"}  # a tuple of (name, text) pairs, stored as a JSON list of two-item lists
_SERVERS = {"items": "servers"}  # a tuple of RemoteServer, stored as a JSON list of objects (never their keys)

THEMES = ("system", "light", "dark")
REASONING_DISPLAYS = ("auto", "shown", "hidden")
KV_TYPES = ("f16", "q8_0")
FONT_SIZES = range(9, 21)  # points; 0 is the system's default size

# Prompts that ship with Moss, offered beside the person's own (which cannot take these names).
BUILTIN_PRESETS: tuple[tuple[str, str], ...] = (
    (
        "Concise",
        "You are a helpful assistant. Answer briefly and directly: lead with the answer, then only the detail "
        "that matters. Prefer short paragraphs or a list over long prose, and ask a question only when the "
        "request is truly ambiguous.",
    ),
    (
        "Coding partner",
        "You are an experienced software engineer. Give correct, idiomatic code with a short explanation of "
        "the approach. Point out bugs, edge cases and security problems you notice, prefer the standard library, "
        "and say which language and version you assume.",
    ),
    (
        "Writing editor",
        "You are a careful editor. Improve clarity, grammar and flow while keeping the author's voice and "
        "meaning. Show the revised text first, then list the main changes in a few bullet points.",
    ),
)


@dataclass(frozen=True, slots=True)
class Settings:
    last_model_path: str = ""
    recent_models: tuple[str, ...] = ()
    # A plain default instruction: without one, small models drift (SmolLM2 answers as "an NPC").
    system_prompt: str = "You are a helpful assistant."
    system_prompt_presets: tuple[tuple[str, str], ...] = field(default=(), metadata=_PAIRS)  # (name, prompt)
    context_length: int = 0  # 0: as long as fits (the planner's choice, up to 32k); else the length wanted
    # Manual load settings, used instead of the planner's when manual_load is on ("reset to automatic" clears it).
    manual_load: bool = False
    gpu_layers: int = -1  # -1: all
    cpu_moe: int = 0
    kv_type: str = field(default="f16", metadata={"choices": KV_TYPES})
    flash_attn: bool = True
    n_threads: int = 0  # CPU threads for llama.cpp; 0: automatic (applies to automatic and manual loads)
    n_batch: int = 0  # prompt tokens evaluated per step; 0: automatic
    # Sampling: the model's recommended values (gpt-oss: temperature 1, top_p 1) unless sampling_custom.
    sampling_custom: bool = False
    temperature: float = _GEN.temperature
    top_p: float = _GEN.top_p
    top_k: int = _GEN.top_k
    min_p: float = _GEN.min_p
    repeat_penalty: float = _GEN.repeat_penalty
    max_tokens: int = 4096
    reasoning_effort: str = field(default="medium", metadata={"choices": tuple(e.value for e in ReasoningEffort)})
    # auto (open while thinking, then folded) | shown | hidden
    reasoning_display: str = field(default="auto", metadata={"choices": REASONING_DISPLAYS})
    theme: str = field(default="system", metadata={"choices": THEMES})
    font_size: int = field(default=0, metadata={"choices": (0, *FONT_SIZES)})  # points; 0: the system's size
    compact: bool = False  # tighter spacing
    models_dir: str = ""  # where downloads and copied models go; "" = the data folder's models/
    # The main window's place and layout (base64 of Qt's saveGeometry / saveState); "" = the default.
    window_geometry: str = ""
    window_state: str = ""
    demo_notice_dismissed: bool = False  # the person closed the notice about the demo model: not shown again
    # Servers the person added (app.core.servers); their API keys are in the secret store, never here.
    servers: tuple[RemoteServer, ...] = field(default=(), metadata=_SERVERS)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Settings:
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in raw:
                continue
            value = _checked(raw[f.name], f.default, f.metadata.get("items", ""))
            choices = f.metadata.get("choices")
            if value is not _BAD and (choices is None or value in choices) and _in_range(f.name, value):
                values[f.name] = value
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def with_recent_model(self, path: str, keep: int = 8) -> Settings:
        """These settings with ``path`` as the last used model, first in the recent list."""
        recent = (path, *(p for p in self.recent_models if p != path))[:keep]
        return dataclasses.replace(self, last_model_path=path, recent_models=recent)

    def with_defaults(self) -> Settings:
        """Every preference back to its default ("Delete all data"), the models used with them; where the models
        folder is and where the window sits stay, as they describe this computer rather than the person."""
        return Settings(**{name: getattr(self, name) for name in _KEPT_BY_RESET})

    @property
    def effort(self) -> ReasoningEffort:
        """The reasoning effort new chats start with (and ``moss chat`` uses unless told)."""
        try:
            return ReasoningEffort(self.reasoning_effort)
        except ValueError:  # only a file goes through from_dict's checks; a value set in code may not
            return ReasoningEffort.MEDIUM


# The numbers a settings file may hold: a hand-edited -5 (or 10^30) would reach llama.cpp's C fields or sampling
# as it is and fail far away ("not enough memory") or quietly (an empty reply), so such a value is read as the
# default, as a value of the wrong type is. Sampling follows the window's own limits (Settings → Inference).
_RANGES: dict[str, tuple[float, float]] = {
    "context_length": (0, 1 << 20),
    "gpu_layers": (-1, 100_000),
    "cpu_moe": (0, 100_000),
    "n_threads": (0, 4096),
    "n_batch": (0, 1 << 20),
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "top_k": (0, 1000),
    "min_p": (0.0, 1.0),
    "repeat_penalty": (1.0, 2.0),
    "max_tokens": (1, 1 << 20),
}


def _in_range(name: str, value: Any) -> bool:
    low, high = _RANGES.get(name, (None, None))
    return low is None or low <= value <= high


_KEPT_BY_RESET = ("models_dir", "window_geometry", "window_state")
_BAD = object()


def _checked(value: Any, default: Any, items: str) -> Any:
    """``value`` if it has the default's type (an int where a float is due is fine), else _BAD."""
    if isinstance(default, tuple):
        if not isinstance(value, list | tuple):
            return _BAD
        if items == "servers":
            servers = read_servers(value)
            return _BAD if servers is None else servers
        if items == "pairs":
            pairs = [tuple(v) for v in value if isinstance(v, list | tuple) and len(v) == 2]
            ok = len(pairs) == len(value) and all(isinstance(s, str) for pair in pairs for s in pair)
            return tuple(pairs) if ok else _BAD
        return tuple(value) if all(isinstance(v, str) for v in value) else _BAD
    if isinstance(default, bool) or isinstance(value, bool):
        return value if type(value) is type(default) else _BAD
    if isinstance(default, float):
        ok = isinstance(value, int | float) and math.isfinite(value)
        return float(value) if ok else _BAD
    return value if isinstance(value, type(default)) else _BAD


def generation_params(settings: Settings, model_default: GenerationParams, effort: ReasoningEffort) -> GenerationParams:
    """The sampling for one reply, for the window and ``moss chat`` alike: the model's recommended values unless
    the person chose their own; the length limit is always the person's, the effort the conversation's."""
    params = model_default
    if settings.sampling_custom:
        params = dataclasses.replace(
            params,
            temperature=settings.temperature,
            top_p=settings.top_p,
            top_k=settings.top_k,
            min_p=settings.min_p,
            repeat_penalty=settings.repeat_penalty,
        )
    return dataclasses.replace(params, max_tokens=settings.max_tokens, reasoning_effort=effort)


def load_options(settings: Settings) -> LoadOptions:
    """How to load a model with these settings, for the window and ``moss chat`` alike: the person's manual load
    settings when they turned them on, else the planner's choice up to the context length they want; their CPU
    threads and prompt batch (0: automatic) override either."""
    threads, batch = settings.n_threads or None, settings.n_batch or None
    if not settings.manual_load:
        return LoadOptions(wanted_ctx=settings.context_length or None, n_threads=threads, n_batch=batch)
    params = LoadParams(
        n_ctx=settings.context_length or LoadParams().n_ctx,
        n_gpu_layers=settings.gpu_layers,
        n_cpu_moe=settings.cpu_moe,
        type_k=settings.kv_type,
        type_v=settings.kv_type,
        flash_attn=settings.flash_attn or settings.kv_type != "f16",  # a quantized V cache needs flash attention
    )
    return LoadOptions(params, n_threads=threads, n_batch=batch)
