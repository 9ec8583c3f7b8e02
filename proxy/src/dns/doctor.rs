//! `danemail doctor`: can lookups be trusted on this network?
//!
//! Many home routers and some public resolvers strip DNSSEC records or
//! refuse TCP; a skewed clock makes every signature look expired. Each makes
//! validation fail (fail-closed, so mail is held, not leaked). This module
//! finds which, and says what to change.
//!
//! Each clear server is probed over UDP and over TCP ([`super::probe`]);
//! then the paths are chosen again (the clear servers, DNS over TLS, DNS
//! over HTTPS: the first that carries DNSSEC data is used), and the root
//! keys are validated from the trust anchor over the path in use. A clear
//! server that strips signatures is no problem while an encrypted path
//! works: it is reported, and the path line says why that path is used.

use std::time::{Duration, SystemTime};

use hickory_resolver::proto::rr::{Name, RecordType};

use super::answer::DnsAnswer;
use super::probe::{clock_problem, probe, Transport};
use super::resolver::SecureResolver;

/// One check and its outcome.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// Everything `doctor` found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Diagnosis {
    pub checks: Vec<Check>,
    /// `None` when lookups can be trusted; else one line saying why not and
    /// what to change.
    pub problem: Option<String>,
    /// The first thing found wrong, alone (for the window's verdict line).
    pub finding: Option<String>,
    /// What to change, alone (for the window's advice line).
    pub advice: Option<String>,
    /// The path lookups take and why, in one line ("using DNS over TLS to
    /// … because …").
    pub path: String,
}

/// Probes every server of `resolver`, chooses the path, and validates the
/// root keys over it.
pub async fn diagnose(resolver: &SecureResolver, query_timeout: Duration) -> Diagnosis {
    let mut checks = Vec::new();
    // Problems of the clear servers: the problem only if no other path works.
    let mut problems: Vec<String> = Vec::new();
    let mut signature_windows = Vec::new();

    for &server in resolver.servers() {
        for transport in [Transport::Udp, Transport::Tcp] {
            let name = format!("{server} {transport}");
            match probe(server, transport, query_timeout).await {
                Ok(probe) => {
                    let verdict = probe.verdict();
                    if let Some(window) = probe.signature_window {
                        signature_windows.push(window);
                    }
                    match verdict {
                        Ok(detail) => checks.push(Check {
                            name,
                            ok: true,
                            detail,
                        }),
                        Err(why) => {
                            problems.push(format!("{server} over {transport} {why}"));
                            checks.push(Check {
                                name,
                                ok: false,
                                detail: why,
                            });
                        }
                    }
                }
                Err(why) => {
                    problems.push(format!("{server} over {transport}: {why}"));
                    checks.push(Check {
                        name,
                        ok: false,
                        detail: why,
                    });
                }
            }
        }
    }

    let clock = check_clock(SystemTime::now(), &signature_windows);
    let mut clock_problem = None;
    if let Some(check) = clock {
        if !check.ok {
            clock_problem = Some(check.detail.clone());
        }
        checks.push(check);
    }

    let (choice, reports) = resolver.choose_path().await;
    for report in &reports {
        let name = format!("path: {}", report.path);
        match &report.health {
            Some(health) => {
                if !health.ok && report.kind != super::PathKind::Clear {
                    problems.push(format!("{} {}", report.path, health.detail));
                }
                checks.push(Check {
                    name,
                    ok: health.ok,
                    detail: health.detail.clone(),
                });
            }
            None => checks.push(Check {
                name,
                ok: true,
                detail: "not probed: an earlier path carries DNSSEC data".into(),
            }),
        }
    }
    if choice.ok {
        // The path in use works: the clear servers' problems are notes.
        problems.clear();
    }
    if let Some(clock) = clock_problem {
        problems.insert(0, clock);
    }

    let validated = resolver.query(&Name::root(), RecordType::DNSKEY).await;
    let ok = matches!(validated, DnsAnswer::Secure(_));
    let detail = match &validated {
        DnsAnswer::Secure(keys) => format!(
            "{} root DNSKEYs validated from the trust anchor",
            keys.len()
        ),
        other => format!(
            "root DNSKEY is {}: {}",
            other.security(),
            other.failure().unwrap_or("not signed")
        ),
    };
    if !ok {
        problems.push(format!(
            "the root keys do not validate against the trust anchor ({detail}); \
             check [dns] trust_anchor and the clock"
        ));
    }
    checks.push(Check {
        name: "root DNSKEY validation".into(),
        ok,
        detail,
    });

    let problem = problems.first().map(|first| {
        format!(
            "lookups cannot be trusted on this network: {first}. {}",
            advice(first)
        )
    });
    Diagnosis {
        checks,
        problem,
        finding: problems.first().cloned(),
        advice: problems.first().map(|first| advice(first).to_owned()),
        path: choice.line,
    }
}

/// The clock is sane when it lies inside the validity of the root DNSKEY
/// signatures just seen.
fn check_clock(now: SystemTime, windows: &[(u32, u32)]) -> Option<Check> {
    let window = *windows.first()?;
    let problem = clock_problem(now, window);
    Some(Check {
        name: "clock".into(),
        ok: problem.is_none(),
        detail: problem
            .unwrap_or_else(|| "system clock is inside the root signatures' validity".into()),
    })
}

fn advice(problem: &str) -> &'static str {
    if problem.contains("clock") {
        "Set the system clock (enable NTP time sync)."
    } else if problem.contains("strips") || problem.contains("does not pass") {
        "Point [dns] servers at a resolver that passes DNSSEC data (e.g. a local unbound), not the home router, or allow [dns] fallback to DNS over TLS or HTTPS."
    } else if problem.contains("TCP") {
        "Allow DNS over TCP to the resolver (port 53): large SMIMEA answers need it."
    } else if problem.contains("trust anchor") {
        "Remove [dns] trust_anchor to use the IANA root keys, or fix the file."
    } else {
        "Check that [dns] servers lists reachable resolvers."
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn clock_outside_signature_window_is_flagged() {
        let now = UNIX_EPOCH + Duration::from_secs(2_000);
        assert!(check_clock(now, &[(1_000, 3_000)]).unwrap().ok);
        let check = check_clock(now, &[(2_500, 3_000)]).unwrap();
        assert!(!check.ok);
        assert!(check.detail.contains("clock"));
        assert!(check_clock(now, &[]).is_none());
    }
}
