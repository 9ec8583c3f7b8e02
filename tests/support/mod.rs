//! Shared harness for the end-to-end tests: builds the signed fixture zones
//! (tests/fixtures/dns/build.sh), serves them with a real nsd on a free
//! loopback port, and runs the oracles. One fixture per test process.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A built and served copy of the DNS fixtures.
pub struct DnsFixture {
    pub dir: PathBuf,
    pub port: u16,
    _keep: tempfile::TempDir,
}

/// One row of cases.tsv.
#[derive(Debug, Clone)]
pub struct Case {
    pub case: String,
    pub qname: String,
    pub qtype: String,
    pub expected: String,
    pub note: String,
}

/// One row of addresses.tsv.
#[derive(Debug, Clone)]
pub struct FixtureAddress {
    pub address: String,
    pub cert_sha256: Option<String>,
    pub note: String,
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("proxy/ has a parent")
        .to_owned()
}

fn script(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/dns").join(name)
}

/// The fixture of this test process, built and served on first use.
pub fn dns() -> &'static DnsFixture {
    static FIXTURE: OnceLock<DnsFixture> = OnceLock::new();
    FIXTURE.get_or_init(DnsFixture::start)
}

impl DnsFixture {
    fn start() -> Self {
        Self::start_with_records(None)
    }

    /// A separate fixture whose ecdsa.test zone also holds the records in
    /// `extra` (zone-file lines), signed with the rest.
    pub fn start_with_records(extra: Option<&Path>) -> Self {
        let keep = tempfile::Builder::new()
            .prefix("danemail-dns-")
            .tempdir()
            .expect("temp dir");
        let dir = keep.path().to_owned();
        let mut build = Command::new("bash");
        if let Some(extra) = extra {
            build.env("EXTRA_ECDSA_RECORDS", extra);
        }
        let status = build
            .arg(script("build.sh"))
            .arg(&dir)
            .stdout(Stdio::null())
            .status()
            .expect("run build.sh (needs nsd, ldnsutils, openssl)");
        assert!(status.success(), "tests/fixtures/dns/build.sh failed");
        let port = free_port();
        // nsd must not outlive this test process.
        watched(&format!(
            "bash '{serve}' '{dir}' {port} >'{dir}/serve.log' 2>&1",
            serve = script("serve.sh").display(),
            dir = dir.display(),
        ));
        wait_until_serving(port, &dir);
        Self {
            dir,
            port,
            _keep: keep,
        }
    }

