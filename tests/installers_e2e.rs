//! Installers end to end (issue 11): the .deb that `installers/build.sh deb`
//! makes declares its fields and files, installs with apt into a minimal
//! Debian 12 root (tests/fixtures/debian/root.sh) — which proves its
//! Depends — runs there, upgrades without losing a queued message or the
//! user's config and keys, and uninstalls without leaving a package file;
//! the AppImage that `installers/build.sh appimage` assembles starts.
//!
//! Both use `--debug`: the packages hold the debug builds the suite has
//! already made; packaging does not differ by profile.

mod support;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::mail::{MailServer, Proxy, Switch};
use support::{dns, free_port, repo_root};

/// The last stdout line of `installers/build.sh ARGS`: the artefact.
/// One build at a time: the tests run in parallel, and the UI's build (Vite)
/// and cargo's locks allow one each.
fn build(args: &[&str]) -> PathBuf {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let out = Command::new("sh")
        .arg(repo_root().join("installers/build.sh"))
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "build.sh {args:?} failed");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let path = PathBuf::from(stdout.lines().last().expect("a path").trim());
    assert!(path.is_file(), "{}", path.display());
    path
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(out.status.success(), "{program} {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh Debian 12 root with /proc mounted and apt's download cache
/// bind-mounted from ~/.cache (so packages are fetched once per machine).
struct Root {
    path: PathBuf,
    mounts: Vec<PathBuf>,
    _dir: Option<tempfile::TempDir>,
}

impl Root {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("dm-debroot-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let path = dir.path().join("root");
        run(
            "bash",
            &[
                repo_root()
                    .join("tests/fixtures/debian/root.sh")
                    .to_str()
                    .unwrap(),
                path.to_str().unwrap(),
            ],
        );
        let mut root = Self {
            path,
            mounts: Vec::new(),
            _dir: Some(dir),
        };
        let proc_dir = root.path.join("proc");
        run("mount", &["-t", "proc", "proc", proc_dir.to_str().unwrap()]);
        root.mounts.push(proc_dir);
        let cache =
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/danemail/debian12/archives");
        let archives = root.path.join("var/cache/apt/archives");
        run(
            "mount",
            &[
                "--bind",
                cache.to_str().unwrap(),
                archives.to_str().unwrap(),
            ],
        );
        root.mounts.push(archives);
        root
    }

    /// `sh -c script` inside the root, as root with HOME=/root.
    fn sh(&self, script: &str) -> Output {
        Command::new("chroot")
            .arg(&self.path)
            .args(["/usr/bin/env", "-i", "HOME=/root", "LANG=C.UTF-8"])
            .arg("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .arg("DEBIAN_FRONTEND=noninteractive")
            .args(["/bin/sh", "-c", script])
            .output()
            .unwrap()
    }

    fn ok(&self, script: &str) -> String {
        let out = self.sh(script);
        assert!(out.status.success(), "{script}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `apt-get install ./PACKAGE` (its Depends fetched from the mirror).
    fn install(&self, deb: &Path) -> String {
        let name = deb.file_name().unwrap().to_str().unwrap();
        std::fs::copy(deb, self.path.join("tmp").join(name)).unwrap();
        self.ok(&format!(
            "apt-get install -y -q --no-install-recommends /tmp/{name} 2>&1"
        ))
    }

    fn file(&self, inside: &str) -> PathBuf {
        self.path.join(inside.trim_start_matches('/'))
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let mut stuck = false;
        for mount in self.mounts.iter().rev() {
            let unmounted = Command::new("umount")
                .arg(mount)
                .status()
                .is_ok_and(|s| s.success())
                || Command::new("umount")
                    .arg("-l")
                    .arg(mount)
                    .status()
                    .is_ok_and(|s| s.success());
            stuck |= !unmounted;
        }
        if stuck {
            // Never delete through a mount point: leave the directory.
            std::mem::forget(self._dir.take());
        }
    }
}

/// The fields of `dpkg-deb -I`'s control part.
fn field(info: &str, name: &str) -> String {
    info.lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} in {info}"))
        .to_owned()
}

/// The same package with another version: A+1 for the upgrade test.
fn rebuilt_with_version(deb: &Path, version: &str, dir: &Path) -> PathBuf {
    let tree = dir.join("tree");
    run(
        "dpkg-deb",
        &["-R", deb.to_str().unwrap(), tree.to_str().unwrap()],
    );
    let control = tree.join("DEBIAN/control");
    let text = std::fs::read_to_string(&control).unwrap();
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("Version: ") {
                format!("Version: {version}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&control, text).unwrap();
    let out = dir.join(format!("danemail_{version}_amd64.deb"));
    run(
        "dpkg-deb",
        &[
            "--root-owner-group",
            "-Zgzip",
            "-z1",
            "-b",
            tree.to_str().unwrap(),
            out.to_str().unwrap(),
        ],
    );
    out
}

/// The first line the server sends on `port` (loopback), within `limit`.
fn greeting(port: u16, limit: Duration) -> Option<String> {
    use std::io::BufRead;
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
            let mut line = String::new();
            std::io::BufReader::new(stream).read_line(&mut line).ok()?;
            return Some(line);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

#[test]
fn the_deb_installs_into_debian_12_runs_upgrades_keeping_a_queued_message_and_uninstalls_cleanly() {
    let deb = build(&["deb", "--debug"]);
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        deb.file_name().unwrap().to_str().unwrap(),
        format!("danemail_{version}_amd64.deb")
    );

    // What the package declares.
    let info = run("dpkg-deb", &["-I", deb.to_str().unwrap()]);
    assert_eq!(field(&info, "Package"), "danemail");
    assert_eq!(field(&info, "Version"), version);
    assert_eq!(field(&info, "Section"), "mail");
    let depends = field(&info, "Depends");
    for needed in [
        "libwebkit2gtk-4.1-0",
        "libgtk-3-0",
        "libayatana-appindicator3-1",
        "libssl3",
    ] {
        assert!(depends.contains(needed), "Depends: {depends}");
    }
    assert_eq!(field(&info, "Recommends"), "gnome-keyring");
    let files = run("dpkg-deb", &["-c", deb.to_str().unwrap()]);
    for path in [
        "./usr/bin/danemail-app",
        "./usr/bin/danemail",
        "./usr/lib/systemd/user/danemail.service",
        "./usr/share/applications/danemail.desktop",
        "./usr/share/icons/hicolor/128x128/apps/danemail-app.png",
    ] {
        // dpkg-deb lists members with or without the leading "./".
        let bare = path.trim_start_matches("./");
        assert!(
            files
                .lines()
                .any(|l| l.ends_with(&format!(" {path}")) || l.ends_with(&format!(" {bare}"))),
            "{path} missing:\n{files}"
        );
    }

    // Installs into a minimal Debian 12 with apt fetching only what the
    // package declares: both binaries then start (every library there).
    let root = Root::new();
    root.ok("apt-get update -q 2>&1");
    root.install(&deb);
    let desktop =
        std::fs::read_to_string(root.file("/usr/share/applications/danemail.desktop")).unwrap();
    assert!(desktop.contains("Name=DANE Mail\n"), "{desktop}");
    assert!(desktop.contains("Exec=danemail-app"), "{desktop}");
    assert!(desktop.contains("Categories=Network;Email;Security;"));
    let unit =
        std::fs::read_to_string(root.file("/usr/lib/systemd/user/danemail.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/danemail run"), "{unit}");
    assert_eq!(
        root.ok("danemail --version").trim(),
        format!("danemail {version}")
    );
    assert_eq!(
        root.ok("danemail-app --version").trim(),
        format!("danemail-app {version}")
    );

    // Headless on the embedded defaults, in a network namespace of its own
    // (port 1587 stays free on this machine): 220 on 127.0.0.1:1587.
    let probe = r#"
import socket, sys, time
for _ in range(200):
    try:
        s = socket.create_connection(("127.0.0.1", 1587), timeout=5)
        print(s.recv(512).decode().strip()); sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
"#;
    let out = Command::new("unshare")
        .args(["--net", "sh", "-c"])
        .arg(format!(
            "ip link set lo up; chroot {root} /usr/bin/env -i HOME=/root PATH=/usr/bin:/bin \
             danemail run >{root}/tmp/run.log 2>&1 & pid=$!; python3 -c '{probe}'; rc=$?; \
             kill $pid; wait $pid; echo exit=$?; exit $rc",
            root = root.path.display()
        ))
        .output()
        .unwrap();
    let log = std::fs::read_to_string(root.file("/tmp/run.log")).unwrap_or_default();
    let said = text(&out);
    assert!(out.status.success(), "{said}{log}");
    assert!(said.starts_with("220 "), "{said}");
    assert!(
        said.contains("exit=0"),
        "a clean stop on SIGTERM: {said}{log}"
    );

    // Upgrade: a message queued while the provider is down survives the
    // upgrade to A+1 and is delivered after it; config and key are kept.
    let fixture = dns();
    let mail = MailServer::start(&["alice@rsa.test"]);
    let switch = Switch::new(mail.port("SUBMISSION_PORT"));
    switch.set_up(false);
    let port = free_port();
    let secrets = root.file("/root/secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::copy(mail.ca_file(), secrets.join("ca.pem")).unwrap();
    std::fs::copy(fixture.trust_anchor(), secrets.join("anchor")).unwrap();
    support::secret_file(&secrets.join("local.pw"), "local-secret");
    support::secret_file(&secrets.join("provider.pw"), "provider-secret");
    support::secret_file(&secrets.join("key.pw"), "key passphrase");
    let config = format!(
        "# kept across the upgrade\n\
         [smtp]\nlisten = \"127.0.0.1:{port}\"\npassword_file = \"/root/secrets/local.pw\"\n\
         [upstream]\nhost = \"127.0.0.1\"\nport = {up}\nsecurity = \"starttls\"\n\
         username = \"me@provider.test\"\npassword_file = \"/root/secrets/provider.pw\"\n\
         ca_file = \"/root/secrets/ca.pem\"\ntimeout_secs = 10\n\
         [dns]\nservers = [\"{dns}\"]\ntrust_anchor = \"/root/secrets/anchor\"\n\
         [outbox]\nretry_initial_secs = 1\nretry_max_secs = 2\n[ldap]\nenabled = false\n",
        up = switch.port,
        dns = fixture.server(),
    );
    let config_path = root.file("/root/.config/danemail/config.toml");
    std::fs::create_dir_all(config_path.parent().unwrap()).unwrap();
    std::fs::write(&config_path, &config).unwrap();
    root.ok("danemail keys generate --email me@provider.test \
         --passphrase-file /root/secrets/key.pw >/dev/null");
    let keys_before = root.ok("danemail keys list");
    assert!(keys_before.contains("me@provider.test"), "{keys_before}");
    let command: Vec<OsString> = [
        "chroot",
        root.path.to_str().unwrap(),
        "/usr/bin/env",
        "-i",
        "HOME=/root",
        "PATH=/usr/bin:/bin",
        "danemail",
        "run",
    ]
    .iter()
    .map(Into::into)
    .collect();
    let log = root.path.join("../run.log");
    let mut proxy = Proxy::start_command(command.clone(), &log, port);
    let message = root.path.join("../message.eml");
    std::fs::write(
        &message,
        "From: me@provider.test\r\nTo: alice@rsa.test\r\nSubject: across an upgrade\r\n\
         Message-ID: <upgrade@provider.test>\r\n\r\nQueued before the upgrade.\r\n",
    )
    .unwrap();
    let sent = run(
        "python3",
        &[
            repo_root()
                .join("tests/fixtures/mail/smtplib-send.py")
                .to_str()
                .unwrap(),
            &port.to_string(),
            "danemail",
            "local-secret",
            "me@provider.test",
            message.to_str().unwrap(),
            "alice@rsa.test",
        ],
    );
    assert!(sent.contains("\"error\": null"), "{sent}");
    let queue = root.file("/root/.local/share/danemail/outbox/queue");
    assert_eq!(
        std::fs::read_dir(&queue).map_or(0, |d| d.count()),
        1,
        "queued on disk: {}",
        proxy.log()
    );
    assert!(proxy.terminate().success(), "{}", proxy.log());

    let next = rebuilt_with_version(&deb, "0.1.1", root.path.parent().unwrap());
    let upgraded = root.install(&next);
    assert!(
        upgraded.contains("Unpacking danemail (0.1.1) over"),
        "{upgraded}"
    );
    assert_eq!(root.ok("dpkg-query -W -f '${Version}' danemail"), "0.1.1");
    assert_eq!(std::fs::read_to_string(&config_path).unwrap(), config);
    assert_eq!(root.ok("danemail keys list"), keys_before);
    switch.set_up(true);
    let mut proxy = Proxy::start_command(command, &log, port);
    let got = mail.fetch("alice@rsa.test", 1, Duration::from_secs(30));
    assert_eq!(got.len(), 1, "delivered after the upgrade: {}", proxy.log());
    assert!(String::from_utf8_lossy(&got[0]).contains("upgrade@provider.test"));
    assert!(proxy.terminate().success(), "{}", proxy.log());

    // Uninstall: every file of the package is gone; the user's data stays.
    let owned = root.ok("dpkg -L danemail");
    root.ok("apt-get remove -y -q danemail 2>&1");
    for path in owned.lines().map(str::trim).filter(|p| !p.is_empty()) {
        let inside = root.file(path);
        assert!(
            inside.is_dir() || !inside.exists(),
            "{path} left behind after remove"
        );
    }
    assert!(
        root.ok("dpkg-query -W -f '${Status}' danemail || true")
            .contains("deinstall")
            || root.sh("dpkg-query -W danemail").status.code() != Some(0)
    );
    assert_eq!(std::fs::read_to_string(&config_path).unwrap(), config);
    assert!(root
        .file("/root/.local/share/danemail/keys")
        .read_dir()
        .is_ok_and(|mut d| d.next().is_some()));
}

#[test]
fn the_appimage_reports_its_version_and_starts_headless() {
    let image = build(&["appimage", "--debug"]);
    let version = env!("CARGO_PKG_VERSION");
    let dir = tempfile::tempdir().unwrap();
    let image_run = |args: &[&str]| {
        Command::new(&image)
            .arg("--appimage-extract-and-run")
            .args(args)
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env("HOME", dir.path())
            // The runtime extracts into TMPDIR: one per test.
            .env("TMPDIR", dir.path())
            .output()
            .unwrap()
    };
    let out = image_run(&["--version"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(text(&out).trim(), format!("danemail-app {version}"));
    let out = image_run(&["cli", "--version"]);
    assert_eq!(text(&out).trim(), format!("danemail {version}"));

    // Without a display the app is the headless service.
    let port = free_port();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[smtp]\nlisten = \"127.0.0.1:{port}\"\n[storage]\ndir = \"{}\"\n[ldap]\nenabled = false\n\
             [dns]\nservers = [\"127.0.0.1:9\"]\ntimeout_ms = 200\nfallback = []\n",
            dir.path().join("storage").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(&image)
        .args(["--appimage-extract-and-run", "--config"])
        .arg(&config)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("HOME", dir.path())
        .env("TMPDIR", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let said = greeting(port, Duration::from_secs(60));
    // The runtime extracts the image and waits for AppRun's program: the
    // service is its child, and its exit status becomes the runtime's.
    let _ = Command::new("pkill")
        .args(["-TERM", "-P", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert!(
        said.as_deref().is_some_and(|s| s.starts_with("220 ")),
        "{said:?}"
    );
    assert!(status.success(), "a clean stop: {status}");
}
