//! The words: every state the window shows, said once, here — a verdict
//! word, an explanation, technical details (internet.nl's layout), and a
//! step that could not run says which earlier step stopped it. The CLI's
//! JSON carries the same facts; shells never invent wording of their own.

use openssl::x509::X509;

use super::view::{Detail, LookupView, SelfCheckView, Step, StepItem};
use crate::dane::{Action, KeyVerdict, RecipientReport, RrsetFinding, TempfailCause};
use crate::dns::Security;

/// The headline for a looked-up address.
pub fn headline(report: &RecipientReport) -> String {
    let smimea = &report.smimea;
    match &report.decision.action {
        Action::Encrypt(_) => "Will be encrypted (S/MIME)".into(),
        Action::EncryptOpenPgp(_) => "Will be encrypted (OpenPGP)".into(),
        Action::Tempfail(TempfailCause::Bogus) => {
            "Held — DNSSEC validation failed, possible attack".into()
        }
        Action::Tempfail(TempfailCause::Indeterminate) => {
            "Held — DNS gave no answer; not sent in the clear".into()
        }
        action => {
            let keys = report
                .openpgpkey
                .as_ref()
                .filter(|pgp| pgp.security == Security::Secure)
                .map_or(0, |pgp| pgp.records.len());
            let why = match smimea.security {
                Security::Insecure => "the domain's DNS is not signed",
                _ if smimea.records.is_empty() && keys == 0 => "no certificate published",
                _ if smimea.records.is_empty() => "an OpenPGP key is published but cannot be used",
                _ => "a certificate is published but cannot be used",
            };
            if matches!(action, Action::Refuse) {
                format!("Refused — {why}, and your policy requires encryption")
            } else {
                format!("Sent as written — {why}")
            }
        }
    }
}

/// A coarser headline where only the decision is known (recipients seen by
/// the submission server; the reason beside it says the rest).
pub fn headline_for_decision(decision: &str, _reason: &str) -> String {
    match decision {
        "encrypt" => "Will be encrypted",
        "plaintext" => "Sent as written",
        "refuse" => "Refused — your policy requires encryption",
        _ => "Held — not sent in the clear",
    }
    .into()
}

/// What happened to one recipient of a message, in words.
pub fn outcome_words(decision: &str, state: &str) -> String {
    let how = match decision {
        "encrypt" => "encrypted to the published certificate or key",
        "plaintext" => "as written (not encrypted)",
        _ => "",
    };
    match state {
        "queued" => format!("Waiting to be sent, {how}"),
        "retrying" => format!("Not delivered yet, will retry, {how}"),
        "delivered" => format!("Delivered to your provider, {how}"),
        "bounced" => "Bounced — the provider refused it; a notice went to the sender".into(),
        _ => "Refused before sending".into(),
    }
}

/// The verdict chain for one address.
pub fn lookup_view(report: &RecipientReport, now: u64) -> LookupView {
    let smimea = &report.smimea;
    let mut steps = vec![dnssec_step(report), smimea_step(report)];
    if let Some(openpgpkey) = &report.openpgpkey {
        steps.push(openpgpkey_step(openpgpkey));
    }
    steps.push(decision_step(report));
    if let Some(mx) = &report.mx {
        steps.push(mx_step(mx));
    }
    let usable_certificates = smimea
        .records
        .iter()
        .filter_map(|r| r.usable.as_ref().ok().map(|c| c.sha256().to_owned()))
        .collect();
    let headline = headline(report);
    let mut view = LookupView {
        address: report.address.clone(),
        decision: report.decision.action.name().into(),
        smimea_status: smimea.security.to_string(),
        headline,
        reason: report.decision.reason.clone(),
        steps,
        usable_certificates,
        checked_at: now,
        text: String::new(),
    };
    view.text = as_text(&view);
    view
}

