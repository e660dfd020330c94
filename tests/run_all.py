"""The whole test suite: lint, format check, type check, then pytest (which also checks the layers).

Run through ``python3 bootstrap.py test``; extra arguments go to pytest. Every step runs even when an
earlier one fails, so one run shows everything; the exit code is non-zero if any step failed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(pytest_args: list[str]) -> int:
    python = sys.executable
    steps = [
        ("ruff lint", [python, "-m", "ruff", "check", "."]),
        ("ruff format", [python, "-m", "ruff", "format", "--check", "."]),
        ("mypy", [python, "-m", "mypy"]),
        ("pytest", [python, "-m", "pytest", *pytest_args]),
    ]
    failed = []
    for name, cmd in steps:
        print(f"==> {name}: {' '.join(cmd[1:])}", flush=True)
        if subprocess.call(cmd, cwd=ROOT) != 0:
            failed.append(name)
    if failed:
        print(f"FAILED steps: {', '.join(failed)}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
