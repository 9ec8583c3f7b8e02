//! A submitted message as raw bytes with its header section split into
//! fields — enough to copy headers byte for byte, move the `Content-*`
//! fields into an encrypted inner entity, and drop `Bcc` — without ever
//! decoding or rewriting the body.
//!
//! The header/body split and field boundaries are found here (RFC 5322
//! §2.1–2.2: fields end at CRLF not followed by WSP; the header section ends
//! at the first empty line). mail-parser decodes only what needs decoding:
//! address lists and `Content-Type`.

use std::ops::Range;

use mail_parser::{HeaderName, HeaderValue, MessageParser};

/// RFC 5322 §2.1.1 allows 998 characters a line; real mail sometimes has
/// longer header fields (folded References), so the limit is generous, but a
/// field this long is an attack or a broken client, not mail.
pub const MAX_HEADER_FIELD: usize = 64 * 1024;

/// The whole header section is bounded too (Postfix: header_size_limit 100 KiB).
pub const MAX_HEADER_SECTION: usize = 1024 * 1024;

/// Why a message cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MimeError {
    #[error("the message is empty")]
    Empty,
    #[error("line {line} is neither a header field nor the empty line that ends the header section")]
    NotAHeader { line: usize },
    #[error("header field on line {line} is {len} bytes long (limit {MAX_HEADER_FIELD})")]
    FieldTooLong { line: usize, len: usize },
    #[error("the header section exceeds {MAX_HEADER_SECTION} bytes")]
    HeaderTooLong,
    #[error("header field on line {line} contains a NUL byte")]
    NulInHeader { line: usize },
}

/// One header field: its name and the whole field including folded lines and
/// the final line end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    name: Range<usize>,
    whole: Range<usize>,
}

/// How the client already protected the message, if it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// `application/pkcs7-mime` enveloped-data or authEnveloped-data (RFC 8551).
    SmimeEnveloped,
    /// `multipart/encrypted` (RFC 1847 / RFC 3156 PGP/MIME).
    MultipartEncrypted,
    /// An inline OpenPGP message (`-----BEGIN PGP MESSAGE-----`) in the body.
    InlinePgp,
}

/// A parsed message borrowing its bytes.
#[derive(Debug)]
pub struct Message<'a> {
    raw: &'a [u8],
    fields: Vec<Field>,
    /// Where the body starts (after the empty line), or `raw.len()`.
    body_start: usize,
    /// The line end the message uses (`\r\n`, or `\n` for files from disk).
    newline: &'static [u8],
}

