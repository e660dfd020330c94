"""Windows: the Inno Setup script (checked as text; Inno Setup runs on Windows only) and the signing hook."""

from __future__ import annotations

import re

import pytest

from tests.installers.common import INSTALLERS, ISS, WORKFLOW

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
