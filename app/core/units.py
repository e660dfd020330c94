"""Sizes and durations in words people read: ``12.1 GB``, ``98.4 MB``, ``3 min``."""

from __future__ import annotations


def format_size(n: int) -> str:
    """Decimal units, as disks and the Hub state sizes."""
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def format_duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"
