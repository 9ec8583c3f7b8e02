#!/usr/bin/env bash
# stage.sh BUNDLE_DIR OUT_DIR KIND... — copies what Tauri's bundler made
# under BUNDLE_DIR (…/release/bundle) into OUT_DIR, one file per artefact,
# spaces in names replaced by '-'. A macOS .app (a directory) becomes a
# .app.tar.gz. Fails if a KIND produced nothing. Used by
# .github/workflows/release.yml; prints the staged files.
#
# KIND: deb rpm appimage msi nsis dmg app
set -euo pipefail
shopt -s nullglob

bundle=${1:?usage: stage.sh BUNDLE_DIR OUT_DIR KIND...}
out=${2:?usage: stage.sh BUNDLE_DIR OUT_DIR KIND...}
shift 2
(($#)) || { echo "stage.sh: no KIND given" >&2; exit 2; }
mkdir -p "$out"

for kind in "$@"; do
    case $kind in
        deb) found=("$bundle"/deb/*.deb) ;;
        rpm) found=("$bundle"/rpm/*.rpm) ;;
        appimage) found=("$bundle"/appimage/*.AppImage) ;;
        msi) found=("$bundle"/msi/*.msi) ;;
        nsis) found=("$bundle"/nsis/*.exe) ;;
        dmg) found=("$bundle"/dmg/*.dmg) ;;
        app) found=("$bundle"/macos/*.app) ;;
        *) echo "stage.sh: unknown KIND '$kind'" >&2; exit 2 ;;
    esac
    ((${#found[@]})) || { echo "stage.sh: no $kind bundle under $bundle" >&2; exit 1; }
    for path in "${found[@]}"; do
        name=$(basename "$path")
        name=${name// /-}
        if [[ -d $path ]]; then
            # Keeps the bundle's symlinks and modes (and so its signature).
            tar -C "$(dirname "$path")" -czf "$out/$name.tar.gz" "$(basename "$path")"
            echo "$out/$name.tar.gz"
        else
            cp "$path" "$out/$name"
            echo "$out/$name"
        fi
    done
done
