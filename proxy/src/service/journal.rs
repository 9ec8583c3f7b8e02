//! What the service remembers for the window: each accepted message and
//! what became of every recipient, recent lookups, the provider's last
//! answer, the last self-check per identity and DNS health. Fed only by the
//! event stream (and, at start, by what the outbox holds), so the window,
//! the tray and the CLI see one story.

use std::collections::VecDeque;

use base64::Engine as _;

use super::explain;
use super::view::{
    ActivityItem, DnsHealth, RecentLookup, RecipientOutcome, SelfCheckView, TodayCounts,
};
use crate::events::{DecidedRecipient, Event};
use crate::outbox::{Entry, Status as SpoolStatus};

/// Messages kept in the activity list (newest first), then the oldest go.
const ACTIVITY_LIMIT: usize = 500;

/// Recipients kept in the recent-lookups list.
const RECENT_LIMIT: usize = 50;

#[derive(Default)]
pub struct Journal {
    activity: VecDeque<ActivityItem>,
    recent: VecDeque<RecentLookup>,
    held_today: Vec<u64>,
    pub upstream_reachable: Option<bool>,
    pub upstream_error: Option<String>,
    pub self_checks: Vec<SelfCheckView>,
    pub dns: Option<DnsHealth>,
}

impl Journal {
    /// Messages already in the outbox at start (subjects from their saved headers).
    pub fn seed(&mut self, entries: Vec<Entry>) {
        for entry in entries {
            let headers = base64::engine::general_purpose::STANDARD
                .decode(&entry.headers)
                .unwrap_or_default();
            let subject = crate::mime::Message::parse(&headers)
                .ok()
                .and_then(|m| m.subject());
            let recipients = entry
                .copies
                .iter()
                .flat_map(|copy| {
                    let decision = if copy.kind == "encrypted" {
                        "encrypt"
                    } else {
                        "plaintext"
                    };
                    copy.recipients.iter().map(move |r| {
                        let state = match r.status {
                            SpoolStatus::Pending if entry.attempts > 0 => "retrying",
                            SpoolStatus::Pending => "queued",
                            SpoolStatus::Delivered => "delivered",
                            SpoolStatus::Bounced => "bounced",
                        };
                        outcome(
                            &r.address,
                            decision,
                            "decided before the last start",
                            state,
                            r.detail.clone(),
                            (state == "retrying").then_some(entry.next_attempt),
                        )
                    })
                })
                .collect();
            self.push(ActivityItem {
                id: entry.id,
                received_at: entry.created,
                size: 0,
                subject,
                from: entry.from,
                recipients,
                in_outbox: true,
            });
        }
    }

    /// Takes in one event; returns whether the activity list changed.
    pub fn apply(&mut self, event: &Event, now: u64) {
        match event {
            Event::Accepted {
                id,
                from,
                subject,
                size,
                recipients,
            } => {
                for r in recipients {
                    self.seen(r, now);
                }
                self.push(ActivityItem {
                    id: id.clone(),
                    received_at: now,
                    size: *size,
                    subject: subject.clone(),
                    from: from.clone(),
                    recipients: recipients
                        .iter()
                        .map(|r| outcome(&r.address, r.decision, &r.reason, "queued", None, None))
                        .collect(),
                    in_outbox: true,
                });
            }
            Event::Held(recipient) => {
                self.seen(recipient, now);
                self.held_today.push(now);
            }
            Event::Delivered { id, recipient } => {
                self.upstream_reachable = Some(true);
                self.upstream_error = None;
                self.update(id, recipient, "delivered", None, None);
            }
            Event::Deferred {
                id,
                recipient,
                detail,
                next_attempt,
            } => {
                self.upstream_reachable = Some(false);
                self.upstream_error = Some(detail.clone());
                self.update(
                    id,
                    recipient,
                    "retrying",
                    Some(detail.clone()),
                    Some(*next_attempt),
                );
            }
            Event::Bounced {
                id,
                recipient,
                detail,
            } => {
                self.update(id, recipient, "bounced", Some(detail.clone()), None);
            }
            Event::Finished { id } => {
                if let Some(item) = self.activity.iter_mut().find(|i| &i.id == id) {
                    item.in_outbox = false;
                }
            }
            // The inbound state lives in its own files (`inbound status`).
            Event::Inbound(_) => {}
            Event::SelfCheck {
                address,
                status,
                detail,
            } => {
                let check = explain::self_check(address, status, detail, now);
                self.self_checks.retain(|c| &c.address != address);
                self.self_checks.push(check);
            }
        }
    }

    pub fn activity(&self) -> Vec<ActivityItem> {
        self.activity.iter().cloned().collect()
    }

