//! The submission session as a state machine: parsed requests in, replies
//! and actions out. It does no I/O — `server.rs` reads, writes, looks
//! recipients up and spools — so every rule here is tested without a network.

use std::sync::Arc;

use base64::Engine;
use smtp_proto::{Error as ParseError, Request, AUTH_LOGIN, AUTH_PLAIN};

use super::reply::Reply;
use crate::dane::{Action, Address, Decision};

/// What the session is allowed to do, fixed per listener.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Name in the greeting and EHLO reply.
    pub hostname: String,
    /// Largest message accepted, in bytes (advertised as SIZE, RFC 1870).
    pub max_message_size: usize,
    /// Most recipients per transaction (RFC 5321 §4.5.3.1.8: at least 100).
    pub max_recipients: usize,
    /// Whether STARTTLS can be offered.
    pub tls_available: bool,
    /// Whether AUTH is allowed before STARTTLS: only for loopback peers,
    /// where no one can listen in.
    pub auth_without_tls: bool,
    /// The local account mail clients log in with.
    pub username: String,
    pub password: String,
}

/// What the server must do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this reply.
    Reply(Reply),
    /// Send this reply, then start TLS and call [`Session::tls_started`].
    StartTls(Reply),
    /// Look this recipient up, then call [`Session::recipient_decided`].
    Lookup(Address),
    /// Send this reply (354), read the message, then call
    /// [`Session::take_transaction`] and [`Session::message_done`].
    ReadData(Reply),
    /// Send this reply and close the connection.
    Close(Reply),
}

/// The envelope of a message about to be queued.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub from: String,
    pub recipients: Vec<(String, Decision)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Auth {
    /// No AUTH exchange under way.
    Idle,
    /// AUTH PLAIN sent without an initial response; waiting for it.
    Plain,
    /// AUTH LOGIN: waiting for the user name.
    LoginUser,
    /// AUTH LOGIN: waiting for the password.
    LoginPassword(String),
}

#[derive(Debug, Clone)]
enum Transaction {
    Idle,
    /// MAIL accepted; RCPTs being collected (only accepted ones are kept).
    Open {
        from: String,
        recipients: Vec<(String, Decision)>,
    },
}

/// One client's session.
#[derive(Debug)]
pub struct Session {
    config: Arc<SessionConfig>,
    greeted: bool,
    tls: bool,
    user: Option<String>,
    auth: Auth,
    transaction: Transaction,
    /// The largest message the outbox has room for now, as the server last
    /// measured it (`None`: unknown, not checked).
    storage_room: Option<u64>,
}

impl Session {
    pub fn new(config: Arc<SessionConfig>) -> Self {
        Self {
            config,
            greeted: false,
            tls: false,
            user: None,
            auth: Auth::Idle,
            transaction: Transaction::Idle,
            storage_room: None,
        }
    }

    /// What the server measured of the outbox's free space, before MAIL.
    pub fn note_storage_room(&mut self, room: Option<u64>) {
        self.storage_room = room;
    }

    pub fn greeting(&self) -> Reply {
        Reply::plain(
            220,
            format!("{} ESMTP DANE Mail submission proxy", self.config.hostname),
        )
    }

    /// Whether the next line is an AUTH continuation, not a command.
    pub fn in_auth_exchange(&self) -> bool {
        self.auth != Auth::Idle
    }

    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// A request the parser could not make sense of.
    pub fn parse_error(&mut self, error: &ParseError) -> Reply {
        super::reply::parse_error_reply(error)
    }

