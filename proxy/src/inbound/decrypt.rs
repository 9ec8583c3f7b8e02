//! Decrypts one S/MIME message with the user's key pairs (current and
//! retired), in-process with OpenSSL: EnvelopedData (AES-CBC, 3DES) and
//! AuthEnvelopedData (AES-GCM), RSA PKCS#1 v1.5, RSA-OAEP and ECDH recipient
//! infos — whatever `CMS_decrypt` reads. Blocking: the agent calls it from
//! `spawn_blocking`.
//!
//! The certificate is always given to `CMS_decrypt`, so only RecipientInfos
//! that name one of our certificates are tried (no trial decryption with
//! every key, and no Bleichenbacher-style "any key" mode). An inner opaque
//! signed-data is verified and unwrapped; an inner `multipart/signed` is
//! kept byte for byte.

use base64::Engine;
use openssl::cms::{CMSOptions, CmsContentInfo};

use super::detect::{self, CmsType};
use crate::keys::Unsealed;
use crate::mime::Message;

/// What decryption produced, with what the provenance field records.
#[derive(Debug, Clone)]
pub struct Decrypted {
    /// The inner MIME entity (after unwrapping an opaque signature).
    pub entity: Vec<u8>,
    /// SHA-256 of the certificate whose key decrypted it (hex).
    pub certificate_sha256: String,
    /// The address the key belongs to, and whether it is a retired key.
    pub identity: String,
    pub retired_key: bool,
    pub cipher: &'static str,
    /// `rsa`, `rsa-oaep` or `ecdh`.
    pub key_transport: &'static str,
    pub signature: Signature,
}

/// The state of a signature inside the encrypted entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signature {
    /// No signature inside.
    Unsigned,
    /// `multipart/signed`: kept byte for byte for the mail client to verify.
    Detached,
    /// Opaque signed-data whose signature verified (the signer's certificate
    /// is not judged here: no trust store for senders), unwrapped.
    OpaqueValid,
    /// Opaque signed-data whose signature did not verify: kept wrapped.
    OpaqueInvalid(String),
}

impl Signature {
    pub fn label(&self) -> &'static str {
        match self {
            Self::Unsigned => "none",
            Self::Detached => "detached-unverified",
            Self::OpaqueValid => "opaque-verified-unwrapped",
            Self::OpaqueInvalid(_) => "opaque-invalid-kept",
        }
    }
}

/// Why a message was left as it is (recorded, shown by `inbound status`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("corrupt: {0}")]
    Corrupt(String),
    #[error("not for us: no recipient of the message is one of our {0} key(s)")]
    NotForUs(usize),
    #[error("no key: the key store holds no key to decrypt with")]
    NoKey,
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("decryption failed: {0}")]
    Failed(String),
}

impl Failure {
    /// A short code for the sync state and `--json`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Corrupt(_) => "corrupt",
            Self::NotForUs(_) => "not-for-us",
            Self::NoKey => "no-key",
            Self::Unsupported(_) => "unsupported",
            Self::Failed(_) => "failed",
        }
    }
}

