"""What the Python tool's process may do, confined by the operating system where it lets a program confine itself.

Applied in the child process before it runs any of the model's code, and never undone (the kernel forbids it):

- **Linux**: no network at all (a new, empty network namespace: not even this computer's loopback is
  reachable; when user namespaces are disabled, Landlock's TCP rules block connections and binds instead), and
  no writes outside the chat's folder (Landlock: creating, writing, truncating, renaming or deleting files
  anywhere else fails with PermissionError; reading is not restricted). Landlock needs Linux 5.13 or newer
  (TCP rules 6.7); where the kernel lacks it, the guarantees say so.
- **macOS and Windows**: neither is possible for a process on itself; the process runs with the chat's folder
  as its working folder, under the memory limit (macOS), and the guarantees say the rest is not enforced.

Everywhere: a memory limit (RLIMIT_AS on Linux and macOS), a time limit enforced by the parent (which
interrupts, then kills), and a working folder per chat.
"""

from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass
from pathlib import Path

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_PR_SET_NO_NEW_PRIVS = 38
# x86-64, arm64 and most architectures share these generic syscall numbers (Linux 5.13+).
_SYS_LANDLOCK_CREATE_RULESET = 444
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1
_LANDLOCK_RULE_NET_PORT = 2
# Filesystem rights (linux/landlock.h). Reading and executing stay allowed: Python must read its own library.
_FS_WRITE_FILE = 1 << 1
_FS_REMOVE_DIR = 1 << 4
_FS_REMOVE_FILE = 1 << 5
_FS_MAKE_CHAR = 1 << 6
_FS_MAKE_DIR = 1 << 7
_FS_MAKE_REG = 1 << 8
_FS_MAKE_SOCK = 1 << 9
_FS_MAKE_FIFO = 1 << 10
_FS_MAKE_BLOCK = 1 << 11
_FS_MAKE_SYM = 1 << 12
_FS_REFER = 1 << 13  # ABI 2
_FS_TRUNCATE = 1 << 14  # ABI 3
_NET_BIND_TCP = 1 << 0  # ABI 4
_NET_CONNECT_TCP = 1 << 1  # ABI 4


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # the kernel's struct is packed
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


@dataclass(frozen=True)
class Confinement:
    """What was enforced, for the tool's description, the Tools pane and the log."""

    network_blocked: bool = False
    writes_confined: bool = False
    memory_limited: bool = False
    notes: tuple[str, ...] = ()

    def describe(self) -> str:
        said = [
            "no network" if self.network_blocked else "network NOT blocked",
            "writes only in its folder" if self.writes_confined else "writes NOT confined to its folder",
            "memory limited" if self.memory_limited else "memory NOT limited",
        ]
        return "; ".join(said) + "".join(f" ({note})" for note in self.notes)


def confine(folder: Path, memory_bytes: int, keep_writable: tuple[Path, ...] = ()) -> Confinement:
    """Confine this process (call it in the sandbox's child, once, before running any code)."""
    notes: list[str] = []
    memory = _limit_memory(memory_bytes, notes)
    if not sys.platform.startswith("linux"):
        return Confinement(memory_limited=memory, notes=(f"{sys.platform} lets a program confine itself no further",))
    libc = ctypes.CDLL(None, use_errno=True)
    network = _leave_the_network(libc, notes)
    abi = libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, 0, _LANDLOCK_CREATE_RULESET_VERSION)
    if abi < 1:
        notes.append("this Linux has no Landlock (5.13 or newer needed)")
        return Confinement(network, False, memory, tuple(notes))
    writes, tcp_blocked = _landlock(libc, abi, [folder, *keep_writable], block_tcp=not network, notes=notes)
    return Confinement(network or tcp_blocked, writes, memory, tuple(notes))


def _limit_memory(memory_bytes: int, notes: list[str]) -> bool:
    if sys.platform == "win32":
        notes.append("Windows: no memory limit")
        return False
    import resource

    try:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    except (ValueError, OSError) as exc:
        notes.append(f"memory limit refused: {exc}")
        return False
    return True


def _leave_the_network(libc: ctypes.CDLL, notes: list[str]) -> bool:
    """A new network namespace has only a loopback device, and it is down: no address is reachable."""
    for flags in (_CLONE_NEWUSER | _CLONE_NEWNET, _CLONE_NEWNET):  # the second works for root only
        if libc.unshare(flags) == 0:
            return True
    notes.append(f"no network namespace: {os.strerror(ctypes.get_errno())}")
    return False


def _landlock(
    libc: ctypes.CDLL, abi: int, writable: list[Path], *, block_tcp: bool, notes: list[str]
) -> tuple[bool, bool]:
    write_rights = (
        _FS_WRITE_FILE
        | _FS_REMOVE_DIR
        | _FS_REMOVE_FILE
        | _FS_MAKE_CHAR
        | _FS_MAKE_DIR
        | _FS_MAKE_REG
        | _FS_MAKE_SOCK
        | _FS_MAKE_FIFO
        | _FS_MAKE_BLOCK
        | _FS_MAKE_SYM
    )
    if abi >= 2:
        write_rights |= _FS_REFER
    if abi >= 3:
        write_rights |= _FS_TRUNCATE
    net_rights = _NET_BIND_TCP | _NET_CONNECT_TCP if block_tcp and abi >= 4 else 0
    attr = _RulesetAttr(write_rights, net_rights)
    size = ctypes.sizeof(_RulesetAttr) if net_rights else ctypes.sizeof(ctypes.c_uint64)
    ruleset = libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), size, 0)
    if ruleset < 0:
        notes.append(f"Landlock refused the rules: {os.strerror(ctypes.get_errno())}")
        return False, False
    try:
        for path in [*writable, Path(os.devnull)]:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                # A file (/dev/null) may only be given the rights that apply to files.
                rights = write_rights if path.is_dir() else write_rights & (_FS_WRITE_FILE | _FS_TRUNCATE)
                rule = _PathBeneathAttr(rights, fd)
                if libc.syscall(_SYS_LANDLOCK_ADD_RULE, ruleset, _LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(rule), 0):
                    notes.append(f"Landlock refused {path}: {os.strerror(ctypes.get_errno())}")
                    return False, False
            finally:
                os.close(fd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) or libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0):
            notes.append(f"Landlock could not be applied: {os.strerror(ctypes.get_errno())}")
            return False, False
    finally:
        os.close(ruleset)
    return True, bool(net_rights)
