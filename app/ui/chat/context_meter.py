"""How much of the model's context the conversation uses: "2.1k / 32k" with a thin bar, and a warning level."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.ui.theme import colours, is_dark

WARN_AT = 0.85  # from here on the meter turns amber and the window offers a new chat
FULL_AT = 0.97


def short_count(n: int) -> str:
    if n < 1000:
        return str(n)
    if n < 10_000:
        return f"{n / 1000:.1f}k"
    return f"{round(n / 1000)}k"


class ContextMeter(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("contextMeter")
        self.setAccessibleName("Context used")
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.used = 0
        self.total = 0
        self.set_usage(0, 0)

    @property
    def fraction(self) -> float:
        return min(1.0, self.used / self.total) if self.total else 0.0

    @property
    def level(self) -> str:
        """ok | warn | full"""
        if self.fraction >= FULL_AT:
            return "full"
        return "warn" if self.fraction >= WARN_AT else "ok"

    @property
    def text(self) -> str:
        return f"{short_count(self.used)} / {short_count(self.total)}" if self.total else ""

    def set_usage(self, used: int, total: int) -> None:
        self.used, self.total = max(0, used), max(0, total)
        self.setVisible(total > 0)
        percent = round(self.fraction * 100)
        self.setToolTip(
            f"This conversation uses {self.used:,} of the model's {self.total:,}-token context ({percent}%). "
            "When it is full, Moss leaves the oldest messages out of what the model sees."
        )
        self.setAccessibleDescription(f"{percent} percent of the context used")
        self.updateGeometry()
        self.update()

    def sizeHint(self) -> QSize:
        metrics = self.fontMetrics()
        return QSize(metrics.horizontalAdvance("00.0k / 000k") + 46, metrics.height() + 6)

    def paintEvent(self, event: QPaintEvent) -> None:
        theme = colours("dark" if is_dark(self.palette()) else "light")
        fill = {"ok": theme["accent"], "warn": "#c98a1b", "full": "#c4473a"}[self.level]
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        bar = QRectF(0, (self.height() - 6) / 2, 36, 6)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(theme["border"]))
        painter.drawRoundedRect(bar, 3, 3)
        painter.setBrush(QColor(fill))
        painter.drawRoundedRect(QRectF(bar.x(), bar.y(), max(3.0, bar.width() * self.fraction), bar.height()), 3, 3)
        painter.setPen(QColor(theme["muted"]) if self.level == "ok" else QColor(fill))
        text_rect = self.rect().adjusted(44, 0, 0, 0)
        painter.drawText(text_rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), self.text)
