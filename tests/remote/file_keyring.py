"""A keyring backend that keeps secrets in a JSON file named by ``MOSS_TEST_KEYRING``: a "system keychain" that
outlives one process, so command-line tests can save a key with one `moss` process and use it from the next.

Selected in a child process with ``PYTHON_KEYRING_BACKEND=tests.remote.file_keyring.FileKeyring``; never imported
by the test process itself (a backend class, once imported, is a candidate for every keyring lookup).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend


class FileKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]  # (a class property in the base class)

    @property
    def _file(self) -> Path:
        return Path(os.environ["MOSS_TEST_KEYRING"])

    def _read(self) -> dict[str, str]:
        try:
            values: dict[str, str] = json.loads(self._file.read_text())
        except FileNotFoundError:
            return {}
        return values

    def get_password(self, service: str, username: str) -> str | None:
        return self._read().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        values = self._read()
        values[f"{service}/{username}"] = password
        self._file.write_text(json.dumps(values))

    def delete_password(self, service: str, username: str) -> None:
        values = self._read()
        values.pop(f"{service}/{username}", None)
        self._file.write_text(json.dumps(values))
