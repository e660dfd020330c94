"""The actions on a message, as the keyboard and the context menu reach them (the mouse reaches them through the
buttons the painter draws under a message). The view runs them (``ChatView.run_action``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMenu

from app.core.types import Role
from app.ui.chat.items import ChatItem

if TYPE_CHECKING:
    from app.ui.chat.view import ChatView

# A key pressed (without modifiers) on the message with the keyboard focus, and the action it runs.
KEY_ACTIONS: dict[Qt.Key, str] = {
    Qt.Key.Key_Return: "edit",
    Qt.Key.Key_Enter: "edit",
    Qt.Key.Key_E: "edit",
    Qt.Key.Key_R: "regenerate",
    Qt.Key.Key_Delete: "delete",
    Qt.Key.Key_Left: "previous",
    Qt.Key.Key_Right: "next",
    Qt.Key.Key_C: "copy",
}


def message_menu(view: ChatView, item: ChatItem) -> QMenu:
    """Everything that can be done with a message, as a menu (the keyboard's way to every action). Actions that
    wait while a reply is being written are shown disabled then."""
    menu = QMenu(view)
    if view.selected_text():
        menu.addAction("Copy selection", view.copy_selection_or_message)
    menu.addAction("Copy message", lambda: view.run_action(item, "copy"))
    if not item.bound:
        return menu
    enabled = view.actions_enabled
    if item.role == Role.USER:
        menu.addAction("Edit and resend", lambda: view.run_action(item, "edit")).setEnabled(enabled)
    else:
        menu.addAction("Regenerate", lambda: view.run_action(item, "regenerate")).setEnabled(enabled)
    if item.sibling_count > 1:
        previous = menu.addAction("Previous version", lambda: view.run_action(item, "previous"))
        previous.setEnabled(enabled and item.sibling_index > 0)
        following = menu.addAction("Next version", lambda: view.run_action(item, "next"))
        following.setEnabled(enabled and item.sibling_index < item.sibling_count - 1)
    if item.thinking.visible:
        menu.addAction("Hide thinking" if item.thinking.expanded else "Show thinking", item.thinking.toggle)
    menu.addSeparator()
    menu.addAction("Delete…", lambda: view.run_action(item, "delete")).setEnabled(enabled)
    return menu
