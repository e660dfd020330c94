"""The secret store (the Hugging Face token), on the operating system's keychain through ``keyring``.

Secrets never go into a settings file or a log line. Where no keychain is available (a headless Linux box,
a locked-down machine) the store keeps secrets for this session only and says so, rather than silently
falling back to a plaintext file. Tests and ``MOSS_SECRET_STORE=memory`` use an in-memory store, so they
never touch the developer's real keychain.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from typing import Protocol

from app import APP_NAME

log = logging.getLogger(__name__)

SECRET_STORE_ENV = "MOSS_SECRET_STORE"


class SecretStore(Protocol):
    def get(self, key: str) -> str | None: ...
    def set(self, key: str, value: str) -> None: ...
    def delete(self, key: str) -> None: ...

    @property
    def description(self) -> str: ...

    @property
    def persistent(self) -> bool: ...


class MemorySecretStore:
    """Secrets held in this process only."""

    def __init__(self, description: str = "in memory (this session only)") -> None:
        self._values: dict[str, str] = {}
        self._description = description

    def get(self, key: str) -> str | None:
        return self._values.get(key)

    def set(self, key: str, value: str) -> None:
        self._values[key] = value

    def delete(self, key: str) -> None:
        self._values.pop(key, None)

    @property
    def description(self) -> str:
        return self._description

    @property
    def persistent(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class KeyringSecretStore:
    """Secrets in the system keychain (Windows Credential Manager, macOS Keychain, Secret Service)."""

    backend_name: str
    service: str = APP_NAME

    def get(self, key: str) -> str | None:
        import keyring

        value: str | None = keyring.get_password(self.service, key)
        return value

    def set(self, key: str, value: str) -> None:
        import keyring

        keyring.set_password(self.service, key, value)

    def delete(self, key: str) -> None:
        import keyring
        import keyring.errors

        with contextlib.suppress(keyring.errors.PasswordDeleteError):  # nothing stored under that key
            keyring.delete_password(self.service, key)

    @property
    def description(self) -> str:
        return f"system keychain ({self.backend_name})"

    @property
    def persistent(self) -> bool:
        return True


def open_secret_store() -> SecretStore:
    """The keychain if one works here, else a session-only store (with the reason in its description)."""
    if os.environ.get(SECRET_STORE_ENV) == "memory":
        return MemorySecretStore()
    import keyring
    import keyring.backends.fail

    backend = keyring.get_keyring()
    name = type(backend).__module__ + "." + type(backend).__name__
    priority = getattr(backend, "priority", 0)
    if isinstance(backend, keyring.backends.fail.Keyring) or "plaintext" in name.lower() or priority < 1:
        log.warning("no usable system keychain (%s); secrets are kept for this session only", name)
        return MemorySecretStore("no system keychain found: secrets are kept for this session only")
    return KeyringSecretStore(backend_name=type(backend).__name__)
