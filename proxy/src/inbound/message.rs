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
    pub message_id: Option<String>,
}

/// Applies §3/§4 to the raw message `raw` from `source` (`None`: stdin).
pub fn process(raw: &[u8], source: Option<Source>, keys: &[Unsealed], mirror: bool) -> Processed {
    let original_sha256 = hex::encode(openssl::sha::sha256(raw));
    let message = match Message::parse(raw) {
        Ok(m) => m,
        Err(e) => {
            return Processed {
                outcome: Outcome::Unreadable(e.to_string()),
                copy: None,
                message_id: None,
            }
        }
    };
    let message_id = message
        .fields_named("Message-ID")
        .next()
        .and_then(|f| std::str::from_utf8(f).ok())
        .and_then(|f| f.split_once(':'))
        .map(|(_, v)| v.trim().to_owned());
    let mut provenance = Provenance {
        source,
        original_sha256,
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
    Processed {
        outcome,
        copy,
        message_id,
    }
}
