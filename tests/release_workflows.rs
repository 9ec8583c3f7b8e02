//! The GitHub Actions workflows (.github/workflows/) as far as they can be
//! checked here: actionlint (with shellcheck) finds nothing; the release
//! matrix builds every OS's installers; every action is pinned by commit;
//! signing runs only with its secrets; OpenSSL is vendored only for the
//! Windows and macOS targets; the MSI version scheme orders like SemVer.
//! installers/README.md describes the release these check.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml_ng::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("proxy/ has a parent")
        .to_owned()
}

fn workflows() -> Vec<PathBuf> {
    let dir = repo_root().join(".github/workflows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")))
        .collect();
    files.sort();
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(path: &Path) -> Value {
    serde_yaml_ng::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn release() -> Value {
    yaml(&repo_root().join(".github/workflows/release.yml"))
}

fn str_of<'a>(value: &'a Value, what: &str) -> &'a str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value:?}"))
}

fn steps<'a>(job: &'a Value, name: &str) -> &'a Vec<Value> {
    job["steps"]
        .as_sequence()
        .unwrap_or_else(|| panic!("job {name} has no steps"))
}

/// actionlint from tests/install-deps.sh (a venv under ~/.cache), or $ACTIONLINT.
fn actionlint() -> PathBuf {
    if let Some(path) = std::env::var_os("ACTIONLINT") {
        return path.into();
    }
    let home = std::env::var_os("HOME").expect("HOME is set");
    let path = Path::new(&home).join(".cache/danemail/tools/actionlint-venv/bin/actionlint");
    assert!(
        path.is_file(),
        "{} missing: run `bash tests/install-deps.sh`",
        path.display()
    );
    path
}

#[test]
fn actionlint_and_shellcheck_find_nothing() {
    let files = workflows();
    let names: BTreeSet<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in ["ci.yml", "release.yml"] {
        assert!(names.contains(expected), "no {expected} in {names:?}");
    }
    // actionlint checks run: blocks only when shellcheck is there: require it.
    let shellcheck = Command::new("shellcheck").arg("--version").output();
    assert!(
        shellcheck.is_ok_and(|o| o.status.success()),
        "shellcheck missing: run `bash tests/install-deps.sh`"
    );
    let out = Command::new(actionlint())
        .arg("-no-color")
        .args(&files)
        .current_dir(repo_root())
        .output()
        .expect("run actionlint");
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "actionlint found problems (exit {:?}):\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn release_matrix_builds_every_os_and_bundle() {
    let release = release();
    assert!(
        release["on"]["push"]["tags"]
            .as_sequence()
            .is_some_and(|tags| tags.iter().any(|t| t.as_str() == Some("v*"))),
        "release.yml does not run on tags v*"
    );
    let build = &release["jobs"]["build"];
    let include = build["strategy"]["matrix"]["include"]
        .as_sequence()
        .expect("jobs.build.strategy.matrix.include");
    let mut oses = BTreeSet::new();
    let mut all = BTreeSet::new();
    for entry in include {
        let os = str_of(&entry["os"], "matrix os");
        let target = str_of(&entry["target"], "matrix target");
        let bundles: BTreeSet<&str> = str_of(&entry["bundles"], "matrix bundles")
            .split(',')
            .map(str::trim)
            .collect();
        let expected: &[&str] = if os.starts_with("ubuntu-22.04") {
            assert_eq!(target, "x86_64-unknown-linux-gnu");
            &["deb", "rpm", "appimage"]
        } else if os.starts_with("windows-") {
            assert_eq!(target, "x86_64-pc-windows-msvc");
            &["msi", "nsis"]
        } else if os.starts_with("macos-") {
            // One universal build from both architectures.
            assert_eq!(target, "universal-apple-darwin");
            let rust: BTreeSet<&str> = str_of(&entry["rust-targets"], "rust-targets")
                .split(',')
                .collect();
            assert!(
                rust.contains("aarch64-apple-darwin") && rust.contains("x86_64-apple-darwin"),
                "macOS rust-targets: {rust:?}"
            );
            &["app", "dmg"]
        } else {
            panic!("unexpected runner {os}");
        };
        for kind in expected {
            assert!(bundles.contains(kind), "{os} does not bundle {kind}");
        }
        oses.insert(os.to_owned());
        all.extend(bundles.iter().map(|b| b.to_string()));
    }
    for os in ["ubuntu-22.04", "windows-latest", "macos-latest"] {
        assert!(oses.contains(os), "no {os} in the release matrix: {oses:?}");
    }
    for kind in ["msi", "nsis", "dmg", "deb", "rpm", "appimage"] {
        assert!(all.contains(kind), "no {kind} bundle in the release matrix");
    }

    // The matrix reaches tauri build: its target and its bundles.
    let tauri = steps(build, "build")
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("tauri-apps/tauri-action@"))
        })
        .expect("a tauri-apps/tauri-action step");
    let args = str_of(&tauri["with"]["args"], "tauri-action args");
    for needed in [
        "--target ${{ matrix.target }}",
        "--bundles ${{ matrix.bundles }}",
    ] {
        assert!(
            args.contains(needed),
            "tauri-action args lack {needed}: {args}"
        );
    }

    // The last job: SHA256SUMS, the attestation, a draft release.
    let job = &release["jobs"]["release"];
    let uses: Vec<&str> = steps(job, "release")
        .iter()
        .filter_map(|s| s["uses"].as_str())
        .collect();
    for action in [
        "actions/download-artifact@",
        "actions/attest-build-provenance@",
        "softprops/action-gh-release@",
    ] {
        assert!(
            uses.iter().any(|u| u.starts_with(action)),
            "release job lacks {action}"
        );
    }
    let gh_release = steps(job, "release")
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("softprops/action-gh-release@"))
        })
        .unwrap();
    assert_eq!(
        gh_release["with"]["draft"].as_bool(),
        Some(true),
        "not a draft"
    );
    assert!(
        read(&repo_root().join(".github/workflows/release.yml")).contains("SHA256SUMS"),
        "no SHA256SUMS"
    );
    let permissions = &job["permissions"];
    for (scope, level) in [
        ("contents", "write"),
        ("id-token", "write"),
        ("attestations", "write"),
    ] {
        assert_eq!(
            permissions[scope].as_str(),
            Some(level),
            "release job {scope}"
        );
    }
    // Write access nowhere else.
    for (name, other) in release["jobs"].as_mapping().unwrap() {
        if name.as_str() == Some("release") {
            continue;
        }
        if let Some(map) = other["permissions"].as_mapping() {
            for (scope, level) in map {
                assert_ne!(
                    level.as_str(),
                    Some("write"),
                    "job {name:?} asks for {scope:?}: write"
                );
            }
        }
    }
}

