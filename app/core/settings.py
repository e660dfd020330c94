"""The settings schema: every persisted preference, its type and its default.

Stored as JSON by app.platform.settings_store; unknown keys are dropped and wrongly typed values fall back to
their default, so an old or hand-edited file can never stop the app from starting.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Settings:
    last_model_path: str = ""
    recent_models: tuple[str, ...] = ()
    # A plain default instruction: without one, small models drift (SmolLM2 answers as "an NPC").
    system_prompt: str = "You are a helpful assistant."
    context_length: int = 0  # 0: as long as fits (the planner's choice, up to 32k); else the length wanted
    # Manual load settings, used instead of the planner's when manual_load is on ("reset to automatic" clears it).
    manual_load: bool = False
    gpu_layers: int = -1  # -1: all
    cpu_moe: int = 0
    kv_type: str = "f16"
    flash_attn: bool = True
    max_tokens: int = 4096
    reasoning_effort: str = "medium"  # the default for new chats: low | medium | high
    reasoning_display: str = "auto"  # auto (open while thinking, then folded) | shown | hidden
    theme: str = "system"  # system | light | dark
    models_dir: str = ""  # where downloads and copied models go; "" = the data folder's models/

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Settings:
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in raw:
                continue
            value, default = raw[f.name], f.default
            if isinstance(default, tuple):
                ok = isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
                value = tuple(value) if ok else value
            elif isinstance(default, bool) or isinstance(value, bool):
                ok = type(value) is type(default)
            else:
                ok = isinstance(value, type(default))
            if ok:
                values[f.name] = value
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def with_recent_model(self, path: str, keep: int = 8) -> Settings:
        """These settings with ``path`` as the last used model, first in the recent list."""
        recent = (path, *(p for p in self.recent_models if p != path))[:keep]
        return dataclasses.replace(self, last_model_path=path, recent_models=recent)
