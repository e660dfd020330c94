"""The history in the window: conversations persist across restarts with their versions and reasoning,
search opens the hit, delete can be undone, export and import work, long chats open at their end.

A real model thread runs the tiny gpt-oss model with scripted replies (tests/helpers/scripted.py), over a
real SQLite history in a temporary data folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QPushButton
from pytestqt.qtbot import QtBot

from app.core.errors import UserError
from app.core.history import MessageStatus
from app.core.settings import Settings
from app.core.types import FinishReason, Role
from app.platform.paths import AppPaths
from app.qt.engine_worker import EngineController
from app.storage.history import HistoryStore
from app.ui.chat.history import EARLIER_STEP, WINDOW
from app.ui.chat.items import ChatItem
from app.ui.main_window import MainWindow
from tests.helpers.chatgpt_export import trip_conversation, write_export
from tests.helpers.gui import TIMEOUT_MS, open_window, say
from tests.helpers.scripted import ScriptedEngine, answer
from tests.storage.test_crash_safety import chats, smash_a_leaf_of


@pytest.fixture
def controller(scripted_controller: EngineController) -> EngineController:
    return scripted_controller  # replies follow engine.script


def shown(window: MainWindow) -> list[str]:
    return [b.text for b in window.chat_view.items]


def version(item: ChatItem) -> str:
    return f"{item.sibling_index + 1}/{item.sibling_count}"


def click_action(qtbot: QtBot, window: MainWindow, index: int, name: str) -> None:
    """Click one of a shown message's actions with the mouse, as a person would."""
    view = window.chat_view
    item = view.items[index]
    view.scrollTo(view.model_.index_of(item))
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
    assert version(window.chat_view.items[1]) == "2/2"
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
    assert version(window.chat_view.items[0]) == "2/2"
    assert "Name a fruit" not in engine.prompts[-1]  # the edited branch does not see the old question
    click_action(qtbot, window, 0, "previous")  # back to the fruit, Apple branch remembered
    assert shown(window) == ["Name a fruit", "Apple.", "Another?", "Pear."]
    window.close()

    # A new window over the same history: the chat is listed, opens on the branch last chosen, with reasoning.
    again = open_window(qtbot, paths, controller)
    assert again.current_id is None and again.chat_view.items == []
    item = again.sidebar.item_for(conversation_id)
    assert item is not None and item.text() == "Name a fruit"
    again.conversation_list.setCurrentItem(item)
    assert shown(again) == ["Name a fruit", "Apple.", "Another?", "Pear."]
    assert again.chat_view.items[1].thinking.text == "Pick a common one."
    assert version(again.chat_view.items[1]) == "1/2"


# A reply that thinks, then tries a tool: <|call|> ends it, with no answer text.
TOOL_CALL = (
    "<|channel|>analysis<|message|>They want the weather.<|end|>"
    '<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Paris"}'
    "<|call|>"
)


def test_a_reply_reads_the_same_when_it_finishes_and_when_its_chat_is_reopened(
    qtbot: QtBot, paths: AppPaths, controller: EngineController, engine: ScriptedEngine, tiny_gpt_oss: Path
) -> None:
    """The line under a reply and its tooltip, with what only the finished reply knew (messages left out to
    fit the context, a tool it tried), are the same live and after a restart: both come from the history."""
    window = open_window(qtbot, paths, controller, tiny_gpt_oss, Settings(context_length=1024, max_tokens=200))
    store = window.store
    conversation_id = store.create_conversation(model="tiny").id
    parent = None
    for n in range(12):  # far longer than the context: the oldest exchanges must be left out
        question = store.add_message(conversation_id, parent, Role.USER, f"Tell me fact {n}. " + "Why? " * 40)
        parent = store.add_message(conversation_id, question.id, Role.ASSISTANT, f"Fact {n}. " + "Because. " * 40).id
    window.open_conversation(conversation_id)
    engine.script.append(TOOL_CALL)
    with qtbot.waitSignal(controller.reply_finished, timeout=TIMEOUT_MS) as finished:
        window.send_message("What is the weather in Paris?")
    result = finished.args[1]
    assert result.dropped_messages > 0 and result.tool_calls == ('functions.get_weather({"city":"Paris"})',)
    live = window.chat_view.items[-1]
    assert f"{result.dropped_messages} earlier messages left out to fit the context" in live.meta
    assert 'tried to use a tool, which Moss does not offer yet: functions.get_weather({"city":"Paris"})' in live.meta
    assert f"Left out to fit the context: {result.dropped_messages} earlier messages" in live.details
    assert "Tools it tried to use" in live.details and "Ended: finished" in live.details
    window.close()

    again = open_window(qtbot, paths, controller)
    again.open_conversation(conversation_id)
    reopened = again.chat_view.items[-1]
    assert (reopened.meta, reopened.details) == (live.meta, live.details)
    assert reopened.thinking.text == "They want the weather."


