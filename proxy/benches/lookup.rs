//! Validated SMIMEA lookup latency, in-process: cold (a new resolver, so
//! every DNSKEY/DS of the chain is fetched and checked) and warm (cached).
//!
//! Needs a served fixture chain; `tests/bench/lookup.sh` sets it up and runs
//! this beside unbound. Environment: DANEMAIL_BENCH_SERVER (IP:PORT),
//! DANEMAIL_BENCH_ANCHOR (trust anchor file), DANEMAIL_BENCH_ADDRESS.

use std::sync::Arc;
use std::time::{Duration, Instant};

use danemail::config::{DnsConfig, PolicyMode};
use danemail::dane::{Address, DaneLookup};
use danemail::dns::SecureResolver;

const COLD_RUNS: usize = 200;
const WARM_RUNS: usize = 20_000;

fn main() {
    let (Ok(server), Ok(anchor), Ok(address)) = (
        std::env::var("DANEMAIL_BENCH_SERVER"),
        std::env::var("DANEMAIL_BENCH_ANCHOR"),
        std::env::var("DANEMAIL_BENCH_ADDRESS"),
    ) else {
        eprintln!("lookup bench: skipped (run tests/bench/lookup.sh)");
        return;
    };
    let config = DnsConfig {
        servers: vec![server.parse().expect("DANEMAIL_BENCH_SERVER is IP:PORT")],
        trust_anchor: Some(anchor.into()),
        ..DnsConfig::default()
    };
    let address = Address::parse(&address).expect("DANEMAIL_BENCH_ADDRESS");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut cold = Vec::with_capacity(COLD_RUNS);
        for _ in 0..COLD_RUNS {
            let started = Instant::now();
            let engine = DaneLookup::new(
                Arc::new(SecureResolver::new(&config).expect("resolver")),
                PolicyMode::Opportunistic,
            );
            let (decision, _) = engine.decide(&address).await;
            cold.push(started.elapsed());
            assert_eq!(decision.action.name(), "encrypt", "{}", decision.reason);
        }
        let engine = DaneLookup::new(
            Arc::new(SecureResolver::new(&config).expect("resolver")),
            PolicyMode::Opportunistic,
        );
        let _ = engine.decide(&address).await;
        let mut warm = Vec::with_capacity(WARM_RUNS);
        for _ in 0..WARM_RUNS {
            let started = Instant::now();
            let _ = engine.decide(&address).await;
            warm.push(started.elapsed());
        }
        println!(
            "danemail in-process cold SMIMEA lookup+decision: {}",
            summary(&mut cold)
        );
        println!(
            "danemail in-process warm (cached):                {}",
            summary(&mut warm)
        );
    });
}

fn summary(samples: &mut [Duration]) -> String {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    format!(
        "median {:?}  p90 {:?}  min {:?}  (n={})",
        at(0.5),
        at(0.9),
        samples[0],
        samples.len()
    )
}
