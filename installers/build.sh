#!/bin/sh
# Builds DANE Mail artefacts. Progress goes to stderr; the LAST line of
# stdout is the absolute path of what was built.
#
#   installers/build.sh ui              the UI alone (ui/dist)
#   installers/build.sh app [--debug]   the UI (ui/dist) and the desktop app
#   installers/build.sh run [ARGS...]   builds the app, then runs it (the
#                                       README's first command; without a
#                                       display it runs the headless service)
#
# Installs the Debian packages the build needs first (tests/install-deps.sh --build).
#
# Later: deb, appimage, … (one case each below).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/danemail/target}"

usage() {
	echo "usage: $0 ui | app [--debug] | run [APP ARGS...]" >&2
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
	profile=release
	for arg in "$@"; do
		case "$arg" in
		--debug) profile=debug ;;
		*) usage ;;
		esac
	done
	build_app "$profile"
	;;
*) usage ;;
esac
