#!/usr/bin/env bash
# Benchmark: validated SMIMEA lookup latency over UDP, DNS over TLS and DNS
# over HTTPS, cold, with a warm connection and cached, through one unbound
# (tests/fixtures/dns/serve-encrypted.sh) in front of the fixture nsd, all
# on loopback; printed as ratios to UDP (`cargo bench --bench paths`).
#
# Usage: tests/bench/paths.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/install-deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/danemail/target}"

work=$(mktemp -d)
trap 'kill "${nsd_pid:-}" "${unbound_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
bash tests/fixtures/dns/build.sh "$work" >/dev/null 2>&1
nsd=$(free_port); dot=$(free_port); doh=$(free_port); udp=$(free_port)
bash tests/fixtures/dns/serve.sh "$work" "$nsd" >"$work/serve.log" 2>&1 &
nsd_pid=$!
LOG_QUERIES=no bash tests/fixtures/dns/serve-encrypted.sh "$work" "$nsd" "$dot" "$doh" "$udp" >"$work/unbound.log" 2>&1 &
unbound_pid=$!
for _ in $(seq 100); do dig +short +tries=1 +time=1 @127.0.0.1 -p "$udp" . SOA >/dev/null 2>&1 && break; sleep 0.1; done

echo "machine: $(nproc) cores, $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
DANEMAIL_BENCH_UDP=127.0.0.1:$udp DANEMAIL_BENCH_DOT=127.0.0.1:$dot DANEMAIL_BENCH_DOH=127.0.0.1:$doh \
    DANEMAIL_BENCH_CA=$work/encrypted/ca.pem DANEMAIL_BENCH_ANCHOR=$work/trust-anchor.key \
    DANEMAIL_BENCH_ADDRESS=alice@ecdsa.test cargo bench -q -p danemail --bench paths
