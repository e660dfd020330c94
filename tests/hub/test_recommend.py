"""The offline recommendation: built-in gpt-oss layouts equal what the planner reads from the real headers, and
the model suggested for typical computers."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.devtools.replicas import write_gpt_oss_replica
from app.engine.gguf_header import read_gguf_header
from app.engine.hardware import GIB, Machine, simulated_machine
from app.engine.model_layout import model_layout
from app.hub.recommend import describe_machine, gpt_oss_layout, recommend


@pytest.mark.parametrize(("family", "size"), [("gpt-oss-20b", "20b"), ("gpt-oss-120b", "120b")])
def test_built_in_layouts_match_the_real_headers(tmp_path: Path, family: str, size: str) -> None:
    replica = write_gpt_oss_replica(tmp_path / f"{family}.gguf", size)  # type: ignore[arg-type]
    assert gpt_oss_layout(family) == model_layout(read_gguf_header(replica))


@pytest.mark.parametrize(
    ("machine", "best", "fast", "other"),
    [
        (simulated_machine(16 * GIB, 32 * GIB), "gpt-oss-20b", True, None),
        (simulated_machine(8 * GIB, 16 * GIB), "gpt-oss-20b", False, None),
        (simulated_machine(None, 32 * GIB, unified=True), "gpt-oss-20b", True, None),
        (simulated_machine(24 * GIB, 96 * GIB), "gpt-oss-20b", True, "gpt-oss-120b"),  # 120b: experts in RAM
        (simulated_machine(80 * GIB, 128 * GIB), "gpt-oss-120b", True, "gpt-oss-20b"),
        (simulated_machine(None, 128 * GIB, unified=True), "gpt-oss-120b", True, "gpt-oss-20b"),
    ],
)
def test_the_120b_only_when_it_runs_entirely_on_the_gpu(
    machine: Machine, best: str, fast: bool, other: str | None
) -> None:
    chosen = recommend(machine)
    assert (chosen.best.family, chosen.best.fast, chosen.best.fits) == (best, fast, True)
    assert (chosen.other.family if chosen.other else None) == other


def test_a_machine_too_small_is_told_how_much_is_needed() -> None:
    chosen = recommend(simulated_machine(None, 8 * GIB))
    assert chosen.best.family == "gpt-oss-20b" and not chosen.best.fits and chosen.other is None
    assert chosen.best.verdict.startswith("gpt-oss-20b needs about 12.7 GB of memory")


def test_memory_is_named_as_people_know_it() -> None:
    # psutil reports a "32 GB" laptop as 31.3 GiB, CUDA a 16 GB card as 15.99 GiB.
    laptop = Machine("NVIDIA GeForce RTX 4080", int(15.99 * GIB), 15 * GIB, int(31.3 * GIB), 20 * GIB)
    assert describe_machine(laptop) == "This computer: NVIDIA GeForce RTX 4080 16 GB, 32 GB RAM"
    mac = Machine("Apple M2 Pro", 12 * GIB, 12 * GIB, 18 * GIB, 10 * GIB, unified=True)
    assert describe_machine(mac) == "This computer: Apple M2 Pro, 18 GB of unified memory"
