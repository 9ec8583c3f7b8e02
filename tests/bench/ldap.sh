#!/usr/bin/env bash
# Benchmark: LDAP searches per second, warm cache — the DANE Mail directory
# (`danemail run`, answering from validated SMIMEA of the fixture zones)
# beside OpenLDAP slapd (Debian) holding the same entry, same client load
# (tests/bench/ldap_load.py: hand-built BER, C connections × N searches).
#
# Usage: tests/bench/ldap.sh [SEARCHES_PER_CONNECTION] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
searches=${1:-2000}
connections=${2:-4}
bash tests/install-deps.sh
command -v slapd >/dev/null || {
    sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
    echo "slapd slapd/no_configuration boolean true" | $sudo debconf-set-selections
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends slapd >/dev/null
}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/danemail/target}"
cargo build --release -q -p danemail
bin=$CARGO_TARGET_DIR/release/danemail

work=$(mktemp -d /tmp/dm-ldap.XXXXXX)
cleanup() { kill "${proxy_pid:-}" "${nsd_pid:-}" "${slapd_pid:-}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$1),1)" 2>/dev/null && return; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

bash tests/fixtures/dns/build.sh "$work/dns" >/dev/null 2>&1
dns_port=$(free_port)
bash tests/fixtures/dns/serve.sh "$work/dns" "$dns_port" >"$work/nsd.log" 2>&1 &
nsd_pid=$!
address=alice@ecdsa.test
base=dc=dane,dc=mail

# DANE Mail.
smtp_port=$(free_port); ldap_port=$(free_port)
printf 'x\n' >"$work/pw"; chmod 600 "$work/pw"
cat >"$work/config.toml" <<TOML
[smtp]
listen = "127.0.0.1:$smtp_port"
password_file = "$work/pw"
[ldap]
listen = "127.0.0.1:$ldap_port"
max_connections = 64
[dns]
servers = ["127.0.0.1:$dns_port"]
trust_anchor = "$work/dns/trust-anchor.key"
[storage]
dir = "$work/storage"
TOML
"$bin" run --config "$work/config.toml" >"$work/proxy.log" 2>&1 &
proxy_pid=$!
wait_port "$ldap_port"

# slapd with the same entry: the fixture certificate and its certs-only PKCS#7.
slapd_port=$(free_port)
mkdir -p "$work/slapd/db"
openssl crl2pkcs7 -nocrl -certfile "$work/dns/certs/$address.pem" -outform DER -out "$work/p7.der"
cat >"$work/slapd/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile $work/slapd/slapd.pid
database mdb
suffix "$base"
rootdn "cn=admin,$base"
directory $work/slapd/db
maxsize 104857600
index mail eq
access to * by * read
CONF
cat >"$work/slapd/data.ldif" <<LDIF
dn: $base
objectClass: dcObject
objectClass: organization
dc: dane
o: DANE Mail

dn: mail=$address,$base
objectClass: inetOrgPerson
mail: $address
cn: $address
sn: $address
userCertificate;binary:< file://$work/dns/certs/$address.der
userSMIMECertificate:< file://$work/p7.der
LDIF
slapadd -q -f "$work/slapd/slapd.conf" -l "$work/slapd/data.ldif"
slapd -f "$work/slapd/slapd.conf" -h "ldap://127.0.0.1:$slapd_port/" -d 0 >"$work/slapd.log" 2>&1 &
slapd_pid=$!
wait_port "$slapd_port"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $connections connections x $searches searches"
python3 tests/bench/ldap_load.py "$ldap_port" "$base" "$address" 10 1 >/dev/null   # warm the DNS cache
ours=(); theirs=()
for _ in 1 2 3; do
    ours+=("$(python3 tests/bench/ldap_load.py "$ldap_port" "$base" "$address" "$searches" "$connections")")
    theirs+=("$(python3 tests/bench/ldap_load.py "$slapd_port" "$base" "$address" "$searches" "$connections")")
done
python3 - "${ours[@]}" "${theirs[@]}" <<'PY'
import statistics, sys
values = list(map(float, sys.argv[1:]))
ours, theirs = values[:3], values[3:]
o, t = statistics.median(ours), statistics.median(theirs)
print(f"danemail: {o:.0f} searches/s (runs {ours}); slapd: {t:.0f} searches/s (runs {theirs})")
print(f"ratio danemail/slapd: {o/t:.2f}")
PY