fn dnssec_step(report: &RecipientReport) -> Step {
    let smimea = &report.smimea;
    let (verdict, state, explanation) = match smimea.security {
        Security::Secure if smimea.records.is_empty() => (
            "Proven absent",
            "good",
            "DNSSEC proves that this address publishes no certificate. Nobody could have removed one on the way.",
        ),
        Security::Secure => (
            "Secure",
            "good",
            "The answer is signed all the way from the DNS root: nobody changed it on the way.",
        ),
        Security::Insecure => (
            "Not signed",
            "neutral",
            "The recipient's domain does not use DNSSEC, so nothing it publishes can be trusted for encryption.",
        ),
        Security::Bogus => (
            "Broken",
            "bad",
            "The signatures do not check out. This is what an attack looks like — or a mistake by the domain's DNS host. Mail is held, never sent in the clear.",
        ),
        Security::Indeterminate => (
            "No answer",
            "bad",
            "DNS did not give an answer that could be checked (timeout, server failure, network). Mail is held and retried, never sent in the clear.",
        ),
    };
    let mut details = vec![
        detail("Name", smimea.name.to_ascii()),
        detail("Name form", format!("{:?}", smimea.form)),
        detail("DNSSEC state", smimea.security.to_string()),
    ];
    if let Some(failure) = &smimea.failure {
        details.push(detail("Why", failure.clone()));
    }
    Step {
        key: "dnssec".into(),
        title: "DNSSEC proof for the certificate lookup (SMIMEA)".into(),
        verdict: verdict.into(),
        state: state.into(),
        explanation: explanation.into(),
        details,
        items: Vec::new(),
    }
}

fn smimea_step(report: &RecipientReport) -> Step {
    let smimea = &report.smimea;
    let title = "Published certificates".to_owned();
    let stopped = |verdict: &str, explanation: &str| Step {
        key: "smimea".into(),
        title: title.clone(),
        verdict: verdict.into(),
        state: "not-run".into(),
        explanation: explanation.into(),
        details: Vec::new(),
        items: Vec::new(),
    };
    match smimea.security {
        Security::Bogus | Security::Indeterminate => {
            return stopped(
                "Not checked",
                "Not checked because the DNSSEC step above failed.",
            )
        }
        Security::Insecure => {
            return stopped(
                "Not used",
                "Not used because the answer is not signed: RFC 8162 allows only DNSSEC-secure records.",
            )
        }
        Security::Secure => {}
    }
    if smimea.records.is_empty() {
        return Step {
            key: "smimea".into(),
            title,
            verdict: "Not published".into(),
            state: "neutral".into(),
            explanation: format!(
                "The recipient has not published a certificate. That is common and not an error; {}.",
                without_certificate(report)
            ),
            details: Vec::new(),
            items: Vec::new(),
        };
    }
    let items: Vec<StepItem> = smimea
        .records
        .iter()
        .enumerate()
        .map(|(index, record)| {
            let mut details = vec![detail(
                "Usage / selector / matching",
                format!(
                    "{} {} {}",
                    record.usage, record.selector, record.matching_type
                ),
            )];
            if let Some(sha) = &record.certificate_sha256 {
                details.push(detail("Certificate SHA-256", sha.clone()));
            }
            let certificate = match &record.usable {
                Ok(usable) => Some(usable.certificate().clone()),
                Err(_) if record.selector == 0 && record.matching_type == 0 => {
                    X509::from_der(&record.data).ok()
                }
                Err(_) => None,
            };
            if let Some(certificate) = &certificate {
                details.extend(certificate_details(certificate));
            }
            let (verdict, state, explanation) = match &record.usable {
                Ok(_) => (
                    "Usable",
                    "good",
                    "Mail to this address is encrypted to this certificate.".to_owned(),
                ),
                Err(why) => ("Unusable", "bad", format!("Not used: {why}.")),
            };
            StepItem {
                title: format!("Record {}", index + 1),
                verdict: verdict.into(),
                state: state.into(),
                explanation,
                details,
            }
        })
        .collect();
    let usable = items.iter().filter(|i| i.verdict == "Usable").count();
    let (verdict, state, explanation) = if usable > 0 {
        (
            format!("{usable} usable"),
            "good",
            "At least one published certificate can be used for encryption.".to_owned(),
        )
    } else {
        (
            "Published, none usable".into(),
            "bad",
            format!(
                "Certificates are published but none can be used (see each record): {}; the recipient may want to fix their record.",
                without_certificate(report)
            ),
        )
    };
    Step {
        key: "smimea".into(),
        title,
        verdict,
        state: state.into(),
        explanation,
        details: Vec::new(),
        items,
    }
}

fn decision_step(report: &RecipientReport) -> Step {
    let (verdict, state) = match report.decision.action.name() {
        "encrypt" => ("Encrypt", "good"),
        "plaintext" => ("Send as written", "neutral"),
        "refuse" => ("Refuse", "bad"),
        _ => ("Hold", "bad"),
    };
    Step {
        key: "decision".into(),
        title: "What DANE Mail does".into(),
        verdict: verdict.into(),
        state: state.into(),
        explanation: report.decision.reason.clone(),
        details: {
            let mut details = vec![detail("Decision", report.decision.action.name().into())];
            if let Some(standard) = report.decision.action.standard() {
                details.push(detail(
                    "Standard",
                    if standard == "smime" {
                        "S/MIME"
                    } else {
                        "OpenPGP (PGP/MIME)"
                    }
                    .into(),
                ));
            }
            details
        },
        items: Vec::new(),
    }
}

