//! Chaos, bounded and on loopback (issue 12): `danemail run` killed with
//! SIGKILL at random moments under concurrent submissions, with an account
//! of every 250; and providers that misbehave in each way a provider can —
//! Postfix's own smtp-sink told to fail (421 at the greeting, 451 at RCPT,
//! silence after DATA, no reply after the final dot), a listener that never
//! greets, a connection cut in the middle of the data. Every message must
//! stay queued through the failure, never bounce, and arrive once the
//! provider is healthy. (The full disk, idle floods and smuggling against a
//! lenient provider are in proxy_e2e.rs and ldap_e2e.rs.)

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::mail::Proxy;
use support::relay::{
    base64_plain, decrypt, is_encrypted, rand, setup, try_read_reply, LOCAL_PASSWORD, WAIT,
};
use support::{dns, free_port, secret_file};

/// One submission over a raw socket, every step checked: `Ok(true)` for a
/// 250 after the data, `Ok(false)` for any other reply, `Err` when the
/// connection failed (the proxy was killed): the client does not know
/// whether the message was taken, and sends it again.
fn submit(port: u16, rcpts: &[&str], data: &[u8]) -> std::io::Result<bool> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let reply = |stream: &mut TcpStream| try_read_reply(stream, &mut Vec::new());
    reply(&mut stream)?;
    let mut lines = vec![
        "EHLO chaos".to_owned(),
        format!("AUTH PLAIN {}", base64_plain("danemail", LOCAL_PASSWORD)),
        "MAIL FROM:<me@provider.test>".to_owned(),
    ];
    lines.extend(rcpts.iter().map(|r| format!("RCPT TO:<{r}>")));
    lines.push("DATA".to_owned());
    for line in lines {
        stream.write_all(format!("{line}\r\n").as_bytes())?;
        let answer = reply(&mut stream)?;
        if !(answer.starts_with('2') || answer.starts_with('3')) {
            return Ok(false);
        }
    }
    stream.write_all(data)?;
    stream.write_all(b".\r\n")?;
    let done = reply(&mut stream)?;
    let _ = stream.write_all(b"QUIT\r\n");
    Ok(done.starts_with("250 "))
}

/// A message whose Subject and body carry `token`, about 4 KiB.
fn chaos_message(token: &str, to: &str, cc: &str) -> Vec<u8> {
    let filler = format!("{}\r\n", "f".repeat(76)).repeat(50);
    format!(
        "From: me@provider.test\r\nTo: {to}\r\nCc: {cc}\r\nSubject: chaos {token}\r\n\
         Message-ID: <{token}@provider.test>\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n\r\n\
         secret body {token}\r\n{filler}"
    )
    .into_bytes()
}

fn random_below(n: u64) -> u64 {
    let mut b = [0u8; 8];
    openssl::rand::rand_bytes(&mut b).unwrap();
    u64::from_le_bytes(b) % n
}

/// The tokens in a mailbox: from the Subject of each message, and for
/// encrypted messages from their decrypted body too (which must match).
fn tokens_in(messages: &[Vec<u8>], encrypted_for: Option<&str>) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| {
            let text = String::from_utf8_lossy(m);
            let token = text
                .split("Subject: chaos ")
                .nth(1)?
                .split("\r\n")
                .next()?
                .to_owned();
            if let Some(address) = encrypted_for {
                assert!(is_encrypted(m), "{token} reached {address} in the clear");
                assert!(!text.contains("secret body"), "{token}: body in the clear");
                let inner = decrypt(m, address).unwrap_or_else(|e| panic!("{token}: {e}"));
                assert!(
                    String::from_utf8_lossy(&inner).contains(&format!("secret body {token}")),
                    "{token}: the encrypted body is not this message's"
                );
            }
            Some(token)
        })
        .collect()
}

