//! One fetched message through the rules: encrypted → decrypted copy or a
//! failure with its reason; plaintext → mirrored copy or skipped. No I/O,
//! blocking (OpenSSL): run it off the async runtime.

use super::copy::{decrypted_copy, mirrored_copy, Provenance, Source};
use super::decrypt::{decrypt, Failure};
use super::detect::{kind, Kind};
use crate::keys::Unsealed;
use crate::mime::Message;

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Decrypted,
    Mirrored,
    /// Plaintext, and `mirror_plaintext` is off.
    Skipped,
    /// Encrypted but left as it is, with the reason.
    Failed(Failure),
    /// Not a message we can read at all (its header does not parse).
    Unreadable(String),
}

impl Outcome {
    pub fn code(&self) -> String {
        match self {
            Self::Decrypted => "decrypted".into(),
            Self::Mirrored => "mirrored".into(),
            Self::Skipped => "skipped".into(),
            Self::Failed(f) => format!("failed: {f}"),
            Self::Unreadable(why) => format!("failed: unreadable: {why}"),
        }
    }
}

/// The outcome, and the copy to store when there is one.
#[derive(Debug)]
pub struct Processed {
    pub outcome: Outcome,
    pub copy: Option<Vec<u8>>,
}

/// What recognises a message again after its mailbox was recreated (issue
/// 10 §5): the SHA-256 of its bytes, and its Message-ID together with the
/// SHA-256 of its body (a migration may rewrite or add header fields, but
/// keeps those two).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub sha256: String,
    /// The Message-ID field's value, trimmed; `None` without one.
    pub message_id: Option<String>,
    /// SHA-256 of everything after the empty line that ends the header.
    pub body_sha256: String,
}

impl Fingerprint {
    pub fn of(raw: &[u8]) -> Self {
        let body_start = body_start(raw);
        let message_id = Message::parse(&raw[..body_start]).ok().and_then(|m| {
            m.fields_named("Message-ID")
                .next()
                .and_then(|f| std::str::from_utf8(f).ok())
                .and_then(|f| f.split_once(':'))
                .map(|(_, v)| v.split_whitespace().collect::<String>())
                .filter(|v| !v.is_empty())
        });
        Self {
            sha256: hex::encode(openssl::sha::sha256(raw)),
            message_id,
            body_sha256: hex::encode(openssl::sha::sha256(&raw[body_start..])),
        }
    }
}

/// Where the body begins: after the first empty line (CRLF or LF), or at
/// the end when there is none.
fn body_start(raw: &[u8]) -> usize {
    let mut at = 0;
    while at < raw.len() {
        let line_end = raw[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |i| at + i + 1);
        let line = &raw[at..line_end];
        if line == b"\r\n" || line == b"\n" {
            return line_end;
        }
        at = line_end;
    }
    raw.len()
}

/// Applies §3/§4 to the raw message `raw` from `source` (`None`: stdin).
pub fn process(raw: &[u8], source: Option<Source>, keys: &[Unsealed], mirror: bool) -> Processed {
    process_known(raw, &Fingerprint::of(raw), source, keys, mirror)
}

/// [`process`] for a message whose fingerprint is already known.
pub fn process_known(
    raw: &[u8],
    fingerprint: &Fingerprint,
    source: Option<Source>,
    keys: &[Unsealed],
    mirror: bool,
) -> Processed {
    let message = match Message::parse(raw) {
        Ok(m) => m,
        Err(e) => {
            return Processed {
                outcome: Outcome::Unreadable(e.to_string()),
                copy: None,
            }
        }
    };
    let mut provenance = Provenance {
        source,
        original_sha256: fingerprint.sha256.clone(),
        message_id: fingerprint.message_id.clone(),
        body_sha256: Some(fingerprint.body_sha256.clone()),
        ..Provenance::default()
    };
    let (outcome, copy) = match kind(&message) {
        Kind::Encrypted => match decrypt(&message, keys) {
            Ok(decrypted) => {
                provenance.kind = "decrypted".into();
                provenance.certificate_sha256 = Some(decrypted.certificate_sha256.clone());
                provenance.cipher =
                    Some(format!("{}/{}", decrypted.cipher, decrypted.key_transport));
                provenance.signature = Some(decrypted.signature.label().into());
                let copy = decrypted_copy(&message, &decrypted, &provenance);
                (Outcome::Decrypted, Some(copy))
            }
            Err(failure) => (Outcome::Failed(failure), None),
        },
        Kind::Plain if mirror => {
            provenance.kind = "mirrored".into();
            (Outcome::Mirrored, Some(mirrored_copy(raw, &provenance)))
        }
        Kind::Plain => (Outcome::Skipped, None),
    };
    Processed { outcome, copy }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_survives_rewritten_header_fields() {
        let a =
            Fingerprint::of(b"Message-ID: <1@x.test>\r\nSubject: s\r\n\r\nbody\r\n\r\nmore\r\n");
        let b = Fingerprint::of(b"X-Migrated: yes\r\nMessage-ID:\r\n <1@x.test>\r\nSubject: s\r\n\r\nbody\r\n\r\nmore\r\n");
        assert_ne!(a.sha256, b.sha256);
        assert_eq!(a.message_id.as_deref(), Some("<1@x.test>"));
        assert_eq!(
            (&a.message_id, &a.body_sha256),
            (&b.message_id, &b.body_sha256)
        );
        let none = Fingerprint::of(b"Subject: s\n\nbody\r\n\r\nmore\r\n");
        assert_eq!(none.message_id, None);
        assert_eq!(none.body_sha256, a.body_sha256);
        assert_eq!(
            Fingerprint::of(b"Subject: no body").body_sha256,
            hex::encode(openssl::sha::sha256(b""))
        );
    }
}
