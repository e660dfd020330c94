#!/usr/bin/env bash
# Pack the PyInstaller folder for Linux: Moss-VERSION-linux-ARCH.tar.gz holds the app (Moss/), its menu entry
# (moss.desktop), icons, the .gguf file type (moss-gguf.xml), the launcher the menu entry runs (moss-open) and
# install.sh, which installs all of it for the current user.
#
#   installers/linux/make_tarball.sh [DIST_DIR] [OUT_DIR]
#
# DIST_DIR defaults to dist/Moss (from `python3 bootstrap.py package`), OUT_DIR to dist/installer. VERSION is
# $MOSS_VERSION or app.__version__; ARCH is $MOSS_ARCH or `uname -m`.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

die() {
    echo "make_tarball.sh: $*" >&2
    exit 1
}

dist=${1:-$root/dist/Moss}
dist=${dist%/}
out_dir=${2:-$root/dist/installer}
version=${MOSS_VERSION:-$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$root/app/__init__.py")}
[ -n "$version" ] || die "could not read __version__ from $root/app/__init__.py; set MOSS_VERSION."
arch=${MOSS_ARCH:-$(uname -m)}
[ -x "$dist/moss" ] || die "$dist/moss is missing or not executable. Build it first: python3 bootstrap.py package"

name=Moss-$version-linux-$arch
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
package=$staging/$name
mkdir "$package"
cp -Rp "$dist" "$package/Moss"
cp "$here/install.sh" "$here/moss-open" "$here/moss.desktop" "$here/moss-gguf.xml" "$package/"
cp "$root/resources/icons/moss.png" "$root/resources/icons/moss.svg" "$package/"
chmod 755 "$package/install.sh" "$package/moss-open"
chmod 644 "$package/moss.desktop" "$package/moss-gguf.xml" "$package/moss.png" "$package/moss.svg"

mkdir -p "$out_dir"
tarball=$(cd "$out_dir" && pwd)/$name.tar.gz
tar -C "$staging" -czf "$tarball" "$name"
echo "Wrote $tarball"
