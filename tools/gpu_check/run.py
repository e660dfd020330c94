"""``run --out DIR``: the whole check, each step guarded, within a time budget.

Steps, in order: build llama.cpp with CUDA (build.py; skipped in the CPU dry run, which uses the llama_cpp this
Python has), write the replicas, then each case in a child process (measure.py). A step that fails is recorded
with its error and the run goes on; a case that would not finish in the time left is skipped and says so. The
JSON and Markdown are rewritten after every step (report.py), so the device's 10-minute limit never leaves
nothing behind. This process itself imports neither numpy nor llama_cpp: they exist only once the build is done.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
import traceback
from importlib import metadata
from pathlib import Path
from typing import Any

from . import report
from .build import build_llama_cpp
from .cases import Case, dry_run_cases, gpu_cases, select
from .device_memory import nvidia_smi

CODE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding app/ and tools/ (the repository or the kit's copy)
BUILD_LOG = "build-log.txt"
CASES_LOG = "cases-log.txt"
REPLICAS = ("20b", "120b")
SPARE_S = 20  # kept back from the budget for writing the results


class Run:
    def __init__(self, out: Path, work: Path, budget_s: float, mode: str) -> None:
        self.out, self.work = out, work
        self.deadline = time.monotonic() + budget_s
        self.started = time.monotonic()
        self.env = dict(os.environ)
        self.results: dict[str, Any] = {"mode": mode, "errors": {}, "skipped": {}, "steps": {}, "cases": {}}
        out.mkdir(parents=True, exist_ok=True)
        work.mkdir(parents=True, exist_ok=True)

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def save(self) -> None:
        self.results["seconds"] = round(time.monotonic() - self.started, 1)
        report.write(self.out, self.results)

    def step(self, name: str, work: Any) -> Any:
        """Run ``work()``; keep its result under steps[name], or its error."""
        print(f"[gpu_check] {name} ...", flush=True)
        started = time.monotonic()
        try:
            value = work()
        except Exception as exc:
            self.results["errors"][name] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
            print(f"[gpu_check] {name} failed: {exc}", flush=True)
            value = None
        else:
            self.results["steps"][name] = value
        print(f"[gpu_check] {name} took {time.monotonic() - started:.1f} s", flush=True)
        self.save()
        return value

    def child(self, args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        """``python -m tools.gpu_check child ARGS`` in the code's folder, its output appended to the cases log."""
        with (self.out / CASES_LOG).open("a", encoding="utf-8") as log:
            log.write(f"\n$ child {' '.join(args)}\n")
            log.flush()
            try:
                done = subprocess.run(
                    [sys.executable, "-m", "tools.gpu_check", "child", *args],
                    cwd=CODE_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, text=True,
                    timeout=max(1.0, timeout), check=False,
                )  # fmt: skip
            except subprocess.TimeoutExpired as exc:
                raise TimeoutError(f"stopped after {timeout:.0f} s (the run's time budget)") from exc
        if done.returncode != 0:
            raise RuntimeError(f"the measuring process ended with exit code {done.returncode}; see {CASES_LOG}")
        return done


