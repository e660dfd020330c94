"""Can this computer open Moss's window? Said in words before Qt tries, and again if Qt gives up.

Qt picks a "platform plugin" to talk to the window system (xcb for X11, wayland, cocoa, windows). On Linux the
xcb plugin needs a dozen small system libraries (libxcb-cursor0, libxcb-icccm4, …) that a minimal or fresh
install may lack; Qt then aborts the process (exit code 134) with a message that goes only to the log and blames
one library at best. Moss checks the plugin first, lists every missing library with the command that installs
it, and exits with a clear message instead. The same check is a line of ``moss --self-test``.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QLibraryInfo

# Distributions name a library's package differently; Debian and Ubuntu follow the soname (see
# _debian_package), Fedora and Arch group the xcb utilities. The table lists what the xcb plugin needs.
_FEDORA_ARCH_PACKAGES = {
    "libxcb-cursor.so.0": ("xcb-util-cursor", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("xcb-util-wm", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("xcb-util-keysyms", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("xcb-util-image", "xcb-util-image"),
    "libxcb-util.so.1": ("xcb-util", "xcb-util"),
    "libxcb-render-util.so.0": ("xcb-util-renderutil", "xcb-util-renderutil"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon", "libxkbcommon"),
    "libX11-xcb.so.1": ("libX11-xcb", "libx11"),
    "libwayland-client.so.0": ("libwayland-client", "wayland"),
    "libwayland-cursor.so.0": ("libwayland-cursor", "wayland"),
    "libwayland-egl.so.1": ("libwayland-egl", "wayland"),
}
_PLUGIN_FILES = {"linux": "libq{}.so", "darwin": "libq{}.dylib", "win32": "q{}.dll"}
_DEFAULT_PLATFORM = {"darwin": "cocoa", "win32": "windows"}


NO_DISPLAY = (
    "There is no display to open a window on (DISPLAY is not set). Start Moss from your desktop, or use its "
    "commands that need no window: `moss --help`."
)


@dataclass(frozen=True)
class WindowSystemCheck:
    platform: str
    """The platform plugin Qt would use: "xcb", "wayland", "cocoa", "windows", "offscreen", …"""
    problem: str | None = None
    """What stops the window from opening, and what to do; None when nothing was found wrong."""
    missing: tuple[str, ...] = ()
    """System libraries the plugin needs that this computer lacks (their file names)."""


def intended_platforms(environ: dict[str, str] | None = None) -> list[str]:
    """The plugins Qt will try, in order: the one ``QT_QPA_PLATFORM`` names, else the one for this desktop
    (in a Wayland session Qt 6 tries Wayland first and falls back to xcb, X11 through XWayland)."""
    env = dict(os.environ) if environ is None else environ
    chosen = env.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if chosen:
        return [chosen]
    if sys.platform in _DEFAULT_PLATFORM:
        return [_DEFAULT_PLATFORM[sys.platform]]
    return ["wayland", "xcb"] if env.get("WAYLAND_DISPLAY") else ["xcb"]


def plugin_file(platform: str, env: dict[str, str]) -> Path:
    """The plugin's file, where Qt looks for it: QT_QPA_PLATFORM_PLUGIN_PATH first, then Qt's own folder."""
    name = _PLUGIN_FILES.get(sys.platform, _PLUGIN_FILES["linux"]).format(platform)
    chosen = env.get("QT_QPA_PLATFORM_PLUGIN_PATH")
    if chosen and (Path(chosen) / name).is_file():
        return Path(chosen) / name
    return Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms" / name


def missing_libraries(library: Path) -> tuple[tuple[str, ...], str | None]:
    """The shared libraries ``library`` needs that cannot be found, and the loader's error if it fails to load.

    ``ldd`` lists every missing one at once (the loader stops at the first); where there is no ldd, the
    loader's own message names one."""
    missing: list[str] = []
    ldd = shutil.which("ldd") if sys.platform.startswith("linux") else None
    if ldd:
        try:
            listed = subprocess.run([ldd, str(library)], capture_output=True, text=True, timeout=10, check=False)
            missing = sorted(set(re.findall(r"^\s*(\S+) => not found", listed.stdout, re.MULTILINE)))
        except (OSError, subprocess.TimeoutExpired):
            pass
    try:
        ctypes.CDLL(str(library))
    except OSError as exc:
        error = str(exc)
        if not missing:
            named = re.search(r"(\S+\.so[.\d]*): cannot open shared object file", error)
            missing = [named.group(1)] if named else []
        return tuple(missing), error
    return tuple(missing), None


