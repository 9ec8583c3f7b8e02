//! The provider for the proxy tests: a real Postfix + Dovecot on loopback
//! (tests/fixtures/mail/start.sh), and `danemail run` as a child process.

use std::collections::HashMap;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::repo_root;

/// A running Postfix + Dovecot; stopped on drop.
pub struct MailServer {
    pub dir: PathBuf,
    pub env: HashMap<String, String>,
    _keep: tempfile::TempDir,
}

impl MailServer {
    pub fn start(addresses: &[&str]) -> Self {
        Self::start_with(addresses, &[])
    }

    /// Like [`Self::start`], with variables for start.sh (e.g. `FILTER_PORT`).
    pub fn start_with(addresses: &[&str], env: &[(&str, &str)]) -> Self {
        // Unix socket paths inside DIR must stay short.
        let keep = tempfile::Builder::new()
            .prefix("dm-mail-")
            .tempdir_in("/tmp")
            .unwrap();
        let dir = keep.path().join("p");
        // The daemons start.sh leaves running inherit its stdout and stderr:
        // a pipe would never reach EOF, so they go to a file.
        let log_path = keep.path().join("start.out");
        let log = std::fs::File::create(&log_path).unwrap();
        let status = Command::new("bash")
            .arg(repo_root().join("tests/fixtures/mail/start.sh"))
            .arg(&dir)
            .args(addresses)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .status()
            .expect("run start.sh");
        let why = std::fs::read_to_string(&log_path).unwrap_or_default();
        assert!(status.success(), "start.sh: {why}");
        let env = std::fs::read_to_string(dir.join("env"))
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
            .collect();
        Self {
            dir,
            env,
            _keep: keep,
        }
    }

    pub fn port(&self, key: &str) -> u16 {
        self.env[key].parse().unwrap()
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    pub fn postfix_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("postfix.log")).unwrap_or_default()
    }

    /// Every message in `address`'s INBOX, waiting until there are `wait`.
    pub fn fetch(&self, address: &str, wait: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let out = tempfile::tempdir().unwrap();
        let result = Command::new("python3")
            .arg(repo_root().join("tests/fixtures/mail/fetch.py"))
            .arg(&self.dir)
            .arg(address)
            .arg(out.path())
            .args([
                "--wait",
                &wait.to_string(),
                "--timeout",
                &timeout.as_secs().to_string(),
            ])
            .output()
            .expect("run fetch.py");
        let count: usize = String::from_utf8_lossy(&result.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
        (1..=count)
            .map(|n| std::fs::read(out.path().join(format!("{n}.eml"))).unwrap())
            .collect()
    }
}

impl Drop for MailServer {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo_root().join("tests/fixtures/mail/stop.sh"))
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// `danemail run` with a config file; killed on drop.
pub struct Proxy {
    pub config: PathBuf,
    pub port: u16,
    /// The command line, program first.
    command: Vec<std::ffi::OsString>,
    /// `RUST_LOG` for the child; `None`: unset (the product's default).
    rust_log: Option<String>,
    child: Option<Child>,
    log: PathBuf,
}

impl Proxy {
    pub fn start(config: &Path, port: u16) -> Self {
        let command = vec![
            super::danemail_bin().into_os_string(),
            "run".into(),
            "--config".into(),
            config.into(),
        ];
        let mut proxy = Self::start_command(command, &config.with_extension("log"), port);
        proxy.config = config.to_owned();
        proxy
    }

    /// `command` (e.g. `danemail run` inside a chroot), logging to `log`,
    /// up once `port` accepts.
    pub fn start_command(command: Vec<std::ffi::OsString>, log: &Path, port: u16) -> Self {
        let mut proxy = Self {
            config: PathBuf::new(),
            port,
            command,
            rust_log: Some("info,hickory_proto=off,hickory_net=off,hickory_resolver=off".into()),
            child: None,
            log: log.to_owned(),
        };
        proxy.spawn();
        proxy
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut command = Command::new(&self.command[0]);
        command.args(&self.command[1..]);
        match &self.rust_log {
            Some(filter) => command.env("RUST_LOG", filter),
            None => command.env_remove("RUST_LOG"),
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn danemail run");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("danemail run exited with {status}: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "danemail run did not listen: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Restarts with `RUST_LOG` unset: the log the product writes by default.
    pub fn restart_with_default_log(&mut self) {
        self.rust_log = None;
        self.restart();
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// SIGTERM, and wait for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let child = self.child.as_mut().expect("running");
        let _ = Command::new("kill").arg(child.id().to_string()).status();
        let status = child.wait().unwrap();
        self.child = None;
        status
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A TCP forwarder in front of the provider that can be switched off: a
/// provider outage without touching Postfix.
pub struct Switch {
    pub port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Switch {
    pub fn new(target: u16) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = std::sync::Arc::new(AtomicBool::new(true));
        let flag = up.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !flag.load(Ordering::SeqCst) {
                    drop(client); // down: the connection is cut at once
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let (mut c1, mut s1) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (mut c2, mut s2) = (client, server);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c1, &mut s1);
                    let _ = s1.shutdown(std::net::Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s2, &mut c2);
                    let _ = c2.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        Self { port, up }
    }

    pub fn set_up(&self, up: bool) {
        self.up.store(up, std::sync::atomic::Ordering::SeqCst);
    }
}