/// What happens when S/MIME is out: PGP/MIME when an OpenPGP key is used,
/// else the message as written.
fn without_certificate(report: &RecipientReport) -> &'static str {
    match report.decision.action {
        Action::EncryptOpenPgp(_) => "mail is encrypted to the recipient's OpenPGP key instead",
        _ => "mail goes as written",
    }
}

fn openpgpkey_step(finding: &RrsetFinding<KeyVerdict>) -> Step {
    let title = "Published OpenPGP keys".to_owned();
    let step = |verdict: String, state: &str, explanation: String, items: Vec<StepItem>| Step {
        key: "openpgpkey".into(),
        title: title.clone(),
        verdict,
        state: state.into(),
        explanation,
        details: rrset_details(finding),
        items,
    };
    match finding.security {
        Security::Bogus | Security::Indeterminate => {
            let (verdict, state, explanation) = rrset_words(finding, "OpenPGP key (OPENPGPKEY)");
            return step(verdict, &state, explanation, Vec::new());
        }
        Security::Insecure => {
            return step(
                "Not used".into(),
                "not-run",
                "Not used because the answer is not signed: RFC 7929 allows only DNSSEC-secure records.".into(),
                Vec::new(),
            )
        }
        Security::Secure if finding.records.is_empty() => {
            return step(
                "Not published".into(),
                "neutral",
                "The recipient has not published an OpenPGP key (OPENPGPKEY). That is common and not an error.".into(),
                Vec::new(),
            )
        }
        Security::Secure => {}
    }
    let items: Vec<StepItem> = finding
        .records
        .iter()
        .enumerate()
        .map(|(index, key)| {
            let mut details = Vec::new();
            if let Some(fingerprint) = &key.fingerprint {
                details.push(detail("Fingerprint", fingerprint.clone()));
            }
            details.push(detail("Size", format!("{} bytes", key.size)));
            details.push(detail("Record SHA-256", key.key_sha256.clone()));
            let (verdict, state, explanation) = match &key.usable {
                Ok(usable) => {
                    details.push(detail("Encryption key", usable.algorithm().into()));
                    details.push(detail("User IDs", usable.user_ids().join(", ")));
                    if let Some(expires) = usable.expires() {
                        details.push(detail("Expires", crate::civil::date(expires)));
                    }
                    (
                        "Usable",
                        "good",
                        "Mail to this address can be encrypted to this key as PGP/MIME.".to_owned(),
                    )
                }
                Err(why) => ("Unusable", "bad", format!("Not used: {why}.")),
            };
            StepItem {
                title: format!("Key {}", index + 1),
                verdict: verdict.into(),
                state: state.into(),
                explanation,
                details,
            }
        })
        .collect();
    let usable = items.iter().filter(|i| i.verdict == "Usable").count();
    if usable > 0 {
        step(
            format!("{usable} usable"),
            "good",
            "At least one published OpenPGP key can be used for encryption.".into(),
            items,
        )
    } else {
        step(
            "Published, none usable".into(),
            "bad",
            "OpenPGP keys are published but none can be used (see each key).".into(),
            items,
        )
    }
}

fn mx_step(mx: &RrsetFinding<crate::dane::MxHost>) -> Step {
    let (verdict, state, explanation) = rrset_words(mx, "mail server list");
    let items = mx
        .records
        .iter()
        .map(|host| {
            let tlsa = &host.tlsa;
            let (verdict, state, explanation) = if mx.security != Security::Secure {
                (
                    "Not checked".to_owned(),
                    "not-run".to_owned(),
                    "Not checked because the mail server list is not DNSSEC-secure.".to_owned(),
                )
            } else {
                let (v, s, e) = rrset_words(tlsa, "server key (TLSA)");
                let usable = tlsa.records.iter().filter(|r| r.usable.is_ok()).count();
                if tlsa.security == Security::Secure && usable > 0 {
                    ("Protected".into(), "good".into(), "The server's key is published: the transport to it can be authenticated (DANE, RFC 7672).".into())
                } else {
                    (v, s, e)
                }
            };
            let mut details = vec![detail("Preference", host.preference.to_string()), detail("TLSA DNSSEC state", tlsa.security.to_string())];
            for record in &tlsa.records {
                details.push(detail(
                    "TLSA",
                    format!(
                        "{} {} {} ({}) {}",
                        record.usage,
                        record.selector,
                        record.matching_type,
                        match &record.usable {
                            Ok(()) => "usable".to_owned(),
                            Err(why) => why.clone(),
                        },
                        record.data_sha256
                    ),
                ));
            }
            StepItem {
                title: host.host.to_ascii(),
                verdict,
                state,
                explanation,
                details,
            }
        })
        .collect();
    Step {
        key: "mx".into(),
        title: "Mail servers (MX) and their keys (TLSA)".into(),
        verdict,
        state,
        explanation,
        details: rrset_details(mx),
        items,
    }
}

