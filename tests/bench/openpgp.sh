#!/usr/bin/env bash
# Benchmark: `danemail encrypt` of a 50 MB message as PGP/MIME to one
# OpenPGP key (Curve25519 encryption subkey, made by GnuPG), side by side
# with `gpg --encrypt --armor` of the same file to the same key: with gpg's
# defaults (which compress first) and with `--compress-algo none` (the same
# work as ours: AES-256, armored). Reports wall time (hyperfine, median of
# 10) and peak RSS (GNU time, median of 5).
#
# Usage: tests/bench/openpgp.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/install-deps.sh
command -v hyperfine >/dev/null || {
    sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq hyperfine time >/dev/null
}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/danemail/target}"
cargo build --release -q -p danemail
bin=$CARGO_TARGET_DIR/release/danemail

work=$(mktemp -d /tmp/dm-bench.XXXXXX)
gh=$work/gnupg
mkdir -m 700 "$gh"
trap 'gpgconf --homedir "$gh" --kill all >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
gpgq() { gpg --homedir "$gh" --batch --no-tty --quiet --pinentry-mode loopback --passphrase '' "$@"; }
fpr=$(gpgq --status-fd 1 --quick-gen-key "Bench <bench@openpgp.test>" ed25519 sign 0 |
    awk '$2=="KEY_CREATED" {print $4}')
gpgq --quick-add-key "$fpr" cv25519 encr 0
gpgq --armor --export "$fpr" >"$work/key.asc"

python3 - "$work/big.eml" <<'PY'
import base64, os, sys
with open(sys.argv[1], "wb") as f:
    f.write(b"From: me@openpgp.test\r\nTo: bench@openpgp.test\r\n"
            b"Subject: 50 MB\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
            b"--b\r\nContent-Type: text/plain\r\n\r\nSee attachment.\r\n--b\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n")
    f.write(base64.encodebytes(os.urandom(37 * 1024 * 1024 + 512 * 1024)).replace(b"\n", b"\r\n"))
    f.write(b"--b--\r\n")
PY
echo "message: $(stat -c %s "$work/big.eml") bytes; machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(gpg --version | head -1)"

danemail_cmd="$bin encrypt --from me@openpgp.test --out-dir $work/out --rcpt bench@openpgp.test --openpgp-key $work/key.asc < $work/big.eml"
gpg_base="gpg --homedir $gh --batch --no-tty --quiet --trust-model always --armor --yes --recipient $fpr"
gpg_cmd="$gpg_base --output $work/gpg.asc --encrypt $work/big.eml"
gpg_plain_cmd="$gpg_base --compress-algo none --output $work/gpg-plain.asc --encrypt $work/big.eml"

hyperfine --warmup 2 --runs 10 --export-json "$work/time.json" \
    -n danemail "$danemail_cmd" -n gpg "$gpg_cmd" -n gpg-uncompressed "$gpg_plain_cmd"

# The copy danemail wrote really is PGP/MIME that gpg decrypts.
copy=$(find "$work/out" -name '*.eml' | head -n1)
grep -q 'protocol="application/pgp-encrypted"' "$copy"
sed -n '/^-----BEGIN PGP MESSAGE-----/,/^-----END PGP MESSAGE-----/p' "$copy" | tr -d '\r' |
    gpgq --decrypt >/dev/null

peak() { # median peak RSS in KiB of 5 runs
    for _ in 1 2 3 4 5; do /usr/bin/time -f %M bash -c "$1" 2>&1 >/dev/null | tail -n1; done | sort -n | sed -n 3p
}
rss_danemail=$(peak "$danemail_cmd"); rss_gpg=$(peak "$gpg_cmd"); rss_plain=$(peak "$gpg_plain_cmd")
python3 - "$work/time.json" "$rss_danemail" "$rss_gpg" "$rss_plain" <<'PY'
import json, sys
t = {r["command"]: r["median"] for r in json.load(open(sys.argv[1]))["results"]}
rss = dict(zip(["danemail", "gpg", "gpg-uncompressed"], map(int, sys.argv[2:5])))
print(f"{'':18}{'median time':>12}{'peak RSS':>12}")
for name in ("danemail", "gpg", "gpg-uncompressed"):
    print(f"{name:18}{t[name]*1000:>9.0f} ms{rss[name]/1024:>9.1f} MiB")
for peer in ("gpg", "gpg-uncompressed"):
    print(f"danemail / {peer}: time {t['danemail']/t[peer]:.2f}x, peak memory {rss['danemail']/rss[peer]:.2f}x")
PY