def machine_summary() -> dict[str, Any]:
    gpu = nvidia_smi("name", "driver_version", "memory.total", "compute_cap")
    ram = None
    try:
        meminfo = Path("/proc/meminfo").read_text(encoding="utf-8").splitlines()
        ram = int(meminfo[0].split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return {
        "gpu": f"{gpu[0]} ({gpu[2]} MiB, compute capability {gpu[3]})" if gpu else None,
        "driver": gpu[1] if gpu else None,
        "cpus": os.cpu_count(),
        "ram_bytes": ram,
        "system": platform.platform(),
        "python": platform.python_version(),
    }


def run(
    out: Path,
    *,
    kit: Path | None,
    work: Path,
    budget_s: float,
    quick: bool = False,
    only: set[str] | None = None,
    dry_run_model: Path | None = None,
    cpu_build: bool = False,
) -> dict[str, Any]:
    """The whole check (see the module doc). ``dry_run_model``: the CPU dry run on that model; with
    ``cpu_build``, it builds the kit's llama.cpp for the CPU first and measures with that build."""
    dry = dry_run_model is not None
    every = dry_run_cases(str(dry_run_model)) if dry else gpu_cases(quick=quick)
    unknown = sorted((only or set()) - {case.name for case in every})
    if unknown:
        raise SystemExit(f"No case {', '.join(unknown)}: the cases are {', '.join(c.name for c in every)}.")
    cases = select(every, only)
    job = Run(out, work, budget_s - SPARE_S, "cpu-dry-run" if dry else "quick" if quick else "full")
    job.results["machine"] = machine_summary()
    job.results["kit"] = _kit_manifest(kit)
    version = (job.results["kit"] or {}).get("llama_cpp_python") or _installed("llama_cpp_python")
    job.results["llama_cpp_python"] = version
    job.save()
    if cpu_build or not dry:  # a build already there with the same inputs is reused at once
        if kit is None:
            raise SystemExit("No kit: pass --kit DIR (made by `python -m tools.gpu_check prepare DIR`).")
        built = job.step("build", lambda: build_llama_cpp(kit, work, out / BUILD_LOG, cuda=not dry, seconds=job.left()))
        if built is None:
            return job.results  # nothing to measure with: the error says why
        paths = [built["site"], *filter(None, [job.env.get("PYTHONPATH")])]
        job.env["PYTHONPATH"] = os.pathsep.join(paths)
        job.env["LD_LIBRARY_PATH"] = os.pathsep.join([*built["library_path"], job.env.get("LD_LIBRARY_PATH", "")])
    sizes = {c.model for c in cases} & set(REPLICAS)
    replicas = job.step("replicas", lambda: _write_replicas(job, sizes, dry)) if sizes else {}
    for case in cases:
        path = (replicas or {}).get(case.model, {}).get("path") if case.model in REPLICAS else case.model
        if path is None:
            job.results["skipped"][case.name] = "its model file was not written (see the errors)"
        elif job.left() < case.seconds:
            job.results["skipped"][case.name] = f"{job.left():.0f} s left, the case needs about {case.seconds} s"
        else:
            _run_case(job, case, Path(path))
        job.save()
    return job.results


def _write_replicas(job: Run, sizes: set[str], dry: bool) -> dict[str, Any]:
    folder = job.work / "replicas"
    result_file = folder / "replicas.json"
    folder.mkdir(parents=True, exist_ok=True)
    # The dry run writes one live replica (about 1 s and 35 MB) to exercise the writer; the cases only plan with
    # them, which needs the headers alone.
    live = sorted(sizes) if not dry else sorted(sizes & {"20b"})
    args = ["replicas", "--into", str(folder), "--result", str(result_file), "--live", ",".join(live)]
    job.child([*args, "--sizes", ",".join(sorted(sizes))], job.left())
    replicas: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
    return replicas


def _run_case(job: Run, case: Case, model: Path) -> None:
    print(f"[gpu_check] case {case.name} ...", flush=True)
    started = time.monotonic()
    result_file = job.work / f"case-{case.name}.json"
    result_file.unlink(missing_ok=True)
    spec = json.dumps(case.to_json())
    try:
        job.child(["case", "--spec", spec, "--model", str(model), "--result", str(result_file)], job.left())
    except (RuntimeError, TimeoutError) as exc:
        job.results["errors"][f"case {case.name}"] = str(exc)
    if result_file.is_file():
        job.results["cases"][case.name] = json.loads(result_file.read_text(encoding="utf-8"))
    print(f"[gpu_check] case {case.name} took {time.monotonic() - started:.1f} s", flush=True)


def _installed(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _kit_manifest(kit: Path | None) -> dict[str, Any]:
    if kit is None or not (kit / "KIT.json").is_file():
        return {}
    manifest: dict[str, Any] = json.loads((kit / "KIT.json").read_text(encoding="utf-8"))
    return {key: manifest.get(key) for key in ("llama_cpp_python", "moss_commit", "moss_changes", "total_bytes")}
