#!/usr/bin/env bash
# Benchmark (issue 12): delivery lanes. Drains N (100) queued messages from
# `danemail run` to the loopback Postfix fixture with [outbox] max_parallel
# = 4 vs 1, and with one provider session that hangs (no greeting; the
# deadline is 30 s) vs none. Prints seconds and ratios; the machine first.
# The measurement is the ignored test `bench_delivery_lanes` in
# tests/proxy_e2e.rs (it reuses that file's provider, DNS and proxy setup).
#
# Usage: tests/bench/lanes.sh [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/install-deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/danemail/target}"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
BENCH_MESSAGES=${1:-100} cargo test -q -p danemail --test proxy_e2e -- \
    --ignored --exact bench_delivery_lanes --nocapture 2>&1 | grep -E '^(lanes|  )'