    pub fn handle(&mut self, request: Request<String>) -> Step {
        use Request::*;
        match request {
            Ehlo { host } => self.hello(host, true),
            Helo { host } => self.hello(host, false),
            Lhlo { .. } => Step::Reply(Reply::new(500, "5.5.1", "This is not an LMTP server")),
            StartTls => self.start_tls(),
            Auth {
                mechanism,
                initial_response,
            } => self.auth_start(mechanism, initial_response),
            Mail { from } => self.mail(from.address, from.size),
            Rcpt { to } => self.rcpt(to.address),
            Data => self.data(),
            Rset => {
                self.transaction = Transaction::Idle;
                Step::Reply(Reply::new(250, "2.0.0", "Reset"))
            }
            Noop { .. } => Step::Reply(Reply::new(250, "2.0.0", "OK")),
            Quit => Step::Close(Reply::new(221, "2.0.0", "Bye")),
            Vrfy { .. } => Step::Reply(Reply::new(252, "2.5.0", "Cannot verify; send and see")),
            Help { .. } => Step::Reply(Reply::new(214, "2.0.0", "See RFC 5321")),
            Bdat { .. } | Expn { .. } | Etrn { .. } | Atrn { .. } | Burl { .. } => {
                Step::Reply(Reply::new(502, "5.5.1", "Command not implemented"))
            }
        }
    }

    fn hello(&mut self, host: String, extended: bool) -> Step {
        self.greeted = true;
        self.transaction = Transaction::Idle;
        let first = format!("{} greets {host}", self.config.hostname);
        if !extended {
            return Step::Reply(Reply::plain(250, first));
        }
        let mut lines = vec![
            first,
            format!("SIZE {}", self.config.max_message_size),
            "8BITMIME".into(),
            "SMTPUTF8".into(),
            "PIPELINING".into(),
            "ENHANCEDSTATUSCODES".into(),
        ];
        if self.tls || self.config.auth_without_tls {
            lines.push("AUTH PLAIN LOGIN".into());
        }
        if self.config.tls_available && !self.tls {
            lines.push("STARTTLS".into());
        }
        Step::Reply(Reply::multiline(250, lines))
    }

    fn start_tls(&mut self) -> Step {
        if self.tls {
            Step::Reply(Reply::new(503, "5.5.1", "TLS already active"))
        } else if !self.config.tls_available {
            Step::Reply(Reply::new(454, "4.7.0", "TLS not available"))
        } else {
            Step::StartTls(Reply::new(220, "2.0.0", "Ready to start TLS"))
        }
    }

    /// RFC 3207 §4.2: after the handshake, forget everything the client said.
    pub fn tls_started(&mut self) {
        self.tls = true;
        self.greeted = false;
        self.user = None;
        self.auth = Auth::Idle;
        self.transaction = Transaction::Idle;
    }

    fn auth_start(&mut self, mechanism: u64, initial: String) -> Step {
        if self.user.is_some() {
            return Step::Reply(Reply::new(503, "5.5.1", "Already authenticated"));
        }
        if !self.greeted {
            return Step::Reply(Reply::new(503, "5.5.1", "Say EHLO first"));
        }
        if !matches!(self.transaction, Transaction::Idle) {
            return Step::Reply(Reply::new(
                503,
                "5.5.1",
                "AUTH not allowed during a transaction",
            ));
        }
        if !self.tls && !self.config.auth_without_tls {
            return Step::Reply(Reply::new(
                538,
                "5.7.11",
                "Encryption required: use STARTTLS first",
            ));
        }
        match mechanism {
            AUTH_PLAIN if initial.is_empty() => {
                self.auth = Auth::Plain;
                Step::Reply(Reply::plain(334, ""))
            }
            AUTH_PLAIN => Step::Reply(self.auth_plain(&initial)),
            AUTH_LOGIN if initial.is_empty() => {
                self.auth = Auth::LoginUser;
                Step::Reply(Reply::plain(334, "VXNlcm5hbWU6"))
            }
            AUTH_LOGIN => match decode(&initial) {
                Some(user) => {
                    self.auth = Auth::LoginPassword(user);
                    Step::Reply(Reply::plain(334, "UGFzc3dvcmQ6"))
                }
                None => Step::Reply(Reply::new(501, "5.5.2", "Invalid base64")),
            },
            _ => Step::Reply(Reply::new(
                504,
                "5.5.4",
                "Mechanism not supported (PLAIN, LOGIN)",
            )),
        }
    }