/// Every step that receives a signing secret runs only when that secret
/// exists, and a notice step says so when it does not.
#[test]
fn signing_runs_only_with_its_secrets() {
    let release = release();
    let text = read(&repo_root().join(".github/workflows/release.yml"));
    for (secret, flag) in [
        ("WINDOWS_CERTIFICATE", "WINDOWS_CERTIFICATE_SET"),
        ("APPLE_CERTIFICATE", "APPLE_CERTIFICATE_SET"),
        ("GPG_PRIVATE_KEY", "GPG_PRIVATE_KEY_SET"),
    ] {
        let mut guarded = 0;
        let mut notices = 0;
        for (job_name, job) in release["jobs"].as_mapping().unwrap() {
            for step in steps(job, job_name.as_str().unwrap_or("?")) {
                let condition = step["if"].as_str().unwrap_or("");
                let uses_secret = step["env"].as_mapping().is_some_and(|env| {
                    env.values().any(|v| {
                        v.as_str()
                            .is_some_and(|v| v.contains(&format!("secrets.{secret} }}")))
                    })
                });
                if uses_secret {
                    assert!(
                        condition.contains(&format!("env.{flag} == 'true'")),
                        "a step gets {secret} without `if: env.{flag} == 'true'`: {condition:?}"
                    );
                    guarded += 1;
                }
                if condition.contains(&format!("env.{flag} != 'true'"))
                    && step["run"].as_str().is_some_and(|r| r.contains("::notice"))
                {
                    notices += 1;
                }
            }
        }
        assert!(guarded >= 1, "no step uses {secret}");
        assert!(notices >= 1, "no notice when {secret} is missing");
        assert!(
            text.contains(&format!("{flag}: ${{{{ secrets.{secret} != '' }}}}")),
            "{flag} is not derived from secrets.{secret}"
        );
    }
}

/// `uses: owner/repo@<40 hex> # vX…` for every third-party action.
#[test]
fn every_action_is_pinned_by_commit() {
    for file in workflows() {
        for (n, line) in read(&file).lines().enumerate() {
            let Some(rest) = line
                .trim_start()
                .trim_start_matches("- ")
                .strip_prefix("uses:")
            else {
                continue;
            };
            let rest = rest.trim();
            if rest.starts_with("./") {
                continue;
            }
            let (spec, comment) = rest.split_once('#').unwrap_or((rest, ""));
            let (_, reference) = spec
                .trim()
                .split_once('@')
                .unwrap_or_else(|| panic!("{}:{}: no @ref: {line}", file.display(), n + 1));
            assert!(
                reference.len() == 40 && reference.bytes().all(|b| b.is_ascii_hexdigit()),
                "{}:{}: not pinned by a full commit SHA: {line}",
                file.display(),
                n + 1
            );
            assert!(
                !comment.trim().is_empty(),
                "{}:{}: no comment naming the version: {line}",
                file.display(),
                n + 1
            );
        }
    }
}

