//! SMTP replies (RFC 5321 §4.2) with enhanced status codes (RFC 3463), and
//! the one place where the session's refusals get their codes.

use std::fmt::Write;

use smtp_proto::Error as ParseError;

use crate::dane::{Action, Decision, TempfailCause};

/// One reply: a code, an enhanced status code (none for 220/221/334/354),
/// and one or more text lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub enhanced: Option<&'static str>,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn new(code: u16, enhanced: &'static str, text: impl Into<String>) -> Self {
        Self {
            code,
            enhanced: Some(enhanced),
            lines: vec![text.into()],
        }
    }

    /// A reply without an enhanced status code (greeting, 334, 354).
    pub fn plain(code: u16, text: impl Into<String>) -> Self {
        Self {
            code,
            enhanced: None,
            lines: vec![text.into()],
        }
    }

    pub fn multiline(code: u16, lines: Vec<String>) -> Self {
        Self {
            code,
            enhanced: None,
            lines,
        }
    }

    pub fn is_positive(&self) -> bool {
        self.code < 400
    }

    /// The wire form, CRLF-terminated. Text is kept to printable ASCII so a
    /// reason taken from DNS or a certificate can never inject a line.
    pub fn to_wire(&self) -> Vec<u8> {
        let mut out = String::new();
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            let separator = if i == last { ' ' } else { '-' };
            let clean: String = line
                .chars()
                .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
                .collect();
            match self.enhanced {
                Some(enhanced) if i == 0 || self.lines.len() > 1 => {
                    let _ = write!(out, "{}{separator}{enhanced} {clean}\r\n", self.code);
                }
                _ => {
                    let _ = write!(out, "{}{separator}{clean}\r\n", self.code);
                }
            }
        }
        out.into_bytes()
    }

    /// The reply to a RCPT whose DANE decision is known.
    pub fn for_decision(recipient: &str, decision: &Decision) -> Self {
        match &decision.action {
            Action::Encrypt(_) => Self::new(
                250,
                "2.1.5",
                format!("<{recipient}> OK, will be encrypted (S/MIME)"),
            ),
            Action::EncryptOpenPgp(_) => Self::new(
                250,
                "2.1.5",
                format!("<{recipient}> OK, will be encrypted (OpenPGP)"),
            ),
            Action::Plaintext => {
                Self::new(250, "2.1.5", format!("<{recipient}> OK, sent as written"))
            }
            // RFC 3463 5.7.1: delivery not authorized (by our policy).
            Action::Refuse => Self::new(550, "5.7.1", decision.reason.clone()),
            // 4.7.5: cryptographic failure (bogus DNSSEC).
            Action::Tempfail(TempfailCause::Bogus) => {
                Self::new(451, "4.7.5", decision.reason.clone())
            }
            // 4.4.3: directory server failure (DNS unreachable, SERVFAIL).
            Action::Tempfail(TempfailCause::Indeterminate) => {
                Self::new(451, "4.4.3", decision.reason.clone())
            }
        }
    }
}

/// The reply to a request the parser could not make sense of.
pub fn parse_error_reply(error: &ParseError) -> Reply {
    match error {
        ParseError::UnknownCommand => Reply::new(500, "5.5.2", "Command unrecognized"),
        ParseError::InvalidSenderAddress => Reply::new(501, "5.1.7", "Bad sender address syntax"),
        ParseError::InvalidRecipientAddress => {
            Reply::new(501, "5.1.3", "Bad recipient address syntax")
        }
        ParseError::SyntaxError { syntax } => Reply::new(501, "5.5.4", format!("Syntax: {syntax}")),
        ParseError::InvalidParameter { param } => {
            Reply::new(501, "5.5.4", format!("Invalid parameter {param}"))
        }
        ParseError::UnsupportedParameter { param } => {
            Reply::new(555, "5.5.4", format!("Unsupported parameter {param}"))
        }
        ParseError::ResponseTooLong => Reply::new(500, "5.5.6", "Line too long"),
        ParseError::NeedsMoreData { .. } | ParseError::InvalidResponse { .. } => {
            Reply::new(500, "5.5.2", "Syntax error")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_forms() {
        assert_eq!(Reply::plain(220, "ready").to_wire(), b"220 ready\r\n");
        assert_eq!(
            Reply::new(250, "2.0.0", "OK").to_wire(),
            b"250 2.0.0 OK\r\n"
        );
        assert_eq!(
            Reply::multiline(250, vec!["host".into(), "SIZE 10".into()]).to_wire(),
            b"250-host\r\n250 SIZE 10\r\n"
        );
        // No CR/LF injection from reasons that came from outside.
        assert_eq!(
            Reply::new(451, "4.7.5", "bad\r\n250 ok").to_wire(),
            b"451 4.7.5 bad??250 ok\r\n"
        );
    }
}
