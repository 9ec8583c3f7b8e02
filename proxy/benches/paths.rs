//! Validated SMIMEA lookup latency over each DNS path — UDP (TCP for large
//! answers), DNS over TLS, DNS over HTTPS — through one unbound on loopback
//! (`tests/bench/paths.sh` sets it up), as ratios to UDP:
//! - cold: a new resolver each time (connection, TLS handshake, the whole
//!   DNSKEY/DS chain);
//! - warm: one resolver, connection kept, both caches cleared before each
//!   lookup (the chain is fetched again over the open connection);
//! - cached: the verdict cache (no network).
//!
//! Environment: DANEMAIL_BENCH_UDP, DANEMAIL_BENCH_DOT, DANEMAIL_BENCH_DOH
//! (IP:PORT), DANEMAIL_BENCH_CA, DANEMAIL_BENCH_ANCHOR, DANEMAIL_BENCH_ADDRESS.

use std::sync::Arc;
use std::time::{Duration, Instant};

use danemail::config::{DnsConfig, Fallback, HttpsServer, PolicyMode, TlsServer};
use danemail::dane::{Address, DaneLookup};
use danemail::dns::{PathKind, SecureResolver};

const COLD_RUNS: usize = 100;
const WARM_RUNS: usize = 300;
const CACHED_RUNS: usize = 5_000;

fn main() {
    let var = |name: &str| std::env::var(name).ok();
    let (Some(udp), Some(dot), Some(doh), Some(ca), Some(anchor), Some(address)) = (
        var("DANEMAIL_BENCH_UDP"),
        var("DANEMAIL_BENCH_DOT"),
        var("DANEMAIL_BENCH_DOH"),
        var("DANEMAIL_BENCH_CA"),
        var("DANEMAIL_BENCH_ANCHOR"),
        var("DANEMAIL_BENCH_ADDRESS"),
    ) else {
        eprintln!("paths bench: skipped (run tests/bench/paths.sh)");
        return;
    };
    let address = Address::parse(&address).expect("DANEMAIL_BENCH_ADDRESS");
    let base = DnsConfig {
        trust_anchor: Some(anchor.into()),
        ca_file: Some(ca.into()),
        private: true,
        tls_servers: Some(Vec::new()),
        https_servers: Some(Vec::new()),
        ..DnsConfig::default()
    };
    let paths = [
        (
            "UDP",
            PathKind::Clear,
            DnsConfig {
                servers: vec![udp.parse().expect("IP:PORT")],
                private: false,
                fallback: Vec::new(),
                ..base.clone()
            },
        ),
        (
            "TLS",
            PathKind::Tls,
            DnsConfig {
                fallback: vec![Fallback::Tls],
                tls_servers: Some(vec![TlsServer::try_from(format!("{dot}#dot.test")).unwrap()]),
                ..base.clone()
            },
        ),
        (
            "HTTPS",
            PathKind::Https,
            DnsConfig {
                fallback: vec![Fallback::Https],
                https_servers: Some(vec![HttpsServer::try_from(format!(
                    "https://doh.test:{}/dns-query#127.0.0.1",
                    doh.rsplit(':').next().unwrap()
                ))
                .unwrap()]),
                ..base.clone()
            },
        ),
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut rows = Vec::new();
    runtime.block_on(async {
        for (label, kind, config) in &paths {
            let engine = |config: &DnsConfig| {
                let resolver = Arc::new(SecureResolver::new(config).expect("resolver"));
                (
                    resolver.clone(),
                    DaneLookup::new(resolver, PolicyMode::Opportunistic),
                )
            };
            let mut cold = Vec::with_capacity(COLD_RUNS);
            for _ in 0..COLD_RUNS {
                let started = Instant::now();
                let (_, lookup) = engine(config);
                let (decision, _) = lookup.decide(&address).await;
                cold.push(started.elapsed());
                assert_eq!(decision.action.name(), "encrypt", "{}", decision.reason);
            }
            let (resolver, lookup) = engine(config);
            let _ = lookup.decide(&address).await;
            assert_eq!(resolver.path().await.kind, *kind);
            let mut warm = Vec::with_capacity(WARM_RUNS);
            for _ in 0..WARM_RUNS {
                resolver.clear_cache();
                let started = Instant::now();
                let _ = lookup.decide(&address).await;
                warm.push(started.elapsed());
            }
            let _ = lookup.decide(&address).await;
            let mut cached = Vec::with_capacity(CACHED_RUNS);
            for _ in 0..CACHED_RUNS {
                let started = Instant::now();
                let _ = lookup.decide(&address).await;
                cached.push(started.elapsed());
            }
            rows.push((
                *label,
                median(&mut cold),
                median(&mut warm),
                median(&mut cached),
            ));
        }
    });
    let (_, udp_cold, udp_warm, udp_cached) = rows[0];
    println!("median SMIMEA lookup + decision, one unbound on loopback (ratio to UDP):");
    println!(
        "{:<6} {:>18} {:>18} {:>18}",
        "path", "cold", "warm connection", "cached"
    );
    for (label, cold, warm, cached) in &rows {
        let cell = |d: Duration, base: Duration| {
            format!("{:>9.3?} ({:.2}x)", d, d.as_secs_f64() / base.as_secs_f64())
        };
        println!(
            "{label:<6} {:>18} {:>18} {:>18}",
            cell(*cold, udp_cold),
            cell(*warm, udp_warm),
            cell(*cached, udp_cached)
        );
    }
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}
