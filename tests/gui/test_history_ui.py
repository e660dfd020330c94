"""The history in the window: conversations persist across restarts with their versions and reasoning,
search opens the hit, delete can be undone, export and import work, long chats open at their end.

A real model thread runs the tiny gpt-oss model with scripted replies (tests/helpers/scripted.py), over a
real SQLite history in a temporary data folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from app.core.history import MessageStatus
from app.core.settings import Settings
from app.core.types import Role
from app.platform.paths import AppPaths
from app.qt.engine_worker import EngineController
from app.storage.history import HistoryStore
from app.ui.app import build_main_window
from app.ui.chat.items import ChatItem
from app.ui.chat.history import EARLIER_STEP, WINDOW
from app.ui.main_window import MainWindow
from tests.helpers.chatgpt_export import trip_conversation, write_export
from tests.helpers.scripted import ScriptedEngine, answer

TIMEOUT_MS = 60_000
SETTINGS = Settings(context_length=2048, max_tokens=200)


@pytest.fixture
def controller(scripted_controller: EngineController) -> EngineController:
    return scripted_controller  # replies follow engine.script


def open_window(
    qtbot: QtBot,
    paths: AppPaths,
    controller: EngineController,
    model: Path | None = None,
    settings: Settings = SETTINGS,
) -> MainWindow:
    window = build_main_window(paths, settings, controller)
    qtbot.addWidget(window)
    window.show()
    if model is not None and controller.model is None:
        with qtbot.waitSignal(controller.model_loaded, timeout=TIMEOUT_MS):
            window.load_model(str(model))
    return window


def say(
    qtbot: QtBot, window: MainWindow, controller: EngineController, engine: ScriptedEngine, text: str, reply: str
) -> None:
    engine.script.append(reply)
    with qtbot.waitSignal(controller.reply_finished, timeout=TIMEOUT_MS):
        window.send_message(text)


def shown(window: MainWindow) -> list[str]:
    return [b.text for b in window.chat_view.bubbles]


def version(item: ChatItem) -> str:
    return f"{item.sibling_index + 1}/{item.sibling_count}"


def click_action(qtbot: QtBot, window: MainWindow, index: int, name: str) -> None:
    """Click one of a shown message's actions with the mouse, as a person would."""
    view = window.chat_view
    item = view.bubbles[index]
    view.scrollTo(view.model().index(view.model_.items.index(item), 0))
    point = view.action_point(item, name)
    assert point is not None, f"no {name} on message {index}"
    qtbot.mouseMove(view.viewport(), point)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)


def test_a_conversation_with_versions_and_reasoning_survives_a_restart(
    qtbot: QtBot, paths: AppPaths, controller: EngineController, engine: ScriptedEngine, tiny_gpt_oss: Path
) -> None:
    window = open_window(qtbot, paths, controller, tiny_gpt_oss)
    say(qtbot, window, controller, engine, "Name a fruit", answer("Apple.", "Pick a common one."))
    say(qtbot, window, controller, engine, "Another?", answer("Pear."))
    conversation_id = window.current_id
    assert conversation_id is not None

    # Regenerate the first reply: a second version beside it, shown as 2/2, and the turns after it are gone.
    engine.script.append(answer("Banana."))
    with qtbot.waitSignal(controller.reply_finished, timeout=TIMEOUT_MS):
        click_action(qtbot, window, 1, "regenerate")
    assert shown(window) == ["Name a fruit", "Banana."]
    assert version(window.chat_view.bubbles[1]) == "2/2"
    # "<" brings back Apple and the rest of that branch.
    click_action(qtbot, window, 1, "previous")
    assert shown(window) == ["Name a fruit", "Apple.", "Another?", "Pear."]

    # Edit the question: the new version is a sibling of the old one, answered anew.
    click_action(qtbot, window, 0, "edit")
    assert window.composer.toPlainText() == "Name a fruit" and window.edit_hint.isVisible()
    window.composer.setPlainText("Name a vegetable")
    engine.script.append(answer("Carrot."))
    with qtbot.waitSignal(controller.reply_finished, timeout=TIMEOUT_MS):
        window.send_button.click()
    assert shown(window) == ["Name a vegetable", "Carrot."]
    assert version(window.chat_view.bubbles[0]) == "2/2"
    assert "Name a fruit" not in engine.prompts[-1]  # the edited branch does not see the old question
    click_action(qtbot, window, 0, "previous")  # back to the fruit, Apple branch remembered
    assert shown(window) == ["Name a fruit", "Apple.", "Another?", "Pear."]
    window.close()

    # A new window over the same history: the chat is listed, opens on the branch last chosen, with reasoning.
    again = open_window(qtbot, paths, controller)
    assert again.current_id is None and again.chat_view.bubbles == []
    item = again.sidebar.item_for(conversation_id)
    assert item is not None and item.text() == "Name a fruit"
    again.conversation_list.setCurrentItem(item)
    assert shown(again) == ["Name a fruit", "Apple.", "Another?", "Pear."]
    assert again.chat_view.bubbles[1].thinking.text == "Pick a common one."
    assert version(again.chat_view.bubbles[1]) == "1/2"


