"""Widgets only. They talk to the engine through app.qt controllers, never directly."""
