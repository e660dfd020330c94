"""``python -m tools.gpu_check prepare DIR`` / ``run --out DIR``: see the package's doc and bench/README.md."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from . import prepare as kit_prep
from .run import REPLICAS, run

DEFAULT_BUDGET_S = 560.0  # the device runs a command for 10 minutes at most: leave time to send the results back


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.gpu_check", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare", help="make the kit a GPU machine without network needs (here)")
    prep.add_argument("kit", type=Path, metavar="DIR", help="the kit's folder (gpu-kit, which git ignores)")
    prep.add_argument("--sdist", type=Path, help="llama-cpp-python's source archive, if already downloaded")
    prep.add_argument("--max-mib", type=int, default=kit_prep.MAX_MIB, help="refuse a kit larger than this")
    go = commands.add_parser("run", help="build, write the replicas, measure (on the GPU machine)")
    go.add_argument("--out", type=Path, required=True, help="where the JSON, the Markdown and the logs go")
    go.add_argument("--kit", type=Path, help="the kit's folder (default: the one this copy of the code is in)")
    go.add_argument("--work", type=Path, help="build and replica folder (default: KIT-work beside the kit)")
    go.add_argument("--budget-s", type=float, default=DEFAULT_BUDGET_S, help="stop starting cases after this")
    go.add_argument("--quick", action="store_true", help="fewer, shorter measurements (about half the time)")
    go.add_argument("--only", help="comma-separated cases: 20b-16g, 120b-16g, 120b-gpu (default: all)")
    go.add_argument("--cpu-dry-run", action="store_true", help="no build, no GPU: the same code on the CPU")
    go.add_argument("--model", type=Path, help="the dry run's small gpt-oss GGUF (tests/helpers/tiny_gpt_oss.py)")
    go.add_argument("--build", action="store_true", help="with --cpu-dry-run: build the kit's llama.cpp (CPU) first")
    child = commands.add_parser("child", help=argparse.SUPPRESS)
    child.add_argument("task", choices=["replicas", "case", "selfcheck"])
    child.add_argument("--into", type=Path)
    child.add_argument("--sizes", default="")
    child.add_argument("--live", default="")
    child.add_argument("--spec")
    child.add_argument("--model", type=Path)
    child.add_argument("--result", type=Path)
    args = parser.parse_args(argv)
    if args.command == "prepare":
        return _prepare(args)
    if args.command == "run":
        return _run(args)
    return _child(args)


def _prepare(args: argparse.Namespace) -> int:
    manifest = kit_prep.prepare(args.kit, sdist=args.sdist, max_mib=args.max_mib)
    sizes = ", ".join(f"{name} {size / 2**20:.1f} MiB" for name, size in manifest["sizes"].items())
    print(f"Kit ready in {args.kit}: {manifest['total_bytes'] / 2**20:.1f} MiB ({sizes}).")
    print("On a GPU machine, from the repository's root (device `run`: carry the kit folder, timeout_s 600):")
    print(f"  {manifest['command']}")
    if args.kit.resolve().parent != kit_prep.ROOT:
        print(
            f"Note: the device carries only folders of the repository: prepare the kit in {kit_prep.ROOT / 'gpu-kit'} "
            "(git ignores it) for the command above to find it."
        )
    return 0


def _run(args: argparse.Namespace) -> int:
    only = {name.strip() for name in args.only.split(",")} if args.only else None
    if args.cpu_dry_run:
        if args.model is None or not args.model.is_file():
            print("The CPU dry run needs --model: a small gpt-oss GGUF.", file=sys.stderr)
            return 2
        if args.work is None:
            print("The CPU dry run needs --work: a folder for its replicas.", file=sys.stderr)
            return 2
    kit = args.kit or _own_kit()
    if args.build and not (args.cpu_dry_run and kit):
        print("--build goes with --cpu-dry-run and a kit (--kit DIR).", file=sys.stderr)
        return 2
    work = args.work or (kit.resolve().parent / f"{kit.resolve().name}-work" if kit else None)
    if work is None:
        print("Give --kit (the kit's folder) or --work.", file=sys.stderr)
        return 2
    results = run(
        args.out.resolve(),
        kit=kit.resolve() if kit else None,
        work=work.resolve(),
        budget_s=args.budget_s,
        quick=args.quick,
        only=only,
        dry_run_model=args.model.resolve() if args.cpu_dry_run else None,
        cpu_build=args.cpu_dry_run and args.build,
    )
    print((args.out / "gpu-check.md").read_text(encoding="utf-8"))
    return 1 if results["errors"] else 0


def _own_kit() -> Path | None:
    """The kit this copy of the code came in (``KIT/moss/tools/gpu_check``), if it is one."""
    kit = Path(__file__).resolve().parents[3]
    return kit if (kit / "KIT.json").is_file() else None


def _child(args: argparse.Namespace) -> int:
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)  # llama.cpp's debug lines are collected, not printed (device_memory.py)
    logging.basicConfig(level=logging.WARNING, handlers=[handler], format="%(levelname)s %(name)s: %(message)s")
    if args.task == "selfcheck":
        return _selfcheck()
    if args.task == "replicas":
        _replicas(args.into, [s for s in args.sizes.split(",") if s], set(args.live.split(",")), args.result)
        return 0
    from .cases import Case
    from .measure import measure_case

    measure_case(Case.from_json(json.loads(args.spec)), args.model, args.result)
    return 0


def _replicas(into: Path, sizes: list[str], live: set[str], result: Path) -> None:
    from app.devtools.replicas import write_gpt_oss_replica

    written = {}
    for size in sizes:
        if size not in REPLICAS:
            raise SystemExit(f"No replica of gpt-oss-{size}: there are {', '.join(REPLICAS)}.")
        started = time.perf_counter()
        path = write_gpt_oss_replica(into / f"gpt-oss-{size}-replica.gguf", size, live=size in live)  # type: ignore[arg-type]
        stat = path.stat()
        written[size] = {
            "path": str(path),
            "live": size in live,
            "seconds": round(time.perf_counter() - started, 2),
            "size_bytes": stat.st_size,
            "disk_bytes": getattr(stat, "st_blocks", 0) * 512,
        }
    result.write_text(json.dumps(written, indent=1), encoding="utf-8")


# What the GPU machine has for the run's imports: its image (numpy, psutil, PyYAML, tqdm, requests) and the kit's
# wheels; llama_cpp is the kit's build. Anything else the run imports would fail there.
_ON_THE_GPU_MACHINE = {"numpy", "psutil", "yaml", "tqdm", "requests", "llama_cpp"} | {
    "gguf",
    "diskcache",
    "jinja2",
    "markupsafe",
    "typing_extensions",
}
_UPPER_LAYERS = ("app.qt", "app.ui", "app.hub", "app.storage", "app.platform", "app.cli", "app.tools")


def _selfcheck() -> int:
    """Import what the run imports; print whether it all came from this folder and needs nothing the GPU
    machine lacks (prepare.check_code runs this in the kit's copy)."""
    from app.devtools import bench_baseline, replicas  # noqa: F401  (imported to be checked)

    from . import build, measure, report, speed  # noqa: F401

    here = Path.cwd().resolve()
    loaded = dict(sys.modules)
    third_party = {name.split(".")[0] for name in loaded} - set(sys.stdlib_module_names) - {"app", "tools"}
    foreign = sorted(
        n for n in third_party if not n.startswith("_") and n not in _ON_THE_GPU_MACHINE | {"cython_runtime"}
    )
    foreign += sorted(n for n in loaded if n.startswith(_UPPER_LAYERS))
    outside = sorted(
        name
        for name, module in loaded.items()
        if name.split(".")[0] in ("app", "tools")
        and getattr(module, "__file__", None)
        and not Path(module.__file__ or "").resolve().is_relative_to(here)
    )
    ok = not foreign and not outside
    print(json.dumps({"ok": ok, "foreign": foreign, "outside": outside, "modules": len(loaded)}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
