//! `danemail lookup` and `danemail doctor` as a user runs them, against the
//! signed fixture zones served by nsd on loopback.

mod support;

use serde_json::Value;
use support::{danemail, dns, BlackHole};

fn lookup_json(args: &[&str]) -> Vec<Value> {
    let fixture = dns();
    let server = fixture.server().to_string();
    let anchor = fixture.trust_anchor().display().to_string();
    let mut full = vec![
        "lookup",
        "--json",
        "--dns-server",
        &server,
        "--trust-anchor",
        &anchor,
    ];
    full.extend_from_slice(args);
    let out = danemail(&full);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    match serde_json::from_slice(&out.stdout).expect("JSON output") {
        Value::Array(items) => items,
        other => panic!("not an array: {other}"),
    }
}

#[test]
fn alice_is_encrypted_to_the_fixture_certificate() {
    let fixture = dns();
    for address in [
        "alice@ecdsa.test",
        "alice@rsa.test",
        "big@ecdsa.test",
        "carol@ecdsa.test",
    ] {
        let expected = fixture.address(address).cert_sha256.unwrap();
        let report = &lookup_json(&[address])[0];
        assert_eq!(report["address"], address);
        assert_eq!(report["decision"], "encrypt", "{report:#}");
        let smimea = &report["smimea"];
        assert_eq!(smimea["status"], "secure");
        let records = smimea["records"].as_array().unwrap();
        assert!(
            records
                .iter()
                .any(|r| r["usable"] == true && r["certificate_sha256"] == expected.as_str()),
            "{report:#}"
        );
    }
}

#[test]
fn every_fixture_address_gets_the_trust_table_decision() {
    // (address, decision with policy opportunistic, with policy require)
    let table = [
        ("alice@ecdsa.test", "encrypt", "encrypt"),
        ("carol@ecdsa.test", "encrypt", "encrypt"),
        ("anyone@wild3.rsa.test", "encrypt", "encrypt"),
        ("nobody@ecdsa.test", "plaintext", "refuse"),
        ("nobody@rsa.test", "plaintext", "refuse"),
        ("expired-cert@ecdsa.test", "plaintext", "refuse"),
        ("signonly@ecdsa.test", "plaintext", "refuse"),
        ("weak@ecdsa.test", "plaintext", "refuse"),
        ("dave@ecdsa.test", "plaintext", "refuse"),
        ("erin@ecdsa.test", "plaintext", "refuse"),
        ("alice@unsigned.test", "plaintext", "refuse"),
        ("alice@nods.test", "plaintext", "refuse"),
        ("cname@ecdsa.test", "plaintext", "refuse"),
        ("alice@tampered.test", "tempfail", "tempfail"),
        ("alice@badsig.test", "tempfail", "tempfail"),
        ("alice@nosig.test", "tempfail", "tempfail"),
        ("alice@expired.test", "tempfail", "tempfail"),
        ("alice@wrongds.test", "tempfail", "tempfail"),
        ("nobody@nsecstripped.test", "tempfail", "tempfail"),
        ("alice@servfail.test", "tempfail", "tempfail"),
        // Known hickory limitation: fail-closed on NSEC wildcards.
        ("anyone@wild.test", "tempfail", "tempfail"),
    ];
    let addresses: Vec<&str> = table.iter().map(|(a, _, _)| *a).collect();
    for (policy, column) in [("opportunistic", 1), ("require", 2)] {
        let mut args = vec!["--policy", policy];
        args.extend(&addresses);
        let reports = lookup_json(&args);
        assert_eq!(reports.len(), table.len());
        for (report, row) in reports.iter().zip(&table) {
            let expected = if column == 1 { row.1 } else { row.2 };
            assert_eq!(report["address"], row.0);
            assert_eq!(report["decision"], expected, "{policy}: {report:#}");
            let reason = report["reason"].as_str().unwrap();
            assert!(!reason.is_empty());
            if expected == "refuse" {
                assert!(reason.contains("policy requires encryption"), "{reason}");
            }
            if expected == "tempfail" {
                assert!(reason.contains("not sending in the clear"), "{reason}");
            }
            // An insecure or failed answer never shows a usable record.
            if report["smimea"]["status"] != "secure" {
                for record in report["smimea"]["records"].as_array().unwrap() {
                    assert_eq!(record["usable"], false, "{report:#}");
                }
            }
        }
    }
}

