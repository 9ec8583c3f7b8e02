#!/bin/sh
# Builds DANE Mail artefacts. Progress goes to stderr; the LAST line of
# stdout is the absolute path of what was built.
#
#   installers/build.sh ui              the UI alone (ui/dist)
#   installers/build.sh app [--debug]   the UI (ui/dist) and the desktop app
#   installers/build.sh run [ARGS...]   builds the app, then runs it (the
#                                       README's first command; without a
#                                       display it runs the headless service)
#   installers/build.sh deb [--debug]   the .deb (Tauri's bundler, offline):
#                                       app, CLI, systemd user unit, desktop
#                                       entry, icons
#   installers/build.sh appimage [--debug]
#                                       an AppImage assembled here, offline
#                                       (installers/appimage.sh)
#
# --debug packs the debug builds the test suite has already made (the
# installer tests use it: same package, no release build from cold); what
# users get is built without it.
#
# Installs the Debian packages the build needs first (tests/install-deps.sh --build).
# DANEMAIL_VERSION=X.Y.Z overrides the version for a package build (the
# upgrade test builds A and A+1 from one tree).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/danemail/target}"

usage() {
	echo "usage: $0 ui | app [--debug] | run [APP ARGS...] | deb [--debug] | appimage [--debug]" >&2
	exit 2
}

log() { echo "build.sh: $*" >&2; }

build_ui() {
	cd "$root/ui"
	if [ ! -d node_modules ]; then
		log "npm ci"
		npm ci >&2
	fi
	log "npm run build (ui/)"
	npm run build >&2
	[ -f dist/index.html ] || { log "ui/dist/index.html missing after the UI build"; exit 1; }
}

# $1: debug|release. tauri's custom-protocol is always on in
# src-tauri/Cargo.toml, so this is the production app (embedded ui/dist).
build_app() {
	profile=$1
	build_ui
	cd "$root"
	if [ "$profile" = release ]; then
		log "cargo build --release -p danemail-app"
		cargo build --release -p danemail-app >&2
		dir=release
	else
		log "cargo build -p danemail-app"
		cargo build -p danemail-app >&2
		dir=debug
	fi
	bin="$CARGO_TARGET_DIR/$dir/danemail-app"
	[ -x "$bin" ] || { log "$bin missing after the build"; exit 1; }
	# Absolute, even when CARGO_TARGET_DIR was given relative.
	(cd "$(dirname "$bin")" && printf '%s/%s\n' "$(pwd)" "$(basename "$bin")")
}

# The CLI as the bundler's external binary (installed as /usr/bin/danemail),
# named with the host's target triple as Tauri expects.
# $1: debug|release.
build_cli_sidecar() {
	cd "$root"
	if [ "$1" = release ]; then
		log "cargo build --release -p danemail"
		cargo build --release -p danemail >&2
	else
		log "cargo build -p danemail"
		cargo build -p danemail >&2
	fi
	triple=$(rustc -vV | sed -n 's/^host: //p')
	mkdir -p "$root/src-tauri/binaries"
	cp "$CARGO_TARGET_DIR/$1/danemail" "$root/src-tauri/binaries/danemail-$triple"
}

# The Tauri CLI, pinned by installers/package-lock.json.
tauri_cli() {
	if [ ! -x "$root/installers/node_modules/.bin/tauri" ]; then
		log "npm ci (installers/)"
		(cd "$root/installers" && npm ci --no-audit --no-fund >&2)
	fi
	echo "$root/installers/node_modules/.bin/tauri"
}

# $1: bundle (deb, rpm, appimage, …), $2: debug|release. Prints nothing;
# the bundle lands under $CARGO_TARGET_DIR/$2/bundle/$1/.
bundle() {
	build_ui
	build_cli_sidecar "$2"
	cli=$(tauri_cli)
	cd "$root/src-tauri"
	extra=""
	if [ -n "${DANEMAIL_VERSION:-}" ]; then
		extra=$(mktemp)
		printf '{"version": "%s"}\n' "$DANEMAIL_VERSION" >"$extra"
	fi
	rm -rf "$CARGO_TARGET_DIR/$2/bundle/$1"
	debug=""
	[ "$2" = release ] || debug=--debug
	log "tauri build $debug --bundles $1"
	"$cli" build --ci $debug --bundles "$1" --config "$root/installers/tauri.bundle.json" \
		${extra:+--config "$extra"} >&2
	[ -z "$extra" ] || rm -f "$extra"
}

# The profile the arguments ask for: release, or debug with --debug.
profile_of() {
	profile=release
	for arg in "$@"; do
		case "$arg" in
		--debug) profile=debug ;;
		*) usage ;;
		esac
	done
	echo "$profile"
}

[ $# -ge 1 ] || usage
target=$1
shift
bash "$root/tests/install-deps.sh" --build >&2
case "$target" in
run)
	bin=$(build_app release | tail -n 1)
	log "starting $bin"
	exec "$bin" "$@"
	;;
ui)
	# The UI alone (ui/dist): what compiling src-tauri embeds.
	build_ui
	echo "$root/ui/dist"
	;;
app)
	# An assignment, so that set -e stops on a usage error inside $(…).
	profile=$(profile_of "$@")
	build_app "$profile"
	;;
deb | appimage)
	profile=$(profile_of "$@")
	if [ "$target" = deb ]; then
		bundle deb "$profile"
		deb=$(ls "$CARGO_TARGET_DIR/$profile"/bundle/deb/*.deb)
		(cd "$(dirname "$deb")" && printf '%s/%s\n' "$(pwd)" "$(basename "$deb")")
	else
		build_app "$profile" >/dev/null
		build_cli_sidecar "$profile"
		exec sh "$root/installers/appimage.sh" "$CARGO_TARGET_DIR/$profile/danemail-app" \
			"$CARGO_TARGET_DIR/$profile/danemail"
	fi
	;;
*) usage ;;
esac
