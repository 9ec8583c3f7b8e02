#!/usr/bin/env bash
# Benchmark: `danemail encrypt` of a 50 MB message to 3 RSA recipients,
# side by side with `openssl cms -encrypt -aes256` (whole message in memory)
# and with `-stream`, on the same file and certificates, S/MIME output both.
# Reports wall time (hyperfine, median) and peak RSS (GNU time, median of 5).
#
# Usage: tests/bench/encrypt.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/install-deps.sh
command -v hyperfine >/dev/null || {
    sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq hyperfine time >/dev/null
}
[[ -x /usr/bin/time ]] || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/danemail/target}"
cargo build --release -q -p danemail
bin=$CARGO_TARGET_DIR/release/danemail

work=$(mktemp -d /tmp/dm-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
bash tests/fixtures/smime/make-keys.sh "$work/keys" >/dev/null 2>&1
recipients=(rsa2048@smime.test rsa3072@smime.test sender@smime.test)
python3 - "$work/big.eml" <<'PY'
import base64, os, sys
with open(sys.argv[1], "wb") as f:
    f.write(b"From: sender@smime.test\r\nTo: rsa2048@smime.test, rsa3072@smime.test, sender@smime.test\r\n"
            b"Subject: 50 MB\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
            b"--b\r\nContent-Type: text/plain\r\n\r\nSee attachment.\r\n--b\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n")
    f.write(base64.encodebytes(os.urandom(37 * 1024 * 1024 + 512 * 1024)).replace(b"\n", b"\r\n"))
    f.write(b"--b--\r\n")
PY
echo "message: $(stat -c %s "$work/big.eml") bytes; machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"

certs=()
for r in "${recipients[@]}"; do certs+=("$work/keys/$r.pem"); done
danemail_cmd="$bin encrypt --from sender@smime.test --out-dir $work/out"
for r in "${recipients[@]}"; do danemail_cmd+=" --rcpt $r --cert $work/keys/$r.pem"; done
danemail_cmd+=" < $work/big.eml"
openssl_cmd="openssl cms -encrypt -aes256 -binary -in $work/big.eml -out $work/openssl.p7m ${certs[*]}"
stream_cmd="openssl cms -encrypt -stream -aes256 -binary -in $work/big.eml -out $work/stream.p7m ${certs[*]}"

hyperfine --warmup 2 --runs 10 --export-json "$work/time.json" \
    -n danemail "$danemail_cmd" -n openssl "$openssl_cmd" -n openssl-stream "$stream_cmd"

peak() { # median peak RSS in KiB of 5 runs
    for _ in 1 2 3 4 5; do /usr/bin/time -f %M bash -c "$1" 2>&1 >/dev/null | tail -n1; done | sort -n | sed -n 3p
}
rss_danemail=$(peak "$danemail_cmd"); rss_openssl=$(peak "$openssl_cmd"); rss_stream=$(peak "$stream_cmd")
python3 - "$work/time.json" "$rss_danemail" "$rss_openssl" "$rss_stream" <<'PY'
import json, sys
t = {r["command"]: r["median"] for r in json.load(open(sys.argv[1]))["results"]}
rss = dict(zip(["danemail", "openssl", "openssl-stream"], map(int, sys.argv[2:5])))
print(f"{'':16}{'median time':>12}{'peak RSS':>12}")
for name in ("danemail", "openssl", "openssl-stream"):
    print(f"{name:16}{t[name]*1000:>9.0f} ms{rss[name]/1024:>9.1f} MiB")
for peer in ("openssl", "openssl-stream"):
    print(f"danemail / {peer}: time {t['danemail']/t[peer]:.2f}x, peak memory {rss['danemail']/rss[peer]:.2f}x")
PY
