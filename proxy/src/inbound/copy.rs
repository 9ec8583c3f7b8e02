//! The plaintext copy of one message (issue 10 §4): our provenance field,
//! the outer trace fields, the message's header fields (the protected ones
//! of RFC 9788 where the inner entity carries them), then the decrypted
//! entity byte for byte. A mirrored plaintext message is the provenance
//! field and the message as it came.
//!
//! The provenance field is written first, like a trace field of the hop
//! that made the copy: the agent recognises its own copies after a crash
//! by reading the first line of each file only.

use super::decrypt::Decrypted;
use crate::mime::Message;

/// The provenance field's name; one arriving from outside is removed.
pub const PROVENANCE: &str = "X-DANE-Mail-Decrypted";

/// Trace fields kept from the outer message, in their order (RFC 5322
/// §3.6.7, RFC 8601, RFC 8617, RFC 6376).
fn is_trace(name: &[u8]) -> bool {
    let lower = name.to_ascii_lowercase();
    matches!(
        lower.as_slice(),
        b"received" | b"return-path" | b"authentication-results" | b"dkim-signature"
    ) || lower.starts_with(b"arc-")
}

/// Where a copy came from, and how it was made.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Provenance {
    /// `None` for `danemail decrypt` (no mailbox).
    pub source: Option<Source>,
    /// SHA-256 of the original message as fetched (hex): the match key after
    /// a UIDVALIDITY change.
    pub original_sha256: String,
    /// The original's Message-ID and the SHA-256 of its body: the second
    /// match key (header fields rewritten by a migration).
    pub message_id: Option<String>,
    pub body_sha256: Option<String>,
    /// `decrypted` or `mirrored`.
    pub kind: String,
    pub certificate_sha256: Option<String>,
    pub cipher: Option<String>,
    pub signature: Option<String>,
}

/// The mailbox a message came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source {
    pub account: String,
    pub folder: String,
    pub uidvalidity: u32,
    pub uid: u32,
}

impl Provenance {
    /// The whole field with `eol` (`; `-separated `key=value`, values quoted
    /// where they are not tokens).
    pub fn field(&self, eol: &str) -> String {
        let mut parts = Vec::new();
        if let Some(s) = &self.source {
            parts.push(format!("account={}", quote(&s.account)));
            parts.push(format!("folder={}", quote(&s.folder)));
            parts.push(format!("uidvalidity={}", s.uidvalidity));
            parts.push(format!("uid={}", s.uid));
        }
        parts.push(format!("kind={}", quote(&self.kind)));
        parts.push(format!("sha256={}", self.original_sha256));
        if let Some(m) = &self.message_id {
            parts.push(format!("message-id={}", quote(m)));
        }
        if let Some(b) = &self.body_sha256 {
            parts.push(format!("body-sha256={b}"));
        }
        if let Some(c) = &self.certificate_sha256 {
            parts.push(format!("cert-sha256={c}"));
        }
        if let Some(c) = &self.cipher {
            parts.push(format!("cipher={}", quote(c)));
        }
        if let Some(s) = &self.signature {
            parts.push(format!("signature={}", quote(s)));
        }
        format!(
            "{PROVENANCE}: {}{eol}",
            parts.join(";\r\n\t").replace("\r\n", eol)
        )
    }

    /// Reads a field written by [`Self::field`] (the whole field, folded or not).
    pub fn parse(field: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(field).ok()?;
        let (name, value) = text.split_once(':')?;
        if !name.trim().eq_ignore_ascii_case(PROVENANCE) {
            return None;
        }
        let mut p = Provenance::default();
        let (mut account, mut folder, mut uidvalidity, mut uid) = (None, None, None, None);
        for (key, value) in params(value) {
            match key.as_str() {
                "account" => account = Some(value),
                "folder" => folder = Some(value),
                "uidvalidity" => uidvalidity = value.parse().ok(),
                "uid" => uid = value.parse().ok(),
                "kind" => p.kind = value,
                "sha256" => p.original_sha256 = value,
                "message-id" => p.message_id = Some(value),
                "body-sha256" => p.body_sha256 = Some(value),
                "cert-sha256" => p.certificate_sha256 = Some(value),
                "cipher" => p.cipher = Some(value),
                "signature" => p.signature = Some(value),
                _ => {}
            }
        }
        if let (Some(account), Some(folder), Some(uidvalidity), Some(uid)) =
            (account, folder, uidvalidity, uid)
        {
            p.source = Some(Source {
                account,
                folder,
                uidvalidity,
                uid,
            });
        }
        Some(p)
    }
}