    /// One line of an AUTH exchange (RFC 4954 §4).
    pub fn auth_line(&mut self, line: &str) -> Step {
        let line = line.trim_end_matches(['\r', '\n']);
        let state = std::mem::replace(&mut self.auth, Auth::Idle);
        if line == "*" {
            return Step::Reply(Reply::new(501, "5.7.0", "Authentication cancelled"));
        }
        match state {
            Auth::Idle => Step::Reply(Reply::new(503, "5.5.1", "No AUTH in progress")),
            Auth::Plain => Step::Reply(self.auth_plain(line)),
            Auth::LoginUser => match decode(line) {
                Some(user) => {
                    self.auth = Auth::LoginPassword(user);
                    Step::Reply(Reply::plain(334, "UGFzc3dvcmQ6"))
                }
                None => Step::Reply(Reply::new(501, "5.5.2", "Invalid base64")),
            },
            Auth::LoginPassword(user) => match decode(line) {
                Some(password) => Step::Reply(self.check_credentials(&user, &password)),
                None => Step::Reply(Reply::new(501, "5.5.2", "Invalid base64")),
            },
        }
    }

    /// RFC 4616: `[authzid] NUL authcid NUL passwd`.
    fn auth_plain(&mut self, encoded: &str) -> Reply {
        let Some(decoded) = decode(encoded) else {
            return Reply::new(501, "5.5.2", "Invalid base64");
        };
        let mut parts = decoded.split('\0');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(authzid), Some(user), Some(password), None)
                if authzid.is_empty() || authzid == user =>
            {
                self.check_credentials(user, password)
            }
            _ => Reply::new(501, "5.5.2", "Malformed PLAIN response"),
        }
    }

    fn check_credentials(&mut self, user: &str, password: &str) -> Reply {
        if same_secret(user, &self.config.username) & same_secret(password, &self.config.password) {
            self.user = Some(user.to_owned());
            Reply::new(235, "2.7.0", "Authentication successful")
        } else {
            Reply::new(535, "5.7.8", "Authentication credentials invalid")
        }
    }

    fn mail(&mut self, from: String, size: usize) -> Step {
        if !self.greeted {
            return Step::Reply(Reply::new(503, "5.5.1", "Say EHLO first"));
        }
        if self.user.is_none() {
            return Step::Reply(Reply::new(530, "5.7.0", "Authentication required"));
        }
        if !matches!(self.transaction, Transaction::Idle) {
            return Step::Reply(Reply::new(503, "5.5.1", "Nested MAIL command"));
        }
        if size > self.config.max_message_size {
            return Step::Reply(Reply::new(552, "5.3.4", "Message too big"));
        }
        // RFC 1870 §6.1: a SIZE that does not fit now is a temporary 452.
        if self.storage_room.is_some_and(|room| size as u64 > room) {
            return Step::Reply(Reply::new(
                452,
                "4.3.1",
                "Insufficient system storage: the outbox's disk has no room for this message now; try again later",
            ));
        }
        if !from.is_empty() {
            if let Err(e) = Address::parse(&from) {
                return Step::Reply(Reply::new(501, "5.1.7", e.to_string()));
            }
        }
        self.transaction = Transaction::Open {
            from,
            recipients: Vec::new(),
        };
        Step::Reply(Reply::new(250, "2.1.0", "Sender OK"))
    }

    fn rcpt(&mut self, to: String) -> Step {
        let Transaction::Open { recipients, .. } = &self.transaction else {
            return Step::Reply(Reply::new(503, "5.5.1", "Need MAIL first"));
        };
        if recipients.len() >= self.config.max_recipients {
            return Step::Reply(Reply::new(452, "4.5.3", "Too many recipients"));
        }
        match Address::parse(&to) {
            Ok(address) => Step::Lookup(address),
            Err(e) => Step::Reply(Reply::new(501, "5.1.3", e.to_string())),
        }
    }

    /// The DANE decision for a RCPT; the recipient is kept only if accepted.
    pub fn recipient_decided(&mut self, address: &Address, decision: Decision) -> Reply {
        let reply = Reply::for_decision(&address.original, &decision);
        if let Transaction::Open { recipients, .. } = &mut self.transaction {
            let accepted =
                decision.action.encrypts() || matches!(decision.action, Action::Plaintext);
            let duplicate = recipients
                .iter()
                .any(|(r, _)| r.eq_ignore_ascii_case(&address.original));
            if accepted && !duplicate {
                recipients.push((address.original.clone(), decision));
            }
        }
        reply
    }

    fn data(&mut self) -> Step {
        match &self.transaction {
            Transaction::Idle => Step::Reply(Reply::new(503, "5.5.1", "Need MAIL first")),
            Transaction::Open { recipients, .. } if recipients.is_empty() => {
                Step::Reply(Reply::new(554, "5.5.1", "No valid recipients"))
            }
            Transaction::Open { .. } => {
                Step::ReadData(Reply::plain(354, "End data with <CR><LF>.<CR><LF>"))
            }
        }
    }

    /// The envelope of the message just read; the transaction ends here.
    pub fn take_transaction(&mut self) -> Option<Envelope> {
        match std::mem::replace(&mut self.transaction, Transaction::Idle) {
            Transaction::Open { from, recipients } => Some(Envelope { from, recipients }),
            Transaction::Idle => None,
        }
    }
}

