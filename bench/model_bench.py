"""What Moss adds to llama.cpp's speed, KV-cache reuse across turns, start-up and idle memory, over several runs.

    .venv/bin/python bench/model_bench.py --model PATH [--runs 2] [--tokens 128] [--repeat 10] [--turns 10]
                                          [--json]

Runs `moss bench --model PATH --json` (app/devtools/bench_model.py) as a separate process each time and prints one
row per run and the medians, then the conversation replay of the last run. Targets (SmolLM2 on a CPU):
engine >= 0.97 and gui >= 0.95 of the bare llama-cpp-python loop's tokens/s, start-up <= 1.5 s, idle memory
<= 200 MB; from the second turn on, only the new text is evaluated.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("baseline_tps", "engine_tps", "gui_tps", "engine_ratio", "gui_ratio", "startup_s", "idle_rss_mb")


def run_once(model: str, tokens: int, repeat: int, turns: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="moss-bench-") as data:
        out = subprocess.run(
            [sys.executable, "-m", "app", "--data-dir", data, "bench", "--model", model, "--json",
             "--tokens", str(tokens), "--repeat", str(repeat), "--turns", str(turns)],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
    if out.returncode != 0:
        sys.exit(f"moss bench failed (exit code {out.returncode}):\n{out.stderr}")
    figures: dict[str, Any] = json.loads(out.stdout)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, metavar="PATH", help="the GGUF model to measure")
    parser.add_argument("--runs", type=int, default=2, help="fresh processes of `moss bench` (2)")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    runs = [run_once(args.model, args.tokens, args.repeat, args.turns) for _ in range(args.runs)]
    if args.json:
        print(json.dumps({"runs": runs}))
        return 0
    last = runs[-1]
    machine = last["machine"]
    print(
        f"{Path(args.model).name}: {last['generated_tokens']} tokens after a {last['prompt_tokens']}-token prompt, "
        f"greedy, {args.repeat} alternating repetitions a run; {machine['cpu']}, {machine['cpus']} CPUs, "
        f"{machine['n_threads']} llama.cpp threads, llama-cpp-python {machine['llama_cpp_python']}"
    )
    print("run     " + "".join(f"{name:>14}" for name in COLUMNS) + "   same output")
    for number, run in enumerate(runs, 1):
        print(f"{number:<8}" + "".join(f"{run[name]:>14g}" for name in COLUMNS) + f"   {run['same_output']}")
    print("median  " + "".join(f"{statistics.median(r[n] for r in runs):>14g}" for n in COLUMNS))
    print("\nturn  prompt tokens  evaluated  time to first token (last run)")
    for number, turn in enumerate(last["turns"], 1):
        ttft = f"{turn['ttft_s'] * 1000:.0f} ms" if turn["ttft_s"] is not None else "-"
        print(f"{number:>4}  {turn['prompt_tokens']:>13,}  {turn['evaluated_tokens']:>9,}  {ttft:>19}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
