#!/usr/bin/env bash
# Benchmark: messages per second through a real Postfix with `danemail
# filter` as its content filter, against the same Postfix setup without a
# content filter: same messages (20 KiB, To an SMIMEA recipient, Cc one
# without), same client, same Dovecot sink; timed from the first submission
# to the last message in the mailboxes. Then the filter's peak RSS under 50
# concurrent LMTP sessions of 10 MB messages (VmHWM from /proc).
#
# Usage: tests/bench/filter.sh [COUNT]
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${1:-300}
bash tests/install-deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/danemail/target}"
cargo build --release -q -p danemail
bin=$CARGO_TARGET_DIR/release/danemail

work=$(mktemp -d /tmp/dm-flt.XXXXXX)
chmod 755 "$work"
cleanup() {
    kill "${filter_pid:-}" "${nsd_pid:-}" 2>/dev/null || true
    for m in "$work"/m*; do bash tests/fixtures/mail/stop.sh "$m" >/dev/null 2>&1 || true; done
    rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
bash tests/fixtures/dns/build.sh "$work/dns" >/dev/null 2>&1
dns_port=$(free_port)
bash tests/fixtures/dns/serve.sh "$work/dns" "$dns_port" >"$work/nsd.log" 2>&1 &
nsd_pid=$!
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(postconf -d mail_version 2>/dev/null)"

# The client: COUNT messages over one connection each, then wait until
# both mailboxes hold them all. Prints the messages per second.
run_load() { # PLAIN_PORT DIR
    python3 - "$1" "$2" "$count" <<'PY'
import os, smtplib, sys, time
port, dir, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
body = ("x" * 76 + "\r\n") * 260  # ~20 KiB
def message(n):
    return (f"From: me@provider.test\r\nTo: alice@ecdsa.test\r\nCc: nobody@ecdsa.test\r\n"
            f"Subject: bench {n}\r\nMessage-ID: <bench-{n}@provider.test>\r\n"
            f"Date: Sun, 06 Dec 2026 12:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain\r\n\r\n{body}").encode()
def delivered(user):
    new = os.path.join(dir, "mail", user, "Maildir", "new")
    return len(os.listdir(new)) if os.path.isdir(new) else 0
start = time.monotonic()
for n in range(count):
    with smtplib.SMTP("127.0.0.1", port) as s:
        s.sendmail("me@provider.test", ["alice@ecdsa.test", "nobody@ecdsa.test"], message(n))
while min(delivered("alice@ecdsa.test"), delivered("nobody@ecdsa.test")) < count:
    if time.monotonic() - start > 600:
        sys.exit(f"only {delivered('alice@ecdsa.test')}/{delivered('nobody@ecdsa.test')} of {count} delivered")
    time.sleep(0.05)
print(f"{count / (time.monotonic() - start):.1f}")
PY
}

# Without a content filter.
bash tests/fixtures/mail/start.sh "$work/m0" alice@ecdsa.test nobody@ecdsa.test >"$work/m0.log" 2>&1 || { cat "$work/m0.log"; exit 1; }
plain_port=$(sed -n 's/^PLAIN_PORT=//p' "$work/m0/env")
without=$(run_load "$plain_port" "$work/m0")
bash tests/fixtures/mail/stop.sh "$work/m0" >/dev/null 2>&1

# With the filter (installers/postfix/ lines, via start.sh).
filter_port=$(free_port)
FILTER_PORT=$filter_port bash tests/fixtures/mail/start.sh "$work/m1" alice@ecdsa.test nobody@ecdsa.test >"$work/m1.log" 2>&1 || { cat "$work/m1.log"; exit 1; }
plain_port=$(sed -n 's/^PLAIN_PORT=//p' "$work/m1/env")
reinject_port=$(sed -n 's/^REINJECT_PORT=//p' "$work/m1/env")
cat >"$work/filter.toml" <<TOML
[dns]
servers = ["127.0.0.1:$dns_port"]
trust_anchor = "$work/dns/trust-anchor.key"
[filter]
listen = "127.0.0.1:$filter_port"
reinject = "127.0.0.1:$reinject_port"
# 50 benchmark sessions plus the up to 20 Postfix keeps (danemail_destination_concurrency_limit).
max_connections = 100
temp_dir = "$work/tmp"
TOML
RUST_LOG=warn "$bin" --config "$work/filter.toml" filter >"$work/filter.log" 2>&1 &
filter_pid=$!
for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$filter_port),1)" 2>/dev/null && break; sleep 0.1; done
with=$(run_load "$plain_port" "$work/m1")
encrypted=$(grep -l 'application/pkcs7-mime' "$work"/m1/mail/alice@ecdsa.test/Maildir/new/* | wc -l)

# 50 concurrent LMTP sessions of 10 MB straight to the filter.
python3 - "$filter_port" <<'PY'
import base64, os, socket, sys, threading
port = int(sys.argv[1])
payload = base64.encodebytes(os.urandom(7 * 1024 * 1024 + 512 * 1024)).replace(b"\n", b"\r\n")
msg = (b"From: me@provider.test\r\nTo: alice@ecdsa.test\r\nSubject: 10 MB\r\nMIME-Version: 1.0\r\n"
       b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" + payload)
errors = []
def session(n):
    try:
        s = socket.create_connection(("127.0.0.1", port), 300)
        f = s.makefile("rb")
        def reply():
            while True:
                line = f.readline()
                if line[3:4] != b"-":
                    return line
        reply()
        for cmd in (b"LHLO bench", b"MAIL FROM:<me@provider.test>", b"RCPT TO:<alice@ecdsa.test>", b"DATA"):
            s.sendall(cmd + b"\r\n"); r = reply()
        s.sendall(msg + b".\r\n")
        r = reply()
        if not r.startswith(b"250"):
            errors.append(r)
        s.sendall(b"QUIT\r\n")
    except Exception as e:
        errors.append(repr(e))
threads = [threading.Thread(target=session, args=(n,)) for n in range(50)]
for t in threads: t.start()
for t in threads: t.join()
if errors:
    sys.exit(f"{len(errors)} sessions failed: {errors[:3]}")
PY
peak_kib=$(awk '/^VmHWM/ {print $2}' "/proc/$filter_pid/status")

python3 - "$without" "$with" "$count" "$encrypted" "$peak_kib" <<'PY'
import sys
without, with_, count, encrypted, peak = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
print(f"{count} messages (20 KiB, 1 S/MIME + 1 plaintext recipient each):")
print(f"  Postfix without a content filter: {without:.1f} messages/s")
print(f"  Postfix with danemail filter:     {with_:.1f} messages/s ({encrypted} encrypted copies)")
print(f"  ratio with/without: {with_ / without:.2f}")
print(f"danemail filter peak RSS after 50 concurrent LMTP sessions of 10 MB: {peak / 1024:.1f} MiB")
PY