#[test]
fn json_has_openpgpkey_mx_and_tlsa() {
    let report = &lookup_json(&["alice@ecdsa.test"])[0];
    assert_eq!(report["openpgpkey"]["status"], "secure");
    assert_eq!(report["openpgpkey"]["records"].as_array().unwrap().len(), 1);
    let mx = report["mx"].as_array().unwrap();
    assert_eq!(mx.len(), 1, "{report:#}");
    assert_eq!(mx[0]["host"], "mx.ecdsa.test.");
    assert_eq!(mx[0]["preference"], 10);
    assert_eq!(mx[0]["status"], "secure");
    assert_eq!(mx[0]["tlsa"]["status"], "secure");
    assert_eq!(mx[0]["tlsa"]["records"][0]["usable"], true);
    let only = &lookup_json(&["--smimea-only", "alice@ecdsa.test"])[0];
    assert_eq!(only["decision"], "encrypt");
    assert!(
        only["mx"].is_null() && only["openpgpkey"].is_null(),
        "{only:#}"
    );
    let nobody = &lookup_json(&["nobody@ecdsa.test"])[0];
    assert_eq!(nobody["smimea"]["status"], "secure");
    assert_eq!(nobody["smimea"]["records"].as_array().unwrap().len(), 0);
}

#[test]
fn unreachable_dns_server_means_tempfail_never_plaintext() {
    let hole = BlackHole::new();
    let server = hole.addr.to_string();
    let anchor = dns().trust_anchor().display().to_string();
    let out = danemail(&[
        "lookup",
        "--json",
        "--timeout-ms",
        "300",
        "--dns-server",
        &server,
        "--trust-anchor",
        &anchor,
        "alice@ecdsa.test",
    ]);
    assert!(out.status.success());
    let reports: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reports[0]["decision"], "tempfail");
    assert_eq!(reports[0]["smimea"]["status"], "indeterminate");

    let out = danemail(&[
        "doctor",
        "--timeout-ms",
        "300",
        "--dns-server",
        &server,
        "--trust-anchor",
        &anchor,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let verdict: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("lookups cannot be trusted"))
        .collect();
    assert_eq!(verdict.len(), 1, "{text}");
    assert!(verdict[0].contains(&server), "{text}");
}

#[test]
fn doctor_passes_against_a_signing_resolver() {
    let fixture = dns();
    let config = fixture.config_file("");
    let out = danemail(&["doctor", "--config", &config.display().to_string()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("can be trusted"), "{text}");
    assert!(!text.contains("FAIL"), "{text}");
    // Where this installation keeps its files.
    assert!(
        text.contains(&format!("config   {}\n", config.display())),
        "{text}"
    );
    assert!(text.contains("storage  "), "{text}");
    assert!(text.contains("log      standard error"), "{text}");
}

#[test]
fn bad_input_gives_one_line_and_nonzero_exit() {
    let fixture = dns();
    let dir = tempfile::tempdir().unwrap();
    let bad_anchor = dir.path().join("anchor.key");
    std::fs::write(&bad_anchor, ". 3600 IN DNSKEY this is not a key\n").unwrap();
    let bad_config = dir.path().join("config.toml");
    std::fs::write(
        &bad_config,
        "[dns]\nservers = [\"127.0.0.1:53\"]\ntimeout_ms = \"soon\"\n",
    )
    .unwrap();
    let server = fixture.server().to_string();
    let anchor = fixture.trust_anchor().display().to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["lookup".into(), "alice.example.com".into()], "no `@`"),
        (
            vec!["lookup".into(), "alice@example..com".into()],
            "empty label",
        ),
        (
            vec![
                "lookup".into(),
                "--dns-server".into(),
                server.clone(),
                "--trust-anchor".into(),
                bad_anchor.display().to_string(),
                "alice@ecdsa.test".into(),
            ],
            "does not parse",
        ),
        (
            vec![
                "lookup".into(),
                "--frobnicate".into(),
                "alice@ecdsa.test".into(),
            ],
            "--frobnicate",
        ),
        (
            vec![
                "lookup".into(),
                "--dns-server".into(),
                "localhost".into(),
                "a@b.test".into(),
            ],
            "--dns-server",
        ),
        (
            vec![
                "lookup".into(),
                "--policy".into(),
                "sometimes".into(),
                "a@b.test".into(),
            ],
            "sometimes",
        ),
        (
            vec![
                "lookup".into(),
                "--config".into(),
                bad_config.display().to_string(),
                "a@b.test".into(),
            ],
            "config.toml:3: dns.timeout_ms",
        ),
        (
            vec![
                "lookup".into(),
                "--config".into(),
                "/nonexistent/danemail.toml".into(),
                "a@b.test".into(),
            ],
            "/nonexistent/danemail.toml",
        ),
        (
            vec![
                "lookup".into(),
                "--trust-anchor".into(),
                anchor,
                "--dns-server".into(),
                server,
            ]
            .into_iter()
            .collect(),
            "ADDRESS",
        ),
    ];
    for (args, needle) in cases {
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = danemail(&argv);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{argv:?}: {stderr}");
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "{argv:?}: not one line:\n{stderr}"
        );
        assert!(stderr.contains(needle), "{argv:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{argv:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{argv:?}");
    }
}

