//! Desktop notifications for what needs the user: a recipient held or
//! refused, a bounce, the user's own record missing, wrong or expiring, DNS
//! answers that do not validate. At most one per kind per five minutes;
//! none while the window is in front (it says the same thing). Texts come
//! from the engine's words; never a message subject, body or password.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use danemail::service::view::ServiceEvent;
use tauri::{AppHandle, Manager};
use tauri_plugin_notification::NotificationExt as _;

use crate::MAIN_WINDOW;

/// The shortest gap between two notifications of one kind.
pub const MIN_GAP: Duration = Duration::from_secs(5 * 60);

/// Longest body; notification servers cut or wrap the rest anyway.
const BODY_CHARS: usize = 240;

#[derive(Default)]
pub struct Notifier {
    last_shown: HashMap<&'static str, Instant>,
    /// DNS health last seen, to notify when it turns bad, not every check.
    dns_state: Option<String>,
    /// Self-check status per address, likewise.
    self_checks: HashMap<String, String>,
}

/// One notification: its kind (the rate-limit key), title and body.
#[derive(Debug, PartialEq, Eq)]
pub struct Note {
    pub kind: &'static str,
    pub title: String,
    pub body: String,
}

impl Notifier {
    pub fn on_event(&mut self, app: &AppHandle, event: &ServiceEvent) {
        let Some(note) = self.note_for(event) else {
            return;
        };
        if window_in_front(app) || !self.allow(note.kind, Instant::now()) {
            return;
        }
        let shown = app
            .notification()
            .builder()
            .title(&note.title)
            .body(&note.body)
            .show();
        if let Err(e) = shown {
            tracing::warn!("notification: {e}");
        }
    }

    /// The notification an event deserves, if any (state changes tracked
    /// here; the rate limit is separate).
    pub fn note_for(&mut self, event: &ServiceEvent) -> Option<Note> {
        match event {
            ServiceEvent::Held {
                address,
                decision,
                reason,
            } => {
                let title = if decision == "refuse" {
                    format!("Not sent to {address}")
                } else {
                    format!("Held for {address}")
                };
                Some(note("held", title, reason))
            }
            ServiceEvent::Bounced {
                recipient, detail, ..
            } => Some(note(
                "bounced",
                format!("Message to {recipient} bounced"),
                detail,
            )),
            ServiceEvent::SelfCheck { check } => {
                let before = self
                    .self_checks
                    .insert(check.address.clone(), check.status.clone());
                let bad = matches!(check.status.as_str(), "missing" | "mismatch" | "expiring");
                if !bad || before.as_deref() == Some(check.status.as_str()) {
                    return None;
                }
                let title = match check.status.as_str() {
                    "missing" => format!("No certificate record published for {}", check.address),
                    "mismatch" => format!("The published record for {} is wrong", check.address),
                    _ => format!("Your certificate for {} expires soon", check.address),
                };
                Some(note(
                    "self-check",
                    title,
                    &format!("{} {}", check.detail, check.advice),
                ))
            }
            ServiceEvent::DnsHealth { health } => {
                let before = self.dns_state.replace(health.state.clone());
                if health.state != "problem" || before.as_deref() == Some("problem") {
                    return None;
                }
                let body = match &health.advice {
                    Some(advice) => format!("{} {advice}", health.verdict),
                    None => health.verdict.clone(),
                };
                Some(note(
                    "dns",
                    "DNS answers cannot be validated".to_owned(),
                    &body,
                ))
            }
            _ => None,
        }
    }

    /// At most one notification per kind per `MIN_GAP`.
    pub fn allow(&mut self, kind: &'static str, now: Instant) -> bool {
        if let Some(last) = self.last_shown.get(kind) {
            if now.duration_since(*last) < MIN_GAP {
                return false;
            }
        }
        self.last_shown.insert(kind, now);
        true
    }
}

fn note(kind: &'static str, title: String, body: &str) -> Note {
    let body = body.trim();
    let mut text: String = body.chars().take(BODY_CHARS).collect();
    if body.chars().count() > BODY_CHARS {
        text.push('…');
    }
    Note {
        kind,
        title,
        body: text,
    }
}

fn window_in_front(app: &AppHandle) -> bool {
    app.get_webview_window(MAIN_WINDOW)
        .is_some_and(|w| w.is_visible().unwrap_or(false) && w.is_focused().unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use danemail::service::view::{DnsHealth, SelfCheckView};

    #[test]
    fn one_per_kind_per_five_minutes() {
        let mut n = Notifier::default();
        let t0 = Instant::now();
        assert!(n.allow("held", t0));
        assert!(!n.allow("held", t0 + Duration::from_secs(60)));
        assert!(n.allow("bounced", t0 + Duration::from_secs(60)));
        assert!(n.allow("held", t0 + MIN_GAP));
    }

    #[test]
    fn dns_notifies_when_it_turns_bad_only() {
        let mut n = Notifier::default();
        let health = |state: &str| ServiceEvent::DnsHealth {
            health: DnsHealth {
                state: state.into(),
                verdict: "The resolver strips DNSSEC records.".into(),
                advice: Some("Use another resolver.".into()),
                path: None,
                checked_at: None,
            },
        };
        assert!(n.note_for(&health("ok")).is_none());
        let note = n.note_for(&health("problem")).expect("turned bad");
        assert_eq!(note.kind, "dns");
        assert_eq!(
            note.body,
            "The resolver strips DNSSEC records. Use another resolver."
        );
        assert!(n.note_for(&health("problem")).is_none());
        assert!(n.note_for(&health("ok")).is_none());
        assert!(n.note_for(&health("problem")).is_some());
    }

    #[test]
    fn self_check_only_for_bad_news_and_changes() {
        let mut n = Notifier::default();
        let check = |status: &str| ServiceEvent::SelfCheck {
            check: SelfCheckView {
                address: "me@example.org".into(),
                status: status.into(),
                detail: "No SMIMEA record.".into(),
                advice: "Publish the record.".into(),
                checked_at: 0,
            },
        };
        assert!(n.note_for(&check("ok")).is_none());
        let note = n.note_for(&check("missing")).expect("bad news");
        assert!(note.title.contains("me@example.org"));
        assert!(n.note_for(&check("missing")).is_none());
        assert!(n.note_for(&check("indeterminate")).is_none());
    }

    #[test]
    fn long_bodies_are_cut() {
        let mut n = Notifier::default();
        let note = n
            .note_for(&ServiceEvent::Bounced {
                id: "x".into(),
                recipient: "a@b.example".into(),
                detail: "x".repeat(1000),
            })
            .expect("bounce");
        assert_eq!(note.body.chars().count(), BODY_CHARS + 1);
    }
}
