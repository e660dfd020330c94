"""The settings window and its panes (Models, Inference, Chat, Appearance, Privacy, About)."""
