#!/usr/bin/env bash
# Put Moss.app in a compressed disk image beside a link to /Applications, so that installing Moss is dragging
# one icon onto the other.
#
#   installers/macos/make_dmg.sh [APP] [DMG]
#
# APP defaults to dist/Moss.app (from `python3 bootstrap.py package`), DMG to
# dist/installer/Moss-VERSION-macos-arm64.dmg, VERSION being $MOSS_VERSION or app.__version__. Sign the app
# before (sign_and_notarize.sh APP), and the DMG after (sign_and_notarize.sh DMG).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)

die() {
    echo "make_dmg.sh: $*" >&2
    exit 1
}

app=${1:-$root/dist/Moss.app}
app=${app%/}
version=${MOSS_VERSION:-$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$root/app/__init__.py")}
[ -n "$version" ] || die "could not read __version__ from $root/app/__init__.py; set MOSS_VERSION."
dmg=${2:-$root/dist/installer/Moss-$version-macos-arm64.dmg}

[ -d "$app" ] || die "$app does not exist. Build it first: python3 bootstrap.py package"
[ -x "$app/Contents/MacOS/moss" ] || die "$app has no Contents/MacOS/moss: is it the app build.spec makes?"
command -v hdiutil >/dev/null || die "hdiutil was not found: disk images are made on macOS."

staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
# ditto copies a bundle exactly (symbolic links, extended attributes, the code signature); cp -R elsewhere.
if command -v ditto >/dev/null; then
    ditto "$app" "$staging/Moss.app"
else
    cp -R "$app" "$staging/Moss.app"
fi
ln -s /Applications "$staging/Applications"

mkdir -p "$(dirname "$dmg")"
rm -f "$dmg"
# UDZO: zlib-compressed and read-only, opened by every macOS version Moss supports.
hdiutil create -volname "Moss $version" -srcfolder "$staging" -fs HFS+ -format UDZO -ov "$dmg"
echo "Wrote $dmg"