    pub fn recent(&self) -> Vec<RecentLookup> {
        self.recent.iter().cloned().collect()
    }

    /// Notes a lookup made from the window.
    pub fn looked_up(&mut self, address: &str, decision: &str, headline: &str, now: u64) {
        self.recent
            .retain(|r| !r.address.eq_ignore_ascii_case(address));
        self.recent.push_front(RecentLookup {
            address: address.to_owned(),
            decision: decision.to_owned(),
            headline: headline.to_owned(),
            at: now,
        });
        self.recent.truncate(RECENT_LIMIT);
    }

    /// Counts for the UTC day of `now`.
    pub fn today(&self, now: u64) -> TodayCounts {
        let day = now / 86_400;
        let mut counts = TodayCounts::default();
        for item in self
            .activity
            .iter()
            .filter(|i| i.received_at / 86_400 == day)
        {
            counts.accepted += 1;
            for r in &item.recipients {
                match r.state.as_str() {
                    "delivered" => {
                        counts.sent += 1;
                        if r.decision == "encrypt" {
                            counts.encrypted += 1;
                        }
                    }
                    "bounced" => counts.bounced += 1,
                    _ => {}
                }
            }
        }
        counts.held = self
            .held_today
            .iter()
            .filter(|&&t| t / 86_400 == day)
            .count();
        counts
    }

    fn seen(&mut self, recipient: &DecidedRecipient, now: u64) {
        let headline = explain::headline_for_decision(recipient.decision, &recipient.reason);
        self.looked_up(&recipient.address, recipient.decision, &headline, now);
    }

    fn push(&mut self, item: ActivityItem) {
        self.activity.retain(|i| i.id != item.id);
        self.activity.push_front(item);
        self.activity.truncate(ACTIVITY_LIMIT);
    }

    fn update(
        &mut self,
        id: &str,
        recipient: &str,
        state: &str,
        detail: Option<String>,
        next_attempt: Option<u64>,
    ) {
        let Some(item) = self.activity.iter_mut().find(|i| i.id == id) else {
            return;
        };
        if let Some(r) = item
            .recipients
            .iter_mut()
            .find(|r| r.address.eq_ignore_ascii_case(recipient))
        {
            *r = outcome(
                &r.address,
                &r.decision.clone(),
                &r.reason.clone(),
                state,
                detail,
                next_attempt,
            );
        }
    }
}

fn outcome(
    address: &str,
    decision: &str,
    reason: &str,
    state: &str,
    detail: Option<String>,
    next_attempt: Option<u64>,
) -> RecipientOutcome {
    RecipientOutcome {
        address: address.to_owned(),
        decision: decision.to_owned(),
        reason: reason.to_owned(),
        state: state.to_owned(),
        words: explain::outcome_words(decision, state),
        detail,
        next_attempt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(id: &str) -> Event {
        Event::Accepted {
            id: id.into(),
            from: "me@example.com".into(),
            subject: Some("hello".into()),
            size: 10,
            recipients: vec![
                DecidedRecipient {
                    address: "alice@ecdsa.test".into(),
                    decision: "encrypt",
                    reason: "a certificate".into(),
                },
                DecidedRecipient {
                    address: "bob@unsigned.test".into(),
                    decision: "plaintext",
                    reason: "unsigned".into(),
                },
            ],
        }
    }

    #[test]
    fn a_message_is_followed_per_recipient_to_the_end() {
        let mut journal = Journal::default();
        let now = 1_800_000_000;
        journal.apply(&accepted("m1"), now);
        journal.apply(
            &Event::Deferred {
                id: "m1".into(),
                recipient: "bob@unsigned.test".into(),
                detail: "451 try later".into(),
                next_attempt: now + 60,
            },
            now,
        );
        journal.apply(
            &Event::Delivered {
                id: "m1".into(),
                recipient: "alice@ecdsa.test".into(),
            },
            now,
        );
        let item = &journal.activity()[0];
        assert_eq!(item.recipients[0].state, "delivered");
        assert_eq!(item.recipients[1].state, "retrying");
        assert_eq!(item.recipients[1].next_attempt, Some(now + 60));
        journal.apply(
            &Event::Delivered {
                id: "m1".into(),
                recipient: "bob@unsigned.test".into(),
            },
            now,
        );
        journal.apply(&Event::Finished { id: "m1".into() }, now);
        assert!(!journal.activity()[0].in_outbox);
        let today = journal.today(now);
        assert_eq!((today.accepted, today.sent, today.encrypted), (1, 2, 1));
        assert_eq!(journal.recent().len(), 2);
    }
}
