#!/usr/bin/env bash
# Sign Moss.app or its DMG with Moss's Developer ID, have Apple notarize it, and staple the ticket to it.
#
#   installers/macos/sign_and_notarize.sh dist/Moss.app
#   installers/macos/sign_and_notarize.sh dist/installer/Moss-0.1.0-macos-arm64.dmg
#
# The release workflow runs it on the app (before make_dmg.sh puts it in the DMG), then on the DMG: both carry a
# stapled ticket, so Gatekeeper accepts the app on a computer that is offline the first time Moss opens.
#
# The secrets come from the environment (the workflow maps its secrets of the same names):
#   MACOS_CERTIFICATE_P12_BASE64   "Developer ID Application" certificate and private key (.p12), base64-encoded
#   MACOS_CERTIFICATE_PASSWORD     the .p12 file's password
#   MACOS_SIGNING_IDENTITY         optional: the identity to use, "Developer ID Application: NAME (TEAM)"
#   MACOS_NOTARY_KEY_BASE64        App Store Connect API key (AuthKey_XXXX.p8), base64-encoded
#   MACOS_NOTARY_KEY_ID            that key's ID
#   MACOS_NOTARY_ISSUER_ID         the issuer ID shown with the key in App Store Connect
# Each step is skipped, with a message, when its secrets are absent: without the certificate nothing is signed
# (the app keeps PyInstaller's ad-hoc signature); without the API key the app is signed but not notarized.
#
# The app is signed inside out with the hardened runtime (notarization requires it) and entitlements.plist:
# first every Mach-O file outside a framework, then each framework, then the bundle itself with --deep.
# entitlements.plist grants one exception, allow-unsigned-executable-memory: Moss passes Python functions to
# llama.cpp as C callbacks through ctypes (its log, a model load's progress); each is a libffi closure, which
# some Python builds place in writable and executable memory, and without the exception the app would crash when
# it loads llama.cpp (pyinstaller/pyinstaller#4629). Not granted: allow-jit (nothing in Moss compiles code at run
# time; Metal compiles its shaders in its own service) and disable-library-validation (every library in the
# bundle is signed here with the same Team ID, which library validation accepts). The workflow runs the signed
# app's --self-test, which loads llama.cpp, so a missing exception fails the release rather than a person's Mac.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
entitlements="$here/entitlements.plist"

die() {
    echo "sign_and_notarize.sh: $*" >&2
    exit 1
}

[ $# -eq 1 ] || die "usage: sign_and_notarize.sh PATH/Moss.app | PATH/Moss.dmg"
target=${1%/}
[ -e "$target" ] || die "$target does not exist. Build it first (python3 bootstrap.py package, then make_dmg.sh)."
case "$target" in
    *.app) kind=app ;;
    *.dmg) kind=dmg ;;
    *) die "$target is neither an .app bundle nor a .dmg disk image." ;;
esac

if [ -z "${MACOS_CERTIFICATE_P12_BASE64:-}" ]; then
    echo "Signing skipped for $target: MACOS_CERTIFICATE_P12_BASE64 is not set."
    echo "Unsigned, Gatekeeper blocks the app: people must right-click it and choose Open the first time."
    echo "Add the MACOS_CERTIFICATE_P12_BASE64 and MACOS_CERTIFICATE_PASSWORD secrets to sign releases."
    exit 0
fi
for tool in security codesign xcrun; do
    command -v "$tool" >/dev/null || die "$tool was not found: signing runs on macOS, with Xcode's command line tools."
done

