#!/usr/bin/env bash
# Runs every test of the workspace: unit tests, and the end-to-end tests
# against real nsd-served signed zones with delv and unbound as oracles.
# Ends with one line "N passed, N failed" summed over every test binary.
#
# Usage: tests/run.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/install-deps.sh
# The desktop app embeds ui/dist at compile time.
bash installers/build.sh ui >/dev/null
# A fixed build cache so repeated runs (and CI) do not rebuild the world.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/danemail/target}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace "$@" 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$status"
