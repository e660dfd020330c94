"""What the check measures: one case per model and machine, in the order the run takes them.

A case is plain data (it travels to the measuring child process as JSON). The GPU run's cases are the issue's:
gpt-oss-20b planned for a 16 GiB GPU and 32 GiB of RAM (all on the GPU), gpt-oss-120b planned for a 16 GiB GPU
and 64 GiB of RAM (most experts in RAM), and 120b planned for the whole GPU present. The most telling come
first, so that a run cut short by the device's time limit still has them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Case:
    name: str
    model: str  # "20b" / "120b": a replica the run writes; anything else: a GGUF path given to the run
    vram: str | None = None  # the GPU the planner plans for ("16GiB"); None: the machine as llama.cpp sees it
    ram: str | None = None  # the RAM it plans for; None: this machine's
    load: bool = True  # False: plan only (the dry run's full-size replicas, which a CPU cannot hold)
    engine: bool = False  # measure Moss's engine against bare llama-cpp-python on the loaded model
    decode_tokens: int = 128  # tokens generated per timed reply
    prompt_tokens: int = 2048  # the timed replies' prompt: prompt processing is measured on it
    repeat: int = 5  # alternating timed runs of each contender, after one warm-up of each
    long_prompt: int = 4096  # time to first token for a prompt this long
    turns: int = 10  # a conversation's turns, for the tokens evaluated per turn
    turn_tokens: int = 32  # tokens per reply in that conversation
    seconds: int = 120  # about how long the case takes; a run with less time left skips it

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Case:
        return cls(**data)

    @property
    def simulated(self) -> bool:
        return self.ram is not None


def gpu_cases(*, quick: bool = False) -> list[Case]:
    """The GPU run's cases; ``quick`` takes fewer and shorter measurements (about half the time)."""
    if quick:
        return [
            Case("20b-16g", "20b", "16GiB", "32GiB", engine=True, decode_tokens=64, prompt_tokens=1024, repeat=2,
                 turns=5, seconds=60),
            Case("120b-16g", "120b", "16GiB", "64GiB", engine=True, decode_tokens=32, prompt_tokens=1024, repeat=1,
                 turns=3, turn_tokens=16, seconds=150),
            Case("120b-gpu", "120b", seconds=120),
        ]  # fmt: skip
    return [
        Case("20b-16g", "20b", "16GiB", "32GiB", engine=True, seconds=90),
        Case("120b-16g", "120b", "16GiB", "64GiB", engine=True, decode_tokens=64, prompt_tokens=2048, repeat=3,
             seconds=240),
        Case("120b-gpu", "120b", engine=True, decode_tokens=64, repeat=2, turns=0, seconds=150),
    ]  # fmt: skip


def dry_run_cases(model: str) -> list[Case]:
    """The CPU dry run: the real sizes planned only, and a small model (``model``) loaded and measured with the
    same code at small counts."""
    return [
        Case("20b-16g", "20b", "16GiB", "32GiB", load=False, seconds=10),
        Case("120b-16g", "120b", "16GiB", "64GiB", load=False, seconds=10),
        Case("model-cpu", model, engine=True, decode_tokens=16, prompt_tokens=256, repeat=1, long_prompt=1024,
             turns=3, turn_tokens=8, seconds=60),
        Case("model-16g", model, "16GiB", "32GiB", seconds=30),
    ]  # fmt: skip


def select(cases: list[Case], names: set[str] | None) -> list[Case]:
    return [case for case in cases if names is None or case.name in names]
