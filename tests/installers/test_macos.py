"""macOS: the entitlements, the DMG and the signing and notarizing script, run with recording stand-ins."""

from __future__ import annotations

import base64
import json
import os
import plistlib
import subprocess
import sys
from pathlib import Path

import pytest

from tests.installers.common import INSTALLERS, _executable, _run, _version, posix_only

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