/// Issue 12, chaos: kill -9 at random moments while three clients submit
/// concurrently. Every message acknowledged with 250 is delivered at least
/// once to each recipient; the encrypt recipient never gets it in the
/// clear; duplicates (a 250 lost in a kill, then a resend, or a delivery
/// whose record update was lost) are counted and reported.
#[test]
fn random_kill9_under_concurrent_load_delivers_every_250_and_never_in_the_clear() {
    const CLIENTS: usize = 3;
    const KILLS: usize = 5;
    let mut s = setup("");
    let port = s.proxy.port;
    let stop = AtomicBool::new(false);
    let acknowledged = Mutex::new(Vec::<String>::new());
    let mut attempts = 0usize;
    std::thread::scope(|scope| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let (stop, acknowledged) = (&stop, &acknowledged);
                scope.spawn(move || {
                    let mut tries = 0;
                    for n in 0.. {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let token = format!("c{c}-m{n}-{}", rand());
                        let data = chaos_message(&token, "alice@rsa.test", "nobody@ecdsa.test");
                        // Resent until acknowledged, as a mail client would.
                        loop {
                            tries += 1;
                            match submit(port, &["alice@rsa.test", "nobody@ecdsa.test"], &data) {
                                Ok(true) => {
                                    acknowledged.lock().unwrap().push(token.clone());
                                    break;
                                }
                                Ok(false) => panic!("{token} refused"),
                                Err(_) => std::thread::sleep(Duration::from_millis(50)),
                            }
                        }
                    }
                    tries
                })
            })
            .collect();
        for _ in 0..KILLS {
            std::thread::sleep(Duration::from_millis(300 + random_below(900)));
            s.proxy.kill9();
            s.proxy.restart();
        }
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::SeqCst);
        attempts = clients.into_iter().map(|c| c.join().unwrap()).sum();
    });
    let acknowledged = acknowledged.into_inner().unwrap();
    assert!(
        acknowledged.len() >= 10,
        "too little load: {}",
        acknowledged.len()
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    while s.queued() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(s.queued(), 0, "the outbox drained: {}", s.proxy.log());
    let mut report = Vec::new();
    for (address, encrypted) in [("alice@rsa.test", true), ("nobody@ecdsa.test", false)] {
        let got = s.mail.fetch(address, acknowledged.len(), WAIT);
        let tokens = tokens_in(&got, encrypted.then_some(address));
        let missing: Vec<_> = acknowledged
            .iter()
            .filter(|t| !tokens.contains(t))
            .collect();
        assert!(
            missing.is_empty(),
            "{address}: acknowledged but lost: {missing:?}"
        );
        let mut unique = tokens.clone();
        unique.sort();
        unique.dedup();
        report.push(format!(
            "{address}: {} messages, {} duplicates, {} delivered without a 250 seen",
            tokens.len(),
            tokens.len() - unique.len(),
            unique.iter().filter(|t| !acknowledged.contains(t)).count()
        ));
    }
    let log = s.proxy.log();
    assert!(!log.contains("bouncing"), "{log}");
    eprintln!(
        "chaos: {KILLS} kills, {attempts} submissions, {} acknowledged; {}",
        acknowledged.len(),
        report.join("; ")
    );
}

/// A provider's port whose behaviour the test switches: forward to a
/// port, hold every connection without a word, or forward and cut the
/// connection after a number of bytes from the proxy.
struct Provider {
    port: u16,
    route: Arc<Mutex<Route>>,
}

#[derive(Clone, Copy)]
enum Route {
    To(u16),
    Silent,
    CutAfter(u16, usize),
}

impl Provider {
    fn new(route: Route) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let route = Arc::new(Mutex::new(route));
        let shared = route.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for client in listener.incoming().flatten() {
                let (target, cut) = match *shared.lock().unwrap() {
                    Route::Silent => {
                        held.push(client);
                        continue;
                    }
                    Route::To(target) => (target, usize::MAX),
                    Route::CutAfter(target, bytes) => (target, bytes),
                };
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let (mut c1, s1) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (mut c2, mut s2) = (client, server);
                std::thread::spawn(move || {
                    let (mut s1, mut sent, mut buf) = (s1, 0usize, [0u8; 4096]);
                    while let Ok(n @ 1..) = c1.read(&mut buf) {
                        let n = n.min(cut - sent);
                        if s1.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        sent += n;
                        if sent >= cut {
                            // Cut both ways, mid-transfer.
                            let _ = c1.shutdown(std::net::Shutdown::Both);
                            break;
                        }
                    }
                    let _ = s1.shutdown(std::net::Shutdown::Both);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s2, &mut c2);
                    let _ = c2.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Self { port, route }
    }

    fn set(&self, route: Route) {
        *self.route.lock().unwrap() = route;
    }
}

/// Postfix's smtp-sink on a free loopback port with `args`; killed on drop.
struct Sink {
    port: u16,
    child: Child,
}

impl Sink {
    fn start(args: &[&str]) -> Self {
        let port = free_port();
        let mut command = Command::new("/usr/sbin/smtp-sink");
        command.args(args);
        // Required as root (it drops to this user after binding).
        if nix_is_root() {
            command.args(["-u", "nobody"]);
        }
        let child = command
            .arg(format!("127.0.0.1:{port}"))
            .arg("64")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("smtp-sink (postfix) is installed");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "smtp-sink did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { port, child }
    }

    /// A healthy sink writing each transaction to a file in `dir`.
    fn healthy(dir: &Path) -> Self {
        Self::start(&["-d", &format!("{}/msg-", dir.display())])
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `danemail run` relaying in plain SMTP (loopback) to `provider`.
fn proxy_to(provider: u16, dir: &Path) -> Proxy {
    let fixture = dns();
    let port = free_port();
    let config = format!(
        "[smtp]\nlisten = \"127.0.0.1:{port}\"\npassword_file = \"{local}\"\n\
         [upstream]\nhost = \"127.0.0.1\"\nport = {provider}\nsecurity = \"none\"\ntimeout_secs = 2\n\
         [dns]\nservers = [\"{dns}\"]\ntrust_anchor = \"{anchor}\"\n\
         [storage]\ndir = \"{storage}\"\n\
         [outbox]\nretry_initial_secs = 1\nretry_max_secs = 1\n[ldap]\nenabled = false\n",
        local = secret_file(&dir.join("smtp.pw"), LOCAL_PASSWORD).display(),
        dns = fixture.server(),
        anchor = fixture.trust_anchor().display(),
        storage = dir.join("storage").display(),
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, config).unwrap();
    Proxy::start(&path, port)
}

fn dumped(dir: &Path) -> Vec<Vec<u8>> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("msg-"))
                .filter_map(|e| std::fs::read(e.path()).ok())
                .collect()
        })
        .unwrap_or_default()
}

