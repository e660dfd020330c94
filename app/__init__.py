"""Moss: chat with OpenAI's open-weight gpt-oss models on your own computer, fully offline."""

from __future__ import annotations

__version__ = "0.1.0"
APP_NAME = "Moss"