/// openssl's `vendored` feature only under a cfg for Windows and macOS, in
/// the manifests and in what cargo resolves per target.
#[test]
fn openssl_is_vendored_only_for_windows_and_macos() {
    let accepted = [
        r#"cfg(any(windows, target_os = "macos"))"#,
        r#"cfg(any(target_os = "windows", target_os = "macos"))"#,
        r#"cfg(any(target_os = "macos", windows))"#,
        r#"cfg(any(target_os = "macos", target_os = "windows"))"#,
    ];
    let vendored = |table: Option<&toml::Value>| -> bool {
        let Some(deps) = table.and_then(toml::Value::as_table) else {
            return false;
        };
        ["openssl", "openssl-sys"].iter().any(|name| {
            deps.get(*name)
                .and_then(|d| d.get("features"))
                .and_then(toml::Value::as_array)
                .is_some_and(|f| f.iter().any(|f| f.as_str() == Some("vendored")))
        })
    };
    let mut found = 0;
    for manifest in ["proxy/Cargo.toml", "src-tauri/Cargo.toml"] {
        let path = repo_root().join(manifest);
        let doc: toml::Table = toml::from_str(&read(&path)).expect("a TOML manifest");
        for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
            assert!(
                !vendored(doc.get(section)),
                "{manifest}: [{section}] vendors OpenSSL on every target"
            );
        }
        if let Some(targets) = doc.get("target").and_then(toml::Value::as_table) {
            for (cfg, table) in targets {
                for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
                    if vendored(table.get(section)) {
                        assert!(
                            accepted.contains(&cfg.as_str()),
                            "{manifest}: OpenSSL vendored under {cfg}, not exactly Windows + macOS"
                        );
                        found += 1;
                    }
                }
            }
        }
    }
    assert!(found >= 1, "OpenSSL is not vendored for Windows and macOS");

    // What cargo makes of it: openssl-src (OpenSSL's source) in the graph
    // for the Windows and macOS targets only.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for (target, expected) in [
        ("x86_64-pc-windows-msvc", true),
        ("aarch64-apple-darwin", true),
        ("x86_64-apple-darwin", true),
        ("x86_64-unknown-linux-gnu", false),
    ] {
        let out = Command::new(&cargo)
            .args(["tree", "--locked", "--workspace", "--target", target])
            .args(["-e", "normal,build", "-i", "openssl-src"])
            .current_dir(repo_root())
            .output()
            .expect("run cargo tree");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let has = stdout.lines().any(|l| l.starts_with("openssl-src v"));
        assert_eq!(
            has,
            expected,
            "cargo tree --target {target} -i openssl-src:\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// installers/release/msi-version.sh: numeric, and in SemVer order.
#[test]
fn msi_versions_are_numeric_and_ordered() {
    let script = repo_root().join("installers/release/msi-version.sh");
    let msi = |version: &str| -> Option<String> {
        let out = Command::new("bash")
            .arg(&script)
            .arg(version)
            .output()
            .expect("run msi-version.sh");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    assert_eq!(msi("1.2.3-beta.4").as_deref(), Some("1.2.3304"));
    assert_eq!(msi("1.2.3").as_deref(), Some("1.2.3999"));
    // In SemVer order: each one an upgrade of the one before.
    let ordered = [
        "0.1.0",
        "0.1.1-alpha.0",
        "0.1.1-alpha.12",
        "0.1.1-beta.1",
        "0.1.1-rc.1",
        "0.1.1",
        "0.2.0-rc.99",
        "0.2.0",
        "1.0.0",
        "1.0.64",
        "255.255.64",
    ];
    let mut last: Option<(u32, u32, u32)> = None;
    for version in ordered {
        let value = msi(version).unwrap_or_else(|| panic!("{version} refused"));
        let parts: Vec<u32> = value
            .split('.')
            .map(|p| p.parse().expect("numeric"))
            .collect();
        assert_eq!(parts.len(), 3, "{value}");
        assert!(
            parts[0] <= 255 && parts[1] <= 255 && parts[2] <= 65535,
            "{value}"
        );
        let key = (parts[0], parts[1], parts[2]);
        assert!(
            last.is_none_or(|l| l < key),
            "{version} -> {value} is not above the one before"
        );
        last = Some(key);
    }
    for refused in [
        "1.2",
        "v1.2.3",
        "1.2.3-beta",
        "1.2.3-dev.1",
        "1.2.65",
        "256.0.0",
        "1.2.3-rc.100",
    ] {
        assert_eq!(msi(refused), None, "{refused} accepted");
    }
}
