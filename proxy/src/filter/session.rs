//! The LMTP side of the filter (RFC 2033) as a state machine: parsed
//! requests in, replies and actions out, no I/O. Postfix is the only
//! client: no AUTH, no STARTTLS (the listener is loopback or a trusted
//! network). Per RCPT the DANE decision as in the proxy; after DATA one
//! reply per accepted recipient, which `server.rs` makes from each
//! recipient's re-injection.

use smtp_proto::{Error as ParseError, Request};

use crate::dane::{Action, Address, Decision};
use crate::smtp::Reply;

/// What the session is allowed to do, fixed per listener.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub hostname: String,
    pub max_message_size: usize,
    pub max_recipients: usize,
}

/// What the server must do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Reply(Reply),
    /// Look this recipient up, then call [`Session::recipient_decided`].
    Lookup(Address),
    /// Send this reply (354), read the message, then call
    /// [`Session::take_transaction`] and answer once per recipient.
    ReadData(Reply),
    Close(Reply),
}

/// The envelope of the message being read.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub from: String,
    /// Accepted recipients in RCPT order, each with its decision: the
    /// order of the replies after DATA (RFC 2033 §4.2).
    pub recipients: Vec<(String, Decision)>,
}

#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    greeted: bool,
    transaction: Option<Envelope>,
}

impl Session {
    pub fn new(config: SessionConfig) -> Self {
        Self {
            config,
            greeted: false,
            transaction: None,
        }
    }

    pub fn greeting(&self) -> Reply {
        Reply::plain(
            220,
            format!("{} LMTP DANE Mail content filter", self.config.hostname),
        )
    }

    pub fn parse_error(&self, error: &ParseError) -> Reply {
        crate::smtp::parse_error_reply(error)
    }

    pub fn handle(&mut self, request: Request<String>) -> Step {
        use Request::*;
        match request {
            Lhlo { host } => {
                self.greeted = true;
                self.transaction = None;
                Step::Reply(Reply::multiline(
                    250,
                    vec![
                        format!("{} greets {host}", self.config.hostname),
                        format!("SIZE {}", self.config.max_message_size),
                        "8BITMIME".into(),
                        "PIPELINING".into(),
                        "ENHANCEDSTATUSCODES".into(),
                    ],
                ))
            }
            // RFC 2033 §4.1: LMTP has LHLO, never HELO or EHLO.
            Ehlo { .. } | Helo { .. } => {
                Step::Reply(Reply::new(500, "5.5.1", "This is an LMTP server: say LHLO"))
            }
            Mail { from } => self.mail(from.address, from.size),
            Rcpt { to } => self.rcpt(to.address),
            Data => self.data(),
            Rset => {
                self.transaction = None;
                Step::Reply(Reply::new(250, "2.0.0", "Reset"))
            }
            Noop { .. } => Step::Reply(Reply::new(250, "2.0.0", "OK")),
            Quit => Step::Close(Reply::new(221, "2.0.0", "Bye")),
            Vrfy { .. } => Step::Reply(Reply::new(252, "2.5.0", "Cannot verify")),
            Help { .. } => Step::Reply(Reply::new(214, "2.0.0", "See RFC 2033")),
            StartTls
            | Auth { .. }
            | Bdat { .. }
            | Expn { .. }
            | Etrn { .. }
            | Atrn { .. }
            | Burl { .. } => Step::Reply(Reply::new(502, "5.5.1", "Command not implemented")),
        }
    }

    fn mail(&mut self, from: String, size: usize) -> Step {
        if !self.greeted {
            return Step::Reply(Reply::new(503, "5.5.1", "Say LHLO first"));
        }
        if self.transaction.is_some() {
            return Step::Reply(Reply::new(503, "5.5.1", "Nested MAIL command"));
        }
        if size > self.config.max_message_size {
            return Step::Reply(Reply::new(552, "5.3.4", "Message too big"));
        }
        if !from.is_empty() {
            if let Err(e) = Address::parse(&from) {
                return Step::Reply(Reply::new(501, "5.1.7", e.to_string()));
            }
        }
        self.transaction = Some(Envelope {
            from,
            recipients: Vec::new(),
        });
        Step::Reply(Reply::new(250, "2.1.0", "Sender OK"))
    }

    fn rcpt(&mut self, to: String) -> Step {
        let Some(envelope) = &self.transaction else {
            return Step::Reply(Reply::new(503, "5.5.1", "Need MAIL first"));
        };
        if envelope.recipients.len() >= self.config.max_recipients {
            // Postfix sends the rest in another transaction.
            return Step::Reply(Reply::new(452, "4.5.3", "Too many recipients"));
        }
        match Address::parse(&to) {
            Ok(address) => Step::Lookup(address),
            Err(e) => Step::Reply(Reply::new(501, "5.1.3", e.to_string())),
        }
    }