/// Decrypts the S/MIME message `message` (its body is the CMS structure).
pub fn decrypt(message: &Message, keys: &[Unsealed]) -> Result<Decrypted, Failure> {
    let der = cms_bytes(message)?;
    match detect::cms_type(&der) {
        Some(CmsType::EnvelopedData | CmsType::AuthEnvelopedData) => {}
        Some(CmsType::SignedData) => {
            return Err(Failure::Unsupported(
                "signed-data labelled as encrypted".into(),
            ))
        }
        Some(CmsType::Other) => {
            return Err(Failure::Unsupported(
                "a CMS content type other than (auth)enveloped-data".into(),
            ))
        }
        None => return Err(Failure::Corrupt("the body is not a CMS ContentInfo".into())),
    }
    let cms = CmsContentInfo::from_der(&der).map_err(|e| {
        Failure::Corrupt(format!("the CMS structure does not parse ({})", reason(&e)))
    })?;
    if keys.is_empty() {
        return Err(Failure::NoKey);
    }
    let mut other_error = None;
    for key in keys {
        match cms.decrypt(&key.key, &key.certificate) {
            Ok(content) => {
                let der_cert = key.certificate.to_der().unwrap_or_default();
                let is_ec = key.key.id() == openssl::pkey::Id::EC;
                let (entity, signature) = unwrap_signed(content);
                // CBC has no integrity: a damaged ciphertext can decrypt to
                // garbage, which must not become a stored copy.
                if let Err(e) = Message::parse(&entity) {
                    return Err(Failure::Corrupt(format!(
                        "what it decrypts to is not a MIME entity ({e})"
                    )));
                }
                return Ok(Decrypted {
                    entity,
                    certificate_sha256: hex::encode(openssl::sha::sha256(&der_cert)),
                    identity: key.address.clone(),
                    retired_key: key.retired,
                    cipher: detect::cipher_name(&der),
                    key_transport: if is_ec {
                        "ecdh"
                    } else if detect::uses_oaep(&der) {
                        "rsa-oaep"
                    } else {
                        "rsa"
                    },
                    signature,
                });
            }
            Err(e) => {
                let why = reason(&e);
                // An EC key meets no RSA KeyTransRecipientInfo (and the other
                // way round) with an empty error stack: no match either.
                if !(why.contains("no matching recipient") || e.errors().is_empty()) {
                    other_error = Some(why);
                }
            }
        }
    }
    match other_error {
        None => Err(Failure::NotForUs(keys.len())),
        Some(why) if why.contains("unsupported") || why.contains("unknown") => {
            Err(Failure::Unsupported(why))
        }
        Some(why) => Err(Failure::Failed(why)),
    }
}

/// The CMS bytes of the body: base64 (the usual transfer encoding) or binary.
fn cms_bytes(message: &Message) -> Result<Vec<u8>, Failure> {
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut message.body().reader(), &mut body)
        .map_err(|e| Failure::Corrupt(format!("reading the body: {e}")))?;
    let encoding = message
        .fields_named("Content-Transfer-Encoding")
        .next()
        .map(|f| String::from_utf8_lossy(f).to_ascii_lowercase())
        .unwrap_or_default();
    if encoding.contains("base64") {
        let text: Vec<u8> = body
            .into_iter()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(&text)
            .map_err(|e| Failure::Corrupt(format!("the base64 body does not decode ({e})")))
    } else {
        Ok(body)
    }
}

/// Verifies and unwraps an opaque signed-data entity; anything else as is.
fn unwrap_signed(entity: Vec<u8>) -> (Vec<u8>, Signature) {
    let Ok(inner) = Message::parse(&entity) else {
        return (entity, Signature::Unsigned);
    };
    let Some((mime, params)) = inner.content_type() else {
        return (entity, Signature::Unsigned);
    };
    if mime == "multipart/signed" {
        return (entity, Signature::Detached);
    }
    let smime_type = params
        .iter()
        .find(|(n, _)| n == "smime-type")
        .map(|(_, v)| v.to_ascii_lowercase());
    let opaque = matches!(
        mime.as_str(),
        "application/pkcs7-mime" | "application/x-pkcs7-mime"
    ) && smime_type.as_deref() == Some("signed-data");
    if !opaque {
        return (entity, Signature::Unsigned);
    }
    let verified = cms_bytes(&inner)
        .map_err(|f| f.to_string())
        .and_then(|der| CmsContentInfo::from_der(&der).map_err(|e| reason(&e)))
        .and_then(|mut cms| {
            let mut out = Vec::new();
            // The signature over the content, with the signer's certificate
            // from the structure; who the signer is stays the client's call.
            cms.verify(
                None,
                None,
                None,
                Some(&mut out),
                CMSOptions::NO_SIGNER_CERT_VERIFY | CMSOptions::BINARY,
            )
            .map(|()| out)
            .map_err(|e| reason(&e))
        });
    match verified {
        Ok(content) => (content, Signature::OpaqueValid),
        Err(why) => (entity, Signature::OpaqueInvalid(why)),
    }
}

/// OpenSSL's reason strings, without file/line noise.
fn reason(stack: &openssl::error::ErrorStack) -> String {
    let reasons: Vec<String> = stack
        .errors()
        .iter()
        .map(|e| e.reason().unwrap_or("unknown error").to_owned())
        .collect();
    if reasons.is_empty() {
        "unknown OpenSSL error".into()
    } else {
        reasons.join("; ")
    }
}
