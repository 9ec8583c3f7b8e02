//! Lookups that work on any network: when the configured resolver strips
//! DNSSEC data, DANE Mail falls back by itself to DNS over TLS and then DNS
//! over HTTPS, still validating every answer in-process; it says which path
//! it uses; `private = true` keeps every query off the clear path; and a
//! bogus answer on a healthy path is never retried elsewhere.
//!
//! The parts, all on loopback: the fixture nsd; a forwarder in front of it
//! that can strip DNSSEC data (tests/support/forwarder.rs); unbound serving
//! the same zones over TLS and HTTPS with a test CA
//! (tests/fixtures/dns/serve-encrypted.sh).

#[path = "support/forwarder.rs"]
mod forwarder;
mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use danemail::config::{DnsConfig, Fallback, HttpsServer, TlsServer};
use danemail::dns::{Name, PathKind, RecordType, SecureResolver};
use forwarder::{Forwarder, Mode};
use serde_json::Value;
use support::{danemail, dns, free_port, EncryptedDns};

fn tls(addr: SocketAddr, name: &str) -> TlsServer {
    TlsServer::try_from(format!("{addr}#{name}")).unwrap()
}

fn https(addr: SocketAddr) -> HttpsServer {
    HttpsServer::try_from(format!(
        "https://doh.test:{}/dns-query#{}",
        addr.port(),
        addr.ip()
    ))
    .unwrap()
}

/// A forwarder in `mode` in front of the fixture as the configured server,
/// and the given fallbacks to the encrypted server.
fn network(
    mode: Mode,
    fallback: &[Fallback],
    tls_servers: Vec<TlsServer>,
    https_servers: Vec<HttpsServer>,
) -> (Forwarder, DnsConfig) {
    let forwarder = Forwarder::start(dns().server(), mode);
    let config = config(
        forwarder.addr,
        fallback,
        tls_servers,
        https_servers,
        &encrypted().ca,
    );
    (forwarder, config)
}

/// `[dns]` with `clear` as the configured server and the given fallbacks.
fn config(
    clear: SocketAddr,
    fallback: &[Fallback],
    tls_servers: Vec<TlsServer>,
    https_servers: Vec<HttpsServer>,
    ca: &std::path::Path,
) -> DnsConfig {
    DnsConfig {
        servers: vec![clear],
        trust_anchor: Some(dns().trust_anchor()),
        timeout_ms: 1500,
        fallback: fallback.to_vec(),
        tls_servers: Some(tls_servers),
        https_servers: Some(https_servers),
        ca_file: Some(ca.to_owned()),
        ..DnsConfig::default()
    }
}

