"""The installers (installers/) and the release workflow (.github/workflows/release.yml), checked here on Linux.

The workflow cannot run here, so it is linted (actionlint, with shellcheck on its shell steps), every shell script
is linted, and every script that runs on Linux is run: the Linux tarball is built from a stand-in app and
installed into a throwaway home folder; the macOS scripts run with stand-ins for hdiutil, codesign, security and
xcrun that record what they were asked to do. The Inno Setup script is checked as far as a text can be (Inno
Setup runs on Windows only).
"""

from __future__ import annotations

import base64
import configparser
import importlib.util
import json
import os
import plistlib
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from types import ModuleType

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
INSTALLERS = ROOT / "installers"
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
ISS = INSTALLERS / "windows" / "moss.iss"
VENV_BIN = Path(sys.executable).parent

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="the Linux and macOS scripts run on Linux and macOS")


def _module(path: Path) -> ModuleType:
    """A script of installers/ imported by path (installers/ is not a package)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def _tool(name: str) -> str:
    """A lint tool from the test set-up (pyproject's `test` extra installs it beside this Python)."""
    found = shutil.which(name, path=str(VENV_BIN)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: run `python3 bootstrap.py test`, which installs the test tools.")
    return found


def _version() -> str:
    from app import __version__

    return __version__


def _executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)
    return path


def _run(command: list[str | Path], env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [str(part) for part in command], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"{command} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


# -- the release workflow ------------------------------------------------------------------------------------


def _workflow() -> dict[object, object]:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_workflow_builds_every_system_on_tags_and_by_hand() -> None:
    workflow = _workflow()
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads the bare key `on` as true
    assert isinstance(triggers, dict)
    assert triggers["push"] == {"tags": ["v*"]}
    assert "workflow_dispatch" in triggers
    matrix = workflow["jobs"]["build"]["strategy"]["matrix"]["include"]
    by_platform = {entry["platform"]: entry for entry in matrix}
    assert {entry["os"] for entry in matrix} == {"windows-2022", "macos-14", "ubuntu-22.04"}
    windows = by_platform["windows"]["cmake_args"].split()
    for option in ("GGML_BACKEND_DL=ON", "GGML_CPU_ALL_VARIANTS=ON", "GGML_CUDA=ON", "GGML_VULKAN=ON"):
        assert f"-D{option}" in windows
    assert {"cuda", "vulkan"} <= set(by_platform["windows"]["backends"].split())
    assert "metal" in by_platform["macos"]["backends"].split()
    assert by_platform["linux"]["backends"].split() == ["cpu"]


def test_workflow_actions_are_pinned_to_commits() -> None:
    uses = re.findall(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", WORKFLOW.read_text(encoding="utf-8"), re.MULTILINE)
    assert len(uses) >= 6
    for action, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), f"{action} is not pinned to a commit"
        assert re.fullmatch(r"\s*# v[\d.]+", comment), f"{action} does not say which version it is"


def test_workflow_runs_only_scripts_that_exist() -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    scripts = set(re.findall(r"installers[/\\][\w/\\.-]+\.(?:sh|py|ps1|iss)", text))
    assert len(scripts) >= 6
    for script in scripts:
        path = ROOT / script.replace("\\", "/")
        assert path.is_file(), f"the workflow runs {script}, which does not exist"
        if path.suffix == ".sh" and sys.platform != "win32":
            assert os.access(path, os.X_OK), f"{script} is not executable"
    assert "python bootstrap.py test" in text
    assert "python bootstrap.py package" in text


def test_actionlint_finds_nothing_in_the_workflow(tmp_path: Path) -> None:
    actionlint, shellcheck = _tool("actionlint"), _tool("shellcheck")
    command = [actionlint, "-color=false", "-shellcheck", shellcheck, "-pyflakes", ""]
    result = subprocess.run([*command, str(WORKFLOW)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""

    # The same command does see mistakes, shellcheck's included: a workflow with two of them is refused.
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-22.04\n    steps:\n"
        "      - run: echo $UNQUOTED\n      - uses: actions/checkout@v4\n        with:\n          no-such-input: 1\n"
    )
    result = subprocess.run([*command, str(bad)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 1
    assert "SC2086" in result.stdout
    assert "no-such-input" in result.stdout


def test_shell_scripts_pass_shellcheck() -> None:
    scripts = [*sorted(INSTALLERS.rglob("*.sh")), INSTALLERS / "linux" / "moss-open"]
    names = {path.name for path in scripts}
    assert {"make_tarball.sh", "install.sh", "make_dmg.sh", "sign_and_notarize.sh", "moss-open"} <= names
    result = subprocess.run([_tool("shellcheck"), *map(str, scripts)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# -- Windows: the Inno Setup script and the signing hook -------------------------------------------------------


def _iss_sections() -> dict[str, str]:
    sections: dict[str, str] = {"": ""}
    current = ""
    for line in ISS.read_text(encoding="utf-8").splitlines():
        header = re.fullmatch(r"\[(\w+)\]", line.strip())
        if header and current != "Code":
            current = header.group(1)
            sections[current] = ""
        else:
            sections[current] += line + "\n"
    return sections


def _pascal_words(code: str) -> list[str]:
    """The words of Pascal code, without its strings and comments ({...}, (*...*), //...)."""
    words, i = [], 0
    while i < len(code):
        if code[i] == "'":
            end = i + 1
            while end < len(code) and not (code[end] == "'" and code[end + 1 : end + 2] != "'"):
                end += 2 if code[end : end + 2] == "''" else 1
            i = end + 1
        elif code[i] == "{":
            i = code.index("}", i) + 1
        elif code.startswith("(*", i):
            i = code.index("*)", i) + 2
        elif code.startswith("//", i):
            i = code.find("\n", i) % (len(code) + 1)
        elif code[i].isalpha() or code[i] == "_":
            match = re.compile(r"\w+").match(code, i)
            assert match is not None
            words.append(match.group().lower())
            i = match.end()
        else:
            i += 1
    return words


def test_inno_script_installs_per_user_with_open_with_for_gguf() -> None:
    sections = _iss_sections()
    setup = dict(line.split("=", 1) for line in sections["Setup"].splitlines() if re.match(r"^\w+=", line))
    assert setup["PrivilegesRequired"] == "lowest"
    assert setup["DefaultDirName"] == r"{autopf}\{#AppName}"
    assert setup["ChangesAssociations"] == "yes"
    assert (ISS.parent / setup["SetupIconFile"].replace("\\", "/")).is_file()
    registry = sections["Registry"]
    assert r'Subkey: "Software\Classes\.gguf\OpenWithProgids"' in registry
    assert all(line.startswith("Root: HKCU;") for line in registry.splitlines() if line.startswith("Root:"))
    # Moss joins the Open-with list and never sets the default program of .gguf (the key's own value).
    assert not re.search(r'Subkey: "Software\\Classes\\\.gguf"; ValueType: string; ValueName: ""', registry)
    # The command it registers is one the app understands.
    command = re.search(r'ValueData: """\{app\}\\\{#AppExe\}"" (.+)"$', registry, re.MULTILINE)
    assert command is not None
    assert command.group(1) == '--model ""%1""'
    from app.__main__ import build_parser

    assert build_parser().parse_args(["--model", "C:\\models\\a.gguf"]).gui_model == "C:\\models\\a.gguf"
    assert {"{autoprograms}", "{autodesktop}"} <= set(re.findall(r"\{auto\w+\}", sections["Icons"]))


def test_inno_script_defines_come_from_the_workflow() -> None:
    text = ISS.read_text(encoding="utf-8")
    defined = set(re.findall(r"^\s*#define\s+(\w+)", text, re.MULTILINE))
    used = set(re.findall(r"\{#(\w+)", text)) | set(re.findall(r"^\s*#ifn?def\s+(\w+)", text, re.MULTILINE))
    passed = set(re.findall(r"/D(\w+)", WORKFLOW.read_text(encoding="utf-8")))
    assert passed == {"AppVersion", "DistDir", "InstallerDir", "SignInstaller"}
    assert used <= defined | passed, f"{sorted(used - defined - passed)} are neither defined nor passed"
    required = set(re.findall(r"#ifndef\s+(\w+)\s*\n\s*#error", text))
    assert required == {"AppVersion"}
    # SignTool is used only when the workflow says the certificate is there.
    signing = re.search(r"#ifdef SignInstaller\n(.*?)#endif", text, re.DOTALL)
    assert signing is not None
    assert "SignTool=mosssign" in signing.group(1)
    assert text.count("SignTool=") == 1


def test_inno_uninstaller_asks_before_deleting_models_and_history() -> None:
    code = _iss_sections()["Code"]
    words = _pascal_words(code)
    opened = sum(words.count(word) for word in ("begin", "case", "try"))
    assert opened == words.count("end") > 0
    procedure = code[code.index("procedure CurUninstallStepChanged") :]
    for needed in ("usUninstall", "UninstallSilent()", "MsgBox(", "usPostUninstall", "DelTree("):
        assert needed in procedure
    assert procedure.index("MsgBox(") < procedure.index("DelTree(")
    folder = re.search(r"ExpandConstant\('\{localappdata\}\\\{#AppName\}'\)", code)
    assert folder is not None


def test_inno_uninstaller_deletes_the_folders_moss_uses_on_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every folder of app/platform/paths.py on Windows is inside %LOCALAPPDATA%\\Moss, the one the uninstaller
    offers to delete (platformdirs' Windows rules, applied here with a stand-in for the known-folder lookup)."""
    import platformdirs.windows

    from app.platform import paths

    monkeypatch.delenv(paths.DATA_DIR_ENV, raising=False)
    monkeypatch.setattr(platformdirs.windows, "get_win_folder", lambda name: f"/{name}")
    monkeypatch.setattr(paths.platformdirs, "PlatformDirs", platformdirs.windows.Windows)
    folders = paths.AppPaths.resolve().all()
    for name, folder in folders.items():
        assert folder.is_relative_to("/CSIDL_LOCAL_APPDATA/Moss"), f"{name} folder {folder}"


def test_sign_script_reads_the_secrets_the_workflow_passes() -> None:
    script = (INSTALLERS / "windows" / "sign.ps1").read_text(encoding="utf-8")
    workflow = WORKFLOW.read_text(encoding="utf-8")
    for secret in ("WINDOWS_CERTIFICATE_PFX_BASE64", "WINDOWS_CERTIFICATE_PASSWORD"):
        assert f"$env:{secret}" in script
        assert f"{secret}: ${{{{ secrets.{secret} }}}}" in workflow
    # Without the certificate it skips before anything else.
    skip = script.index("if (-not $env:WINDOWS_CERTIFICATE_PFX_BASE64)")
    assert script.index("exit 0", skip) < script.index("signtool", skip)
    code = re.sub(r"<#.*?#>|#[^\n]*|'[^']*'|\"[^\"]*\"", "", script, flags=re.DOTALL)
    for opening, closing in ("{}", "()", "[]"):
        assert code.count(opening) == code.count(closing), f"unbalanced {opening}{closing} in sign.ps1"


# -- macOS: entitlements, DMG, signing ---------------------------------------------------------------------------


def test_entitlements_parse_and_grant_only_what_is_explained() -> None:
    entitlements = plistlib.loads((INSTALLERS / "macos" / "entitlements.plist").read_bytes())
    assert entitlements == {"com.apple.security.cs.allow-unsigned-executable-memory": True}
    explained = (INSTALLERS / "macos" / "sign_and_notarize.sh").read_text(encoding="utf-8")
    for key in entitlements:
        assert key.rsplit(".", 1)[1] in explained


def _fake_app(tmp_path: Path) -> Path:
    app = tmp_path / "dist" / "Moss.app"
    _executable(app / "Contents" / "MacOS" / "moss", "#!/bin/sh\n")
    frameworks = app / "Contents" / "Frameworks"
    frameworks.mkdir(parents=True)
    (frameworks / "libllama.dylib").write_bytes(bytes.fromhex("cffaedfe") + bytes(60))
    (frameworks / "_ctypes.cpython-311-darwin.so").write_bytes(bytes.fromhex("cafebabe") + bytes(60))
    qt_core = frameworks / "QtCore.framework" / "Versions" / "A"
    qt_core.mkdir(parents=True)
    (qt_core / "QtCore").write_bytes(bytes.fromhex("cffaedfe") + bytes(60))
    (app / "Contents" / "Resources").mkdir()
    (app / "Contents" / "Resources" / "base_library.zip").write_bytes(b"PK\x03\x04" + bytes(60))
    return app


@posix_only
def test_make_dmg_puts_the_app_beside_an_applications_link(tmp_path: Path) -> None:
    app = _fake_app(tmp_path)
    bin_dir = tmp_path / "bin"
    # The stand-in hdiutil lists the folder it was given and writes the image file.
    _executable(
        bin_dir / "hdiutil",
        '#!/bin/sh\nprintf "%s\\n" "$@" > "$HDIUTIL_LOG"\n'
        'while [ $# -gt 1 ]; do [ "$1" = -srcfolder ] && src=$2; shift; done\n'
        'ls -l "$src" > "$HDIUTIL_LOG.src"\ntouch "$1"\n',
    )
    log = tmp_path / "hdiutil.log"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "HDIUTIL_LOG": str(log)}
    dmg = tmp_path / "out" / "Moss.dmg"
    _run([INSTALLERS / "macos" / "make_dmg.sh", app, dmg], env=env)
    assert dmg.is_file()
    args = log.read_text().splitlines()
    assert args[:3] == ["create", "-volname", f"Moss {_version()}"]
    assert args[args.index("-format") + 1] == "UDZO"
    assert args[-1] == str(dmg)
    listing = Path(f"{log}.src").read_text()
    assert "Moss.app" in listing
    assert "Applications -> /Applications" in listing

    result = subprocess.run(
        [INSTALLERS / "macos" / "make_dmg.sh", tmp_path / "missing.app"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "bootstrap.py package" in result.stderr


@posix_only
def test_signing_is_skipped_with_a_message_without_secrets(tmp_path: Path) -> None:
    app = _fake_app(tmp_path)
    env = {key: value for key, value in os.environ.items() if not key.startswith("MACOS_")}
    output = _run([INSTALLERS / "macos" / "sign_and_notarize.sh", app], env=env)
    assert "Signing skipped" in output
    assert "MACOS_CERTIFICATE_P12_BASE64" in output


def _signing_stand_ins(bin_dir: Path, notary_status: str) -> None:
    record = 'printf "%s %s\\n" "$(basename "$0")" "$*" >> "$SIGN_LOG"\n'
    _executable(
        bin_dir / "security",
        f"#!/bin/sh\n{record}"
        'case "$1" in\n'
        '  list-keychains) [ "$3" = -s ] || echo \'    "/Users/me/Library/Keychains/login.keychain-db"\' ;;\n'
        "  find-identity) echo '  1) 0123ABCD \"Developer ID Application: Moss Test (TEAM123456)\"' ;;\n"
        "esac\n",
    )
    _executable(bin_dir / "codesign", f"#!/bin/sh\n{record}")
    _executable(bin_dir / "spctl", f"#!/bin/sh\n{record}")
    _executable(bin_dir / "ditto", f'#!/bin/sh\n{record}for last; do :; done\ntouch "$last"\n')
    answer = json.dumps({"id": "4f1c-submission", "status": notary_status})
    _executable(
        bin_dir / "xcrun",
        f"#!/bin/sh\n{record}"
        f"if [ \"$1 $2\" = 'notarytool submit' ]; then echo '{answer}'; fi\n"
        "if [ \"$1 $2\" = 'notarytool log' ]; then echo 'rejected: libllama.dylib'; fi\n",
    )
    _executable(
        bin_dir / "plutil",
        f"#!/bin/sh\n\"{sys.executable}\" -c 'import json, sys; print(json.load(open(sys.argv[2]))[sys.argv[1]])' "
        '"$2" "$6"\n',
    )


@posix_only
@pytest.mark.parametrize("notary_status", ["Accepted", "Invalid"])
def test_signing_goes_inside_out_then_notarizes_and_staples(tmp_path: Path, notary_status: str) -> None:
    app = _fake_app(tmp_path)
    bin_dir, log = tmp_path / "bin", tmp_path / "sign.log"
    _signing_stand_ins(bin_dir, notary_status)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "SIGN_LOG": str(log),
        "MACOS_CERTIFICATE_P12_BASE64": base64.b64encode(b"not really a certificate").decode(),
        "MACOS_CERTIFICATE_PASSWORD": "secret",
        "MACOS_NOTARY_KEY_BASE64": base64.b64encode(b"-----BEGIN PRIVATE KEY-----").decode(),
        "MACOS_NOTARY_KEY_ID": "KEY123",
        "MACOS_NOTARY_ISSUER_ID": "issuer-uuid",
    }
    env.pop("MACOS_SIGNING_IDENTITY", None)
    result = subprocess.run(
        [INSTALLERS / "macos" / "sign_and_notarize.sh", app], env=env, capture_output=True, text=True, timeout=60
    )
    calls = log.read_text().splitlines()
    codesign = [call for call in calls if call.startswith("codesign ")]
    identity = "--sign Developer ID Application: Moss Test (TEAM123456)"
    frameworks = app / "Contents" / "Frameworks"
    # 1. every loose Mach-O library, nothing else; 2. the frameworks; 3. the app with entitlements; 4. verify.
    assert f"--options runtime {identity}" in codesign[0]
    assert str(frameworks / "libllama.dylib") in codesign[0]
    assert str(frameworks / "_ctypes.cpython-311-darwin.so") in codesign[0]
    assert "base_library.zip" not in codesign[0]
    assert "QtCore" not in codesign[0]
    assert "MacOS" not in codesign[0]
    assert codesign[1].endswith(str(frameworks / "QtCore.framework"))
    entitlements = INSTALLERS / "macos" / "entitlements.plist"
    assert codesign[2] == (
        f"codesign --force --deep --timestamp --options runtime --entitlements {entitlements} {identity} {app}"
    )
    assert codesign[3] == f"codesign --verify --deep --strict --verbose=2 {app}"
    submit = next(call for call in calls if call.startswith("xcrun notarytool submit"))
    assert "Moss.zip" in submit
    assert "--key-id KEY123 --issuer issuer-uuid --wait" in submit
    # The throw-away keychain is created, and the keychain list put back as it was.
    assert any(call.startswith("security create-keychain") for call in calls)
    assert calls[-1].startswith("security delete-keychain")
    restore = [call for call in calls if call.startswith("security list-keychains -d user -s")][-1]
    assert restore == "security list-keychains -d user -s /Users/me/Library/Keychains/login.keychain-db"
    if notary_status == "Accepted":
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"xcrun stapler staple {app}" in calls
        assert "signed, notarized and stapled" in result.stdout
    else:
        assert result.returncode == 1
        assert any(call.startswith("xcrun notarytool log 4f1c-submission") for call in calls)
        assert 'status "Invalid"' in result.stderr
        assert not any("stapler" in call for call in calls)


# -- Linux: the tarball and install.sh ----------------------------------------------------------------------------


def _fake_dist(tmp_path: Path) -> Path:
    """A stand-in for PyInstaller's dist/Moss: `moss` writes the arguments it got to $MOSS_ARGS_LOG."""
    dist = tmp_path / "dist" / "Moss"
    _executable(dist / "moss", '#!/bin/sh\nprintf "[%s]" "$@" > "$MOSS_ARGS_LOG"\n')
    internal = dist / "_internal" / "llama_cpp" / "lib"
    internal.mkdir(parents=True)
    (internal / "libllama.so").write_bytes(b"\x7fELF")
    (internal / "libllama.so.0").symlink_to("libllama.so")
    return dist


def _make_tarball(tmp_path: Path) -> Path:
    env = {key: value for key, value in os.environ.items() if key not in ("MOSS_VERSION", "MOSS_ARCH")}
    _run([INSTALLERS / "linux" / "make_tarball.sh", _fake_dist(tmp_path), tmp_path / "out"], env=env)
    (tarball,) = (tmp_path / "out").glob("*.tar.gz")
    return tarball


@posix_only
def test_tarball_holds_the_app_its_menu_entry_icon_and_installer(tmp_path: Path) -> None:
    tarball = _make_tarball(tmp_path)
    name = f"Moss-{_version()}-linux-{os.uname().machine}"
    assert tarball.name == f"{name}.tar.gz"
    with tarfile.open(tarball) as archive:
        members = {member.name.removeprefix(f"{name}/"): member for member in archive.getmembers()}
    for file in ("Moss/moss", "install.sh", "moss-open"):
        assert members[file].mode & stat.S_IXUSR, f"{file} is not executable"
    for file in ("moss.desktop", "moss.png", "moss.svg", "moss-gguf.xml"):
        assert members[file].isfile()
    link = members["Moss/_internal/llama_cpp/lib/libllama.so.0"]
    assert link.issym()
    assert link.linkname == "libllama.so"

    desktop = configparser.ConfigParser(interpolation=None)
    desktop.optionxform = str
    desktop.read(INSTALLERS / "linux" / "moss.desktop", encoding="utf-8")
    entry = desktop["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Icon"] == "moss"
    assert entry["Exec"].endswith(" %f")
    mime = (INSTALLERS / "linux" / "moss-gguf.xml").read_text(encoding="utf-8")
    mime_type = re.search(r'<mime-type type="([^"]+)"', mime)
    assert mime_type is not None
    assert entry["MimeType"] == f"{mime_type.group(1)};"
    assert '<glob pattern="*.gguf"/>' in mime


def _desktop_exec(line: str) -> list[str]:
    """The command of a .desktop Exec value, unquoted as the Desktop Entry specification says (strictly: a
    reserved character that is not escaped is an error, where lenient readers would guess)."""
    value = re.sub(r"\\(.)", lambda m: {"s": " ", "n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)), line)
    args, current, quoted, i = [], "", False, 0
    while i < len(value):
        char = value[i]
        if quoted and char == "\\":
            assert value[i + 1 : i + 2] in ('"', "`", "$", "\\"), f"a stray backslash in Exec={line}"
            current, i = current + value[i + 1], i + 2
            continue
        assert char not in "`$" and (quoted or char not in "\\'><~|&;*?#()"), f"{char!r} unescaped in Exec={line}"
        if char == '"':
            quoted = not quoted
        elif char == " " and not quoted:
            args, current = ([*args, current] if current else args), ""
        else:
            current += char
        i += 1
    return [arg.replace("%%", "%") for arg in [*args, current] if arg]


def _wait_for(path: Path) -> str:
    for _ in range(100):
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} was never written")


@posix_only
def test_install_sh_installs_the_menu_entry_icon_and_file_type(tmp_path: Path) -> None:
    tarball = _make_tarball(tmp_path)
    with tarfile.open(tarball) as archive:
        archive.extractall(tmp_path / "unpacked", filter="tar")
    (package,) = (tmp_path / "unpacked").iterdir()
    home = tmp_path / "home with spaces and $dollar"  # a path the .desktop Exec line must quote and escape
    (home / ".local" / "share" / "Moss").mkdir(parents=True)
    (home / ".local" / "share" / "Moss" / "history.db").write_text("the person's conversations")
    args_log = tmp_path / "moss-args.txt"
    env = {
        "HOME": str(home),
        "PATH": os.environ["PATH"],
        "MOSS_ARGS_LOG": str(args_log),
        "LANG": "C.UTF-8",
    }
    _run(["sh", package / "install.sh"], env=env)
    _run(["sh", package / "install.sh"], env=env)  # again, as an update does

    share, prefix = home / ".local" / "share", home / ".local" / "opt" / "moss"
    assert (prefix / "Moss" / "moss").is_file()
    assert (prefix / "Moss" / "_internal" / "llama_cpp" / "lib" / "libllama.so.0").is_symlink()
    assert (share / "icons" / "hicolor" / "256x256" / "apps" / "moss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (share / "icons" / "hicolor" / "scalable" / "apps" / "moss.svg").is_file()
    assert (share / "mime" / "packages" / "moss-gguf.xml").is_file()
    assert (home / ".local" / "bin" / "moss").resolve() == (prefix / "Moss" / "moss").resolve()
    desktop_file = share / "applications" / "moss.desktop"
    desktop = configparser.ConfigParser(interpolation=None)
    desktop.optionxform = str
    desktop.read(desktop_file, encoding="utf-8")
    entry = desktop["Desktop Entry"]
    assert entry["MimeType"] == "application/x-gguf;"
    command = _desktop_exec(entry["Exec"])
    assert command == [str(prefix / "moss-open"), "%f"]

    # The menu entry's launcher opens the app, with the file the desktop passes as the model to open.
    model = tmp_path / "my model.gguf"
    _run([command[0], model], env=env)
    assert args_log.read_text() == f"[--model][{model}]"
    _run([command[0]], env=env)
    assert args_log.read_text() == "[]"
    if shutil.which("gio"):  # GLib's own reading of the entry, where it is installed (it is on this CI)
        args_log.unlink()
        _run(["gio", "launch", desktop_file, model], env=env)
        assert _wait_for(args_log) == f"[--model][{model}]"

    _run(["sh", package / "install.sh", "--uninstall"], env=env)
    assert not prefix.exists()
    assert not desktop_file.exists()
    assert not (home / ".local" / "bin" / "moss").exists()
    assert not (share / "mime" / "packages" / "moss-gguf.xml").exists()
    assert (share / "Moss" / "history.db").read_text() == "the person's conversations"


@posix_only
def test_install_sh_replaces_only_a_folder_that_holds_moss(tmp_path: Path) -> None:
    tarball = _make_tarball(tmp_path)
    with tarfile.open(tarball) as archive:
        archive.extractall(tmp_path / "unpacked", filter="tar")
    (package,) = (tmp_path / "unpacked").iterdir()
    prefix = tmp_path / "someone's folder"
    (prefix / "Moss").mkdir(parents=True)
    (prefix / "Moss" / "thesis.txt").write_text("keep me")
    env = {"HOME": str(tmp_path / "home"), "PATH": os.environ["PATH"], "MOSS_PREFIX": str(prefix)}
    result = subprocess.run(["sh", str(package / "install.sh")], env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert "is not a Moss install" in result.stderr
    assert (prefix / "Moss" / "thesis.txt").read_text() == "keep me"


# -- llama.cpp backends and icons ------------------------------------------------------------------------------


def test_llama_build_uses_the_version_pyproject_pins() -> None:
    from importlib.metadata import version

    backends = _module(INSTALLERS / "llama_backends.py")
    assert backends.llama_requirement() == f"llama-cpp-python=={version('llama-cpp-python')}"


def test_stage_copies_backends_and_the_cuda_runtime_into_llama_cpp_lib(tmp_path: Path) -> None:
    """The layout llama-cpp-python 0.3.36 leaves on Windows with GGML_BACKEND_DL=ON and GGML_CPU_ALL_VARIANTS=ON
    (read from its CMake install rules; file contents are stand-ins): the named backends in llama_cpp/lib, the
    CPU variants only in the wheel's bin/ folder, which ggml's own install rules fill with every backend."""
    backends = _module(INSTALLERS / "llama_backends.py")
    site = tmp_path / "site-packages"
    lib, bin_dir, cuda = site / "llama_cpp" / "lib", site / "bin", tmp_path / "cuda" / "bin"
    for folder, names in (
        (lib, ["llama.dll", "ggml.dll", "ggml-base.dll", "ggml-cuda.dll", "ggml-vulkan.dll"]),
        (bin_dir, ["ggml.dll", "ggml-base.dll", "ggml-cuda.dll", "ggml-vulkan.dll", "ggml-cpu-x64.dll"]),
        (bin_dir, ["ggml-cpu-sse42.dll", "ggml-cpu-haswell.dll"]),
        (cuda, ["cudart64_12.dll", "cublas64_12.dll", "cublasLt64_12.dll", "nvrtc64_120_0.dll", "nvcc.exe"]),
    ):
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            (folder / name).write_text(f"{folder.name}/{name}")

    found = backends.stage(site, cuda, required=["cuda", "vulkan", "cpu-haswell"])
    assert found == ["cpu-haswell", "cpu-sse42", "cpu-x64", "cuda", "vulkan"]
    assert (lib / "ggml-cpu-haswell.dll").read_text() == "bin/ggml-cpu-haswell.dll"
    assert (lib / "ggml-cuda.dll").read_text() == "lib/ggml-cuda.dll"  # what the package had is kept
    assert (lib / "cublasLt64_12.dll").is_file()
    assert not (lib / "nvrtc64_120_0.dll").exists()
    assert not (lib / "nvcc.exe").exists()

    with pytest.raises(backends.StageError, match="no metal backend"):
        backends.stage(site, required=["metal"])
    (cuda / "cudart64_12.dll").unlink()
    with pytest.raises(backends.StageError, match=r"No cudart64_\*\.dll"):
        backends.stage(site, cuda)


def test_backend_names_of_every_system() -> None:
    backends = _module(INSTALLERS / "llama_backends.py")
    names = {
        "ggml-cuda.dll": "cuda",
        "ggml-cpu-alderlake.dll": "cpu-alderlake",
        "libggml-vulkan.so": "vulkan",
        "libggml-metal.dylib": "metal",
        "libggml-cpu.so": "cpu",
        "libggml-base.so": None,
        "ggml-base.dll": None,
        "libggml-cpu.so.0": None,
        "ggml.dll": None,
        "llama.dll": None,
    }
    assert {name: backends.backend_name(name) for name in names} == names


def _ico_sizes(data: bytes) -> list[tuple[int, str]]:
    reserved, kind, count = (int.from_bytes(data[i : i + 2], "little") for i in (0, 2, 4))
    assert (reserved, kind) == (0, 1)
    entries = []
    for index in range(count):
        entry = data[6 + 16 * index : 22 + 16 * index]
        size, offset = entry[0] or 256, int.from_bytes(entry[12:16], "little")
        entries.append((size, "png" if data[offset : offset + 4] == b"\x89PNG" else "bmp"))
    return entries


def test_icons_are_drawn_from_the_svg(qapp: object, tmp_path: Path) -> None:
    from PySide6.QtGui import QImage, QImageReader

    icons = _module(INSTALLERS / "make_icons.py")
    expected = [(size, "png" if size >= 128 else "bmp") for size in icons.ICO_SIZES]
    checked_in = ROOT / "resources" / "icons"
    assert _ico_sizes((checked_in / "moss.ico").read_bytes()) == expected
    assert QImage(str(checked_in / "moss.png")).size().width() == 256

    ico, png = icons.write_icons(tmp_path)
    assert _ico_sizes(ico.read_bytes()) == expected
    reader = QImageReader(str(ico))
    assert reader.imageCount() == len(expected)
    for index, (size, _) in enumerate(expected):
        reader.jumpToImage(index)
        image = reader.read()
        assert (image.width(), image.height()) == (size, size)
        assert image.pixelColor(0, 0).alpha() == 0  # the rounded corner is transparent
        assert image.pixelColor(size // 2, size // 8).name() == "#3f7a4a"  # moss green, the right way up
    assert QImage(str(png)).pixelColor(128, 30).name() == "#3f7a4a"
