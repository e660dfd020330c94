"""The run's findings: one JSON (everything measured) and one Markdown page (the tables and the verdicts).

Verdicts follow the issue: a planner estimate more than 5 % away from what llama.cpp allocated, a simulated
16 GiB plan that used more than 16 GiB of the device (CUDA's own context included), and an engine ratio under
0.97 are each marked MISSED. Both files are rewritten after every step, so a run cut short leaves what it had.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ESTIMATE_TOLERANCE = 0.05
ENGINE_TARGET = 0.97
GIB = 1024**3
JSON_NAME = "gpu-check.json"
MARKDOWN_NAME = "gpu-check.md"


def memory_findings(result: dict[str, Any]) -> dict[str, Any]:
    """The plan's estimates next to the measured figures of one loaded case (None where not measured)."""
    plan, memory = result.get("plan") or {}, result.get("memory") or {}
    buffers = memory.get("buffers") or {}
    idle = memory.get("device_idle")
    used = memory.get("device_after_reply") or memory.get("device_after_load")
    context = memory.get("cuda_after_context")
    cuda_after = memory.get("cuda_after_reply") or memory.get("cuda_after_load")
    process = used - idle if used is not None and idle is not None else None
    findings: dict[str, Any] = {
        "plan_vram": plan.get("vram_bytes"),
        "plan_ram": plan.get("ram_bytes"),
        "llama_device_buffers": buffers.get("device_bytes"),
        "llama_host_buffers": buffers.get("host_bytes"),
        "device_used_by_process": process,
        "cuda_context": memory["device_after_context"] - idle
        if memory.get("device_after_context") is not None and idle is not None
        else None,
        "cuda_allocated": context[0] - cuda_after[0] if context and cuda_after else None,
        "rss_growth": memory["rss_after_reply"] - memory["rss_before"]
        if memory.get("rss_after_reply") is not None and memory.get("rss_before") is not None
        else None,
    }
    findings["vram_error"] = _error(findings["plan_vram"], findings["llama_device_buffers"])
    findings["ram_error"] = _error(findings["plan_ram"], findings["llama_host_buffers"])
    findings["vram_error_vs_process"] = _error(findings["plan_vram"], process)
    budget = (result.get("machine") or {}).get("gpu_total") if (result.get("machine") or {}).get("simulated") else None
    findings["budget"] = budget
    findings["fits_budget"] = process <= budget if budget and process is not None else None
    return findings


def _error(estimate: int | None, measured: int | None) -> float | None:
    """How far ``estimate`` is from ``measured``, as a fraction of it (+: the plan asked for more)."""
    if not estimate or not measured:
        return None
    return round(estimate / measured - 1, 4)


def verdicts(results: dict[str, Any]) -> list[str]:
    """One line per check that was measured: ``ok`` or ``MISSED``, with the figures."""
    lines = []
    for name, result in (results.get("cases") or {}).items():
        findings = memory_findings(result)
        for key, what in (("vram_error", "GPU"), ("ram_error", "RAM")):
            error = findings[key]
            if error is not None:
                ok = abs(error) <= ESTIMATE_TOLERANCE
                lines.append(
                    f"{name}: planner's {what} estimate {error:+.1%} from llama.cpp's buffers "
                    f"(within {ESTIMATE_TOLERANCE:.0%}: {'ok' if ok else 'MISSED'})"
                )
        if findings["fits_budget"] is not None:
            lines.append(
                f"{name}: used {_gib(findings['device_used_by_process'])} of the device with a "
                f"{_gib(findings['budget'])} plan ({'ok' if findings['fits_budget'] else 'MISSED'})"
            )
        speed = result.get("speed") or {}
        for key, what in (("decode_ratio", "decoding"), ("prompt_ratio", "prompt processing")):
            ratio = speed.get(key)
            if ratio is not None:
                ok = ratio >= ENGINE_TARGET
                lines.append(
                    f"{name}: engine ÷ bare, {what}: {ratio:.3f} (≥ {ENGINE_TARGET}: {'ok' if ok else 'MISSED'})"
                )
    return lines


def _gib(value: int | None) -> str:
    return "-" if value is None else f"{value / GIB:.2f} GiB"


def _num(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1%}"


