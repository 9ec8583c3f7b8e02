#!/usr/bin/env bash
# Benchmark: submission through `danemail run` versus directly to the
# provider (real Postfix with STARTTLS + SASL), same client (Python smtplib)
# and messages (100 KiB, to a recipient with SMIMEA, warm DNS cache).
#
# Usage: tests/bench/submit.sh [COUNT]
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${1:-150}
bash tests/install-deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/danemail/target}"
cargo build --release -q -p danemail
bin=$CARGO_TARGET_DIR/release/danemail

work=$(mktemp -d /tmp/dm-sub.XXXXXX)
chmod 755 "$work"  # Postfix (its own user) must traverse to its queue
cleanup() {
    kill "${proxy_pid:-}" "${nsd_pid:-}" 2>/dev/null || true
    bash tests/fixtures/mail/stop.sh "$work/m" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
bash tests/fixtures/dns/build.sh "$work/dns" >/dev/null 2>&1
dns_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
bash tests/fixtures/dns/serve.sh "$work/dns" "$dns_port" >"$work/nsd.log" 2>&1 &
nsd_pid=$!
bash tests/fixtures/mail/start.sh "$work/m" alice@rsa.test >"$work/mail.log" 2>&1 || { cat "$work/mail.log"; exit 1; }
# shellcheck disable=SC1091
source "$work/m/env"
proxy_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'bench-secret\n' >"$work/smtp.pw"; printf 'provider-secret\n' >"$work/provider.pw"
chmod 600 "$work/smtp.pw" "$work/provider.pw"
cat >"$work/config.toml" <<TOML
[smtp]
listen = "127.0.0.1:$proxy_port"
password_file = "$work/smtp.pw"
[upstream]
host = "127.0.0.1"
port = $SUBMISSION_PORT
username = "me@provider.test"
password_file = "$work/provider.pw"
ca_file = "$CA_FILE"
[dns]
servers = ["127.0.0.1:$dns_port"]
trust_anchor = "$work/dns/trust-anchor.key"
[storage]
dir = "$work/storage"
[ldap]
enabled = false
TOML
"$bin" run --config "$work/config.toml" >"$work/proxy.log" 2>&1 &
proxy_pid=$!
for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$proxy_port),1)" 2>/dev/null && break; sleep 0.1; done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
python3 tests/bench/submit.py "$count" "$proxy_port" "$work/storage/tls/ca.pem" bench-secret \
    "$SUBMISSION_PORT" "$CA_FILE" alice@rsa.test
delivered=$(python3 tests/fixtures/mail/fetch.py "$work/m" alice@rsa.test "$work/fetched" --wait $((2 * (count + 3))) --timeout 60 || true)
echo "  messages in the mailbox afterwards: $delivered (expected $((2 * (count + 3))))"