def test_a_stopped_reply_is_kept_with_what_it_had_and_an_empty_one_leaves_no_trace(
    qtbot: QtBot, paths: AppPaths, controller: EngineController, engine: ScriptedEngine, tiny_gpt_oss: Path
) -> None:
    # Room for a long reply, so that it is Escape that ends it and never the length limit.
    window = open_window(qtbot, paths, controller, tiny_gpt_oss, Settings(context_length=4096, max_tokens=3000))
    say(qtbot, window, controller, engine, "Hi", answer("Hello."))
    store = window.store
    conversation_id = window.current_id
    assert conversation_id is not None
    engine.script.append(answer("word " * 1500))

    def press_escape(*_args: object) -> None:  # as soon as the first words show, not after a race
        controller.reply_chunk.disconnect(press_escape)
        QTest.keyClick(window.composer, Qt.Key.Key_Escape)

    controller.reply_chunk.connect(press_escape)
    with qtbot.waitSignal(controller.reply_finished, timeout=TIMEOUT_MS):
        window.send_message("Count words")
    last = store.path(conversation_id)[-1]
    assert last.role == Role.ASSISTANT and last.content and ("word " * 1500).startswith(last.content)
    assert last.finish_reason == "cancelled"
    assert last.status == MessageStatus.COMPLETE and "stopped" in window.chat_view.bubbles[-1].meta

    engine.script.append(answer("never seen"))
    window.send_message("Again")
    window._controller.stop()  # stop before the first word
    qtbot.waitUntil(lambda: not controller.busy, timeout=TIMEOUT_MS)
    assert [m.content for m in store.path(conversation_id)][-1] in ("Again", "never seen")
    assert all(m.status != MessageStatus.STREAMING for m in store.all_messages(conversation_id))


def fill(store: HistoryStore, title: str, *turns: str, reasoning: str | None = None) -> int:
    info = store.create_conversation()
    parent = None
    for i, text in enumerate(turns):
        role = Role.USER if i % 2 == 0 else Role.ASSISTANT
        parent = store.add_message(
            info.id, parent, role, text, reasoning=reasoning if role == Role.ASSISTANT else None
        ).id
    store.rename(info.id, title)
    return info.id


def test_search_opens_the_conversation_at_the_hit_and_ctrl_k_focuses_it(
    qtbot: QtBot, paths: AppPaths, controller: EngineController
) -> None:
    store = HistoryStore.open(paths.history_file)
    filler = [f"line {i} about nothing much" for i in range(200)]
    target = fill(store, "Long talk", *filler[:50], "The lighthouse keeper fed the gulls.", *filler[50:])
    fill(store, "Other", "Where is the lighthouse?", "On the cliff.")
    store.close()
    window = open_window(qtbot, paths, controller)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    QTest.keyClick(window.composer, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    assert window.sidebar.search_field.hasFocus()
    QTest.keyClicks(window.sidebar.search_field, "lighthou")  # a word still being typed
    results = window.sidebar.results_list
    qtbot.waitUntil(lambda: results.count() == 2, timeout=5000)
    assert window.sidebar.results_hint.text() == "2 conversations"
    labels = [results.itemWidget(results.item(i)).text() for i in range(2)]
    assert any("<b>lighthouse</b>" in label for label in labels)
    row = next(i for i in range(2) if results.item(i).data(Qt.ItemDataRole.UserRole) == target)
    results.itemClicked.emit(results.item(row))
    # The hit is 150 messages from the end: more than a first screen, so the window grew to include it.
    assert window.current_id == target
    bubble = next(b for b in window.chat_view.bubbles if "lighthouse" in b.text)
    qtbot.waitUntil(lambda: bubble.found, timeout=2000)
    assert window.chat_view.verticalScrollBar().value() < window.chat_view.verticalScrollBar().maximum()


def test_a_long_conversation_opens_at_its_end_and_shows_earlier_on_request(
    qtbot: QtBot, paths: AppPaths, controller: EngineController
) -> None:
    store = HistoryStore.open(paths.history_file)
    long_id = fill(store, "Marathon", *[f"message {i}" for i in range(1000)])
    store.close()
    window = open_window(qtbot, paths, controller)
    window.open_conversation(long_id)
    assert len(window.chat_view.bubbles) == WINDOW
    assert window.chat_view.bubbles[-1].text == "message 999"
    view = window.chat_view
    assert view.earlier_count == 1000 - WINDOW
    first_row = view.model().index(0, 0)
    assert first_row.data(Qt.ItemDataRole.AccessibleTextRole) == f"Show earlier messages ({1000 - WINDOW:,})"
    view.scrollToTop()
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(first_row).center())
    assert (
        len(window.chat_view.bubbles) == WINDOW + EARLIER_STEP
        and window.chat_view.bubbles[0].text == f"message {1000 - WINDOW - EARLIER_STEP}"
    )