def markdown(results: dict[str, Any]) -> str:
    machine = results.get("machine") or {}
    lines = [
        "# Moss on a GPU: planner and engine (tools/gpu_check)",
        "",
        f"Machine: {machine.get('gpu') or 'no GPU'}; driver {machine.get('driver') or '-'}; "
        f"{machine.get('cpus') or '-'} CPUs; {_gib(machine.get('ram_bytes'))} RAM; "
        f"llama-cpp-python {results.get('llama_cpp_python') or '-'}; mode {results.get('mode')}; "
        f"{results.get('seconds', 0):.0f} s.",
        "",
        *(
            [
                "A CPU dry run: the code's own check, on a tiny model with the CPU build. Its figures and verdicts say "
                "nothing about a GPU.",
                "",
            ]
            if results.get("mode") == "cpu-dry-run"
            else []
        ),
        "## Memory: the plan against the load",
        "",
        "| case | plan | GPU: plan | llama.cpp buffers | process on device | error | RAM: plan | llama.cpp host "
        "buffers | error | RSS growth |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    cases = results.get("cases") or {}
    for name, result in cases.items():
        plan = result.get("plan") or {}
        f = memory_findings(result)
        where = (
            f"{plan.get('n_gpu_layers')}/{plan.get('n_layers')} layers on GPU, experts of {plan.get('n_cpu_moe')} "
            f"in RAM, {plan.get('n_ctx', 0):,} ctx, KV {plan.get('type_k')}"
            if plan.get("fits")
            else "does not fit"
            if plan
            else "-"
        )
        lines.append(
            f"| {name} | {where} | {_gib(f['plan_vram'])} | {_gib(f['llama_device_buffers'])} | "
            f"{_gib(f['device_used_by_process'])} | {_pct(f['vram_error'])} | {_gib(f['plan_ram'])} | "
            f"{_gib(f['llama_host_buffers'])} | {_pct(f['ram_error'])} | {_gib(f['rss_growth'])} |"
        )
    lines += [
        "",
        "## Speed: Moss's engine against bare llama-cpp-python (same loaded model, alternating, medians)",
        "",
        "| case | prompt tokens | bare pp tok/s | engine pp tok/s | ratio | generated | bare tok/s | engine tok/s "
        "| ratio | first token, long prompt (engine / bare) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, result in cases.items():
        speed, first = result.get("speed"), result.get("first_token") or {}
        if not speed:
            continue
        ttft = (
            f"{first['prompt_tokens']:,} tokens: {first['engine_s']:.2f} s / {first['bare_s']:.2f} s" if first else "-"
        )
        lines.append(
            f"| {name} | {speed['prompt_tokens']:,} | {_num(speed['bare']['prompt_tps'])} | "
            f"{_num(speed['engine']['prompt_tps'])} | {_num(speed['prompt_ratio'], '.3f')} | "
            f"{speed['decode_tokens']} | {_num(speed['bare']['decode_tps'])} | {_num(speed['engine']['decode_tps'])} "
            f"| {_num(speed['decode_ratio'], '.3f')} | {ttft} |"
        )
    turns = {name: r["turns"] for name, r in cases.items() if r.get("turns")}
    if turns:
        lines += ["", "## A conversation: tokens evaluated per turn (prompt tokens in brackets)", ""]
        for name, items in turns.items():
            per_turn = ", ".join(f"{t['evaluated_tokens']} ({t['prompt_tokens']})" for t in items)
            lines.append(f"- {name}: {per_turn}")
    lines += ["", "## Verdicts", ""]
    lines += [f"- {line}" for line in verdicts(results)] or ["- nothing measured"]
    errors = [(step, text) for step, text in (results.get("errors") or {}).items()]
    for name, result in cases.items():
        errors += [(f"{name}: {part}", text) for part, text in (result.get("errors") or {}).items()]
    if errors:
        lines += ["", "## Errors", ""]
        lines += [f"- {step}: {text.strip().splitlines()[0] if text.strip() else '?'}" for step, text in errors]
    skipped = results.get("skipped") or {}
    if skipped:
        lines += ["", "## Skipped", ""]
        lines += [f"- {name}: {why}" for name, why in skipped.items()]
    return "\n".join(lines) + "\n"


def write(out: Path, results: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    results = dict(results, verdicts=verdicts(results))
    (out / JSON_NAME).write_text(json.dumps(results, indent=1), encoding="utf-8")
    (out / MARKDOWN_NAME).write_text(markdown(results), encoding="utf-8")
