//! The status snapshot: the worst open problem decides the state (Proton
//! Bridge's four tray states), and one sentence says it.

use super::running::Running;
use super::view::{
    AppState, DeliveryStatus, DnsHealth, ListenerStatus, OutboxCounts, Problem, SelfCheckView,
    Status, TodayCounts,
};
use crate::config::Config;
use crate::outbox::{Spool, Status as SpoolStatus};

pub struct Inputs<'a> {
    pub config: &'a Config,
    pub running: Option<&'a Running>,
    pub start_error: Option<&'a str>,
    pub paused: bool,
    pub upstream_reachable: Option<bool>,
    pub upstream_error: Option<String>,
    pub dns: Option<DnsHealth>,
    pub self_checks: Vec<SelfCheckView>,
    pub today: TodayCounts,
    pub first_run_done: bool,
    pub config_path: Option<String>,
    pub storage_dir: String,
    pub spool: Option<&'a Spool>,
    /// Where the inbound agent's state files are (`<storage>/inbound/`).
    pub storage: &'a std::path::Path,
}

pub fn snapshot(inputs: Inputs<'_>) -> Status {
    let config = inputs.config;
    let mut problems = Vec::new();
    if let Some(error) = inputs.start_error {
        problems.push(problem(
            AppState::Error,
            "storage",
            format!("DANE Mail is not running: {error}"),
            Some("Fix the setting named, then save the settings again."),
        ));
    }
    let stopped = |address: std::net::SocketAddr| ListenerStatus {
        address: address.to_string(),
        port: address.port(),
        state: "stopped".into(),
        error: None,
        suggested_port: None,
    };
    let smtp = inputs
        .running
        .map_or_else(|| stopped(config.smtp.listen), |r| r.smtp.clone());
    if let Some(error) = &smtp.error {
        let advice = smtp.suggested_port.map_or_else(
            || "Choose another SMTP port in Settings.".to_owned(),
            |p| {
                format!(
                    "Use port {p} instead (Settings, SMTP port), and enter it in your mail client."
                )
            },
        );
        problems.push(problem(
            AppState::Error,
            "smtp",
            format!("Mail clients cannot connect: {error}"),
            Some(&advice),
        ));
    }
    let ldap = if config.ldap.enabled {
        let status = inputs
            .running
            .and_then(|r| r.ldap.clone())
            .unwrap_or_else(|| stopped(config.ldap.listen));
        if let Some(error) = &status.error {
            let advice = status.suggested_port.map_or_else(
                || "Choose another LDAP port in Settings.".to_owned(),
                |p| format!("Use port {p} instead (Settings, LDAP port)."),
            );
            problems.push(problem(
                AppState::Attention,
                "ldap",
                format!("The address book directory is off: {error}"),
                Some(&advice),
            ));
        }
        Some(status)
    } else {
        None
    };

    let mut outbox = OutboxCounts::default();
    if let Some(spool) = inputs.spool {
        let received = spool.received_ids().len();
        outbox.messages = received;
        let stalled = spool.stalled_received(std::time::Duration::from_secs(60));
        if stalled > 0 {
            problems.push(problem(
                AppState::Attention,
                "storage",
                format!(
                    "{stalled} accepted message(s) could not be prepared for delivery yet: they are kept and tried again every few seconds. The disk DANE Mail stores mail on may be full."
                ),
                Some("Free some space on that disk; nothing is lost, delivery goes on by itself."),
            ));
        }
        for id in spool.ids() {
            let Ok(entry) = spool.load(&id) else { continue };
            outbox.messages += 1;
            for r in entry.copies.iter().flat_map(|c| &c.recipients) {
                if r.status == SpoolStatus::Pending {
                    outbox.pending_recipients += 1;
                    if entry.attempts > 0 {
                        outbox.retrying_recipients += 1;
                    }
                }
            }
        }
    }

    let upstream = if config.upstream.host.is_empty() {
        String::new()
    } else {
        format!("{}:{}", config.upstream.host, config.upstream.port)
    };
    let upstream_state = if upstream.is_empty() {
        problems.push(problem(
            AppState::Attention,
            "upstream",
            "No provider is set: mail is accepted and kept in the outbox until you set one.".into(),
            Some("Enter your provider's SMTP server in Settings."),
        ));
        "not-configured"
    } else {
        match inputs.upstream_reachable {
            None => "unknown",
            Some(true) => "reachable",
            Some(false) => {
                problems.push(problem(
                    AppState::Attention,
                    "upstream",
                    format!(
                        "Your provider is not taking mail right now; {} recipient(s) wait and will be retried.",
                        outbox.retrying_recipients
                    ),
                    inputs.upstream_error.as_deref(),
                ));
                "unreachable"
            }
        }
    };
    if let Some(why) = inputs.running.and_then(|r| r.upstream_problem.as_deref()) {
        problems.push(problem(
            AppState::Attention,
            "credentials",
            format!("The provider password is missing: {why}"),
            Some("Enter it in Settings (it is kept in the OS keyring)."),
        ));
    }

    let dns = inputs.dns.unwrap_or(DnsHealth {
        state: "checking".into(),
        verdict: "Checking whether DNS answers on this network can be validated…".into(),
        advice: None,
        path: None,
        checked_at: None,
    });
    if dns.state == "problem" {
        problems.push(problem(
            AppState::Error,
            "dns",
            format!(
                "DNS answers cannot be validated on this network, so every message is held: {}",
                dns.verdict
            ),
            dns.advice.as_deref(),
        ));
    }
    for check in inputs.self_checks.iter().filter(|c| c.status != "ok") {
        let what = match check.status.as_str() {
            "missing" => "is not published in DNS yet",
            "mismatch" => "does not match what DNS publishes",
            "insecure" => "is published in DNS that is not signed",
            "bogus" => "is published, but DNSSEC validation fails for it",
            "expiring" => "expires soon",
            _ => "could not be checked in DNS",
        };
        problems.push(problem(
            AppState::Attention,
            "keys",
            format!("Your certificate for {} {what}.", check.address),
            Some(&check.advice),
        ));
    }

    let (inbound, inbound_problems) = super::incoming::status(&config.inbound, inputs.storage);
    problems.extend(inbound_problems);

    problems.sort_by_key(|p| std::cmp::Reverse(p.severity));
    let worst = problems.first().map(|p| p.severity);
    let state = match worst {
        Some(s @ (AppState::Error | AppState::Attention)) => s,
        _ if inputs.paused => AppState::Paused,
        _ => AppState::Ok,
    };
    let today = inputs.today;
    let counts = format!("today {} sent, {} encrypted", today.sent, today.encrypted);
    let sentence = match (state, problems.first()) {
        (AppState::Error | AppState::Attention, Some(p)) => p.text.clone(),
        (AppState::Paused, _) => format!(
            "Paused — mail is accepted and kept; {} waiting. Resume to send.",
            outbox.pending_recipients
        ),
        _ => format!("Running — {counts}"),
    };
    Status {
        state,
        sentence,
        problems,
        smtp,
        ldap,
        delivery: DeliveryStatus {
            paused: inputs.paused,
            upstream,
            upstream_words: match upstream_state {
                "not-configured" => "No provider set",
                "unknown" => "Not tried yet — nothing sent since start",
                "reachable" => "Taking mail",
                _ => "Not taking mail right now — will retry",
            }
            .into(),
            upstream_state: upstream_state.into(),
            last_error: inputs.upstream_error,
        },
        dns,
        outbox,
        today,
        own_records: inputs.self_checks,
        inbound,
        first_run_done: inputs.first_run_done,
        config_path: inputs.config_path,
        storage_dir: inputs.storage_dir,
    }
}

fn problem(severity: AppState, area: &str, text: String, advice: Option<&str>) -> Problem {
    Problem {
        severity,
        area: area.into(),
        text,
        advice: advice.map(str::to_owned),
    }
}

/// doctor's diagnosis as DNS health.
pub fn dns_health(diagnosis: &crate::dns::doctor::Diagnosis, now: u64) -> DnsHealth {
    let mut path = diagnosis.path.clone();
    if let Some(first) = path.get(..1) {
        path = first.to_uppercase() + &path[1..];
    }
    let path = Some(path);
    match &diagnosis.problem {
        None => DnsHealth {
            state: "ok".into(),
            verdict: "DNS answers on this network can be validated with DNSSEC.".into(),
            advice: None,
            path,
            checked_at: Some(now),
        },
        Some(_) => DnsHealth {
            state: "problem".into(),
            verdict: format!(
                "lookups cannot be trusted on this network: {}",
                diagnosis.finding.as_deref().unwrap_or("validation fails")
            ),
            advice: diagnosis.advice.clone(),
            path,
            checked_at: Some(now),
        },
    }
}
