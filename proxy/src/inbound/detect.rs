//! Which messages are S/MIME-encrypted (issue 10 §3): the Content-Type
//! rules, and the CMS structure's own content type (RFC 5652 §3) read from
//! the first OID of the DER, so that a label and its content must agree.

use crate::mime::Message;

/// What a message in the provider's mailbox is, to the inbound agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `application/(x-)pkcs7-mime` enveloped or authEnveloped (or no
    /// smime-type), or `application/octet-stream` named `*.p7m`.
    Encrypted,
    /// Anything else: mirrored only when `mirror_plaintext` is on.
    Plain,
}

/// RFC 8551 §3.2.2 and the older forms seen in the wild (x-pkcs7-mime, no
/// smime-type, octet-stream with a `.p7m` name).
pub fn kind(message: &Message) -> Kind {
    let Some((mime, params)) = message.content_type() else {
        return Kind::Plain;
    };
    let param = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    let p7m_name = || {
        param("name").is_some_and(|n| n.ends_with(".p7m"))
            || disposition_filename(message).is_some_and(|n| n.ends_with(".p7m"))
    };
    match mime.as_str() {
        "application/pkcs7-mime" | "application/x-pkcs7-mime" => {
            match param("smime-type").as_deref() {
                None | Some("enveloped-data" | "authenveloped-data") => Kind::Encrypted,
                _ => Kind::Plain,
            }
        }
        "application/octet-stream" if p7m_name() => Kind::Encrypted,
        _ => Kind::Plain,
    }
}

/// The `filename` of Content-Disposition, lowercased (a crude read: enough
/// for the `.p7m` test).
fn disposition_filename(message: &Message) -> Option<String> {
    let field = message.fields_named("Content-Disposition").next()?;
    let text = String::from_utf8_lossy(field).to_ascii_lowercase();
    let at = text.find("filename=")? + "filename=".len();
    let value = text[at..].trim_start().trim_start_matches('"');
    let end = value
        .find(|c: char| c == '"' || c == ';' || c.is_whitespace())
        .unwrap_or(value.len());
    Some(value[..end].to_owned())
}

/// The CMS content types the agent meets (RFC 5652 §4–5, RFC 5083).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmsType {
    EnvelopedData,
    AuthEnvelopedData,
    SignedData,
    Other,
}

/// id-envelopedData 1.2.840.113549.1.7.3 (RFC 5652 §6).
const OID_ENVELOPED: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x03];
/// id-signedData 1.2.840.113549.1.7.2 (RFC 5652 §5).
const OID_SIGNED: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02];
/// id-ct-authEnvelopedData 1.2.840.113549.1.9.16.1.23 (RFC 5083 §1).
const OID_AUTH_ENVELOPED: &[u8] = &[
    0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x10, 0x01, 0x17,
];

/// The ContentInfo's contentType: `SEQUENCE { OID, [0] ... }`, BER
/// (indefinite length) or DER. `None` when the bytes are not a ContentInfo.
pub fn cms_type(der: &[u8]) -> Option<CmsType> {
    let rest = der.strip_prefix(&[0x30])?;
    let rest = skip_length(rest)?;
    let rest = rest.strip_prefix(&[0x06])?;
    let (&len, rest) = rest.split_first()?;
    let oid = rest.get(..usize::from(len))?;
    Some(match oid {
        OID_ENVELOPED => CmsType::EnvelopedData,
        OID_AUTH_ENVELOPED => CmsType::AuthEnvelopedData,
        OID_SIGNED => CmsType::SignedData,
        _ => CmsType::Other,
    })
}

/// Skips a BER length octet sequence (X.690 §8.1.3).
fn skip_length(rest: &[u8]) -> Option<&[u8]> {
    let (&first, rest) = rest.split_first()?;
    match first {
        0x80 => Some(rest),
        n if n & 0x80 == 0 => Some(rest),
        n => rest.get(usize::from(n & 0x7F)..),
    }
}

