"""How long the window's event loop stalls while a fast reply streams into a long chat, over several runs.

    .venv/bin/python bench/ui_stall.py [--repeat 3] [--messages 500] [--tokens 1500] [--tokens-per-second 250]
                                       [--json]

Runs `moss bench ui --json` (app/devtools/bench_ui.py) as a separate process each time, so every run starts from
a fresh process as the app does, and prints one row per run and the medians. Targets: p99 stall < 33 ms (no
dropped frame at 30 fps), max stall < 100 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("max_stall_ms", "p99_stall_ms", "frames", "max_busy_ms", "p99_busy_ms", "gui_cpu_share", "tokens_per_second")


def run_once(messages: int, tokens: int, speed: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="moss-bench-") as data:
        out = subprocess.run(
            [sys.executable, "-m", "app", "--data-dir", data, "bench", "ui", "--json", "--messages", str(messages),
             "--tokens", str(tokens), "--tokens-per-second", str(speed)],
            cwd=ROOT, capture_output=True, text=True, check=True,
        )  # fmt: skip
    figures: dict[str, float] = json.loads(out.stdout)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--tokens", type=int, default=1500)
    parser.add_argument("--tokens-per-second", type=float, default=250.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    runs = [run_once(args.messages, args.tokens, args.tokens_per_second) for _ in range(args.repeat)]
    if args.json:
        print(json.dumps({"runs": runs}))
        return 0
    print(f"A {args.tokens:,}-token reply at {args.tokens_per_second:g} tokens/s into a {args.messages:,}-message chat")
    print("run     " + "".join(f"{name:>18}" for name in COLUMNS))
    for number, run in enumerate(runs, 1):
        print(f"{number:<8}" + "".join(f"{run[name]:>18}" for name in COLUMNS))
    print("median  " + "".join(f"{statistics.median(r[n] for r in runs):>18g}" for n in COLUMNS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