/// The same as a config file for the CLI.
fn config_file(dns: &DnsConfig, name: &str) -> PathBuf {
    let quote = |items: Vec<String>| {
        items
            .iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let text = format!(
        "[dns]\nservers = [{}]\ntrust_anchor = \"{}\"\ntimeout_ms = {}\nfallback = [{}]\n\
         tls_servers = [{}]\nhttps_servers = [{}]\nca_file = \"{}\"\nprivate = {}\n",
        quote(dns.servers.iter().map(ToString::to_string).collect()),
        dns.trust_anchor.as_ref().unwrap().display(),
        dns.timeout_ms,
        quote(
            dns.fallback
                .iter()
                .map(|f| match f {
                    Fallback::Tls => "tls".to_string(),
                    Fallback::Https => "https".to_string(),
                })
                .collect()
        ),
        quote(dns.tls_servers().iter().map(ToString::to_string).collect()),
        quote(
            dns.https_servers()
                .iter()
                .map(|s| format!("{s}#{}", s.addr.ip()))
                .collect()
        ),
        dns.ca_file.as_ref().unwrap().display(),
        dns.private,
    );
    let path = dns_dir().join(format!("{name}-{}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

fn dns_dir() -> PathBuf {
    dns().dir.clone()
}

fn encrypted() -> &'static EncryptedDns {
    static SERVER: std::sync::OnceLock<EncryptedDns> = std::sync::OnceLock::new();
    SERVER.get_or_init(|| dns().start_encrypted())
}

/// Every fixture case through `resolver`, compared with the oracles'
/// verdict (the differential test checks delv and unbound against the
/// same table). Returns the disagreements.
async fn disagreements(resolver: &SecureResolver) -> Vec<String> {
    let mut failures = Vec::new();
    let cases = dns().cases();
    assert!(cases.len() >= 30);
    for case in &cases {
        let name = Name::from_ascii(&case.qname).unwrap();
        let qtype = RecordType::from_str(&case.qtype).unwrap();
        let ours = resolver.query(&name, qtype).await;
        let expected = match case.expected.as_str() {
            // Known hickory 0.26.3 limitation, as in dns_differential.rs.
            "known-hickory-wildcard" => "bogus",
            other => other,
        };
        if ours.label() != expected {
            failures.push(format!("{}: expected {expected}, got {ours:?}", case.case));
        }
    }
    failures
}

fn lookup_json(config: &std::path::Path, addresses: &[&str]) -> Vec<Value> {
    let config = config.display().to_string();
    let mut args = vec!["lookup", "--json", "--config", &config];
    args.extend_from_slice(addresses);
    let out = danemail(&args);
    match serde_json::from_slice(&out.stdout) {
        Ok(Value::Array(items)) => items,
        _ => panic!(
            "lookup: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// The decisions for every fixture address, as `address decision`.
fn decisions(config: &std::path::Path) -> Vec<String> {
    let addresses: Vec<String> = dns().addresses().into_iter().map(|a| a.address).collect();
    let refs: Vec<&str> = addresses.iter().map(String::as_str).collect();
    lookup_json(config, &refs)
        .iter()
        .map(|r| format!("{} {}", r["address"].as_str().unwrap(), r["decision"]))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stripping_resolver_falls_back_to_dns_over_tls_with_the_same_verdicts() {
    let fixture = dns();
    let server = encrypted();
    let (stripping, dns) = network(
        Mode::Strip,
        &[Fallback::Tls, Fallback::Https],
        vec![tls(server.dot, "dot.test")],
        vec![https(server.doh)],
    );
    let resolver = SecureResolver::new(&dns).unwrap();
    let failures = disagreements(&resolver).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let path = resolver.path().await;
    assert_eq!(path.kind, PathKind::Tls, "{path:?}");
    assert!(path.ok);
    assert!(
        path.line.starts_with(&format!(
            "using DNS over TLS to {} (dot.test) because the configured resolver {}",
            server.dot, stripping.addr
        )) && path.line.contains("strips DNSSEC signatures"),
        "{}",
        path.line
    );
    assert!(server.queries_for("_smimecert.tampered.test") > 0);

    // The CLI: the whole address table decides as over a good resolver,
    // and doctor names the path.
    let direct = fixture.config_file("fallback = []\n");
    let fallback = config_file(&dns, "fallback-tls");
    assert_eq!(decisions(&fallback), decisions(&direct));
    let report = &lookup_json(&fallback, &["alice@ecdsa.test", "alice@tampered.test"]);
    assert_eq!(report[0]["decision"], "encrypt", "{:#}", report[0]);
    assert_eq!(report[1]["decision"], "tempfail", "{:#}", report[1]);
    let out = danemail(&["doctor", "--config", &fallback.display().to_string()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "using DNS over TLS to {} (dot.test) because",
            server.dot
        )),
        "{text}"
    );
    assert!(text.contains("DNSSEC lookups can be trusted"), "{text}");
    println!("{text}");

    // Without fallback, every signed recipient is held, never plaintext.
    let mut none = dns.clone();
    none.fallback = Vec::new();
    let none = config_file(&none, "fallback-none");
    for report in lookup_json(
        &none,
        &["alice@ecdsa.test", "alice@rsa.test", "nobody@ecdsa.test"],
    ) {
        assert_eq!(report["decision"], "tempfail", "{report:#}");
    }
    let out = danemail(&["doctor", "--config", &none.display().to_string()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("strips DNSSEC signatures"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_dns_over_tls_blocked_lookups_go_over_https_with_the_same_verdicts() {
    let fixture = dns();
    let server = encrypted();
    // Nothing listens there: DNS over TLS is blocked.
    let blocked = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let (_stripping, dns) = network(
        Mode::Strip,
        &[Fallback::Tls, Fallback::Https],
        vec![tls(blocked, "dot.test")],
        vec![https(server.doh)],
    );
    let resolver = SecureResolver::new(&dns).unwrap();
    let failures = disagreements(&resolver).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let path = resolver.path().await;
    assert_eq!(path.kind, PathKind::Https, "{path:?}");
    assert!(
        path.line.starts_with(&format!(
            "using DNS over HTTPS to https://doh.test:{}/dns-query because",
            server.doh.port()
        )) && path
            .line
            .contains(&format!("DNS over TLS to {blocked} (dot.test) fails")),
        "{}",
        path.line
    );
    let fallback = config_file(&dns, "fallback-https");
    assert_eq!(
        decisions(&fallback),
        decisions(&fixture.config_file("fallback = []\n"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_for_another_name_is_refused() {
    let fixture = dns();
    let server = encrypted();
    let (_stripping, dns) = network(
        Mode::Strip,
        &[Fallback::Tls],
        vec![tls(server.dot, "resolver.example")],
        Vec::new(),
    );
    let resolver = SecureResolver::new(&dns).unwrap();
    let alice = Name::from_ascii(&fixture.cases()[0].qname).unwrap();
    let answer = resolver.query(&alice, RecordType::SMIMEA).await;
    assert!(answer.failure().is_some(), "{answer:?}");
    let path = resolver.path().await;
    assert!(!path.ok, "{path:?}");
    assert!(
        path.line.starts_with("no path carries DNSSEC data"),
        "{}",
        path.line
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_sends_no_query_in_the_clear() {
    let server = encrypted();
    // A working resolver that would pass DNSSEC data, counting questions.
    let (counting, mut dns) = network(
        Mode::Pass,
        &[Fallback::Tls, Fallback::Https],
        vec![tls(server.dot, "dot.test")],
        vec![https(server.doh)],
    );
    dns.private = true;
    let file = config_file(&dns, "private");
    let reports = lookup_json(
        &file,
        &["alice@ecdsa.test", "alice@rsa.test", "nobody@ecdsa.test"],
    );
    assert_eq!(reports[0]["decision"], "encrypt", "{:#}", reports[0]);
    assert_eq!(reports[1]["decision"], "encrypt");
    let out = danemail(&["doctor", "--config", &file.display().to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let mail: Vec<_> = counting
        .questions()
        .into_iter()
        .filter(|(_, t)| {
            matches!(
                t,
                RecordType::SMIMEA | RecordType::OPENPGPKEY | RecordType::MX | RecordType::TLSA
            )
        })
        .collect();
    assert!(mail.is_empty(), "in the clear: {mail:?}");
    assert!(
        counting.questions().is_empty(),
        "{:?}",
        counting.questions()
    );
    assert!(server.queries_for("_smimecert.rsa.test") > 0);

    // The same lookups without `private` do go to the clear resolver.
    dns.private = false;
    lookup_json(&config_file(&dns, "not-private"), &["alice@rsa.test"]);
    assert!(counting
        .questions()
        .iter()
        .any(|(_, t)| *t == RecordType::SMIMEA));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bogus_answer_on_a_healthy_path_is_not_retried_elsewhere() {
    let fixture = dns();
    let server = encrypted();
    let (counting, dns) = network(
        Mode::Pass,
        &[Fallback::Tls, Fallback::Https],
        vec![tls(server.dot, "dot.test")],
        vec![https(server.doh)],
    );
    let resolver = SecureResolver::new(&dns).unwrap();
    for case in ["tampered-alice", "badsig-alice", "expired-alice"] {
        let case = fixture
            .cases()
            .into_iter()
            .find(|c| c.case == case)
            .unwrap();
        let name = Name::from_ascii(&case.qname).unwrap();
        let answer = resolver.query(&name, RecordType::SMIMEA).await;
        assert_eq!(answer.label(), "bogus", "{answer:?}");
        let zone = case.qname.split("._smimecert.").nth(1).unwrap();
        let asked = |(n, _): &(String, RecordType)| n.ends_with(zone);
        assert!(counting.questions().iter().any(asked), "{case:?}");
        assert_eq!(
            server.queries_for(&format!("_smimecert.{}", zone.trim_end_matches('.'))),
            0,
            "{} was retried over TLS/HTTPS",
            case.case
        );
    }
    assert_eq!(resolver.path().await.kind, PathKind::Clear);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_network_starts_stripping_the_next_lookup_moves_to_dns_over_tls() {
    let fixture = dns();
    let server = encrypted();
    let (router, dns) = network(
        Mode::Pass,
        &[Fallback::Tls],
        vec![tls(server.dot, "dot.test")],
        Vec::new(),
    );
    let resolver = SecureResolver::new(&dns).unwrap();
    let case = |id: &str| {
        let case = fixture.cases().into_iter().find(|c| c.case == id).unwrap();
        Name::from_ascii(&case.qname).unwrap()
    };
    let first = resolver
        .query(&case("ecdsa-alice"), RecordType::SMIMEA)
        .await;
    assert_eq!(first.label(), "secure-data");
    assert_eq!(resolver.path().await.kind, PathKind::Clear);

    // The laptop joins a network whose resolver strips signatures.
    router.set_mode(Mode::Strip);
    let answer = resolver.query(&case("rsa-alice"), RecordType::SMIMEA).await;
    assert_eq!(answer.label(), "secure-data", "{answer:?}");
    let path = resolver.path().await;
    assert_eq!(path.kind, PathKind::Tls, "{path:?}");
    assert!(server.queries_for("_smimecert.rsa.test") > 0);
    // And a bogus zone stays bogus on the new path.
    let bogus = resolver
        .query(&case("tampered-alice"), RecordType::SMIMEA)
        .await;
    assert_eq!(bogus.label(), "bogus", "{bogus:?}");
}
