//! The configuration loader from arbitrary text (TOML, strict: unknown keys
//! refused), and what the service reads first from a loaded one. Checks: no
//! panic, only errors.
#![no_main]

use std::path::Path;

use danemail::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let text = String::from_utf8_lossy(input);
    let Ok(config) = Config::parse(&text, Path::new("fuzz.toml")) else {
        return;
    };
    let _ = config.dns.timeout();
    let _ = config.storage.resolved_dir();
});