class FailingEngine(ScriptedEngine):
    """A real engine that fails part-way through a reply, as one can (memory gone, a device lost): the pieces of
    answer before the ``fail_at``-th reach the window, then generating raises (never when it is negative)."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.fail_at = fail_at

    def generate(self, messages: Any, params: Any = None, **options: Any) -> Any:
        forward = options["on_delta"]
        pieces = 0

        def on_delta(delta: Any) -> None:
            nonlocal pieces
            if delta.kind == "content":
                if pieces == self.fail_at:
                    raise UserError("The model stopped: the graphics card ran out of memory.")
                pieces += 1
            forward(delta)

        return super().generate(messages, params, **(options | {"on_delta": on_delta}))


@pytest.mark.parametrize("fail_at", [3, 0])
def test_a_reply_that_fails_is_kept_as_failed_or_leaves_no_trace(
    qtbot: QtBot, paths: AppPaths, tiny_gpt_oss: Path, fail_at: int
) -> None:
    """What arrived of a failed reply is stored with the ERROR ending and reads the same after a restart; a reply
    that failed before its first word is removed, on screen as in the history. The error itself is shown."""
    engine = FailingEngine(fail_at=-1)  # the greeting goes through whole
    controller = EngineController(engine=engine)
    try:
        window = open_window(qtbot, paths, controller, tiny_gpt_oss)
        say(qtbot, window, controller, engine, "Hi", answer("Hello."))
        conversation_id = window.current_id
        assert conversation_id is not None
        engine.script.append(answer("One two three four five six seven eight."))
        engine.fail_at = fail_at
        with qtbot.waitSignal(controller.reply_failed, timeout=TIMEOUT_MS):
            window.send_message("Count")
        assert window.error_banner.isVisible() and "ran out of memory" in window.error_banner.text
        last = window.store.path(conversation_id)[-1]
        if fail_at == 0:
            assert last.role == Role.USER and shown(window)[-1] == "Count"
            return
        assert last.role == Role.ASSISTANT and last.content and last.facts.finish_reason is FinishReason.ERROR
        live = window.chat_view.items[-1]
        assert live.text == last.content and "failed before it finished" in live.meta
        window.close()

        again = open_window(qtbot, paths, controller)
        again.open_conversation(conversation_id)
        reopened = again.chat_view.items[-1]
        assert (reopened.text, reopened.meta, reopened.details) == (live.text, live.meta, live.details)
    finally:
        controller.shutdown()


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
    assert last.facts.finish_reason == FinishReason.CANCELLED
    assert last.status == MessageStatus.COMPLETE and "stopped" in window.chat_view.items[-1].meta

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
    item = next(b for b in window.chat_view.items if "lighthouse" in b.text)
    qtbot.waitUntil(lambda: item.found, timeout=2000)
    assert window.chat_view.verticalScrollBar().value() < window.chat_view.verticalScrollBar().maximum()


def test_a_long_conversation_opens_at_its_end_and_shows_earlier_on_request(
    qtbot: QtBot, paths: AppPaths, controller: EngineController
) -> None:
    store = HistoryStore.open(paths.history_file)
    long_id = fill(store, "Marathon", *[f"message {i}" for i in range(1000)])
    store.close()
    window = open_window(qtbot, paths, controller)
    window.open_conversation(long_id)
    assert len(window.chat_view.items) == WINDOW
    assert window.chat_view.items[-1].text == "message 999"
    view = window.chat_view
    assert view.earlier_count == 1000 - WINDOW
    first_row = view.model().index(0, 0)
    assert first_row.data(Qt.ItemDataRole.AccessibleTextRole) == f"Show earlier messages ({1000 - WINDOW:,})"
    view.scrollToTop()
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(first_row).center())
    assert (
        len(window.chat_view.items) == WINDOW + EARLIER_STEP
        and window.chat_view.items[0].text == f"message {1000 - WINDOW - EARLIER_STEP}"
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


def test_the_speed_in_the_status_bar_follows_the_version_shown(
    qtbot: QtBot, paths: AppPaths, controller: EngineController, engine: ScriptedEngine, tiny_gpt_oss: Path
) -> None:
    window = open_window(qtbot, paths, controller, tiny_gpt_oss)
    say(qtbot, window, controller, engine, "Name a fruit", answer("Apple."))
    engine.script.append(answer("Banana."))
    with qtbot.waitSignal(controller.reply_finished, timeout=TIMEOUT_MS):
        click_action(qtbot, window, 1, "regenerate")
    store = window.store
    speeds = {}
    for name in ("previous", "next"):
        item = window.chat_view.items[1]
        facts = store.message(item.message_id).facts if item.message_id is not None else None
        assert facts is not None and facts.tokens_per_second
        speeds[item.text] = f"{facts.tokens_per_second:.1f} tokens/s"
        assert window.speed_label.text() == speeds[item.text]  # the speed of the reply on screen
        click_action(qtbot, window, 1, name)
    assert set(speeds) == {"Apple.", "Banana."}
    assert window.speed_label.text() == speeds["Banana."]


def test_damage_found_at_start_is_told_in_a_banner_until_dont_show_again(
    qtbot: QtBot, paths: AppPaths, controller: EngineController
) -> None:
    """A history damaged past its first pages is recovered at the window's start (tests/storage has the
    details); the banner saying so comes back at every start until "Don't show again"."""
    chats(paths.history_file, 12)
    smash_a_leaf_of(paths.history_file, "messages")
    window = open_window(qtbot, paths, controller)
    banner = window.history_banner
    assert banner.isVisible() and "recovered 12 conversations" in banner.text
    assert window.conversation_list.count() >= 12
    window.close()

    again = open_window(qtbot, paths, controller)
    assert again.history_banner.isVisible()  # not dismissed yet: told again
    [dismiss] = [b for b in again.history_banner.findChildren(QPushButton) if b.text() == "Don't show again"]
    qtbot.mouseClick(dismiss, Qt.MouseButton.LeftButton)
    assert not again.history_banner.isVisible() and again.store.notices == ()
    again.close()

    quiet = open_window(qtbot, paths, controller)
    assert not quiet.history_banner.isVisible()
