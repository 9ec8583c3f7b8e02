//! Which SMIMEA records (RFC 8162) carry a certificate we may encrypt to.
//!
//! A record is usable for encryption only when it carries the recipient's
//! full certificate (selector 0, matching type 0) with usage 3 (DANE-EE), or
//! usage 1 (PKIX-EE) whose chain validates against the system's CAs, and the
//! certificate itself is fit for encryption: a key type every S/MIME client
//! reads, a key usage that allows encryption, and inside its validity.
//! Everything else is reported with the reason it is not usable.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use hickory_resolver::proto::rr::rdata::TLSA;
use openssl::asn1::Asn1Time;
use openssl::nid::Nid;
use openssl::pkey::Id;
use openssl::stack::Stack;
use openssl::x509::store::{X509Store, X509StoreBuilder};
use openssl::x509::{X509ExtendedKeyUsage, X509KeyUsage, X509StoreContext, X509};

/// A certificate proven by validated DNS to belong to a recipient and fit for
/// encryption. Only this module can make one: encryption code accepts
/// nothing else, so no unvalidated certificate can reach it by mistake.
#[derive(Clone)]
pub struct UsableCertificate {
    certificate: X509,
    sha256: String,
    kind: KeyKind,
}

impl UsableCertificate {
    pub fn certificate(&self) -> &X509 {
        &self.certificate
    }

    /// Lowercase hex SHA-256 of the DER certificate.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    pub fn key_kind(&self) -> KeyKind {
        self.kind
    }

    /// A certificate the user supplied directly (`--cert`, the sender's own),
    /// held to the same checks as a DANE-EE record's: DNS is not involved,
    /// the user is the authority. PEM or DER.
    pub fn from_user_file(bytes: &[u8], now: i64) -> Result<Self, String> {
        let der = match X509::from_pem(bytes) {
            Ok(cert) => cert.to_der().map_err(|e| first_error(&e))?,
            Err(_) => bytes.to_vec(),
        };
        let (certificate, kind) = judge_certificate(3, &der, now)?;
        Ok(Self {
            certificate,
            sha256: hex::encode(openssl::sha::sha256(&der)),
            kind,
        })
    }

    /// A certificate judged usable at RCPT time and kept (DER) in the
    /// outbox until the message is planned; only its key is re-read.
    pub(crate) fn from_spooled_der(der: &[u8]) -> Result<Self, String> {
        let (certificate, kind) = parse_and_check_key(der)?;
        Ok(Self {
            certificate,
            sha256: hex::encode(openssl::sha::sha256(der)),
            kind,
        })
    }

    /// The e-mail addresses the certificate names (subjectAltName
    /// rfc822Name, subject emailAddress), lowercased.
    pub fn email_addresses(&self) -> Vec<String> {
        Self::email_addresses_of(&self.certificate)
    }

    /// The e-mail addresses any certificate names, lowercased.
    pub fn email_addresses_of(certificate: &X509) -> Vec<String> {
        let mut out: Vec<String> = certificate
            .subject_alt_names()
            .map(|names| {
                names
                    .iter()
                    .filter_map(|n| n.email().map(str::to_lowercase))
                    .collect()
            })
            .unwrap_or_default();
        for entry in certificate
            .subject_name()
            .entries_by_nid(Nid::PKCS9_EMAILADDRESS)
        {
            if let Ok(value) = entry.data().to_string() {
                let value = value.to_lowercase();
                if !out.contains(&value) {
                    out.push(value);
                }
            }
        }
        out
    }
}

impl std::fmt::Debug for UsableCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsableCertificate")
            .field("sha256", &self.sha256)
            .finish()
    }
}

/// The public key families S/MIME clients here can decrypt for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    Rsa,
    Ec,
}

/// One SMIMEA record and what it is good for.
#[derive(Debug, Clone)]
pub struct RecordVerdict {
    pub usage: u8,
    pub selector: u8,
    pub matching_type: u8,
    /// SHA-256 of the DER certificate when the record carries one.
    pub certificate_sha256: Option<String>,
    /// The certificate association data as published.
    pub data: Vec<u8>,
    pub usable: Result<UsableCertificate, String>,
}

/// RSA keys below this many bits are refused (NIST SP 800-131A).
const MIN_RSA_BITS: u32 = 2048;

