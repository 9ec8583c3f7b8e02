#!/usr/bin/env bash
# Runs every test of the workspace: unit tests, and the end-to-end tests
# against real nsd-served signed zones with delv and unbound as oracles.
#
# Usage: tests/run.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/install-deps.sh
# A fixed build cache so repeated runs (and CI) do not rebuild the world.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/danemail/target}"
exec cargo test --workspace "$@"