def _debian_package(soname: str) -> str:
    """Debian's library package name from a soname: libxcb-icccm.so.4 → libxcb-icccm4 (a "-" between
    the name and the version when the name ends in a digit: libxkbcommon-x11.so.0 → libxkbcommon-x11-0)."""
    name, _, version = soname.partition(".so.")
    name = name.lower()
    version = version.split(".")[0]
    return f"{name}-{version}" if name[-1:].isdigit() else f"{name}{version}"


def install_hint(missing: tuple[str, ...]) -> str:
    debian = " ".join(_debian_package(soname) for soname in missing)
    # dnf installs whatever provides a library by its soname; pacman -F says which package has a file.
    fedora = " ".join(dict.fromkeys(_FEDORA_ARCH_PACKAGES.get(s, (f"'{s}()(64bit)'", ""))[0] for s in missing))
    arch_known = [_FEDORA_ARCH_PACKAGES[s][1] for s in missing if s in _FEDORA_ARCH_PACKAGES]
    arch_unknown = [s for s in missing if s not in _FEDORA_ARCH_PACKAGES]
    arch = f"sudo pacman -S {' '.join(dict.fromkeys(arch_known))}" if arch_known else ""
    if arch_unknown:
        arch += ("; " if arch else "") + f"pacman -F {' '.join(arch_unknown)} names the rest"
    return (
        "Install them with your package manager, then start Moss again:\n"
        f"  Debian, Ubuntu, Mint:  sudo apt install {debian}\n"
        f"  Fedora:                sudo dnf install {fedora}\n"
        f"  Arch:                  {arch}"
    )


def check_window_system(environ: dict[str, str] | None = None) -> WindowSystemCheck:
    """Whether the window can open here, found without opening it (no display connection is made)."""
    env = dict(os.environ) if environ is None else environ
    checks = [_check_platform(platform, env) for platform in intended_platforms(env)]
    usable = [check for check in checks if check.problem is None]
    return usable[0] if usable else checks[0]


def _check_platform(platform: str, env: dict[str, str]) -> WindowSystemCheck:
    if platform in ("offscreen", "minimal") or not sys.platform.startswith("linux"):
        return WindowSystemCheck(platform)  # macOS and Windows bring what their plugin needs
    plugin = plugin_file(platform, env)
    if not plugin.is_file():
        if env.get("QT_QPA_PLATFORM"):
            return WindowSystemCheck(
                platform,
                f"QT_QPA_PLATFORM asks Qt for the '{platform}' window system, which this Moss does not have; "
                "unset QT_QPA_PLATFORM and start Moss again.",
            )
        return WindowSystemCheck(
            platform, f"Qt's '{platform}' window-system plugin is missing ({plugin}). Reinstall Moss."
        )
    missing, error = missing_libraries(plugin)
    if error is None:  # it loads (whatever ldd thought): all that is left is a display to show it on
        return WindowSystemCheck(platform, NO_DISPLAY if platform == "xcb" and not env.get("DISPLAY") else None)
    if missing:
        return WindowSystemCheck(
            platform,
            f"Moss cannot open its window: Qt's '{platform}' plugin needs system libraries this computer lacks: "
            f"{', '.join(missing)}.\n{install_hint(missing)}",
            missing,
        )
    return WindowSystemCheck(
        platform,
        f"Moss cannot open its window: Qt's '{platform}' plugin fails to load ({error}). Reinstall Moss, or "
        "report this with the log file.",
    )