/// Judges one SMIMEA record at `now` (seconds since the Unix epoch).
pub fn evaluate(record: &TLSA, now: i64) -> RecordVerdict {
    let usage = u8::from(record.cert_usage);
    let selector = u8::from(record.selector);
    let matching_type = u8::from(record.matching);
    let full_certificate = selector == 0 && matching_type == 0;
    let certificate_sha256 =
        full_certificate.then(|| hex::encode(openssl::sha::sha256(&record.cert_data)));
    let usable = if full_certificate {
        judge_certificate(usage, &record.cert_data, now).map(|(certificate, kind)| {
            UsableCertificate {
                certificate,
                sha256: certificate_sha256.clone().unwrap_or_default(),
                kind,
            }
        })
    } else {
        Err(shape_reason(
            selector,
            matching_type,
            record.cert_data.len(),
        ))
    };
    RecordVerdict {
        usage,
        selector,
        matching_type,
        certificate_sha256,
        data: record.cert_data.clone(),
        usable,
    }
}

/// Why a record without a full certificate cannot be encrypted to.
fn shape_reason(selector: u8, matching_type: u8, len: usize) -> String {
    let expected = match matching_type {
        1 => Some(32),
        2 => Some(64),
        _ => None,
    };
    match (selector, matching_type) {
        (_, 1 | 2) if expected != Some(len) => format!(
            "malformed: matching type {matching_type} needs a {}-byte hash, the record has {len} bytes",
            expected.unwrap_or_default()
        ),
        (0, 1 | 2) => format!(
            "holds only a SHA2-{} hash of the certificate (matching type {matching_type}); \
             no certificate to encrypt to",
            if matching_type == 1 { 256 } else { 512 }
        ),
        (1, 0) => "holds only a public key (selector 1); S/MIME encryption needs a certificate".into(),
        (1, _) => format!(
            "holds only a hash of a public key (selector 1, matching type {matching_type}); \
             no certificate to encrypt to"
        ),
        (selector, 0..=2) => format!("unknown selector {selector}"),
        (_, matching_type) => format!("unknown matching type {matching_type}"),
    }
}

fn judge_certificate(usage: u8, der: &[u8], now: i64) -> Result<(X509, KeyKind), String> {
    match usage {
        1 | 3 => {}
        0 => {
            return Err("usage 0 (PKIX-TA) names a CA, not the recipient's certificate".into());
        }
        2 => {
            return Err(
                "usage 2 (DANE-TA) names a trust anchor, not the recipient's certificate".into(),
            );
        }
        other => return Err(format!("unknown certificate usage {other}")),
    }
    let (certificate, kind) = parse_and_check_key(der)?;
    check_validity(&certificate, now)?;
    if usage == 1 {
        check_pkix_chain(&certificate)?;
    }
    Ok((certificate, kind))
}

/// Certificates already parsed, by SHA-256 of their DER: decoding a key
/// costs about 100 µs with OpenSSL 3, and every cached lookup re-judges its
/// records. Only the time-independent checks are remembered.
type ParsedCache = HashMap<[u8; 32], Result<(X509, KeyKind), String>>;

/// Bound on remembered certificates; the map is simply cleared beyond it.
const MAX_PARSED: usize = 1024;

fn parse_and_check_key(der: &[u8]) -> Result<(X509, KeyKind), String> {
    static PARSED: OnceLock<Mutex<ParsedCache>> = OnceLock::new();
    let key = openssl::sha::sha256(der);
    let parsed = PARSED.get_or_init(Default::default);
    if let Some(hit) = parsed.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return hit.clone();
    }
    let result = X509::from_der(der)
        .map_err(|e| format!("the certificate does not parse: {}", first_error(&e)))
        .and_then(|certificate| {
            let kind = key_kind(&certificate)?;
            check_key_usage(&certificate, kind)?;
            Ok((certificate, kind))
        });
    let mut map = parsed.lock().unwrap_or_else(|e| e.into_inner());
    if map.len() >= MAX_PARSED {
        map.clear();
    }
    map.insert(key, result.clone());
    result
}

fn check_validity(certificate: &X509, now: i64) -> Result<(), String> {
    let now = Asn1Time::from_unix(now).map_err(|e| e.to_string())?;
    if certificate.not_before() > now {
        return Err(format!(
            "the certificate is not valid before {}",
            certificate.not_before()
        ));
    }
    if certificate.not_after() < now {
        return Err(format!(
            "the certificate expired on {}",
            certificate.not_after()
        ));
    }
    Ok(())
}

fn key_kind(certificate: &X509) -> Result<KeyKind, String> {
    let key = certificate.public_key().map_err(|e| {
        format!(
            "the certificate's public key does not parse: {}",
            first_error(&e)
        )
    })?;
    match key.id() {
        Id::RSA => {
            let bits = key.bits();
            if bits < MIN_RSA_BITS {
                return Err(format!(
                    "RSA key of {bits} bits is too weak (at least {MIN_RSA_BITS})"
                ));
            }
            Ok(KeyKind::Rsa)
        }
        Id::EC => {
            let ec = key.ec_key().map_err(|e| first_error(&e))?;
            match ec.group().curve_name() {
                Some(Nid::X9_62_PRIME256V1 | Nid::SECP384R1 | Nid::SECP521R1) => Ok(KeyKind::Ec),
                Some(nid) => Err(format!(
                    "EC curve {} is not supported (P-256, P-384, P-521)",
                    nid.short_name().unwrap_or("unknown")
                )),
                None => Err("EC key with explicit curve parameters is not supported".into()),
            }
        }
        other => Err(format!(
            "{} keys cannot be encrypted to by S/MIME clients (RSA or EC only)",
            key_name(other)
        )),
    }
}

