//! The engine's one event stream: what the submission server and the
//! delivery agent tell whoever runs them. The service owns the channel
//! (`service::Engine` creates it and hands the sender down); the parts only
//! send. Shells hear these through the service, with words added
//! (`service::view::ServiceEvent`).

use tokio::sync::broadcast;

/// Events kept for a slow listener before the oldest are dropped.
const CAPACITY: usize = 1024;

/// A recipient's decision, as told in an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecidedRecipient {
    pub address: String,
    /// `encrypt`, `plaintext`, `refuse` or `tempfail`.
    pub decision: &'static str,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A message was acknowledged with 250 (it is on disk).
    Accepted {
        id: String,
        from: String,
        subject: Option<String>,
        size: u64,
        recipients: Vec<DecidedRecipient>,
    },
    /// A recipient refused (5xx) or held (4xx) at RCPT.
    Held(DecidedRecipient),
    Delivered {
        id: String,
        recipient: String,
    },
    Deferred {
        id: String,
        recipient: String,
        detail: String,
        next_attempt: u64,
    },
    Bounced {
        id: String,
        recipient: String,
        detail: String,
    },
    /// Every recipient of the entry is final; it left the outbox.
    Finished {
        id: String,
    },
    /// The inbound agent's account state or a stored batch (issue 10).
    Inbound(crate::inbound::InboundEvent),
    /// The periodic check of the user's own SMIMEA (`publish::check`).
    SelfCheck {
        address: String,
        status: String,
        detail: String,
    },
}

/// The sending side, cloned into every part that reports.
pub type Events = broadcast::Sender<Event>;

/// A new stream with no listener yet.
pub fn channel() -> Events {
    broadcast::channel(CAPACITY).0
}
