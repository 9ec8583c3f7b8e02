#!/usr/bin/env bash
# Runs the fuzz targets in proxy/fuzz/ (cargo fuzz, libFuzzer, nightly),
# each for SECONDS (default 30), from the committed seeds plus a work corpus
# kept in ~/.cache/danemail/fuzz/ (so longer runs build on earlier ones).
# Prints one line per target: executions, coverage, corpus size. Fails on
# the first crash, leak, timeout or out-of-memory; the input is kept in
# ~/.cache/danemail/fuzz/artifacts/TARGET/ (reproduce with
# `cargo +nightly fuzz run TARGET FILE` in proxy/fuzz).
#
# Usage: tests/fuzz.sh [SECONDS] [TARGET ...]   (default: every target)
set -euo pipefail
cd "$(dirname "$0")/../proxy/fuzz"
seconds=${1:-30}
shift || true
work=${DANEMAIL_FUZZ_DIR:-$HOME/.cache/danemail/fuzz}
# Its own build cache: sanitizer flags differ from the workspace's.
export CARGO_TARGET_DIR=${DANEMAIL_FUZZ_TARGET:-$HOME/.cache/danemail/target-fuzz}

command -v rustup >/dev/null || { echo "fuzz: rustup is needed (for the nightly toolchain)" >&2; exit 1; }
rustup run nightly rustc --version >/dev/null 2>&1 || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2

targets=("$@")
((${#targets[@]})) || mapfile -t targets < <(cargo +nightly fuzz list)
# Release build with debug assertions and overflow checks, AddressSanitizer.
cargo +nightly fuzz build
for target in "${targets[@]}"; do
    corpus="$work/corpus/$target"
    artifacts="$work/artifacts/$target"
    mkdir -p "$corpus" "$artifacts"
    log="$work/$target.log"
    if ! cargo +nightly fuzz run "$target" "$corpus" "seeds/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1; then
        echo "fuzz: $target FAILED; the input is in $artifacts/, the log in $log:" >&2
        grep -E "ERROR|panicked|SUMMARY|Test unit written" "$log" | head -20 >&2
        exit 1
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
    echo "fuzz: $target: $execs executions in ${seconds} s, coverage $cov edges, corpus $(ls "$corpus" | wc -l), no crash"
done
