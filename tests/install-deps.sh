#!/usr/bin/env bash
# Installs the Debian packages the build and the end-to-end tests need:
# the real parts the tests start on loopback (DESIGN.md), and OpenSSL's
# headers for the openssl crate. Needs root or sudo when something is missing.
set -euo pipefail

packages=(
    nsd ldnsutils                    # signed fixture zones, served
    bind9-dnsutils unbound unbound-host  # delv and unbound: the oracles
    openssl libssl-dev pkg-config    # certificates; the openssl crate
    faketime                         # a wrong clock, for one test
    gpgsm gpg-agent gpgconf libnss3-tools  # S/MIME decrypters: gpgsm, NSS cmsutil
    postfix dovecot-imapd dovecot-lmtpd    # the provider, for the proxy tests
    gnome-keyring dbus-daemon              # a real Secret Service (keyring test)
    swaks libnet-ssleay-perl python3       # real SMTP clients
    ldap-utils                             # ldapsearch, a real LDAP client
    iproute2
)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
((${#missing[@]})) || exit 0
echo "installing: ${missing[*]}" >&2
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
$sudo apt-get update -qq
# Postfix asks a question on install; no system-wide instance is ever used.
echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
