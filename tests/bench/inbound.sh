#!/usr/bin/env bash
# Benchmark (issue 10): `danemail inbound sync --once` of a loopback Dovecot
# mailbox of N messages (half S/MIME-encrypted to RSA-2048, half plaintext,
# `mirror_plaintext = true`) into a Maildir, side by side with `mbsync`
# (isync) mirroring the same mailbox to a Maildir without decryption.
# Reports messages/s, peak RSS (GNU time) and the time ratio, at N/5 and N
# messages (memory should stay flat in the mailbox size); then the per-message
# decryption time of `danemail decrypt` vs `openssl cms -decrypt` (both
# including process start, 200 runs each).
#
# Usage: tests/bench/inbound.sh [N]   (default 10000)
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-10000}
bash tests/install-deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/danemail/target}"
cargo build --release -q -p danemail
bin=$CARGO_TARGET_DIR/release/danemail

work=$(mktemp -d /tmp/dm-inb.XXXXXX)
chmod 0755 "$work" # Postfix and Dovecot walk into it
# One mailbox per size, all filled before anything is timed, and no file
# deleted in between: ext4 scans past recently deleted inodes when it
# creates files, which would slow whichever client runs after a deletion.
small=small@provider.test
large=large@provider.test
user=$small
cleanup() {
    bash tests/fixtures/mail/stop.sh "$work/p" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
bash tests/fixtures/mail/start.sh "$work/p" "$small" "$large" >/dev/null
# shellcheck disable=SC1091
source "$work/p/env"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"

# Keys: an RSA-2048 identity imported into danemail's store (passphrase-sealed).
cd "$work"
printf 'bench passphrase\n' >pw && chmod 600 pw
printf 'pw\n' >imap-pw && chmod 600 imap-pw
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=bench -addext "subjectAltName=email:bench@provider.test" \
    -keyout bench.key -out bench.pem -days 30 2>/dev/null
openssl pkcs12 -export -inkey bench.key -in bench.pem -passout pass:p12 -out bench.p12
printf 'p12\n' >p12pw && chmod 600 p12pw
cat >config.toml <<TOML
[storage]
dir = "$work/storage"
[inbound]
key_passphrase_file = "$work/pw"
TOML
for who in small large; do
    cat >>config.toml <<TOML
[[inbound.accounts]]
name = "$who"
host = "127.0.0.1"
port = $IMAP_PORT
security = "none"
username = "$who@provider.test"
password_file = "$work/imap-pw"
mirror_plaintext = true
TOML
done
"$bin" keys import bench.p12 --password-file p12pw --passphrase-file pw --config config.toml >/dev/null

# 50 distinct encrypted bodies (~4.8 KB messages), each used under many
# distinct outer headers; plaintext messages of the same size.
mkdir -p enc
for i in $(seq 1 50); do
    python3 -c "import sys,random; random.seed($i); print('Content-Type: text/plain\r\n\r\n' + '\r\n'.join(''.join(random.choice('abcdefghij klmnop') for _ in range(70)) for _ in range(45)))" >enc/$i.txt
    openssl cms -encrypt -binary -aes-256-cbc -in enc/$i.txt -out enc/$i.eml bench.pem
done

fill() { # fill USER COUNT: USER's INBOX gets COUNT messages
    local user=$1 count=$2
    local maildir=$work/p/mail/$user/Maildir
    python3 - "$maildir" "$count" "$work/enc" <<'PY'
import os, random, sys
maildir, count, enc = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for sub in ("cur", "new", "tmp"):
    os.makedirs(os.path.join(maildir, sub), exist_ok=True)
bodies = []
for i in range(1, 51):
    raw = open(os.path.join(enc, f"{i}.eml"), "rb").read().replace(b"\r\n", b"\n")
    bodies.append(raw.replace(b"\n", b"\r\n"))
random.seed(1)
for n in range(count):
    head = (f"From: sender{n % 97}@x.test\r\nTo: bench@provider.test\r\nSubject: message {n}\r\n"
            f"Message-ID: <{n}@bench.test>\r\nDate: Tue, 1 Dec 2026 12:00:00 +0000\r\n").encode()
    if n % 2 == 0:
        data = head + bodies[n % 50]
    else:
        text = "\r\n".join("".join(random.choice("abcdefghij klmnop") for _ in range(70)) for _ in range(60))
        data = head + b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n" + text.encode() + b"\r\n"
    with open(os.path.join(maildir, "new", f"{1700000000 + n}.{n}.bench:2,"), "wb") as f:
        f.write(data)
PY
    chown -R mail:mail "$work/p/mail/$user"
    # Dovecot indexes the new mail once, before either client is timed.
    doveadm -c "$work/p/dovecot.conf" mailbox status -u "$user" messages INBOX >/dev/null
}

: >mbsyncrc
for who in small large; do
    cat >>mbsyncrc <<RC
IMAPAccount $who
Host 127.0.0.1
Port $IMAP_PORT
User $who@provider.test
Pass pw
SSLType None
AuthMechs LOGIN

IMAPStore $who-far
Account $who

MaildirStore $who-near
Path $work/mbsync-$who/
Inbox $work/mbsync-$who/INBOX

Channel $who
Far :$who-far:
Near :$who-near:
Patterns INBOX
Sync Pull
Create Near
Expunge None
SyncState *

RC
    mkdir -p "$work/mbsync-$who"
done

measure() { # measure CMD...: prints "seconds peak_kb"
    /usr/bin/time -f "%e %M" -o "$work/time.out" "$@" >/dev/null 2>"$work/cmd.err" || {
        cat "$work/cmd.err" >&2
        return 1
    }
    cat "$work/time.out"
}

printf '\n%-8s %-10s %10s %10s %12s %8s\n' messages client seconds msg/s "peak RSS" ratio
fill "$small" $((N / 5))
fill "$large" "$N"
sync
sleep 2
for who in small large; do
    count=$(find "$work/p/mail/$who@provider.test/Maildir" -type f \( -path '*/new/*' -o -path '*/cur/*' \) | wc -l)
    read -r d_sec d_kb < <(measure "$bin" inbound sync --once --account "$who" --config config.toml)
    stored=$(find "$work/storage/decrypted/$who/new" -type f | wc -l)
    [[ $stored -eq $count ]] || { echo "danemail stored $stored of $count" >&2; exit 1; }
    read -r m_sec m_kb < <(measure mbsync -q -c mbsyncrc "$who")
    mirrored=$(find "$work/mbsync-$who/INBOX" -type f \( -path '*/new/*' -o -path '*/cur/*' \) | wc -l)
    [[ $mirrored -eq $count ]] || { echo "mbsync stored $mirrored of $count" >&2; exit 1; }
    ratio=$(python3 -c "print(f'{$d_sec / max($m_sec, 0.01):.2f}x')")
    printf '%-8s %-10s %10s %10.0f %9s MB %8s\n' "$count" danemail "$d_sec" "$(python3 -c "print($count / max($d_sec, 0.01))")" "$((d_kb / 1024))" "$ratio"
    printf '%-8s %-10s %10s %10.0f %9s MB %8s\n' "$count" mbsync "$m_sec" "$(python3 -c "print($count / max($m_sec, 0.01))")" "$((m_kb / 1024))" "1.00x"
done

# Per message: one encrypted message, 200 runs each, process start included.
printf 'From: a@x.test\r\nTo: %s\r\nSubject: one\r\n' "$user" >one.eml
cat enc/1.eml >>one.eml
runs=200
start=$(date +%s.%N)
for _ in $(seq $runs); do "$bin" decrypt --passphrase-file pw --config config.toml <one.eml >/dev/null; done
d_each=$(python3 -c "print(f'{($(date +%s.%N) - $start) / $runs * 1000:.2f}')")
start=$(date +%s.%N)
for _ in $(seq $runs); do openssl cms -decrypt -inkey bench.key -recip bench.pem -in one.eml >/dev/null; done
o_each=$(python3 -c "print(f'{($(date +%s.%N) - $start) / $runs * 1000:.2f}')")
echo
echo "per message (one 4.8 KB RSA-2048 message, $runs runs, process start included):"
echo "  danemail decrypt      ${d_each} ms"
echo "  openssl cms -decrypt  ${o_each} ms"
cd - >/dev/null
DANEMAIL_BENCH_STORAGE=$work/storage DANEMAIL_BENCH_PASSPHRASE=$work/pw DANEMAIL_BENCH_MESSAGE=$work/one.eml \
    cargo bench -q -p danemail --bench decrypt 2>/dev/null | grep 'in-process'