/// RFC 8550 §4.4.2 / RFC 5280 §4.2.1.3: no keyUsage means any use; an RSA
/// key must allow keyEncipherment, an EC key keyAgreement (ECDH). An
/// extendedKeyUsage, when present, must allow e-mail protection.
fn check_key_usage(certificate: &X509, kind: KeyKind) -> Result<(), String> {
    if let Some(usage) = certificate.key_usage() {
        let needed = match kind {
            KeyKind::Rsa => X509KeyUsage::KEY_ENCIPHERMENT,
            KeyKind::Ec => X509KeyUsage::KEY_AGREEMENT,
        };
        if !usage.contains(needed) {
            return Err(format!(
                "the certificate's key usage does not allow encryption (needs {})",
                match kind {
                    KeyKind::Rsa => "keyEncipherment",
                    KeyKind::Ec => "keyAgreement",
                }
            ));
        }
    }
    if let Some(extended) = certificate.extended_key_usage() {
        if !extended.intersects(X509ExtendedKeyUsage::SMIME | X509ExtendedKeyUsage::ANYEKU) {
            return Err(
                "the certificate's extended key usage does not allow e-mail protection".into(),
            );
        }
    }
    Ok(())
}

/// Usage 1 (PKIX-EE, RFC 8162 §2.1 via RFC 6698 §2.1.1): the certificate
/// must also validate against the system's CA store.
fn check_pkix_chain(certificate: &X509) -> Result<(), String> {
    static STORE: OnceLock<Result<X509Store, String>> = OnceLock::new();
    let store = STORE
        .get_or_init(|| {
            let mut builder = X509StoreBuilder::new().map_err(|e| first_error(&e))?;
            builder.set_default_paths().map_err(|e| first_error(&e))?;
            Ok(builder.build())
        })
        .as_ref()
        .map_err(|e| format!("usage 1 (PKIX-EE) but the system CA store cannot be read: {e}"))?;
    let chain = Stack::new().map_err(|e| first_error(&e))?;
    let mut context = X509StoreContext::new().map_err(|e| first_error(&e))?;
    let verdict = context
        .init(store, certificate, &chain, |ctx| {
            Ok(ctx.verify_cert()?.then_some(()).ok_or_else(|| ctx.error()))
        })
        .map_err(|e| first_error(&e))?;
    verdict.map_err(|e| {
        format!(
            "usage 1 (PKIX-EE) but the certificate does not chain to a trusted CA: {}",
            e.error_string()
        )
    })
}

fn key_name(id: Id) -> &'static str {
    match id {
        Id::DSA => "DSA",
        Id::ED25519 => "Ed25519",
        Id::ED448 => "Ed448",
        Id::DH => "DH",
        _ => "These",
    }
}