#[test]
fn table_output_is_readable() {
    let fixture = dns();
    let config = fixture.config_file("");
    let out = danemail(&[
        "lookup",
        "--config",
        &config.display().to_string(),
        "alice@ecdsa.test",
        "alice@tampered.test",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("alice@ecdsa.test  ENCRYPT"), "{text}");
    assert!(text.contains("alice@tampered.test  TEMPFAIL"), "{text}");
    assert!(text.contains("SMIMEA      bogus"), "{text}");
}

#[test]
fn resolver_that_strips_signatures_means_tempfail_and_doctor_says_why() {
    let fixture = dns();
    let stripper = support::StrippingResolver::start(fixture.server());
    let server = stripper.addr.to_string();
    let anchor = fixture.trust_anchor().display().to_string();
    let out = danemail(&[
        "lookup",
        "--json",
        "--dns-server",
        &server,
        "--trust-anchor",
        &anchor,
        "alice@ecdsa.test",
    ]);
    assert!(out.status.success());
    let reports: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reports[0]["decision"], "tempfail", "{:#}", reports[0]);
    assert_eq!(reports[0]["smimea"]["status"], "bogus");

    let out = danemail(&["doctor", "--dns-server", &server, "--trust-anchor", &anchor]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let verdict: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("lookups cannot be trusted"))
        .collect();
    assert_eq!(verdict.len(), 1, "{text}");
    assert!(verdict[0].contains("strips DNSSEC signatures"), "{text}");
    assert!(
        verdict[0].contains("Point [dns] servers at a resolver"),
        "{text}"
    );
}