work=$(mktemp -d)
keychain="$work/moss-signing.keychain-db"
keychain_password=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
original_keychains=()
while IFS= read -r line; do
    line=${line//\"/}
    line=${line#"${line%%[![:space:]]*}"}
    [ -n "$line" ] && original_keychains+=("$line")
done < <(security list-keychains -d user)

cleanup() {
    security list-keychains -d user -s ${original_keychains[@]+"${original_keychains[@]}"} || true
    security delete-keychain "$keychain" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The certificate goes into a throw-away keychain, deleted on exit; the login keychain is never touched.
printf '%s' "$MACOS_CERTIFICATE_P12_BASE64" | base64 --decode >"$work/certificate.p12"
security create-keychain -p "$keychain_password" "$keychain"
security set-keychain-settings -lut 21600 "$keychain"
security unlock-keychain -p "$keychain_password" "$keychain"
security import "$work/certificate.p12" -k "$keychain" -P "${MACOS_CERTIFICATE_PASSWORD:-}" -T /usr/bin/codesign
security set-key-partition-list -S apple-tool:,apple:,codesign: -s -k "$keychain_password" "$keychain" >/dev/null
security list-keychains -d user -s "$keychain" ${original_keychains[@]+"${original_keychains[@]}"}

identity=${MACOS_SIGNING_IDENTITY:-}
if [ -z "$identity" ]; then
    identity=$(security find-identity -v -p codesigning "$keychain" |
        awk -F'"' '/Developer ID Application/ { print $2; exit }')
fi
[ -n "$identity" ] || die "The certificate holds no \"Developer ID Application\" identity; export that one as .p12."
echo "Signing $target as $identity"

is_macho() {
    # Mach-O files (thin 32/64-bit, either byte order) and universal binaries, by their first four bytes.
    case "$(od -An -tx1 -N4 "$1" 2>/dev/null | tr -d ' \n')" in
        cffaedfe | cefaedfe | feedfacf | feedface | cafebabe | bebafeca) return 0 ;;
        *) return 1 ;;
    esac
}

sign_app() {
    local file framework
    local loose=() frameworks=()
    while IFS= read -r file; do
        case "$file" in
            *.framework/*) ;; # signed with its framework below
            *) if is_macho "$file"; then loose+=("$file"); fi ;;
        esac
    done < <(find "$target/Contents" -type f ! -path "$target/Contents/MacOS/*")
    # Deepest first, so that a framework inside another is signed before the one that holds it.
    while IFS= read -r framework; do
        frameworks+=("$framework")
    done < <(find "$target/Contents" -type d -name '*.framework' | awk -F/ '{ print NF "\t" $0 }' | sort -rn | cut -f2-)
    echo "Signing ${#loose[@]} libraries and ${#frameworks[@]} frameworks, then the app"
    if [ ${#loose[@]} -gt 0 ]; then
        codesign --force --timestamp --options runtime --sign "$identity" "${loose[@]}"
    fi
    if [ ${#frameworks[@]} -gt 0 ]; then
        codesign --force --timestamp --options runtime --sign "$identity" "${frameworks[@]}"
    fi
    codesign --force --deep --timestamp --options runtime --entitlements "$entitlements" --sign "$identity" "$target"
    codesign --verify --deep --strict --verbose=2 "$target"
}

if [ "$kind" = app ]; then
    sign_app
else
    codesign --force --timestamp --sign "$identity" "$target"
    codesign --verify --verbose=2 "$target"
fi

if [ -z "${MACOS_NOTARY_KEY_BASE64:-}" ] || [ -z "${MACOS_NOTARY_KEY_ID:-}" ] || [ -z "${MACOS_NOTARY_ISSUER_ID:-}" ]; then
    echo "Notarization skipped for $target: MACOS_NOTARY_KEY_BASE64, MACOS_NOTARY_KEY_ID or MACOS_NOTARY_ISSUER_ID is not set."
    echo "Signed but not notarized, the app is still blocked by Gatekeeper on other Macs."
    exit 0
fi

key="$work/AuthKey.p8"
printf '%s' "$MACOS_NOTARY_KEY_BASE64" | base64 --decode >"$key"
notary=(--key "$key" --key-id "$MACOS_NOTARY_KEY_ID" --issuer "$MACOS_NOTARY_ISSUER_ID")
submission=$target
if [ "$kind" = app ]; then
    # notarytool takes a zip, a DMG or a package, not a folder: the app goes in a zip made by ditto, which keeps
    # the bundle's symbolic links and extended attributes.
    submission="$work/$(basename "$target" .app).zip"
    ditto -c -k --keepParent "$target" "$submission"
fi
echo "Submitting $target to Apple's notary service (this usually takes a few minutes)"
xcrun notarytool submit "$submission" "${notary[@]}" --wait --timeout 2h --output-format json \
    >"$work/notary.json" || true
status=$(plutil -extract status raw -o - "$work/notary.json" 2>/dev/null || echo "no answer")
submission_id=$(plutil -extract id raw -o - "$work/notary.json" 2>/dev/null || echo "")
if [ "$status" != "Accepted" ]; then
    cat "$work/notary.json" >&2 || true
    if [ -n "$submission_id" ]; then
        xcrun notarytool log "$submission_id" "${notary[@]}" >&2 || true
    fi
    die "Notarization of $target ended with status \"$status\". Apple's log above lists each file it rejected."
fi

xcrun stapler staple "$target"
xcrun stapler validate "$target"
if [ "$kind" = app ]; then
    spctl --assess --type execute --verbose=2 "$target"
else
    spctl --assess --type open --context context:primary-signature --verbose=2 "$target"
fi
echo "$target is signed, notarized and stapled."