fn wait_until(
    what: &str,
    timeout: Duration,
    mut done: impl FnMut() -> bool,
    log: impl Fn() -> String,
) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: {}", log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One misbehaving provider: a message for an encrypt and a plaintext
/// recipient is accepted while the provider fails as `route` makes it;
/// delivery is deferred (attempted at least twice, never bounced, still
/// queued); then the provider is healthy and each recipient gets exactly
/// one copy, the encrypt recipient's encrypted.
fn hostile_provider_defers_then_delivers(route: impl FnOnce(&Path) -> (Route, Option<Sink>)) {
    let dir = tempfile::tempdir().unwrap();
    let dumps = dir.path().join("dumps");
    std::fs::create_dir(&dumps).unwrap();
    // smtp-sink writes as `nobody`.
    std::fs::set_permissions(&dumps, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let healthy = Sink::healthy(&dumps);
    let (hostile, _hostile_sink) = route(dir.path());
    let provider = Provider::new(hostile);
    let proxy = proxy_to(provider.port, dir.path());
    let token = rand();
    let data = chaos_message(&token, "alice@rsa.test", "nobody@ecdsa.test");
    let ok = submit(proxy.port, &["alice@rsa.test", "nobody@ecdsa.test"], &data).unwrap();
    assert!(ok, "accepted: {}", proxy.log());
    // Two recipients a line each, two attempts.
    let deferrals = || proxy.log().matches(": deferred ").count();
    wait_until(
        "two deferred attempts",
        Duration::from_secs(30),
        || deferrals() >= 4,
        || proxy.log(),
    );
    let queue = dir.path().join("storage/outbox/queue");
    assert_eq!(
        std::fs::read_dir(&queue).unwrap().count(),
        1,
        "still queued"
    );
    assert!(
        dumped(&dumps).is_empty(),
        "nothing reached the healthy provider yet"
    );

    provider.set(Route::To(healthy.port));
    wait_until(
        "delivered once the provider is healthy",
        Duration::from_secs(30),
        || std::fs::read_dir(&queue).map_or(0, |d| d.count()) == 0,
        || proxy.log(),
    );
    let got = dumped(&dumps);
    let log = proxy.log();
    assert!(
        !log.contains("bounced") && !log.contains("bouncing"),
        "{log}"
    );
    assert_eq!(got.len(), 2, "one copy per recipient: {log}");
    let plain: Vec<_> = got.iter().filter(|m| !is_encrypted(m)).collect();
    let encrypted: Vec<_> = got.iter().filter(|m| is_encrypted(m)).collect();
    assert_eq!((plain.len(), encrypted.len()), (1, 1), "{log}");
    let envelope_recipient = |m: &[u8]| {
        let text = String::from_utf8_lossy(m).into_owned();
        text.lines()
            .find(|l| l.starts_with("X-Rcpt-Args:"))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(String::from_utf8_lossy(plain[0]).contains(&format!("secret body {token}")));
    assert!(
        envelope_recipient(plain[0]).contains("nobody@ecdsa.test"),
        "{log}"
    );
    assert!(!String::from_utf8_lossy(encrypted[0]).contains("secret body"));
    assert!(
        envelope_recipient(encrypted[0]).contains("alice@rsa.test"),
        "{log}"
    );
}

fn sink_route(args: &'static [&'static str]) -> impl FnOnce(&Path) -> (Route, Option<Sink>) {
    move |_| {
        let sink = Sink::start(args);
        (Route::To(sink.port), Some(sink))
    }
}

#[test]
fn hostile_provider_421_at_the_greeting() {
    hostile_provider_defers_then_delivers(sink_route(&["-Q", "connect"]));
}

#[test]
fn hostile_provider_451_at_rcpt() {
    hostile_provider_defers_then_delivers(sink_route(&[
        "-r",
        "rcpt",
        "-b",
        "451 4.3.0 Try again later",
    ]));
}

#[test]
fn hostile_provider_silent_after_data() {
    hostile_provider_defers_then_delivers(sink_route(&["-w", "600"]));
}

#[test]
fn hostile_provider_hangs_up_after_the_final_dot_without_a_reply() {
    hostile_provider_defers_then_delivers(sink_route(&["-q", "."]));
}

#[test]
fn hostile_provider_never_greets() {
    hostile_provider_defers_then_delivers(|_| (Route::Silent, None));
}

#[test]
fn hostile_provider_resets_the_connection_mid_data() {
    hostile_provider_defers_then_delivers(|_| {
        let sink = Sink::start(&[]);
        // Greeting, EHLO, MAIL, RCPTs and DATA are a few hundred bytes: the
        // cut falls inside the message.
        (Route::CutAfter(sink.port, 1200), Some(sink))
    });
}