impl<'a> Message<'a> {
    pub fn parse(raw: &'a [u8]) -> Result<Self, MimeError> {
        if raw.is_empty() {
            return Err(MimeError::Empty);
        }
        let newline: &'static [u8] = match memchr(b'\n', raw) {
            Some(i) if i > 0 && raw[i - 1] == b'\r' => b"\r\n",
            Some(_) => b"\n",
            None => b"\r\n",
        };
        let mut fields: Vec<Field> = Vec::new();
        let mut pos = 0;
        let mut line_no = 0;
        let body_start = loop {
            if pos >= raw.len() {
                // RFC 5322 §3.5: the body (and the empty line before it) is optional.
                break raw.len();
            }
            if pos > MAX_HEADER_SECTION {
                return Err(MimeError::HeaderTooLong);
            }
            line_no += 1;
            let line_end = memchr(b'\n', &raw[pos..]).map_or(raw.len(), |i| pos + i + 1);
            let line = &raw[pos..line_end];
            let content = trim_newline(line);
            if content.is_empty() {
                break line_end;
            }
            if content.contains(&0) {
                return Err(MimeError::NulInHeader { line: line_no });
            }
            if matches!(content[0], b' ' | b'\t') {
                // A folded continuation of the previous field.
                let Some(field) = fields.last_mut() else {
                    return Err(MimeError::NotAHeader { line: line_no });
                };
                field.whole.end = line_end;
            } else {
                let colon = content
                    .iter()
                    .position(|&b| b == b':')
                    .filter(|&c| c > 0 && content[..c].iter().all(|&b| (33..=126).contains(&b)))
                    .ok_or(MimeError::NotAHeader { line: line_no })?;
                fields.push(Field {
                    name: pos..pos + colon,
                    whole: pos..line_end,
                });
            }
            let field = fields.last().expect("a field was just pushed or extended");
            if field.whole.len() > MAX_HEADER_FIELD {
                return Err(MimeError::FieldTooLong {
                    line: line_no,
                    len: field.whole.len(),
                });
            }
            pos = line_end;
        };
        Ok(Self {
            raw,
            fields,
            body_start,
            newline,
        })
    }

    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Where the last header field ends (the empty line, if any, follows).
    pub fn header_end(&self) -> usize {
        self.fields.last().map_or(0, |f| f.whole.end)
    }

    pub fn body(&self) -> &'a [u8] {
        &self.raw[self.body_start..]
    }

    pub fn newline(&self) -> &'static [u8] {
        self.newline
    }

    /// Every field, in order, as raw bytes (folding and line end included).
    pub fn fields(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + '_ {
        self.fields
            .iter()
            .map(|f| (&self.raw[f.name.clone()], &self.raw[f.whole.clone()]))
    }

    /// The raw fields whose name is `name` (case-insensitive).
    pub fn fields_named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a [u8]> + 's {
        self.fields()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, whole)| whole)
    }

    /// The addr-specs of To, Cc and Bcc (all occurrences, groups flattened).
    pub fn to(&self) -> Vec<String> {
        self.addresses("To", HeaderName::To)
    }

    pub fn cc(&self) -> Vec<String> {
        self.addresses("Cc", HeaderName::Cc)
    }

    pub fn bcc(&self) -> Vec<String> {
        self.addresses("Bcc", HeaderName::Bcc)
    }

    pub fn from(&self) -> Vec<String> {
        self.addresses("From", HeaderName::From)
    }

    fn addresses(&self, name: &str, header: HeaderName<'static>) -> Vec<String> {
        let mut out = Vec::new();
        for field in self.fields_named(name) {
            let Some(parsed) = MessageParser::new().parse_headers(field) else {
                continue;
            };
            for value in parsed.header_values(header.clone()) {
                if let HeaderValue::Address(address) = value {
                    out.extend(address.iter().filter_map(|a| a.address.as_deref().map(str::to_owned)));
                }
            }
        }
        out
    }

    /// The top-level `Content-Type` as (type/subtype lowercased, parameters).
    pub fn content_type(&self) -> Option<(String, Vec<(String, String)>)> {
        let field = self.fields_named("Content-Type").next()?;
        let parsed = MessageParser::new().parse_headers(field)?;
        let ct = parsed.header(HeaderName::ContentType)?.as_content_type()?;
        let mime = match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub),
            None => ct.ctype().to_owned(),
        }
        .to_ascii_lowercase();
        let params = ct
            .attributes()
            .unwrap_or_default()
            .iter()
            .map(|a| (a.name.to_ascii_lowercase(), a.value.to_string()))
            .collect();
        Some((mime, params))
    }

    /// Whether the client already encrypted this message.
    pub fn protection(&self) -> Option<Protection> {
        if let Some((mime, params)) = self.content_type() {
            let param = |name: &str| {
                params
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.to_ascii_lowercase())
            };
            match mime.as_str() {
                "application/pkcs7-mime" | "application/x-pkcs7-mime" => {
                    // RFC 8551 §3.2.2; without smime-type, the .p7m name says enveloped.
                    match param("smime-type").as_deref() {
                        Some("enveloped-data" | "authenveloped-data") => {
                            return Some(Protection::SmimeEnveloped)
                        }
                        None if param("name").is_some_and(|n| n.ends_with(".p7m")) => {
                            return Some(Protection::SmimeEnveloped)
                        }
                        _ => {}
                    }
                }
                "multipart/encrypted" => return Some(Protection::MultipartEncrypted),
                _ => {}
            }
        }
        has_inline_pgp(self.body()).then_some(Protection::InlinePgp)
    }

    /// Whether a field is a `Content-*` field (moved into the encrypted entity).
    pub fn is_content_field(name: &[u8]) -> bool {
        name.len() > 8 && name[..8].eq_ignore_ascii_case(b"content-")
    }
}

/// An OpenPGP armor header at the start of a line (RFC 4880 §6.2).
fn has_inline_pgp(body: &[u8]) -> bool {
    const ARMOR: &[u8] = b"-----BEGIN PGP MESSAGE-----";
    let mut rest = body;
    while let Some(i) = find(rest, ARMOR) {
        if i == 0 || rest[i - 1] == b'\n' {
            return true;
        }
        rest = &rest[i + 1..];
    }
    false
}

