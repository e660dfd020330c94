"""Chatting in the conversation on screen: sending, the reply being written, and the actions on messages.

The history controller (app.ui.chat.history) decides which conversation is shown; this writes to it. A message
sent or a reply asked for is stored first, then the model thread is asked; the reply is stored as it streams
(app.ui.chat.streaming_reply) and shown in the chat view. Editing a message or regenerating a reply adds a sibling
(a new version), never overwrites; deleting removes a message with the replies built on it.

Signals: problem(text) for the error banner, problem_cleared(), changed() after a reply started or ended
(the window refreshes its state), reply_done(GenerationResult).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal, Slot

from app.core.history import MessageStatus, StoredMessage
from app.core.settings import Settings, generation_params
from app.core.types import FinishReason, GenerationResult, ReasoningEffort, Role
from app.qt.engine_worker import EngineController
from app.storage.history import HistoryStore
from app.ui.banner import Banner
from app.ui.chat.composer import Composer
from app.ui.chat.history import HistoryController
from app.ui.chat.streaming_reply import StreamingReply
from app.ui.chat.view import ChatView
from app.ui.models.picker import model_label

Confirm = Callable[[str, str, str], bool]  # (title, question, the button that says yes) -> yes


class ChatSession(QObject):
    problem = Signal(str)
    problem_cleared = Signal()
    changed = Signal()
    reply_done = Signal(object)

    def __init__(
        self,
        controller: EngineController,
        history: HistoryController,
        composer: Composer,
        edit_hint: Banner,
        settings: Callable[[], Settings],
        draft_effort: Callable[[], ReasoningEffort],
        confirm: Confirm,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._controller = controller
        self._history = history
        self._store: HistoryStore = history.store
        self._view: ChatView = history.chat_view
        self._composer = composer
        self._edit_hint = edit_hint
        self._settings = settings
        self._draft_effort = draft_effort
        self._confirm = confirm
        self.pending: StreamingReply | None = None
        self._editing: int | None = None  # the user message being edited (its new version will be a sibling)
        controller.reply_chunk.connect(self._on_reply_chunk)
        controller.reply_finished.connect(self._on_reply_finished)
        controller.reply_failed.connect(self._on_reply_failed)

    # -- sending --------------------------------------------------------------------------------------------

    def send(self, text: str) -> None:
        if self._controller.busy:
            return
        model = self._controller.model
        if model is None:
            self.problem.emit("No model is loaded yet. Pick a model below, or open a .gguf file (Ctrl+O).")
            return
        self.problem_cleared.emit()
        conversation_id = self._history.current_id
        if conversation_id is None:
            conversation_id = self._history.start_conversation(
                system_prompt=self._settings().system_prompt,
                reasoning_effort=self._draft_effort(),
                model=model_label(model.path),
            )
        editing, self._editing = self._editing, None
        self._edit_hint.hide()
        if editing is not None:
            parent = self._store.message(editing).parent_id
        else:
            parent = self._store.conversation(conversation_id).current_leaf_id
        user = self._store.add_message(conversation_id, parent, Role.USER, text)
        if editing is None:
            self._view.add_item(Role.USER, text).bind(user)
        self._composer.clear()
        self._start_reply(conversation_id, user.id, redraw=editing is not None)

    def _start_reply(self, conversation_id: int, parent_id: int, *, redraw: bool) -> None:
        """Ask the model for a reply to the path ending at ``parent_id``, stored as it streams."""
        model = self._controller.model
        assert model is not None
        info = self._store.conversation(conversation_id)
        snapshot = self._store.snapshot(conversation_id, through=parent_id)
        # The sampling the model's makers recommend unless the person chose their own.
        params = generation_params(self._settings(), model.default_params, info.reasoning_effort)
        reply = self._store.add_message(
            conversation_id, parent_id, Role.ASSISTANT, model=model_label(model.path), status=MessageStatus.STREAMING
        )
        request_id = self._controller.send(snapshot, params)
        self.pending = StreamingReply(self._store, self._history.write, request_id, conversation_id, reply.id)
        if redraw:
            self._history.show_current()  # the new branch replaces what was shown below the edit
        else:
            self.pending.item = self._view.add_item(Role.ASSISTANT)
            self.pending.item.bind(reply)
        self._history.refresh_list()
        self.changed.emit()

    def reattach(self) -> None:
        """The chat view was rebuilt: the reply still being written shows in it again, if it belongs there."""
        pending = self.pending
        if pending is None:
            return
        pending.item = None
        if pending.conversation_id != self._history.current_id:
            return
        item = self._view.item_for(pending.message_id)
        if item is not None:
            # The store has the text of the last save; the screen gets all of it.
            item.streaming = True
            item.set_text(pending.text)
            if pending.reasoning:
                item.thinking.resume(pending.reasoning, answering=bool(pending.text))
            pending.item = item

    def drop(self) -> None:
        """Forget the reply being written without saving it (its conversation is gone)."""
        self.pending = None

    def end(self) -> None:
        """The window closes before the model thread answers: keep what arrived of the reply, as stopped."""
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.end(FinishReason.CANCELLED)

    @Slot(str, str, str)
    def _on_reply_chunk(self, request_id: str, kind: str, text: str) -> None:
        pending = self.pending
        if pending is not None and pending.request_id == request_id:
            pending.add(kind, text)

    @Slot(str, object)
    def _on_reply_finished(self, request_id: str, result: GenerationResult) -> None:
        pending = self._take_pending(request_id)
        if pending is None:
            return
        self._show_ended(pending, pending.finish(result))
        if pending.conversation_id == self._history.current_id:
            self.reply_done.emit(result)
        self._history.refresh_list()  # the first reply may have improved the title
        self.changed.emit()

    @Slot(str, str)
    def _on_reply_failed(self, request_id: str, message: str) -> None:
        pending = self._take_pending(request_id)
        if pending is None:
            return
        self._show_ended(pending, pending.end(FinishReason.ERROR))
        self.problem.emit(message)
        self.changed.emit()

    def _take_pending(self, request_id: str) -> StreamingReply | None:
        """The reply being written, no longer pending, when ``request_id`` is its request (None for a request
        already forgotten: a reply dropped with its conversation, or ended as the window closed)."""
        pending = self.pending
        if pending is None or pending.request_id != request_id:
            return None
        self.pending = None
        return pending

    def _show_ended(self, pending: StreamingReply, stored: StoredMessage | None) -> None:
        """Show a reply that has ended as the history now holds it, details and all; when it is not there (it
        was removed before its first word, or could not be saved), show the conversation as stored."""
        if stored is None:
            if pending.conversation_id == self._history.current_id:
                self._history.show_current()
        elif pending.item is not None:
            pending.item.set_text(stored.content)
            pending.item.bind(stored)

    # -- versions: edit, regenerate, switch; delete -----------------------------------------------------------

    def switch_version(self, message_id: int, step: int) -> None:
        """ "<" or ">" on a message: show its previous or next alternative and the branch below it."""
        if self._controller.busy:
            return
        if self._history.write(lambda: self._store.switch_sibling(message_id, step)):
            self._history.show_current()

    def edit(self, message_id: int) -> None:
        """Put a sent message back in the composer; sending it adds a new version beside the old one."""
        if self._controller.busy:
            return
        self._editing = message_id
        self._composer.setPlainText(self._store.message(message_id).content)
        self._composer.moveCursor(self._composer.textCursor().MoveOperation.End)
        self._edit_hint.show_message(
            "Editing a message: Enter sends it as a new version (the old one is kept). Esc cancels."
        )
        self._composer.setFocus()

    def cancel_edit(self) -> None:
        if self._editing is None:
            return
        self._editing = None
        self._edit_hint.hide()
        self._composer.clear()

    def regenerate(self, message_id: int) -> None:
        """Write another reply to the same question, kept beside the earlier one(s)."""
        if self._controller.busy:
            return
        if self._controller.model is None:
            self.problem.emit("No model is loaded yet. Pick a model below, or open a .gguf file, to regenerate.")
            return
        reply = self._store.message(message_id)
        if reply.parent_id is None:
            return
        self.problem_cleared.emit()
        self._start_reply(reply.conversation_id, reply.parent_id, redraw=True)

    def edit_last(self) -> None:
        """Up in an empty message box: edit the last message you sent."""
        last = next((i for i in reversed(self._view.items) if i.role == Role.USER and i.bound), None)
        if last is not None and last.message_id is not None:
            self.edit(last.message_id)

    def regenerate_last(self) -> None:
        last = self._view.items[-1] if self._view.items else None
        if last is not None and last.role == Role.ASSISTANT and last.message_id is not None:
            self.regenerate(last.message_id)

    def copy_last_reply(self) -> None:
        last = next((i for i in reversed(self._view.items) if i.role == Role.ASSISTANT), None)
        if last is not None:
            self._view.run_action(last, "copy")

    def delete(self, message_id: int) -> None:
        """Delete a message and the replies built on it, after asking (it cannot be undone)."""
        conversation_id = self._history.current_id
        if self._controller.busy or conversation_id is None:
            return
        after = self._store.position_from_leaf(conversation_id, message_id) or 0
        message = self._store.message(message_id)
        what = "your message" if message.role == Role.USER else "this reply"
        text = f"Delete {what}" + (f" and the {after} message{'s' if after != 1 else ''} after it?" if after else "?")
        if message.sibling_count > 1:
            text += " The other versions stay."
        if not self._confirm("Delete message", text + " This cannot be undone.", "Delete"):
            return
        if self._history.write(lambda: self._store.delete_branch(message_id)):
            self._history.show_current()
            self._history.refresh_list()