def test_rename_pin_delete_undo_export_and_import(
    qtbot: QtBot, paths: AppPaths, controller: EngineController, tmp_path: Path
) -> None:
    store = HistoryStore.open(paths.history_file)
    first = fill(store, "Alpha", "a question", "an answer", reasoning="because")
    second = fill(store, "Beta", "b question", "b answer")
    store.close()
    window = open_window(qtbot, paths, controller)
    sidebar = window.sidebar
    assert sidebar.conversation_ids() == [second, first]

    item = sidebar.item_for(first)
    assert item is not None
    item.setText("Renamed alpha")  # what inline editing (F2, or Rename in the menu) ends with
    assert window.store.conversation(first).title == "Renamed alpha"
    next(a for a in sidebar.context_menu(first).actions() if a.text() == "Pin to top").trigger()
    assert sidebar.conversation_ids() == [first, second]
    assert sidebar.conversation_list.item(0).text() == "Pinned"

    window.open_conversation(second)
    next(a for a in sidebar.context_menu(second).actions() if a.text() == "Delete").trigger()
    assert sidebar.conversation_ids() == [first] and window.current_id is None
    assert window.undo_banner.isVisible() and "Beta" in window.undo_banner.text
    window.undo_banner.action_triggered.emit("undo")
    assert set(sidebar.conversation_ids()) == {first, second} and window.current_id == second

    target = tmp_path / "alpha.md"
    window.history.choose_save_path = lambda _suggested, _filters: str(target)
    next(a for a in sidebar.context_menu(first).actions() if a.text() == "Export as Markdown…").trigger()
    qtbot.waitUntil(lambda: window.notice_banner.isVisible(), timeout=5000)
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# Renamed alpha") and "## You" in text and "<details>" in text and "because" in text

    export = write_export(tmp_path, [trip_conversation().data])
    window.history.choose_open_path = lambda _suggested, _filters: str(export)
    sidebar.import_requested.emit()
    qtbot.waitUntil(lambda: "Imported 1 conversation" in window.notice_banner.text, timeout=5000)
    assert len(sidebar.conversation_ids()) == 3

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"hello": "world"}), encoding="utf-8")
    window.history.choose_open_path = lambda _suggested, _filters: str(bad)
    sidebar.import_requested.emit()
    qtbot.waitUntil(lambda: window.error_banner.isVisible(), timeout=5000)
    assert "neither a Moss export nor ChatGPT" in window.error_banner.text
    assert len(sidebar.conversation_ids()) == 3

    # A chat deleted meanwhile from the command line: renaming it says so, and the window goes on.
    other = HistoryStore.open(paths.history_file, recover=False)
    other.delete(second)
    other.purge_deleted()
    other.close()
    item = sidebar.item_for(second)
    assert item is not None
    item.setText("Too late")
    assert "no conversation" in window.error_banner.text
    assert second not in sidebar.conversation_ids()

    window.close()  # deleted conversations go for good when the window closes; the rest stay
    store = HistoryStore.open(paths.history_file)
    assert store.count_conversations() == 2