fn first_error(stack: &openssl::error::ErrorStack) -> String {
    stack.errors().first().map_or_else(
        || stack.to_string(),
        |e| e.reason().unwrap_or("unknown error").to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_resolver::proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
    use openssl::bn::BigNum;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::pkey::{PKey, Private};
    use openssl::rsa::Rsa;
    use openssl::x509::extension::{ExtendedKeyUsage, KeyUsage};
    use openssl::x509::X509NameBuilder;

    const DAY: i64 = 86_400;
    const NOW: i64 = 1_795_867_200;

    fn cert(
        key: &PKey<Private>,
        days: (i64, i64),
        ku: Option<KeyUsage>,
        eku: Option<ExtendedKeyUsage>,
    ) -> Vec<u8> {
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "alice@example.test")
            .unwrap();
        let name = name.build();
        let mut b = X509::builder().unwrap();
        b.set_version(2).unwrap();
        b.set_serial_number(&BigNum::from_u32(7).unwrap().to_asn1_integer().unwrap())
            .unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(key).unwrap();
        b.set_not_before(&Asn1Time::from_unix(NOW + days.0 * DAY).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::from_unix(NOW + days.1 * DAY).unwrap())
            .unwrap();
        if let Some(ku) = ku {
            b.append_extension(ku.build().unwrap()).unwrap();
        }
        if let Some(eku) = eku {
            b.append_extension(eku.build().unwrap()).unwrap();
        }
        b.sign(key, MessageDigest::sha256()).unwrap();
        b.build().to_der().unwrap()
    }

    fn rsa(bits: u32) -> PKey<Private> {
        PKey::from_rsa(Rsa::generate(bits).unwrap()).unwrap()
    }

    fn ec(nid: Nid) -> PKey<Private> {
        PKey::from_ec_key(EcKey::generate(&EcGroup::from_curve_name(nid).unwrap()).unwrap())
            .unwrap()
    }

    fn record(usage: u8, selector: u8, matching: u8, data: Vec<u8>) -> TLSA {
        TLSA::new(
            CertUsage::from(usage),
            Selector::from(selector),
            Matching::from(matching),
            data,
        )
    }

    fn reason(usage: u8, der: Vec<u8>) -> Result<(), String> {
        evaluate(&record(usage, 0, 0, der), NOW).usable.map(|_| ())
    }

    #[test]
    fn dane_ee_full_certificates_are_usable() {
        let rsa_key = rsa(2048);
        let der = cert(&rsa_key, (-1, 365), None, None);
        let verdict = evaluate(&record(3, 0, 0, der.clone()), NOW);
        assert_eq!(
            verdict.certificate_sha256.as_deref(),
            Some(hex::encode(openssl::sha::sha256(&der)).as_str())
        );
        let usable = verdict.usable.unwrap();
        assert_eq!(usable.key_kind(), KeyKind::Rsa);

        for nid in [Nid::X9_62_PRIME256V1, Nid::SECP384R1, Nid::SECP521R1] {
            let mut ku = KeyUsage::new();
            ku.key_agreement().digital_signature();
            let mut eku = ExtendedKeyUsage::new();
            eku.email_protection();
            assert_eq!(
                reason(3, cert(&ec(nid), (-1, 1), Some(ku), Some(eku))),
                Ok(()),
                "{nid:?}"
            );
        }
    }

    #[test]
    fn unusable_certificates_say_why() {
        let key = rsa(2048);
        let mut sign_only = KeyUsage::new();
        sign_only.digital_signature();
        let mut server_only = ExtendedKeyUsage::new();
        server_only.server_auth();
        let mut ec_ku_wrong = KeyUsage::new();
        ec_ku_wrong.key_encipherment();
        let cases = [
            (reason(3, cert(&key, (-10, -1), None, None)), "expired"),
            (
                reason(3, cert(&key, (1, 10), None, None)),
                "not valid before",
            ),
            (
                reason(3, cert(&key, (-1, 1), Some(sign_only), None)),
                "keyEncipherment",
            ),
            (
                reason(3, cert(&key, (-1, 1), None, Some(server_only))),
                "e-mail protection",
            ),
            (
                reason(
                    3,
                    cert(&ec(Nid::X9_62_PRIME256V1), (-1, 1), Some(ec_ku_wrong), None),
                ),
                "keyAgreement",
            ),
            (reason(3, cert(&rsa(1024), (-1, 1), None, None)), "too weak"),
            (
                reason(3, cert(&ec(Nid::SECP256K1), (-1, 1), None, None)),
                "not supported",
            ),
            (reason(3, b"not a certificate".to_vec()), "does not parse"),
            (reason(0, cert(&key, (-1, 1), None, None)), "usage 0"),
            (reason(2, cert(&key, (-1, 1), None, None)), "usage 2"),
            (
                reason(9, cert(&key, (-1, 1), None, None)),
                "unknown certificate usage",
            ),
            // Self-signed: cannot chain to a system CA.
            (reason(1, cert(&key, (-1, 1), None, None)), "does not chain"),
        ];
        for (i, (result, why)) in cases.into_iter().enumerate() {
            let err = result.expect_err(&format!("case {i} should be unusable"));
            assert!(err.contains(why), "case {i}: {err}");
        }
    }

    #[test]
    fn records_without_a_certificate_are_listed_not_used() {
        let cases = [
            (record(3, 0, 1, vec![0; 32]), "SHA2-256 hash"),
            (record(3, 0, 2, vec![0; 64]), "SHA2-512 hash"),
            (record(3, 0, 1, vec![0; 5]), "malformed"),
            (record(3, 1, 0, vec![0; 91]), "public key"),
            (record(3, 1, 1, vec![0; 32]), "hash of a public key"),
            (record(3, 7, 0, vec![0; 10]), "unknown selector"),
            (record(3, 0, 9, vec![0; 10]), "unknown matching type"),
        ];
        for (rec, why) in cases {
            let verdict = evaluate(&rec, NOW);
            let err = verdict.usable.unwrap_err();
            assert!(err.contains(why), "{rec:?}: {err}");
            if rec.selector != Selector::Full || rec.matching != Matching::Raw {
                assert_eq!(verdict.certificate_sha256, None);
            }
        }
    }
}
