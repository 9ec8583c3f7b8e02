//! In-process decryption of one S/MIME message by the inbound rules
//! (`danemail::inbound::process`: parse, CMS decrypt, plaintext copy), per
//! message, without process start or key unsealing.
//!
//! `tests/bench/inbound.sh` runs it beside `openssl cms -decrypt`.
//! Environment: DANEMAIL_BENCH_STORAGE (a storage dir with keys),
//! DANEMAIL_BENCH_PASSPHRASE (the sealing passphrase file),
//! DANEMAIL_BENCH_MESSAGE (one encrypted message).

use std::path::Path;
use std::time::Instant;

use danemail::inbound::{process, Outcome};
use danemail::keys::{KeyStore, Sealer};

const RUNS: usize = 500;

fn main() {
    let (Ok(storage), Ok(passphrase), Ok(message)) = (
        std::env::var("DANEMAIL_BENCH_STORAGE"),
        std::env::var("DANEMAIL_BENCH_PASSPHRASE"),
        std::env::var("DANEMAIL_BENCH_MESSAGE"),
    ) else {
        eprintln!("decrypt bench: skipped (run tests/bench/inbound.sh)");
        return;
    };
    let passphrase = danemail::credentials::read_secret_file(Path::new(&passphrase))
        .expect("DANEMAIL_BENCH_PASSPHRASE");
    let keys = KeyStore::open(Path::new(&storage))
        .expect("key store")
        .with_sealer(Sealer::Passphrase(passphrase))
        .unsealed()
        .expect("unsealed keys");
    let raw = std::fs::read(&message).expect("DANEMAIL_BENCH_MESSAGE");
    let first = process(&raw, None, &keys, false);
    assert_eq!(first.outcome, Outcome::Decrypted, "the message decrypts");
    let start = Instant::now();
    for _ in 0..RUNS {
        let processed = process(&raw, None, &keys, false);
        std::hint::black_box(processed.copy);
    }
    let each = start.elapsed() / RUNS as u32;
    println!(
        "in-process decrypt + copy: {:.3} ms a message ({} bytes, {RUNS} runs)",
        each.as_secs_f64() * 1000.0,
        raw.len()
    );
}
