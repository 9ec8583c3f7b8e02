#!/usr/bin/env python3
"""The desktop app's start time and idle memory beside `danemail run`
(tests/bench/app.sh builds both and calls this).

usage: app.py APP_BINARY CLI_BINARY LAUNCHES
"""
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

APP, CLI, LAUNCHES = sys.argv[1], sys.argv[2], int(sys.argv[3])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def greeting(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.settimeout(2)
            return s.recv(64).startswith(b"220")
    except OSError:
        return False


def tree(pid):
    """pid and all its descendants, from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def rss_mib(pid):
    """Summed proportional set size (PSS: shared pages split fairly) of a process tree."""
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def window_ids(env, title="DANE Mail"):
    out = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", title],
                         env=env, capture_output=True, text=True).stdout
    return out.split()


def config(work, port, ldap_port):
    pw = os.path.join(work, "smtp.pw")
    with open(pw, "w") as f:
        f.write("bench-secret\n")
    os.chmod(pw, 0o600)
    os.makedirs(os.path.join(work, "storage"), exist_ok=True)
    open(os.path.join(work, "storage", "first-run-done"), "w").close()
    path = os.path.join(work, "config.toml")
    with open(path, "w") as f:
        f.write(f"""[smtp]
listen = "127.0.0.1:{port}"
password_file = "{pw}"
[ldap]
listen = "127.0.0.1:{ldap_port}"
[dns]
servers = ["127.0.0.1:9"]
timeout_ms = 500
[storage]
dir = "{work}/storage"
""")
    return path


def launch(argv, env, port):
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not greeting(port):
        if proc.poll() is not None:
            raise SystemExit(f"{argv[0]} exited with {proc.returncode}")
        if time.perf_counter() - start > 30:
            raise SystemExit(f"{argv[0]}: no SMTP after 30 s")
        time.sleep(0.005)
    return proc, time.perf_counter() - start


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main():
    root = tempfile.mkdtemp(prefix="dm-bench-app-")
    display = next(n for n in range(120, 200) if not os.path.exists(f"/tmp/.X11-unix/X{n}"))
    xvfb = subprocess.Popen(["Xvfb", f":{display}", "-screen", "0", "1280x900x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {"PATH": os.environ["PATH"], "HOME": root, "DISPLAY": f":{display}",
           "XDG_RUNTIME_DIR": root, "NO_AT_BRIDGE": "1"}
    try:
        while not os.path.exists(f"/tmp/.X11-unix/X{display}"):
            time.sleep(0.05)
        times = {"app": [], "cli": []}
        memory = {"app shown": [], "app hidden": [], "cli": []}
        for i in range(LAUNCHES):
            for kind in ("cli", "app"):
                work = os.path.join(root, f"{kind}{i}")
                os.makedirs(work)
                port, ldap_port = free_port(), free_port()
                cfg = config(work, port, ldap_port)
                argv = [CLI, "run", "--config", cfg] if kind == "cli" else [APP, "--config", cfg]
                proc, took = launch(argv, env, port)
                times[kind].append(took)
                if kind == "app":
                    deadline = time.time() + 20
                    while not window_ids(env) and time.time() < deadline:
                        time.sleep(0.1)
                time.sleep(5)
                if kind == "cli":
                    memory["cli"].append(rss_mib(proc.pid))
                else:
                    memory["app shown"].append(rss_mib(proc.pid))
                    for window in window_ids(env):
                        subprocess.run([sys.executable, "src-tauri/scripts/wm-close.py", window], env=env, check=True)
                    time.sleep(5)
                    memory["app hidden"].append(rss_mib(proc.pid))
                stop(proc)
        cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
        print(f"machine: {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; {LAUNCHES} launches each")
        t_app, t_cli = statistics.median(times["app"]), statistics.median(times["cli"])
        print(f"launch to SMTP 220 (median): app {t_app * 1000:.0f} ms, danemail run {t_cli * 1000:.0f} ms, ratio {t_app / t_cli:.2f}")
        m_cli = statistics.median(memory["cli"])
        for key in ("app shown", "app hidden"):
            m = statistics.median(memory[key])
            print(f"idle memory, {key} (PSS of the process tree, median): {m:.1f} MiB vs danemail run {m_cli:.1f} MiB, ratio {m / m_cli:.1f}")
    finally:
        xvfb.terminate()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
