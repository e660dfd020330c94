"""Conversation history without Qt. v1 keeps it in memory; issue 6 brings the SQLite store."""