    /// The DANE decision for a RCPT: bogus 451 4.7.5, indeterminate 451
    /// 4.4.3 (Postfix keeps the recipient queued and retries it), refused
    /// under `require` 550 5.7.1; the recipient is kept only if accepted.
    pub fn recipient_decided(&mut self, address: &Address, decision: Decision) -> Reply {
        let reply = Reply::for_decision(&address.original, &decision);
        if let Some(envelope) = &mut self.transaction {
            let accepted =
                decision.action.encrypts() || matches!(decision.action, Action::Plaintext);
            // A recipient given twice gets two replies (RFC 2033 §4.2 counts
            // every accepted RCPT), and one copy.
            if accepted {
                envelope
                    .recipients
                    .push((address.original.clone(), decision));
            }
        }
        reply
    }

    fn data(&mut self) -> Step {
        match &self.transaction {
            None => Step::Reply(Reply::new(503, "5.5.1", "Need MAIL first")),
            Some(envelope) if envelope.recipients.is_empty() => {
                // RFC 2033 §4.2: no successful RCPT, 503 to DATA.
                Step::Reply(Reply::new(503, "5.5.1", "No valid recipients"))
            }
            Some(_) => Step::ReadData(Reply::plain(354, "End data with <CR><LF>.<CR><LF>")),
        }
    }

    /// The envelope of the message just read; the transaction ends here.
    pub fn take_transaction(&mut self) -> Option<Envelope> {
        self.transaction.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dane::TempfailCause;
    use smtp_proto::{MailFrom, RcptTo};

    fn session() -> Session {
        Session::new(SessionConfig {
            hostname: "filter.test".into(),
            max_message_size: 1000,
            max_recipients: 2,
        })
    }

    fn mail(from: &str) -> Request<String> {
        Request::Mail {
            from: MailFrom {
                address: from.into(),
                ..Default::default()
            },
        }
    }

    fn rcpt(to: &str) -> Request<String> {
        Request::Rcpt {
            to: RcptTo {
                address: to.into(),
                ..Default::default()
            },
        }
    }

    fn decision(action: Action) -> Decision {
        Decision {
            action,
            reason: "because".into(),
        }
    }

    fn code(step: Step) -> u16 {
        match step {
            Step::Reply(reply) | Step::ReadData(reply) | Step::Close(reply) => reply.code,
            Step::Lookup(_) => 0,
        }
    }

    #[test]
    fn lhlo_not_ehlo_and_no_auth() {
        let mut s = session();
        assert_eq!(code(s.handle(Request::Ehlo { host: "x".into() })), 500);
        assert_eq!(code(s.handle(mail("a@b.test"))), 503);
        let Step::Reply(reply) = s.handle(Request::Lhlo { host: "x".into() }) else {
            panic!()
        };
        let text = reply.lines.join("\n");
        for extension in ["SIZE 1000", "8BITMIME", "PIPELINING", "ENHANCEDSTATUSCODES"] {
            assert!(text.contains(extension), "{text}");
        }
        assert!(!text.contains("AUTH"));
        // No AUTH needed for MAIL.
        assert_eq!(code(s.handle(mail("a@b.test"))), 250);
    }

    #[test]
    fn per_recipient_decisions_and_replies_in_order() {
        let mut s = session();
        s.handle(Request::Lhlo { host: "x".into() });
        assert_eq!(code(s.handle(Request::Data)), 503);
        s.handle(mail(""));
        let Step::Lookup(a) = s.handle(rcpt("a@x.test")) else {
            panic!()
        };
        assert_eq!(
            s.recipient_decided(&a, decision(Action::Plaintext)).code,
            250
        );
        let Step::Lookup(b) = s.handle(rcpt("b@x.test")) else {
            panic!()
        };
        let reply = s.recipient_decided(&b, decision(Action::Tempfail(TempfailCause::Bogus)));
        assert_eq!((reply.code, reply.enhanced), (451, Some("4.7.5")));
        let Step::Lookup(c) = s.handle(rcpt("c@x.test")) else {
            panic!()
        };
        let reply =
            s.recipient_decided(&c, decision(Action::Tempfail(TempfailCause::Indeterminate)));
        assert_eq!((reply.code, reply.enhanced), (451, Some("4.4.3")));
        assert_eq!(code(s.handle(Request::Data)), 354);
        let envelope = s.take_transaction().unwrap();
        assert_eq!(envelope.from, "");
        assert_eq!(envelope.recipients.len(), 1);
        assert_eq!(envelope.recipients[0].0, "a@x.test");
    }

    #[test]
    fn limits() {
        let mut s = session();
        s.handle(Request::Lhlo { host: "x".into() });
        assert_eq!(
            code(s.handle(Request::Mail {
                from: MailFrom {
                    address: "a@b.test".into(),
                    size: 2000,
                    ..Default::default()
                }
            })),
            552
        );
        s.handle(mail("a@b.test"));
        for to in ["a@x.test", "b@x.test"] {
            let Step::Lookup(address) = s.handle(rcpt(to)) else {
                panic!()
            };
            s.recipient_decided(&address, decision(Action::Plaintext));
        }
        assert_eq!(code(s.handle(rcpt("c@x.test"))), 452);
    }
}
