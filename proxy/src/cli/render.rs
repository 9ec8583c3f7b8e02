//! Text and JSON output of the subcommands.

use std::fmt::Write;

use danemail::dane::report::ReportJson;
use danemail::dane::RecipientReport;
use danemail::dns::doctor::Diagnosis;

pub fn lookup_json(reports: &[RecipientReport]) -> serde_json::Result<String> {
    let json: Vec<ReportJson> = reports.iter().map(ReportJson::from).collect();
    serde_json::to_string_pretty(&json)
}

/// A readable block per address: decision first, then each lookup.
pub fn lookup_table(reports: &[RecipientReport]) -> String {
    let mut out = String::new();
    for report in reports {
        let json = ReportJson::from(report);
        let _ = writeln!(out, "{}  {}", json.address, json.decision.to_uppercase());
        let _ = writeln!(out, "  {}", json.reason);
        let smimea = &json.smimea;
        let _ = writeln!(
            out,
            "  SMIMEA      {:<13} {}{}",
            smimea.status.to_string(),
            smimea.name,
            smimea
                .status_reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
        for record in &smimea.records {
            let _ = writeln!(
                out,
                "    {} {} {}  {:<8} {}{}",
                record.usage,
                record.selector,
                record.matching_type,
                if record.usable { "usable" } else { "unusable" },
                record.reason,
                record
                    .certificate_sha256
                    .as_ref()
                    .map(|h| format!("  sha256={h}"))
                    .unwrap_or_default()
            );
        }
        if let Some(pgp) = &json.openpgpkey {
            let _ = writeln!(
                out,
                "  OPENPGPKEY  {:<13} {} {} key(s), {} usable{}",
                pgp.status.to_string(),
                pgp.name,
                pgp.records.len(),
                pgp.records.iter().filter(|r| r.usable).count(),
                pgp.status_reason
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            );
            for record in &pgp.records {
                let _ = writeln!(
                    out,
                    "    {:<8} {:<40}  {}",
                    if record.usable { "usable" } else { "unusable" },
                    record.fingerprint.as_deref().unwrap_or("(not a key)"),
                    record.reason
                );
            }
        }
        if let (Some(status), Some(hosts)) = (json.mx_status, &json.mx) {
            let _ = writeln!(
                out,
                "  MX          {:<13} {} host(s){}",
                status.to_string(),
                hosts.len(),
                json.mx_reason
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            );
            for mx in hosts {
                let usable = mx.tlsa.records.iter().filter(|r| r.usable).count();
                let _ = writeln!(
                    out,
                    "    {:>5} {:<30} TLSA {:<13} {} record(s), {} usable for SMTP",
                    mx.preference,
                    mx.host,
                    mx.tlsa.status.to_string(),
                    mx.tlsa.records.len(),
                    usable
                );
            }
        }
        out.push('\n');
    }
    out
}

pub fn doctor_text(diagnosis: &Diagnosis) -> String {
    let mut out = String::new();
    for check in &diagnosis.checks {
        let _ = writeln!(
            out,
            "{}  {:<28} {}",
            if check.ok { "ok  " } else { "FAIL" },
            check.name,
            check.detail
        );
    }
    let _ = writeln!(out, "{}", diagnosis.path);
    match &diagnosis.problem {
        Some(problem) => {
            let _ = writeln!(out, "{problem}");
        }
        None => {
            let _ = writeln!(out, "DNSSEC lookups can be trusted on this network.");
        }
    }
    out
}