fn decode(encoded: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// Compares secrets by their SHA-256 in constant time (no early exit that
/// would leak a matching prefix).
fn same_secret(given: &str, expected: &str) -> bool {
    let a = openssl::sha::sha256(given.as_bytes());
    let b = openssl::sha::sha256(expected.as_bytes());
    openssl::memcmp::eq(&a, &b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dane::TempfailCause;
    use smtp_proto::{MailFrom, RcptTo};

    fn config(auth_without_tls: bool) -> Arc<SessionConfig> {
        Arc::new(SessionConfig {
            hostname: "localhost".into(),
            max_message_size: 1000,
            max_recipients: 2,
            tls_available: true,
            auth_without_tls,
            username: "danemail".into(),
            password: "secret".into(),
        })
    }

    fn code(step: Step) -> u16 {
        match step {
            Step::Reply(r) | Step::StartTls(r) | Step::ReadData(r) | Step::Close(r) => r.code,
            Step::Lookup(_) => 0,
        }
    }

    fn mail(from: &str, size: usize) -> Request<String> {
        Request::Mail {
            from: MailFrom {
                address: from.into(),
                size,
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

    fn plain(user: &str, password: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"))
    }

    fn authenticated() -> Session {
        let mut s = Session::new(config(true));
        assert_eq!(
            code(s.handle(Request::Ehlo {
                host: "client".into()
            })),
            250
        );
        let step = s.handle(Request::Auth {
            mechanism: AUTH_PLAIN,
            initial_response: plain("danemail", "secret"),
        });
        assert_eq!(code(step), 235);
        s
    }

    fn decision(action: Action) -> Decision {
        Decision {
            action,
            reason: "because".into(),
        }
    }

    #[test]
    fn a_whole_transaction() {
        let mut s = authenticated();
        assert_eq!(code(s.handle(mail("me@x.test", 10))), 250);
        let Step::Lookup(bob) = s.handle(rcpt("bob@x.test")) else {
            panic!()
        };
        assert_eq!(
            s.recipient_decided(&bob, decision(Action::Plaintext)).code,
            250
        );
        let Step::Lookup(eve) = s.handle(rcpt("eve@x.test")) else {
            panic!()
        };
        let reply = s.recipient_decided(&eve, decision(Action::Tempfail(TempfailCause::Bogus)));
        assert_eq!((reply.code, reply.enhanced), (451, Some("4.7.5")));
        let Step::Lookup(dan) = s.handle(rcpt("dan@x.test")) else {
            panic!()
        };
        let reply = s.recipient_decided(&dan, decision(Action::Refuse));
        assert_eq!((reply.code, reply.enhanced), (550, Some("5.7.1")));
        assert_eq!(code(s.handle(Request::Data)), 354);
        let envelope = s.take_transaction().unwrap();
        assert_eq!(envelope.from, "me@x.test");
        let kept: Vec<&str> = envelope
            .recipients
            .iter()
            .map(|(r, _)| r.as_str())
            .collect();
        assert_eq!(kept, ["bob@x.test"]);
        assert_eq!(code(s.handle(Request::Data)), 503);
    }

    #[test]
    fn refusals_have_the_right_codes() {
        let mut s = Session::new(config(true));
        assert_eq!(
            code(s.handle(mail("me@x.test", 0))),
            503,
            "MAIL before EHLO"
        );
        s.handle(Request::Ehlo { host: "c".into() });
        assert_eq!(
            code(s.handle(mail("me@x.test", 0))),
            530,
            "MAIL before AUTH"
        );
        let bad = s.handle(Request::Auth {
            mechanism: AUTH_PLAIN,
            initial_response: plain("danemail", "wrong"),
        });
        assert_eq!(code(bad), 535);
        assert_eq!(code(s.handle(rcpt("a@b.test"))), 503, "RCPT before MAIL");

        let mut s = authenticated();
        assert_eq!(code(s.handle(mail("me@x.test", 5000))), 552, "SIZE too big");
        assert_eq!(code(s.handle(mail("not an address", 0))), 501);
        assert_eq!(code(s.handle(mail("me@x.test", 0))), 250);
        assert_eq!(code(s.handle(mail("me@x.test", 0))), 503, "nested MAIL");
        assert_eq!(
            code(s.handle(Request::Data)),
            554,
            "DATA without recipients"
        );
        assert_eq!(code(s.handle(rcpt("no-at-sign"))), 501);
        for to in ["a@x.test", "b@x.test"] {
            let Step::Lookup(a) = s.handle(rcpt(to)) else {
                panic!()
            };
            s.recipient_decided(&a, decision(Action::Plaintext));
        }
        assert_eq!(code(s.handle(rcpt("c@x.test"))), 452, "too many recipients");
        assert_eq!(
            code(s.handle(Request::Bdat {
                chunk_size: 1,
                is_last: true
            })),
            502
        );
        assert_eq!(code(s.handle(Request::Quit)), 221);
    }

    #[test]
    fn auth_needs_tls_off_loopback_and_tls_resets_the_session() {
        let mut s = Session::new(config(false));
        let Step::Reply(ehlo) = s.handle(Request::Ehlo { host: "c".into() }) else {
            panic!()
        };
        assert!(!ehlo.lines.iter().any(|l| l.starts_with("AUTH")));
        assert!(ehlo.lines.iter().any(|l| l == "STARTTLS"));
        let step = s.handle(Request::Auth {
            mechanism: AUTH_PLAIN,
            initial_response: plain("danemail", "secret"),
        });
        assert_eq!(code(step), 538);
        assert!(matches!(s.handle(Request::StartTls), Step::StartTls(_)));
        s.tls_started();
        assert_eq!(
            code(s.handle(mail("me@x.test", 0))),
            503,
            "EHLO again after TLS"
        );
        let Step::Reply(ehlo) = s.handle(Request::Ehlo { host: "c".into() }) else {
            panic!()
        };
        assert!(ehlo.lines.iter().any(|l| l.starts_with("AUTH")));
        assert!(!ehlo.lines.iter().any(|l| l == "STARTTLS"));
        assert_eq!(code(s.handle(Request::StartTls)), 503);
    }

    #[test]
    fn auth_login_and_plain_exchanges() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let mut s = Session::new(config(true));
        s.handle(Request::Ehlo { host: "c".into() });
        assert_eq!(
            code(s.handle(Request::Auth {
                mechanism: AUTH_LOGIN,
                initial_response: String::new()
            })),
            334
        );
        assert!(s.in_auth_exchange());
        assert_eq!(code(s.auth_line(&b64("danemail"))), 334);
        assert_eq!(code(s.auth_line(&b64("secret"))), 235);
        assert_eq!(s.user(), Some("danemail"));

        let mut s = Session::new(config(true));
        s.handle(Request::Ehlo { host: "c".into() });
        assert_eq!(
            code(s.handle(Request::Auth {
                mechanism: AUTH_PLAIN,
                initial_response: String::new()
            })),
            334
        );
        assert_eq!(code(s.auth_line("*")), 501);
        assert!(!s.in_auth_exchange());
        assert_eq!(
            code(s.handle(Request::Auth {
                mechanism: AUTH_PLAIN,
                initial_response: "!!!".into()
            })),
            501
        );
    }
}
