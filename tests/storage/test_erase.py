"""HistoryStore.erase_all: the history's files go (backups and damaged copies set aside too), nothing of the old
text is left on disk, and the same store object keeps working on a new, empty history."""

from __future__ import annotations

from pathlib import Path

from app.core.types import Role
from app.storage.database import backup_copy
from app.storage.history import HistoryStore
from app.storage.search import search_history

SECRET = "zebra-sapphire-7731"


def _fill(store: HistoryStore, count: int = 3) -> None:
    for n in range(count):
        info = store.create_conversation(system_prompt="Be kind.")
        user = store.add_message(info.id, None, Role.USER, f"Tell me about {SECRET} number {n}")
        store.add_message(info.id, user.id, Role.ASSISTANT, f"{SECRET} is a secret, {n}.")


def _files_holding(folder: Path, text: str) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file() and text.encode() in p.read_bytes())


def test_erase_all_deletes_every_history_file_and_keeps_the_store_usable(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = HistoryStore.open(data / "history.db")
    _fill(store)
    backup_copy(store._db, store.file, 1)  # as a migration leaves it: history.db.v1-backup
    aside = data / "history.corrupt-20250101-120000.db"  # a damaged file set aside earlier, with its WAL
    aside.write_bytes(b"SQLite format 3\x00" + SECRET.encode())
    (data / "history.corrupt-20250101-120000.db-wal").write_bytes(SECRET.encode())
    unrelated = data / "models.json"  # someone else's file in the same folder
    unrelated.write_text('{"models": []}', encoding="utf-8")
    assert _files_holding(data, SECRET)  # the text really is on disk before
    assert search_history(store.file, SECRET)

    store.erase_all()

    assert _files_holding(data, SECRET) == []
    assert {p.name for p in data.iterdir()} <= {"history.db", "history.db-wal", "history.db-shm", "models.json"}
    assert unrelated.read_text(encoding="utf-8") == '{"models": []}'
    assert store.count_conversations() == 0 and store.list_conversations() == []
    assert search_history(store.file, SECRET) == []
    # The same object writes to the new history, and another connection sees it.
    info = store.create_conversation(title="After")
    store.add_message(info.id, None, Role.USER, "A fresh start")
    reopened = HistoryStore.open(data / "history.db")
    assert [c.title for c in reopened.list_conversations()] == ["After"]
    reopened.close()
    store.close()


def test_erase_all_on_an_empty_history_is_harmless(tmp_path: Path) -> None:
    store = HistoryStore.open(tmp_path / "history.db")
    store.erase_all()
    store.erase_all()
    assert store.count_conversations() == 0
    assert store.notices == ()
    store.close()


def test_erase_all_while_another_connection_reads_the_old_file(tmp_path: Path) -> None:
    """A search on the task pool holds its own connection: erasing does not wait for it or break it."""
    store = HistoryStore.open(tmp_path / "history.db")
    _fill(store, 1)
    reader = HistoryStore.open(tmp_path / "history.db", recover=False)
    assert reader.count_conversations() == 1
    store.erase_all()
    assert store.count_conversations() == 0
    reader.close()
    store.close()
