"""The packaged app's recipe (build.spec), checked without building: python3 bootstrap.py package builds it and
tools/frozen_smoke.py runs the result.

build.spec's first part is plain Python (what goes in and what is left out); these tests run it, up to its
"PyInstaller" marker, and hold it against what app/ imports. The rest is checked for the names of what it makes.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from app import __version__
from app.hub.starter import STARTER_FILE, STARTER_PACKAGE

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "build.spec"
MARKER = "\n# == PyInstaller ="


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    """The namespace of build.spec's first part (no PyInstaller needed), as PyInstaller would run it."""
    source = SPEC.read_text(encoding="utf-8")
    assert MARKER in source, "build.spec lost the marker that ends its plain-Python part"
    namespace: dict[str, Any] = {"SPECPATH": str(ROOT), "__name__": "build_spec"}
    exec(compile(source.split(MARKER)[0], str(SPEC), "exec"), namespace)
    return namespace


def spec_calls() -> dict[str, ast.Call]:
    """build.spec's calls of PyInstaller's build steps (Analysis, EXE, COLLECT, BUNDLE) by name."""
    tree = ast.parse(SPEC.read_text(encoding="utf-8"), str(SPEC))  # valid Python, or this fails
    steps = {"Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE"}
    return {
        node.func.id: node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in steps
    }


def keyword(call: ast.Call, name: str, namespace: dict[str, Any]) -> Any:
    value = next(k.value for k in call.keywords if k.arg == name)
    return eval(compile(ast.Expression(value), str(SPEC), "eval"), dict(namespace))


def imports_in(folder: Path, *, optional: bool = True) -> set[str]:
    """Every module imported (absolutely) by the Python files under ``folder``, inside functions too; with
    ``optional=False``, not those in a ``try`` that handles ImportError (the app runs without them)."""
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        guarded = set() if optional else {id(n) for outer in ast.walk(tree) for n in _guarded_imports(outer)}
        for node in ast.walk(tree):
            if id(node) in guarded:
                continue
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _guarded_imports(node: ast.AST) -> list[ast.AST]:
    if not isinstance(node, ast.Try):
        return []
    caught = {ast.unparse(handler.type) for handler in node.handlers if handler.type is not None}
    if not caught & {"ImportError", "ModuleNotFoundError"}:
        return []
    return [inner for statement in node.body for inner in ast.walk(statement)]


def test_spec_names_the_expected_outputs(spec: dict[str, Any]) -> None:
    calls = spec_calls()
    assert set(calls) == {"Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE"}
    assert keyword(calls["EXE"], "name", spec) == "moss"  # dist/Moss/moss, moss.exe on Windows
    assert keyword(calls["EXE"], "console", spec) is False  # windowed
    assert keyword(calls["EXE"], "exclude_binaries", spec) is True  # one folder, not one file
    assert keyword(calls["COLLECT"], "name", spec) == "Moss"
    assert keyword(calls["BUNDLE"], "name", spec) == "Moss.app"
    assert keyword(calls["BUNDLE"], "bundle_identifier", spec) == "org.moss.Moss"


def test_macos_bundle_metadata(spec: dict[str, Any]) -> None:
    assert spec["app_version"]() == __version__
    plist = spec["macos_info_plist"](__version__)
    assert plist["CFBundleShortVersionString"] == __version__
    assert plist["LSMinimumSystemVersion"] == spec["macos_minimum"](spec["installed_wheel_tags"]())
    assert plist["LSArchitecturePriority"] == ["arm64"]
    assert plist["NSHighResolutionCapable"] is True
    (document,) = plist["CFBundleDocumentTypes"]
    (declared,) = plist["UTExportedTypeDeclarations"]
    assert document["LSItemContentTypes"] == [declared["UTTypeIdentifier"]]  # "Open with Moss" for .gguf
    assert declared["UTTypeTagSpecification"]["public.filename-extension"] == ["gguf"]


def test_macos_minimum_follows_the_newest_native_wheel(spec: dict[str, Any]) -> None:
    minimum = spec["macos_minimum"]
    assert minimum([]) == minimum(["cp311-cp311-manylinux_2_28_x86_64"]) == "12.0"
    assert minimum(["cp311-cp311-macosx_11_0_arm64"]) == "12.0"
    assert minimum(["cp310-abi3-macosx_13_0_universal2", "cp311-cp311-macosx_14_2_arm64"]) == "14.2"
    assert any(tag.startswith("cp") for tag in spec["installed_wheel_tags"]())  # PySide6's tags are read


def test_every_qt_module_app_imports_is_bundled_and_no_other(spec: dict[str, Any]) -> None:
    imported = {name.split(".")[1] for name in imports_in(ROOT / "app") if name.startswith("PySide6.Qt")}
    assert imported == set(spec["QT_MODULES"]), "update QT_MODULES in build.spec"
    excluded = spec["qt_excludes"]()
    assert not {f"PySide6.{name}" for name in imported} & set(excluded)
    assert "PySide6.QtNetwork" in excluded and "PySide6.QtQml" in excluded  # installed, unused, left out


