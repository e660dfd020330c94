"""Moved to `moss screenshots DIR` (app/devtools/screenshots.py); kept so `python tools/screenshots.py [DIR]` works."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from app.__main__ import main  # noqa: E402

sys.exit(main(["screenshots", sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "docs" / "screenshots")]))