fn trim_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIMPLE: &[u8] = b"From: Alice <alice@example.test>\r\n\
To: bob@example.test, \"Carol\" <carol@example.test>\r\n\
Cc: undisclosed:;\r\n\
Bcc: dave@example.test\r\n\
Subject: a folded\r\n subject\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Hello\r\n";

    #[test]
    fn splits_fields_and_body() {
        let m = Message::parse(SIMPLE).unwrap();
        assert_eq!(m.body(), b"Hello\r\n");
        let names: Vec<&[u8]> = m.fields().map(|(n, _)| n).collect();
        assert_eq!(names, [&b"From"[..], b"To", b"Cc", b"Bcc", b"Subject", b"Content-Type"]);
        assert_eq!(m.fields_named("subject").next().unwrap(), b"Subject: a folded\r\n subject\r\n");
        assert_eq!(m.to(), ["bob@example.test", "carol@example.test"]);
        assert!(m.cc().is_empty());
        assert_eq!(m.bcc(), ["dave@example.test"]);
        assert_eq!(m.from(), ["alice@example.test"]);
        assert_eq!(m.content_type().unwrap().0, "text/plain");
        assert_eq!(m.protection(), None);
        // Reassembled, the fields and body are the message.
        let mut again: Vec<u8> = m.fields().flat_map(|(_, w)| w.to_vec()).collect();
        again.extend_from_slice(b"\r\n");
        again.extend_from_slice(m.body());
        assert_eq!(again, SIMPLE);
    }

    #[test]
    fn detects_protection() {
        let cases: [(&[u8], Option<Protection>); 6] = [
            (b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\n\r\nMIIB", Some(Protection::SmimeEnveloped)),
            (b"Content-Type: application/pkcs7-mime; smime-type=authEnveloped-data\r\n\r\nMIIB", Some(Protection::SmimeEnveloped)),
            (b"Content-Type: application/x-pkcs7-mime; name=\"smime.p7m\"\r\n\r\nMIIB", Some(Protection::SmimeEnveloped)),
            (b"Content-Type: application/pkcs7-mime; smime-type=signed-data\r\n\r\nMIIB", None),
            (b"Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=x\r\n\r\n--x", Some(Protection::MultipartEncrypted)),
            (b"Subject: hi\r\n\r\nsee:\r\n-----BEGIN PGP MESSAGE-----\r\nhQ\r\n-----END PGP MESSAGE-----\r\n", Some(Protection::InlinePgp)),
        ];
        for (raw, expected) in cases {
            assert_eq!(Message::parse(raw).unwrap().protection(), expected, "{}", String::from_utf8_lossy(raw));
        }
        let quoted = Message::parse(b"Subject: x\r\n\r\n> -----BEGIN PGP MESSAGE-----\r\n").unwrap();
        assert_eq!(quoted.protection(), None);
    }

    #[test]
    fn malformed_input_is_a_clear_error() {
        let long = format!("Subject: {}\r\n\r\nbody", "x".repeat(1024 * 1024));
        let cases: [(&[u8], MimeError); 5] = [
            (b"", MimeError::Empty),
            (b"Subject: x\r\nthis is not a header\r\n\r\nbody", MimeError::NotAHeader { line: 2 }),
            (b" folded first\r\n\r\nbody", MimeError::NotAHeader { line: 1 }),
            (b"Subject: a\0b\r\n\r\nbody", MimeError::NulInHeader { line: 1 }),
            (long.as_bytes(), MimeError::FieldTooLong { line: 1, len: 1024 * 1024 + 11 }),
        ];
        for (raw, expected) in cases {
            assert_eq!(Message::parse(raw).unwrap_err(), expected);
        }
    }

    #[test]
    fn headers_without_body_and_nul_in_body_are_fine() {
        let m = Message::parse(b"Subject: no body\r\nTo: a@b.test\r\n").unwrap();
        assert_eq!(m.body(), b"");
        let m = Message::parse(b"Subject: x\r\n\r\na\0b").unwrap();
        assert_eq!(m.body(), b"a\0b");
        let m = Message::parse(b"Subject: x\n\nlf body\n").unwrap();
        assert_eq!(m.newline(), b"\n");
        assert_eq!(m.body(), b"lf body\n");
    }
}