/// Verdict words for an RRset: "not published" kept apart from "broken".
fn rrset_words<T>(finding: &RrsetFinding<T>, what: &str) -> (String, String, String) {
    let (verdict, state, explanation) = match finding.security {
        Security::Secure if finding.records.is_empty() => (
            "Not published",
            "neutral",
            format!("No {what} is published (proven by DNSSEC)."),
        ),
        Security::Secure => (
            "Secure",
            "good",
            format!("The {what} is published and DNSSEC-signed."),
        ),
        Security::Insecure => (
            "Not signed",
            "neutral",
            format!("The {what} is not DNSSEC-signed, so it cannot be trusted."),
        ),
        Security::Bogus => (
            "Broken",
            "bad",
            format!("DNSSEC validation of the {what} failed."),
        ),
        Security::Indeterminate => (
            "No answer",
            "bad",
            format!("DNS gave no answer for the {what} that could be checked."),
        ),
    };
    (verdict.into(), state.into(), explanation)
}

fn rrset_details<T>(finding: &RrsetFinding<T>) -> Vec<Detail> {
    let mut details = vec![
        detail("Name", finding.name.to_ascii()),
        detail("DNSSEC state", finding.security.to_string()),
    ];
    if let Some(failure) = &finding.failure {
        details.push(detail("Why", failure.clone()));
    }
    details
}

fn certificate_details(certificate: &X509) -> Vec<Detail> {
    let subject = certificate
        .subject_name()
        .entries()
        .filter_map(|e| {
            Some(format!(
                "{}={}",
                e.object().nid().short_name().ok()?,
                e.data().to_string().ok()?
            ))
        })
        .collect::<Vec<_>>()
        .join(", ");
    vec![
        detail("Subject", subject),
        detail("Expires", certificate.not_after().to_string()),
    ]
}

fn detail(label: &str, value: String) -> Detail {
    Detail {
        label: label.into(),
        value,
    }
}

/// The whole view as plain text, for "copy the details".
fn as_text(view: &LookupView) -> String {
    let mut text = format!("{}: {}\n{}\n", view.address, view.headline, view.reason);
    for step in &view.steps {
        text.push_str(&format!(
            "\n{} — {}\n  {}\n",
            step.title, step.verdict, step.explanation
        ));
        for d in &step.details {
            text.push_str(&format!("  {}: {}\n", d.label, d.value));
        }
        for item in &step.items {
            text.push_str(&format!(
                "  {} — {}: {}\n",
                item.title, item.verdict, item.explanation
            ));
            for d in &item.details {
                text.push_str(&format!("    {}: {}\n", d.label, d.value));
            }
        }
    }
    text
}

/// A self-check result with what to do about it.
pub fn self_check(address: &str, status: &str, detail: &str, now: u64) -> SelfCheckView {
    let advice = match status {
        "ok" => "Nothing to do: senders can find your certificate.",
        "missing" => "Publish the record shown in Keys in your domain's DNS (ask whoever runs your DNS), then check again.",
        "mismatch" => "DNS publishes a different certificate: replace the SMIMEA record with the one shown in Keys.",
        "insecure" => "Your domain's DNS is not signed: ask your DNS host to turn on DNSSEC. Until then senders cannot trust the record.",
        "bogus" => "DNSSEC validation fails for your domain, so senders hold mail to you: ask your DNS host to fix the signatures.",
        "indeterminate" => "DNS gave no answer: check your network (Status, DNS health) and check again.",
        "expiring" => "Your certificate expires soon: generate a new key, publish its record, and keep the old key until mail encrypted to it is read.",
        _ => "",
    };
    SelfCheckView {
        address: address.to_owned(),
        status: status.to_owned(),
        detail: detail.to_owned(),
        advice: advice.into(),
        checked_at: now,
    }
}
