//! The fuzz targets of proxy/fuzz/ in the suite: `tests/fuzz.sh 30` builds
//! them (nightly, AddressSanitizer) and runs each for 30 seconds from the
//! committed seeds; any crash, leak, timeout or out-of-memory fails it.
//! Longer runs: `tests/fuzz.sh 600`.

mod support;

use std::process::Command;

use support::repo_root;

#[test]
fn every_fuzz_target_runs_30_seconds_without_a_crash() {
    let mut command = Command::new("bash");
    command.arg(repo_root().join("tests/fuzz.sh")).arg("30");
    // The outer cargo's toolchain and flags are not the fuzz build's.
    for var in [
        "RUSTUP_TOOLCHAIN",
        "RUSTC",
        "RUSTC_WRAPPER",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO",
        "CARGO_MAKEFLAGS",
    ] {
        command.env_remove(var);
    }
    let out = command.output().expect("run tests/fuzz.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}");
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let targets = std::fs::read_dir(repo_root().join("proxy/fuzz/fuzz_targets"))
        .unwrap()
        .count();
    assert_eq!(
        stdout.lines().filter(|l| l.ends_with("no crash")).count(),
        targets,
        "{stdout}"
    );
}
