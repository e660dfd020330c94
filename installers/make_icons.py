"""Draw resources/icons/moss.svg into the bitmap icons the installers need, with Qt's SVG renderer.

    python installers/make_icons.py [--out resources/icons]

writes ``moss.ico`` (Windows: the installer's and uninstaller's icon; 16 to 256 pixels in one file, so that
small sizes are drawn from the vector source rather than shrunk from a large bitmap) and ``moss.png`` (256
pixels: the Linux menu entry). Their output is checked in; run this again after changing moss.svg.

Qt writes .ico files with a single image, so the multi-size .ico is put together here: sizes up to 64 pixels as
32-bit bitmaps (what every Windows component reads), larger ones as PNG (Windows Vista and later).
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "resources" / "icons" / "moss.svg"
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
PNG_IN_ICO_FROM = 128  # larger images are stored as PNG inside the .ico
LINUX_PNG_SIZE = 256


def render(svg: Path, size: int) -> QImage:
    """The SVG drawn at ``size`` x ``size`` pixels on a transparent background (straight, not premultiplied)."""
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg} is not an SVG image Qt can draw")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    return image.convertToFormat(QImage.Format.Format_ARGB32)


def png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):  # type: ignore[call-overload]  # the stubs say bytes; Qt wants str
        raise RuntimeError("Qt could not encode a PNG image")
    return bytes(data.data())


def dib_bytes(image: QImage) -> bytes:
    """An .ico bitmap entry: BITMAPINFOHEADER, BGRA rows bottom-up, then an all-zero AND mask (alpha rules)."""
    size = image.width()
    header = struct.pack("<IiiHHIIiiII", 40, size, size * 2, 1, 32, 0, 0, 0, 0, 0, 0)
    # QImage.pixel() is 0xAARRGGBB; packed little-endian it is the B, G, R, A byte order of a 32-bit DIB.
    rows = [struct.pack(f"<{size}I", *(image.pixel(x, y) for x in range(size))) for y in range(size)]
    mask_row = bytes(((size + 31) // 32) * 4)
    return header + b"".join(reversed(rows)) + mask_row * size


def ico_bytes(svg: Path, sizes: Sequence[int] = ICO_SIZES) -> bytes:
    images = []
    for size in sizes:
        image = render(svg, size)
        images.append((size, png_bytes(image) if size >= PNG_IN_ICO_FROM else dib_bytes(image)))
    offset = 6 + 16 * len(images)
    directory = struct.pack("<HHH", 0, 1, len(images))
    for size, data in images:
        side = 0 if size >= 256 else size  # 0 means 256 in an .ico directory entry
        directory += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(data), offset)
        offset += len(data)
    return directory + b"".join(data for _, data in images)


def write_icons(out: Path, svg: Path = SOURCE) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    ico, png = out / "moss.ico", out / "moss.png"
    ico.write_bytes(ico_bytes(svg))
    png.write_bytes(png_bytes(render(svg, LINUX_PNG_SIZE)))
    return [ico, png]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Draw moss.svg into moss.ico and moss.png.")
    parser.add_argument("--out", type=Path, default=SOURCE.parent, help="folder for the icons (resources/icons)")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # no window is shown; works without a display
    app = QGuiApplication.instance() or QGuiApplication([])
    for path in write_icons(args.out):
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
