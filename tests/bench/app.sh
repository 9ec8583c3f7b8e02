#!/usr/bin/env bash
# Benchmark: the desktop app beside the headless service it wraps.
# - time from launch to the SMTP port answering 220 (N launches each):
#   `danemail-app` (window shown) vs `danemail run`;
# - idle memory after 5 s: the app's whole process tree (the app plus
#   WebKit's web and network processes), window shown and window hidden
#   (closed to the tray), vs `danemail run`.
# Release builds, Xvfb, the same config (storage in a temp dir, local
# password file, DNS to a closed loopback port so nothing leaves).
#
# Usage: tests/bench/app.sh [LAUNCHES]
set -euo pipefail
cd "$(dirname "$0")/../.."
launches=${1:-5}
bash tests/install-deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/danemail/target}"
app=$(bash installers/build.sh app | tail -n 1)
cargo build --release -q -p danemail
cli=$CARGO_TARGET_DIR/release/danemail
exec python3 tests/bench/app.py "$app" "$cli" "$launches"