#[test]
fn wrong_clock_is_indeterminate_not_bogus_and_doctor_says_so() {
    let fixture = dns();
    let config = fixture.config_file("");
    // The fixture signatures are valid for a year from the build.
    let run = |args: &[&str]| {
        std::process::Command::new("faketime")
            .args(["-f", "+400d", env!("CARGO_BIN_EXE_danemail")])
            .args(args)
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
            .env_remove("RUST_LOG")
            .output()
            .expect("faketime (Debian package faketime)")
    };
    let out = run(&[
        "lookup",
        "--json",
        "--config",
        &config.display().to_string(),
        "alice@ecdsa.test",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reports[0]["decision"], "tempfail");
    assert_eq!(reports[0]["smimea"]["status"], "indeterminate");
    assert!(
        reports[0]["reason"]
            .as_str()
            .unwrap()
            .contains("system clock"),
        "{:#}",
        reports[0]
    );

    let out = run(&["doctor", "--config", &config.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let verdict = text
        .lines()
        .find(|l| l.starts_with("lookups cannot be trusted"))
        .expect(&text);
    assert!(
        verdict.contains("system clock") && verdict.contains("NTP"),
        "{text}"
    );
}

#[test]
fn record_prints_what_the_fixture_zone_publishes_and_check_compares() {
    let fixture = dns();
    let cert = |a: &str| {
        fixture
            .dir
            .join(format!("certs/{a}.pem"))
            .display()
            .to_string()
    };
    let der = std::fs::read(fixture.dir.join("certs/alice@ecdsa.test.der")).unwrap();
    let out = danemail(&[
        "record",
        "alice@ecdsa.test",
        "--cert",
        &cert("alice@ecdsa.test"),
    ]);
    assert!(out.status.success());
    let line = String::from_utf8_lossy(&out.stdout);
    let owner = fixture
        .cases()
        .into_iter()
        .find(|c| c.case == "ecdsa-alice")
        .unwrap()
        .qname;
    assert_eq!(
        line.trim(),
        format!("{owner} IN SMIMEA 3 0 0 {}", hex::encode_upper(&der))
    );
    let out = danemail(&[
        "record",
        "alice@ecdsa.test",
        "--cert",
        &cert("alice@ecdsa.test"),
        "--format",
        "generic",
    ]);
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains(&format!("TYPE53 \\# {} 030000", der.len() + 3)));

    let server = fixture.server().to_string();
    let anchor = fixture.trust_anchor().display().to_string();
    let check = |address: &str, with: &str| {
        let out = danemail(&[
            "check",
            address,
            "--cert",
            &cert(with),
            "--json",
            "--dns-server",
            &server,
            "--trust-anchor",
            &anchor,
        ]);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            report["status"].as_str().unwrap().to_owned(),
            out.status.code(),
        )
    };
    assert_eq!(
        check("alice@ecdsa.test", "alice@ecdsa.test"),
        ("ok".into(), Some(0))
    );
    assert_eq!(
        check("dave@ecdsa.test", "dave@ecdsa.test"),
        ("ok".into(), Some(0)),
        "3 1 1 record"
    );
    assert_eq!(
        check("alice@ecdsa.test", "alice@rsa.test"),
        ("mismatch".into(), Some(1))
    );
    assert_eq!(
        check("nobody@ecdsa.test", "alice@ecdsa.test"),
        ("missing".into(), Some(1))
    );
    assert_eq!(
        check("alice@tampered.test", "alice@ecdsa.test"),
        ("bogus".into(), Some(1))
    );
    assert_eq!(
        check("alice@unsigned.test", "alice@ecdsa.test"),
        ("insecure".into(), Some(1))
    );
}

#[test]
fn generic_record_form_parses_to_the_same_record_with_ldns() {
    let fixture = dns();
    let cert = fixture
        .dir
        .join("certs/alice@ecdsa.test.pem")
        .display()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut canonical = Vec::new();
    for format in ["zone", "generic"] {
        let out = danemail(&[
            "record",
            "alice@ecdsa.test",
            "--cert",
            &cert,
            "--format",
            format,
        ]);
        assert!(out.status.success());
        let zone = dir.path().join(format!("{format}.zone"));
        std::fs::write(
            &zone,
            format!(
                "$ORIGIN ecdsa.test.\n$TTL 300\n@ IN SOA ns.test. h.test. 1 7200 3600 1209600 300\n{}",
                String::from_utf8_lossy(&out.stdout)
            ),
        )
        .unwrap();
        let read = std::process::Command::new("ldns-read-zone")
            .arg(&zone)
            .output()
            .unwrap();
        assert!(
            read.status.success(),
            "{}",
            String::from_utf8_lossy(&read.stderr)
        );
        canonical.push(String::from_utf8_lossy(&read.stdout).into_owned());
    }
    assert!(
        canonical[0].contains("\tSMIMEA\t3 0 0 "),
        "{}",
        canonical[0]
    );
    assert_eq!(
        canonical[0], canonical[1],
        "presentation and RFC 3597 forms differ"
    );
}