/// The content-encryption algorithms by OID value bytes (NIST CSOR, RFC 3565,
/// RFC 5084; des-ede3-cbc RFC 3370 §5.1).
const CIPHERS: &[(&[u8], &str)] = &[
    (
        &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2A],
        "aes-256-cbc",
    ),
    (
        &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x16],
        "aes-192-cbc",
    ),
    (
        &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02],
        "aes-128-cbc",
    ),
    (
        &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2E],
        "aes-256-gcm",
    ),
    (
        &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x1A],
        "aes-192-gcm",
    ),
    (
        &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x06],
        "aes-128-gcm",
    ),
    (
        &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x03, 0x07],
        "des-ede3-cbc",
    ),
];

/// rsaes-oaep 1.2.840.113549.1.1.7 (RFC 8017 App. C).
const OID_RSA_OAEP: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x07];

/// The content cipher's name, for the provenance field.
// XXX: a search for the OID's encoding rather than a walk of the
// EnvelopedData; the OIDs are 8–9 bytes of a tagged value, and the first hit
// precedes the encrypted content, so a false match is not a practical worry.
pub fn cipher_name(der: &[u8]) -> &'static str {
    CIPHERS
        .iter()
        .filter_map(|(oid, name)| {
            let mut tagged = vec![0x06, oid.len() as u8];
            tagged.extend_from_slice(oid);
            memchr::memmem::find(der, &tagged).map(|at| (at, *name))
        })
        .min_by_key(|(at, _)| *at)
        .map_or("unknown", |(_, name)| name)
}

/// Whether any RecipientInfo uses RSA-OAEP.
pub fn uses_oaep(der: &[u8]) -> bool {
    let mut tagged = vec![0x06, OID_RSA_OAEP.len() as u8];
    tagged.extend_from_slice(OID_RSA_OAEP);
    memchr::memmem::find(der, &tagged).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_rules() {
        let cases: &[(&str, Kind)] = &[
            (
                "application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m",
                Kind::Encrypted,
            ),
            (
                "application/pkcs7-mime; smime-type=authEnveloped-data",
                Kind::Encrypted,
            ),
            ("application/x-pkcs7-mime; name=smime.p7m", Kind::Encrypted),
            ("application/pkcs7-mime", Kind::Encrypted),
            (
                "application/pkcs7-mime; smime-type=signed-data",
                Kind::Plain,
            ),
            (
                "application/octet-stream; name=\"SMIME.P7M\"",
                Kind::Encrypted,
            ),
            ("application/octet-stream; name=report.pdf", Kind::Plain),
            ("text/plain", Kind::Plain),
            (
                "multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=x",
                Kind::Plain,
            ),
        ];
        for (ct, want) in cases {
            let raw = format!("From: a@b\r\nContent-Type: {ct}\r\n\r\nbody\r\n");
            let message = Message::parse(raw.as_bytes()).unwrap();
            assert_eq!(kind(&message), *want, "{ct}");
        }
        let raw = b"From: a@b\r\nContent-Type: application/octet-stream\r\n\
            Content-Disposition: attachment; filename=\"smime.p7m\"\r\n\r\nx\r\n";
        assert_eq!(kind(&Message::parse(raw).unwrap()), Kind::Encrypted);
        let raw = b"From: a@b\r\n\r\nno content type\r\n";
        assert_eq!(kind(&Message::parse(raw).unwrap()), Kind::Plain);
    }

    #[test]
    fn cms_types_from_ber_and_der() {
        let mut der = vec![0x30, 0x80, 0x06, OID_ENVELOPED.len() as u8];
        der.extend_from_slice(OID_ENVELOPED);
        assert_eq!(cms_type(&der), Some(CmsType::EnvelopedData));
        let mut der = vec![0x30, 0x82, 0x01, 0x00, 0x06, OID_AUTH_ENVELOPED.len() as u8];
        der.extend_from_slice(OID_AUTH_ENVELOPED);
        assert_eq!(cms_type(&der), Some(CmsType::AuthEnvelopedData));
        assert_eq!(cms_type(b"garbage"), None);
        assert_eq!(cms_type(&[]), None);
        assert_eq!(cms_type(&[0x30, 0x84]), None);
    }
}
