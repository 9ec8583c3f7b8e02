#!/usr/bin/env bash
# Benchmark: a cold DNSSEC-validated SMIMEA lookup through `danemail` beside
# unbound's (and delv's) on the same fixture chain (fake root -> test. ->
# ecdsa.test., served by nsd on loopback), each a fresh process with an
# empty cache; then danemail's in-process cold and warm (cached) latency.
#
# Usage: tests/bench/lookup.sh        (prints a table and the ratios)
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/install-deps.sh
command -v hyperfine >/dev/null || {
    sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq hyperfine >/dev/null
}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/danemail/target}"
cargo build --release -q -p danemail
bin=$CARGO_TARGET_DIR/release/danemail

work=$(mktemp -d)
trap 'kill "${nsd_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
bash tests/fixtures/dns/build.sh "$work" >/dev/null 2>&1
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
bash tests/fixtures/dns/serve.sh "$work" "$port" >"$work/serve.log" 2>&1 &
nsd_pid=$!
for _ in $(seq 100); do dig +short +tries=1 +time=1 @127.0.0.1 -p "$port" . SOA >/dev/null 2>&1 && break; sleep 0.1; done

address=alice@ecdsa.test
qname=$(awk -F'\t' '$1 == "ecdsa-alice" {print $2}' "$work/cases.tsv")
sed -e "s|@OUT@|$work|g" -e "s|@PORT@|$port|g" "$work/unbound.conf.in" >"$work/unbound.conf"

echo "machine: $(nproc) cores, $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
hyperfine -N --warmup 5 --runs 100 --export-json "$work/cold.json" \
    -n danemail "$bin lookup --smimea-only --json --dns-server 127.0.0.1:$port --trust-anchor $work/trust-anchor.key $address" \
    -n unbound-host "unbound-host -C $work/unbound.conf -v -t SMIMEA $qname" \
    -n delv "delv -4 @127.0.0.1 -p $port -a $work/delv-anchor.conf +root=. $qname SMIMEA"
python3 - "$work/cold.json" <<'PY'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
ours = results["danemail"]["median"]
for peer in ("unbound-host", "delv"):
    theirs = results[peer]["median"]
    print(f"cold validated SMIMEA lookup, median: danemail {ours*1000:.2f} ms, {peer} {theirs*1000:.2f} ms "
          f"-> danemail takes {ours/theirs:.2f}x {peer}'s time")
PY
DANEMAIL_BENCH_SERVER=127.0.0.1:$port DANEMAIL_BENCH_ANCHOR=$work/trust-anchor.key \
    DANEMAIL_BENCH_ADDRESS=$address cargo bench -q -p danemail --bench lookup
