"""The chat: its painted view, message items, Markdown, the composer and the session that sends and streams."""
