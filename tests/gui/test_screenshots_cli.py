"""`moss screenshots DIR --theme light|dark`, run as a real process: every scene a real, non-blank PNG."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from app.devtools.screenshots import SCENES

ROOT = Path(__file__).resolve().parents[2]
# Scenes whose piece of the app may not exist yet: they may say "skip", never fail.
MAY_SKIP = {"settings-inference", "settings-models"}


def grey_levels(image: QImage, step: int = 12) -> list[int]:
    """The lightness (0..255) of a grid of pixels."""
    return [
        image.pixelColor(x, y).lightness()
        for y in range(0, image.height(), step)
        for x in range(0, image.width(), step)
    ]


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_screenshots_are_real_pictures(tmp_path: Path, theme: str, qapp: QApplication) -> None:
    out = tmp_path / "shots"
    result = subprocess.run(
        [sys.executable, "-m", "app", "--data-dir", str(tmp_path / "data"), "screenshots", str(out), "--theme", theme],
        cwd=ROOT, env=dict(os.environ, PYTHONUNBUFFERED="1"), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""  # no Qt warning ("moss: Qt warned: ..."), no error
    lines = result.stdout.splitlines()
    skipped = {line.split()[1].rstrip(":") for line in lines if line.startswith("skip")}
    assert skipped <= {f"{name}-{theme}" for name in MAY_SKIP}, result.stdout
    expected = {f"{name}-{theme}.png" for name, _ in SCENES} - {f"{name}.png" for name in skipped}
    assert {p.name for p in out.iterdir()} == expected
    assert {Path(line).name for line in lines if line.endswith(".png")} == expected
    for path in sorted(out.iterdir()):
        image = QImage(str(path))
        assert not image.isNull(), path
        assert image.width() >= 900 and image.height() >= 600, path
        levels = grey_levels(image)
        assert statistics.pstdev(levels) > 8, f"{path.name} is nearly blank"
        assert len(set(levels)) > 12, f"{path.name} has almost no detail"
        background = statistics.mean(levels)
        assert (background > 128) == (theme == "light"), f"{path.name} is not in the {theme} theme"
