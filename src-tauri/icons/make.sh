#!/bin/sh
# Renders every icon PNG from source.svg (needs rsvg-convert: Debian
# librsvg2-bin). Run from anywhere; writes next to this script. The PNGs are
# committed, so building the app does not need librsvg.
#
#   tray-<state>-<variant>.png  state: ok attention error paused
#                               variant: light (dark glyph, for light panels)
#                                        dark  (light glyph, for dark panels)
#   32x32.png 128x128.png 128x128@2x.png icon.png   the app icon (Tauri)
#
# A user stylesheet loses to the file's own <style> unless !important.
# icon.ico (Windows) and icon.icns (macOS) are made from a 1024-pixel
# rendering by the Tauri CLI's `icon` command (installers/node_modules).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src="$here/source.svg"
css=$(mktemp)
trap 'rm -f "$css"' EXIT

render() { # out size stylesheet-text
	printf '%s\n' "$3" >"$css"
	rsvg-convert --stylesheet="$css" -w "$2" -h "$2" -o "$here/$1" "$src"
}

for state in ok attention error paused; do
	show="#badge-$state, #cut-$state { display: inline !important; }"
	render "tray-$state-light.png" 64 "$show"
	render "tray-$state-dark.png" 64 "$show .glyph { stroke: #f3f4f6 !important; } .paused-bg { fill: #6b7280 !important; }"
done

app="#tile { display: inline !important; } .glyph { stroke: #ffffff !important; } #badge-ok, #cut-ok { display: inline !important; }"
render 32x32.png 32 "$app"
render 128x128.png 128 "$app"
render 128x128@2x.png 256 "$app"
render icon.png 512 "$app"

# Windows and macOS icons: `tauri icon` writes every size of every platform;
# only the .ico and .icns are kept.
cli="$here/../../installers/node_modules/.bin/tauri"
[ -x "$cli" ] || (cd "$here/../../installers" && npm ci --no-audit --no-fund >&2)
big=$(mktemp -d)
trap 'rm -rf "$css" "$big"' EXIT
render ../../.icon-1024.png 1024 "$app"
mv "$here/../../.icon-1024.png" "$big/icon.png"
"$cli" icon "$big/icon.png" -o "$big/out" >&2
cp "$big/out/icon.ico" "$big/out/icon.icns" "$here/"