def test_excluded_packages_are_not_imported_by_the_app(spec: dict[str, Any]) -> None:
    """Left out of the build, they may only be imported where the app handles their absence (nowhere today:
    the developer tools the packaged app runs, such as `moss screenshots` with its loopback Hub and model
    replicas, live in app/devtools and are bundled)."""
    needed = {name.split(".")[0] for name in imports_in(ROOT / "app", optional=False)}
    assert {"PySide6", "llama_cpp", "pygments"} <= needed  # the scan sees the app's imports
    assert not needed & set(spec["EXCLUDED_PACKAGES"])
    assert "gguf" in needed  # app/devtools/replicas.py writes model replicas for `moss screenshots`: bundled


@pytest.mark.parametrize(
    ("dest", "kept"),
    [
        ("PySide6/Qt/translations/qtbase_de.qm", False),
        ("PySide6/translations/qt_fr.qm", False),  # the Windows layout
        ("PySide6/Qt/plugins/platforms/libqxcb.so", True),
        ("PySide6/Qt/plugins/platforms/libqwayland.so", True),
        ("PySide6/Qt/plugins/platforms/libqoffscreen.so", True),  # --self-test and the smoke test use it
        ("PySide6/plugins/platforms/qwindows.dll", True),
        ("PySide6/Qt/plugins/platforms/libqcocoa.dylib", True),
        ("PySide6/Qt/plugins/platforms/libqeglfs.so", False),
        ("PySide6/Qt/plugins/platforms/libqvnc.so", False),
        ("PySide6/plugins/platforms/qdirect2d.dll", False),
        ("PySide6/Qt/plugins/iconengines/libqsvgicon.so", True),  # the window icon is an SVG
        ("PySide6/Qt/plugins/imageformats/libqsvg.so", True),
        ("PySide6/Qt/plugins/tls/libqopensslbackend.so", False),
        ("PySide6/Qt/plugins/generic/libqevdevmouseplugin.so", False),
        ("PySide6/Qt/lib/libQt6EglFSDeviceIntegration.so.6", False),
        ("PySide6/Qt/lib/libQt6Widgets.so.6", True),
        ("PySide6/Qt/lib/libicudata.so.73", True),
        ("llama_cpp/lib/libllama.so", True),
        ("resources/icons/moss.svg", True),
    ],
)
def test_trimming_keeps_what_the_app_uses(spec: dict[str, Any], dest: str, kept: bool) -> None:
    assert spec["keep_file"](dest) is kept


def test_llama_libraries_are_collected_once_each(spec: dict[str, Any]) -> None:
    llama_cpp = importlib.util.find_spec("llama_cpp")  # found, not imported: nothing is loaded
    assert llama_cpp is not None and llama_cpp.submodule_search_locations
    lib = Path(next(iter(llama_cpp.submodule_search_locations))) / "lib"
    entries = spec["llama_library_entries"](lib)
    dests = [dest for dest, _, _ in entries]
    assert len(dests) == len(set(dests))
    loaded = {"linux": "libllama.so", "darwin": "libllama.dylib", "win32": "llama.dll"}.get(sys.platform)
    kinds = {Path(dest).name: kind for dest, _, kind in entries}
    assert kinds.get(loaded) == "BINARY", f"{loaded} (what llama_cpp loads by path) is not collected as a file"
    files = [source for _, source, kind in entries if kind == "BINARY"]
    digests = [hashlib.sha256(Path(source).read_bytes()).hexdigest() for source in files]
    assert len(digests) == len(set(digests)), "a library is collected twice"
    for _, target, kind in entries:
        if kind == "SYMLINK":  # a relative link to a file collected beside it
            assert target in {Path(source).name for source in files}


def test_starter_model_goes_where_the_app_looks_for_it(spec: dict[str, Any]) -> None:
    assert (spec["STARTER_PACKAGE"], spec["STARTER_FILE"]) == (STARTER_PACKAGE, STARTER_FILE)
    path = spec["starter_model"]()
    assert path is not None and path.name == STARTER_FILE  # the test set-up installs it


def test_resources_exist(spec: dict[str, Any], tmp_path: Path) -> None:
    assert (ROOT / "resources" / "icons" / "moss.svg").is_file()
    ico = spec["app_icon"]("ico", tmp_path)
    assert ico.read_bytes()[:4] == b"\x00\x00\x01\x00"  # an .ico, checked in or drawn from the SVG
    icns = spec["app_icon"]("icns", tmp_path)
    assert icns.read_bytes()[:4] == b"icns"


def test_ci_builds_and_smoke_tests_the_package_after_the_tests() -> None:
    steps = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.startswith("python3 ")]
    assert steps == ["python3 bootstrap.py test", "python3 bootstrap.py package"]
