#!/bin/sh
# Install Moss for the current user, without root: the app, a menu entry with its icon, "Open with Moss" for
# .gguf model files, and the `moss` command.
#
#   ./install.sh               install, or update an earlier install
#   ./install.sh --uninstall   remove all of that again; your models and conversations stay
#
# Where things go (XDG_DATA_HOME defaults to ~/.local/share):
#   ~/.local/opt/moss/                      the app (MOSS_PREFIX chooses another folder)
#   ~/.local/bin/moss                       a link to the app, for the command line
#   $XDG_DATA_HOME/applications/moss.desktop, icons/hicolor/.../moss.{png,svg}, mime/packages/moss-gguf.xml
# Moss keeps its own files (models, history, settings) in ~/.local/share/Moss and ~/.config/Moss; this script
# never deletes them.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
data_home=${XDG_DATA_HOME:-$HOME/.local/share}
prefix=${MOSS_PREFIX:-$HOME/.local/opt/moss}
bin_dir=$HOME/.local/bin
desktop_file=$data_home/applications/moss.desktop
png_icon=$data_home/icons/hicolor/256x256/apps/moss.png
svg_icon=$data_home/icons/hicolor/scalable/apps/moss.svg
mime_file=$data_home/mime/packages/moss-gguf.xml

die() {
    echo "install.sh: $*" >&2
    exit 1
}

# The desktop's caches (file types, menu entries, icons) are refreshed when their tools are installed; without
# them the desktop notices the new files later, at the next login at worst.
refresh_caches() {
    if command -v update-mime-database >/dev/null 2>&1; then
        update-mime-database "$data_home/mime" >/dev/null 2>&1 || true
    fi
    if command -v update-desktop-database >/dev/null 2>&1; then
        update-desktop-database "$data_home/applications" >/dev/null 2>&1 || true
    fi
    if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f "$data_home/icons/hicolor/index.theme" ]; then
        gtk-update-icon-cache -q -t "$data_home/icons/hicolor" >/dev/null 2>&1 || true
    fi
}

# Only a folder that holds Moss is ever replaced or removed, so a mistyped MOSS_PREFIX cannot cost anything.
remove_app_folder() {
    if [ -e "$prefix/Moss" ]; then
        [ -x "$prefix/Moss/moss" ] || die "$prefix/Moss exists but is not a Moss install; move it away first."
        rm -rf "$prefix/Moss"
    fi
}

# A path as the Exec key of a .desktop file wants it: in double quotes, with ", `, $ and \ escaped for the
# Exec rules and every backslash then doubled for the file's string rules, and % written %%.
desktop_exec_path() {
    printf '%s' "$1" | sed -e 's/[\\]/\\\\\\\\/g' -e 's/["`$]/\\\\&/g' -e 's/%/%%/g'
}

# Qt's window needs X11's xcb libraries, which a minimal or fresh Linux may lack (Moss then cannot open its
# window; its commands still work). ldd names those the window plugin cannot find; the install goes on and says
# what to install. Debian's package name follows the library's: libxcb-icccm.so.4 -> libxcb-icccm4.
check_window_libraries() {
    plugin=$prefix/Moss/_internal/PySide6/Qt/plugins/platforms/libqxcb.so
    [ -f "$plugin" ] && command -v ldd >/dev/null 2>&1 || return 0
    missing=$(ldd "$plugin" 2>/dev/null | awk '/=> not found/ { print $1 }' | sort -u)
    [ -n "$missing" ] || return 0
    packages=""
    for library in $missing; do
        name=$(printf '%s' "${library%%.so.*}" | tr '[:upper:]' '[:lower:]')
        version=${library##*.so.}
        version=${version%%.*}
        case $name in
            *[0-9]) packages="$packages $name-$version" ;;
            *) packages="$packages $name$version" ;;
        esac
    done
    echo "Warning: Moss's window needs system libraries this computer lacks: $(printf '%s\n' "$missing" | paste -sd ' ' -)"
    echo "Install them (Debian, Ubuntu, Mint: sudo apt install$packages), then check with: moss --self-test"
}

uninstall() {
    remove_app_folder
    rm -f "$prefix/moss-open" "$desktop_file" "$png_icon" "$svg_icon" "$mime_file"
    rmdir "$prefix" 2>/dev/null || true
    if [ -L "$bin_dir/moss" ] && [ "$(readlink "$bin_dir/moss")" = "$prefix/Moss/moss" ]; then
        rm -f "$bin_dir/moss"
    fi
    refresh_caches
    echo "Moss is uninstalled. Your models and conversations are still in $data_home/Moss (settings in"
    echo "${XDG_CONFIG_HOME:-$HOME/.config}/Moss); delete those folders too if you want them gone."
}

install() {
    [ -x "$here/Moss/moss" ] || die "$here/Moss/moss is missing: run install.sh from the unpacked Moss folder."
    remove_app_folder
    mkdir -p "$prefix" "$(dirname "$desktop_file")" "$(dirname "$png_icon")" "$(dirname "$svg_icon")" \
        "$(dirname "$mime_file")"
    cp -Rp "$here/Moss" "$prefix/Moss"
    cp "$here/moss-open" "$prefix/moss-open"
    chmod 755 "$prefix/moss-open"
    cp "$here/moss.png" "$png_icon"
    cp "$here/moss.svg" "$svg_icon"
    cp "$here/moss-gguf.xml" "$mime_file"

    exec_path=$(desktop_exec_path "$prefix/moss-open")
    while IFS= read -r line; do
        case $line in
            Exec=*) printf 'Exec="%s" %%f\n' "$exec_path" ;;
            *) printf '%s\n' "$line" ;;
        esac
    done <"$here/moss.desktop" >"$desktop_file"
    chmod 644 "$desktop_file"

    mkdir -p "$bin_dir"
    if [ ! -e "$bin_dir/moss" ] || [ -L "$bin_dir/moss" ]; then
        ln -sfn "$prefix/Moss/moss" "$bin_dir/moss"
    else
        echo "Note: $bin_dir/moss already exists and is not a link to Moss; it was left as it is."
    fi
    refresh_caches
    check_window_libraries
    echo "Moss is installed in $prefix. Open it from your applications menu, or type: moss"
    case ":$PATH:" in
        *":$bin_dir:"*) ;;
        *) echo "(To type \`moss\`, add $bin_dir to your PATH.)" ;;
    esac
}

case "${1:-}" in
    "") install ;;
    --uninstall) uninstall ;;
    -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown option $1; use --uninstall, or nothing to install." ;;
esac
