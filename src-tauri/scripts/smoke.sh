#!/bin/sh
# Smoke test of the desktop app on a bare Xvfb (no window manager), all on
# loopback: the window appears, SMTP answers, a close request hides the
# window while SMTP keeps answering, a second launch brings the window back
# and exits, the tray icon appears in trayer (XEmbed) and its menu opens,
# Quit from the menu drains and exits 0, and without a display the app runs
# the headless service.
#
#   src-tauri/scripts/smoke.sh [BINARY]     (default: the debug build)
#
# Needs: Xvfb xdotool xwininfo trayer dbus-run-session nc python3, and
# ImageMagick's `import` for the screenshots (optional). Writes screenshots
# to $SMOKE_DIR (default: a temp dir, printed at the end).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
target=${CARGO_TARGET_DIR:-$HOME/.cache/danemail/target}
bin=${1:-$target/debug/danemail-app}
[ -x "$bin" ] || { echo "smoke: no binary at $bin" >&2; exit 2; }

if [ -z "${SMOKE_INNER:-}" ]; then
	dir=${SMOKE_DIR:-$(mktemp -d /tmp/danemail-smoke.XXXXXX)}
	mkdir -p "$dir/storage"
	printf 'smoke-local-password\n' >"$dir/smtp.pw"
	chmod 600 "$dir/smtp.pw"
	ports=$(python3 -c 'import socket
ps=[]
for _ in range(2):
    s=socket.socket(); s.bind(("127.0.0.1",0)); ps.append(s); 
print(" ".join(str(s.getsockname()[1]) for s in ps))')
	set -- $ports
	cat >"$dir/config.toml" <<EOF
[smtp]
listen = "127.0.0.1:$1"
password_file = "$dir/smtp.pw"

[ldap]
listen = "127.0.0.1:$2"

[dns]
servers = ["127.0.0.1:9"]
timeout_ms = 500
attempts = 1
# A dead loopback resolver and no fallback: nothing leaves this machine.
fallback = []

[storage]
dir = "$dir/storage"
EOF
	display=:$((90 + $$ % 9))
	Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >"$dir/xvfb.log" 2>&1 &
	xvfb=$!
	trap 'kill $xvfb 2>/dev/null || true' EXIT
	sleep 1
	status=0
	SMOKE_INNER=1 SMOKE_DIR=$dir SMOKE_PORT=$1 DISPLAY=$display \
		dbus-run-session -- "$0" "$bin" || status=$?
	echo "smoke: screenshots and logs in $dir"
	exit $status
fi

# --- inside the D-Bus session -------------------------------------------
dir=$SMOKE_DIR
port=$SMOKE_PORT
fail() {
	echo "smoke: FAIL: $*" >&2
	exit 1
}
ok() { echo "smoke: ok: $*"; }
smtp_greets() { printf 'QUIT\r\n' | nc -w 3 127.0.0.1 "$port" 2>/dev/null | grep -q '^220 '; }
map_state() { xwininfo -id "$1" 2>/dev/null | sed -n 's/.*Map State: //p'; }
shot() { command -v import >/dev/null && import -window root "$dir/$1.png" || true; }
main_window() { xdotool search --name '^DANE Mail$' 2>/dev/null | head -1; }
wait_for() { # seconds command...
	n=$(($1 * 4))
	shift
	while [ $n -gt 0 ]; do
		"$@" && return 0
		sleep 0.25
		n=$((n - 1))
	done
	return 1
}
visible() { w=$(main_window) && [ -n "$w" ] && [ "$(map_state "$w")" = IsViewable ]; }
hidden() { ! visible; }

trayer --edge top --align right --widthtype request --height 32 --SetDockType true \
	--transparent false >"$dir/trayer.log" 2>&1 &
trayer=$!
sleep 1

"$bin" --config "$dir/config.toml" >"$dir/app.out" 2>"$dir/app.err" &
app=$!
wait_for 30 visible || fail "no window (see $dir/app.err)"
ok "window shown"
wait_for 10 smtp_greets || fail "SMTP does not answer on $port"
ok "SMTP answers 220"
sleep 2
shot window

python3 "$here/wm-close.py" "$(main_window)"
wait_for 5 hidden || fail "a close request did not hide the window"
kill -0 $app || fail "the app exited on close"
smtp_greets || fail "SMTP stopped after the window closed"
ok "close hides the window; SMTP still answers"

"$bin" --config "$dir/config.toml" >"$dir/second.out" 2>"$dir/second.err" ||
	fail "second launch exited $?"
wait_for 5 visible || fail "a second launch did not bring the window back"
grep -q 'in use' "$dir/second.err" && fail "the second launch started an engine"
ok "second launch shows the first one's window and exits"

icon=$(xdotool search --classname 'tray-icon tray app danemail' | head -1)
[ -n "$icon" ] || fail "no tray icon in trayer"
eval "$(xdotool getwindowgeometry --shell "$icon")"
ok "tray icon at $X,$Y (${WIDTH}x$HEIGHT)"
python3 "$here/wm-close.py" "$(main_window)"
wait_for 5 hidden || true
xdotool mousemove $((X + WIDTH / 2)) $((Y + HEIGHT / 2)) click 1
sleep 1
shot tray-menu
# The menu opens below the icon, right-aligned: "Quit DANE Mail" is its last
# item. Keyboard: Up from the top wraps to the last item.
xdotool key Up Return
wait_for 15 sh -c "! kill -0 $app 2>/dev/null" || fail "Quit from the tray menu did not exit"
wait $app && rc=0 || rc=$?
[ $rc -eq 0 ] || fail "Quit exited $rc"
smtp_greets && fail "SMTP still answers after Quit"
ok "tray Quit drains and exits 0"
kill $trayer 2>/dev/null || true

env -u DISPLAY -u WAYLAND_DISPLAY "$bin" --config "$dir/config.toml" >"$dir/headless.out" 2>"$dir/headless.err" &
headless=$!
wait_for 15 smtp_greets || fail "headless: SMTP does not answer"
grep -q 'no display; running the headless service' "$dir/headless.err" || fail "headless: no notice line"
kill -TERM $headless
wait $headless && rc=0 || rc=$?
[ $rc -eq 0 ] || fail "headless exited $rc on SIGTERM"
ok "no display: headless service, SIGTERM exits 0"