/// A value as a token or a quoted-string (RFC 5322 §3.2.4).
fn quote(value: &str) -> String {
    if !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.+@/".contains(&b))
    {
        value.to_owned()
    } else {
        let escaped: String = value
            .chars()
            .filter(|c| *c != '\r' && *c != '\n')
            .flat_map(|c| match c {
                '"' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        format!("\"{escaped}\"")
    }
}

/// `key=value; key="quoted"` pairs.
fn params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ';') {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if chars.next().is_none() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value =
                std::iter::from_fn(|| chars.next_if(|c| *c != ';' && !c.is_whitespace())).collect();
        }
        out.push((key.trim().to_ascii_lowercase(), value));
    }
    out
}

/// The line end the message uses (CRLF from IMAP; LF from some files).
fn eol_of(message: &Message) -> &'static str {
    match message.fields().next() {
        Some((_, whole)) if !whole.ends_with(b"\r\n") => "\n",
        _ => "\r\n",
    }
}

/// The plaintext copy of an encrypted `outer` message.
pub fn decrypted_copy(outer: &Message, decrypted: &Decrypted, provenance: &Provenance) -> Vec<u8> {
    let eol = eol_of(outer);
    let entity = strip_provenance(&decrypted.entity);
    // RFC 9788 §2.1: an `hp` parameter on the inner Content-Type says the
    // inner part's header fields are the real ones; they win.
    let inner = Message::parse(&entity).ok();
    let protected: Vec<Vec<u8>> = inner
        .as_ref()
        .filter(|m| {
            m.content_type()
                .is_some_and(|(_, params)| params.iter().any(|(n, _)| n == "hp"))
        })
        .map(|m| {
            m.fields()
                .filter(|(name, _)| !Message::is_content_field(name))
                .map(|(name, _)| name.to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default();
    let inner_has_mime_version = inner
        .as_ref()
        .is_some_and(|m| m.fields_named("MIME-Version").next().is_some());

    let mut out = Vec::with_capacity(entity.len() + outer.header().len() + 512);
    out.extend_from_slice(provenance.field(eol).as_bytes());
    for (name, whole) in outer.fields() {
        if is_trace(name) {
            out.extend_from_slice(whole);
        }
    }
    for (name, whole) in outer.fields() {
        let lower = name.to_ascii_lowercase();
        if is_trace(name)
            || Message::is_content_field(name)
            || lower == b"mime-version"
            || name.eq_ignore_ascii_case(PROVENANCE.as_bytes())
            || protected.contains(&lower)
        {
            continue;
        }
        out.extend_from_slice(whole);
    }
    if !inner_has_mime_version {
        out.extend_from_slice(format!("MIME-Version: 1.0{eol}").as_bytes());
    }
    out.extend_from_slice(&entity);
    out
}

/// The mirrored copy of a plaintext message: provenance, then the message
/// without any provenance field of its own.
pub fn mirrored_copy(raw: &[u8], provenance: &Provenance) -> Vec<u8> {
    let stripped = strip_provenance(raw);
    let eol = Message::parse(&stripped)
        .map(|m| eol_of(&m))
        .unwrap_or("\r\n");
    let mut out = provenance.field(eol).into_bytes();
    out.extend_from_slice(&stripped);
    out
}

/// `raw` without header fields named like ours (a forged provenance).
fn strip_provenance(raw: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let Ok(message) = Message::parse(raw) else {
        return raw.into();
    };
    if message.fields_named(PROVENANCE).next().is_none() {
        return raw.into();
    }
    let mut out = Vec::with_capacity(raw.len());
    for (name, whole) in message.fields() {
        if !name.eq_ignore_ascii_case(PROVENANCE.as_bytes()) {
            out.extend_from_slice(whole);
        }
    }
    out.extend_from_slice(&message.header()[message.header_end()..]);
    out.extend_from_slice(&raw[message.header().len()..]);
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::decrypt::Signature;

    fn decrypted(entity: &[u8]) -> Decrypted {
        Decrypted {
            entity: entity.to_vec(),
            certificate_sha256: "ab".into(),
            identity: "me@x.test".into(),
            retired_key: false,
            cipher: "aes-256-cbc",
            key_transport: "rsa",
            signature: Signature::Unsigned,
        }
    }

    fn provenance() -> Provenance {
        Provenance {
            source: Some(Source {
                account: "work; \"x\"".into(),
                folder: "INBOX".into(),
                uidvalidity: 7,
                uid: 42,
            }),
            original_sha256: "cd".into(),
            message_id: Some("<a\"b@x.test>".into()),
            body_sha256: Some("ef".into()),
            kind: "decrypted".into(),
            certificate_sha256: Some("ab".into()),
            cipher: Some("aes-256-cbc".into()),
            signature: Some("none".into()),
        }
    }

    #[test]
    fn provenance_round_trips() {
        let p = provenance();
        let field = p.field("\r\n");
        assert!(field.starts_with("X-DANE-Mail-Decrypted: account=\"work; \\\"x\\\"\";\r\n\t"));
        assert_eq!(Provenance::parse(field.as_bytes()), Some(p));
        assert_eq!(Provenance::parse(b"Subject: x\r\n"), None);
    }

    #[test]
    fn copy_orders_trace_headers_entity_and_drops_forged_provenance() {
        let outer = b"Return-Path: <a@x.test>\r\nFrom: a@x.test\r\nReceived: by mx\r\n\
X-DANE-Mail-Decrypted: forged\r\nSubject: outer\r\nMIME-Version: 1.0\r\n\
Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n\
Content-Transfer-Encoding: base64\r\n\r\nAAAA\r\n";
        let outer = Message::parse(outer).unwrap();
        let entity = b"Content-Type: text/plain\r\n\r\nhello\r\n";
        let copy = decrypted_copy(&outer, &decrypted(entity), &provenance());
        let text = String::from_utf8(copy).unwrap();
        let expected_tail = "Return-Path: <a@x.test>\r\nReceived: by mx\r\nFrom: a@x.test\r\n\
Subject: outer\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nhello\r\n";
        assert!(
            text.starts_with("X-DANE-Mail-Decrypted: account="),
            "{text}"
        );
        assert!(text.ends_with(expected_tail), "{text}");
        assert_eq!(text.matches("X-DANE-Mail-Decrypted").count(), 1);
    }

    #[test]
    fn protected_headers_win() {
        let outer = b"From: a@x.test\r\nSubject: [...]\r\nTo: b@x.test\r\n\
Content-Type: application/pkcs7-mime\r\n\r\nAAAA\r\n";
        let outer = Message::parse(outer).unwrap();
        let entity =
            b"Subject: the real subject\r\nContent-Type: text/plain; hp=\"cipher\"\r\n\r\nhi\r\n";
        let copy = decrypted_copy(&outer, &decrypted(entity), &provenance());
        let text = String::from_utf8(copy).unwrap();
        assert_eq!(text.matches("Subject:").count(), 1, "{text}");
        assert!(text.contains("To: b@x.test\r\n"));
        assert!(text.ends_with(
            "Subject: the real subject\r\nContent-Type: text/plain; hp=\"cipher\"\r\n\r\nhi\r\n"
        ));
        // Without hp, the outer Subject stays.
        let entity = b"Content-Type: text/plain\r\n\r\nhi\r\n";
        let text =
            String::from_utf8(decrypted_copy(&outer, &decrypted(entity), &provenance())).unwrap();
        assert!(text.contains("Subject: [...]\r\n"));
    }

    #[test]
    fn mirrored_copy_keeps_the_message() {
        let raw = b"X-DANE-Mail-Decrypted: forged\r\nFrom: a@x.test\r\n\r\nbody\r\n";
        let p = Provenance {
            kind: "mirrored".into(),
            ..provenance()
        };
        let copy = mirrored_copy(raw, &p);
        let text = String::from_utf8(copy).unwrap();
        assert!(
            text.ends_with("\r\nFrom: a@x.test\r\n\r\nbody\r\n"),
            "{text}"
        );
        assert_eq!(text.matches("X-DANE-Mail-Decrypted").count(), 1);
    }
}