    pub fn server(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn trust_anchor(&self) -> PathBuf {
        self.dir.join("trust-anchor.key")
    }

    pub fn cases(&self) -> Vec<Case> {
        read_tsv(&self.dir.join("cases.tsv"))
            .into_iter()
            .map(|f| Case {
                case: f[0].clone(),
                qname: f[1].clone(),
                qtype: f[2].clone(),
                expected: f[3].clone(),
                note: f.get(4).cloned().unwrap_or_default(),
            })
            .collect()
    }

    pub fn addresses(&self) -> Vec<FixtureAddress> {
        read_tsv(&self.dir.join("addresses.tsv"))
            .into_iter()
            .map(|f| FixtureAddress {
                address: f[0].clone(),
                cert_sha256: (f[1] != "-").then(|| f[1].clone()),
                note: f.get(2).cloned().unwrap_or_default(),
            })
            .collect()
    }

    pub fn address(&self, address: &str) -> FixtureAddress {
        self.addresses()
            .into_iter()
            .find(|a| a.address == address)
            .unwrap_or_else(|| panic!("{address} is not in addresses.tsv"))
    }

    /// The verdict of `delv` or `unbound` for one query.
    pub fn oracle(&self, tool: &str, qname: &str, qtype: &str) -> String {
        let out = Command::new("bash")
            .arg(script("oracle.sh"))
            .args([
                tool,
                &self.dir.display().to_string(),
                &self.port.to_string(),
                qname,
                qtype,
            ])
            .output()
            .expect("run oracle.sh");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// A `danemail` config file pointing at this fixture.
    pub fn config_file(&self, extra: &str) -> PathBuf {
        // Unique per call: tests in one process run in parallel threads.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = self
            .dir
            .join(format!("config-{}-{n}.toml", std::process::id()));
        let text = format!(
            "[dns]\nservers = [\"{}\"]\ntrust_anchor = \"{}\"\ntimeout_ms = 2000\n{extra}",
            self.server(),
            self.trust_anchor().display()
        );
        std::fs::write(&path, text).expect("write config");
        path
    }
}

/// unbound serving the fixture over DNS over TLS and DNS over HTTPS
/// (tests/fixtures/dns/serve-encrypted.sh), stopped with this process.
pub struct EncryptedDns {
    pub dot: SocketAddr,
    pub doh: SocketAddr,
    /// The test CA the certificate (dot.test, doh.test, 127.0.0.1) chains to.
    pub ca: PathBuf,
    /// One line per query received.
    pub log: PathBuf,
}

impl EncryptedDns {
    /// How many queries for `suffix` or a name under it it received.
    pub fn queries_for(&self, suffix: &str) -> usize {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let suffix = format!("{}.", suffix.trim_end_matches('.').to_lowercase());
        // "[time] unbound[pid:0] info: 127.0.0.1 NAME. TYPE IN"
        log.lines()
            .filter_map(|l| l.split_once(" info: 127.0.0.1 "))
            .filter_map(|(_, rest)| rest.split(' ').next())
            .filter(|name| {
                let name = name.to_lowercase();
                name == suffix || name.ends_with(&format!(".{suffix}"))
            })
            .count()
    }
}

impl DnsFixture {
    /// Starts an unbound in front of this fixture's nsd, over TLS and HTTPS.
    pub fn start_encrypted(&self) -> EncryptedDns {
        let (dot, doh) = (free_port(), free_port());
        let state = self.dir.join("encrypted").join(dot.to_string());
        watched(&format!(
            "bash '{serve}' '{dir}' {nsd} {dot} {doh} >'{dir}/encrypted-{dot}.log' 2>&1",
            serve = script("serve-encrypted.sh").display(),
            dir = self.dir.display(),
            nsd = self.port,
        ));
        let deadline = Instant::now() + Duration::from_secs(20);
        while [dot, doh]
            .iter()
            .any(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_err())
        {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.join(format!("encrypted-{dot}.log")))
                    .unwrap_or_default();
                panic!("unbound did not start on {dot}/{doh}: {log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        EncryptedDns {
            dot: SocketAddr::from(([127, 0, 0, 1], dot)),
            doh: SocketAddr::from(([127, 0, 0, 1], doh)),
            ca: self.dir.join("encrypted/ca.pem"),
            log: state.join("queries.log"),
        }
    }
}

/// Runs `command` (bash) in the background until this test process ends:
/// a watchdog shell kills it when our pid is gone (statics are never dropped).
fn watched(command: &str) {
    let watchdog = format!(
        "{command} & child=$!; \
         while kill -0 {pid} 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.2; done; \
         kill $child 2>/dev/null",
        pid = std::process::id(),
    );
    // Deliberately not waited for: it ends when this process does.
    #[allow(clippy::zombie_processes)]
    Command::new("bash")
        .args(["-c", &watchdog])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn watchdog");
}

fn read_tsv(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

/// A port free for both UDP and TCP on 127.0.0.1.
pub fn free_port() -> u16 {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind tcp");
        let port = tcp.local_addr().expect("addr").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn wait_until_serving(port: u16, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
    panic!("nsd did not start on 127.0.0.1:{port}: {log}");
}

/// A UDP and TCP socket on loopback that accept queries and never answer:
/// a dead server that costs a real timeout (not a quick ICMP refusal).
pub struct BlackHole {
    pub addr: SocketAddr,
    _udp: UdpSocket,
    _tcp: TcpListener,
}

impl BlackHole {
    pub fn new() -> Self {
        loop {
            let tcp = TcpListener::bind("127.0.0.1:0").expect("bind tcp");
            let addr = tcp.local_addr().expect("addr");
            if let Ok(udp) = UdpSocket::bind(addr) {
                return Self {
                    addr,
                    _udp: udp,
                    _tcp: tcp,
                };
            }
        }
    }
}

/// Writes a one-line secret readable by its owner only (as danemail demands).
pub fn secret_file(path: &Path, secret: &str) -> PathBuf {
    std::fs::write(path, format!("{secret}\n")).expect("write secret");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
    }
    path.to_owned()
}

/// The `danemail` CLI cargo built for these tests (only the engine
/// package's tests have it).
pub fn danemail_bin() -> PathBuf {
    match option_env!("CARGO_BIN_EXE_danemail") {
        Some(path) => PathBuf::from(path),
        None => panic!("the danemail CLI is built only for the danemail package's tests"),
    }
}

/// Runs `script` with bash in a private D-Bus session with an unlocked
/// gnome-keyring (the real Secret Service) and a throw-away HOME, so no real
/// keyring is touched; `env` adds variables. Returns stdout; panics with
/// stdout and stderr when the script fails.
pub fn in_keyring_session(home: &Path, script: &str, env: &[(&str, &std::ffi::OsStr)]) -> String {
    let out = Command::new("dbus-run-session")
        .args([
            "--",
            "bash",
            "-c",
            &format!(
                "set -euo pipefail; printf unlock | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; {script}"
            ),
        ])
        .current_dir(home)
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_RUNTIME_DIR", home)
        .envs(env.iter().copied())
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("RUST_LOG")
        .output()
        .expect("dbus-run-session (package dbus-daemon)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs the `danemail` binary built for these tests.
pub fn danemail(args: &[&str]) -> std::process::Output {
    Command::new(danemail_bin())
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run danemail")
}

/// A forwarder on loopback (UDP and TCP) that relays queries to `upstream`
/// and strips every RRSIG from the answers, as many home routers do.
pub struct StrippingResolver {
    pub addr: SocketAddr,
}

impl StrippingResolver {
    pub fn start(upstream: SocketAddr) -> Self {
        use std::io::{Read, Write};
        let tcp = loop {
            let tcp = TcpListener::bind("127.0.0.1:0").expect("bind tcp");
            if let Ok(udp) = UdpSocket::bind(tcp.local_addr().unwrap()) {
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 65535];
                    while let Ok((n, client)) = udp.recv_from(&mut buf) {
                        let query = buf[..n].to_vec();
                        let Some(answer) = forward_udp(upstream, &query) else {
                            continue;
                        };
                        let _ = udp.send_to(&strip_rrsigs(&answer), client);
                    }
                });
                break tcp;
            }
        };
        let addr = tcp.local_addr().unwrap();
        std::thread::spawn(move || {
            for mut client in tcp.incoming().flatten() {
                std::thread::spawn(move || -> std::io::Result<()> {
                    let mut up = std::net::TcpStream::connect(upstream)?;
                    loop {
                        let mut len = [0u8; 2];
                        client.read_exact(&mut len)?;
                        let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
                        client.read_exact(&mut query)?;
                        up.write_all(&len)?;
                        up.write_all(&query)?;
                        up.read_exact(&mut len)?;
                        let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
                        up.read_exact(&mut answer)?;
                        let answer = strip_rrsigs(&answer);
                        client.write_all(&(answer.len() as u16).to_be_bytes())?;
                        client.write_all(&answer)?;
                    }
                });
            }
        });
        Self { addr }
    }
}

fn forward_udp(upstream: SocketAddr, query: &[u8]) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").ok()?;
    socket.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    socket.send_to(query, upstream).ok()?;
    let mut buf = vec![0u8; 65535];
    let n = socket.recv(&mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

fn strip_rrsigs(wire: &[u8]) -> Vec<u8> {
    use hickory_resolver::proto::op::Message;
    use hickory_resolver::proto::rr::RecordType;
    let Ok(mut message) = Message::from_vec(wire) else {
        return wire.to_vec();
    };
    for section in [
        &mut message.answers,
        &mut message.authorities,
        &mut message.additionals,
    ] {
        section.retain(|r| r.record_type() != RecordType::RRSIG);
    }
    message.to_vec().unwrap_or_else(|_| wire.to_vec())
}
pub mod mail;
pub mod relay;
pub mod smime;
