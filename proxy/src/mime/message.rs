//! A submitted message with its header section split into fields — enough
//! to copy headers byte for byte, move the `Content-*` fields into an
//! encrypted inner entity, and drop `Bcc` — without ever decoding, rewriting
//! or (for a spooled file) loading the body.
//!
//! The header/body split and field boundaries are found here (RFC 5322
//! §2.1–2.2: fields end at a line end not followed by WSP; the header
//! section ends at the first empty line). mail-parser decodes only what
//! needs decoding: address lists and `Content-Type`.

use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::sync::Arc;

use mail_parser::{HeaderName, HeaderValue, MessageParser};

use super::body::Body;

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
    #[error(
        "line {line} is neither a header field nor the empty line that ends the header section"
    )]
    NotAHeader { line: usize },
    #[error("header field on line {line} is {len} bytes long (limit {MAX_HEADER_FIELD})")]
    FieldTooLong { line: usize, len: usize },
    #[error("the header section exceeds {MAX_HEADER_SECTION} bytes")]
    HeaderTooLong,
    #[error("header field on line {line} contains a NUL byte")]
    NulInHeader { line: usize },
}

/// Why a spooled message cannot be parsed.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error(transparent)]
    Mime(#[from] MimeError),
    #[error("reading the message: {0}")]
    Io(#[from] std::io::Error),
}

/// One header field: its name and the whole field including folded lines and
/// the final line end, as ranges of the header section.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
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

/// A parsed message: its header section in memory, its body in memory or
/// in a spooled file.
#[derive(Debug, Clone)]
pub struct Message {
    /// The header section including the empty line that ends it, if any.
    header: Vec<u8>,
    fields: Vec<Field>,
    body: Body,
}

impl Message {
    /// Parses a message held in memory.
    pub fn parse(raw: &[u8]) -> Result<Self, MimeError> {
        let (fields, body_start) = scan_header(raw, true)?;
        Ok(Self {
            header: raw[..body_start].to_vec(),
            fields,
            body: Body::Bytes(raw[body_start..].into()),
        })
    }

    /// Parses a message spooled to `file`: only the header section is read
    /// into memory; the body stays in the file.
    pub fn from_file(file: File) -> Result<Self, FileError> {
        let len = file.metadata()?.len();
        Self::from_file_prefix(file, len)
    }

    /// Like [`Self::from_file`], for a message that is the first `len`
    /// bytes of `file` (a spool file with a record after the message).
    pub fn from_file_prefix(file: File, len: u64) -> Result<Self, FileError> {
        let mut prefix = Vec::new();
        (&file)
            .take((MAX_HEADER_SECTION + MAX_HEADER_FIELD).min(len as usize) as u64)
            .read_to_end(&mut prefix)?;
        let complete = prefix.len() as u64 == len;
        let (fields, body_start) = scan_header(&prefix, complete)?;
        prefix.truncate(body_start);
        Ok(Self {
            fields,
            body: Body::File {
                file: Arc::new(file),
                start: body_start as u64,
                end: len,
            },
            header: prefix,
        })
    }

    pub fn body(&self) -> &Body {
        &self.body
    }

    /// The header section including the empty line that ends it.
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    /// Where the last header field ends in [`Self::header`]; the empty line,
    /// if any, follows.
    pub fn header_end(&self) -> usize {
        self.fields.last().map_or(0, |f| f.whole.end)
    }

    /// Every field, in order, as (name, whole field with folding and line end).
    pub fn fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.fields
            .iter()
            .map(|f| (&self.header[f.name.clone()], &self.header[f.whole.clone()]))
    }

    /// The raw fields whose name is `name` (case-insensitive).
    pub fn fields_named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s [u8]> + 's {
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

    /// The Subject, decoded (RFC 2047), for the user's own activity view.
    pub fn subject(&self) -> Option<String> {
        let field = self.fields_named("Subject").next()?;
        let parsed = MessageParser::new().parse_headers(field)?;
        parsed.subject().map(str::to_owned)
    }

    fn addresses(&self, name: &str, header: HeaderName<'static>) -> Vec<String> {
        let mut out = Vec::new();
        for field in self.fields_named(name) {
            let Some(parsed) = MessageParser::new().parse_headers(field) else {
                continue;
            };
            for value in parsed.header_values(header.clone()) {
                if let HeaderValue::Address(address) = value {
                    out.extend(
                        address
                            .iter()
                            .filter_map(|a| a.address.as_deref().map(str::to_owned)),
                    );
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
        // An unreadable spool file is not proof of plaintext: treat it as
        // protected (passed through untouched) rather than guess.
        self.body
            .has_line_starting_with(PGP_ARMOR)
            .unwrap_or(true)
            .then_some(Protection::InlinePgp)
    }

    /// Whether a field is a `Content-*` field (moved into the encrypted entity).
    pub fn is_content_field(name: &[u8]) -> bool {
        name.len() > 8 && name[..8].eq_ignore_ascii_case(b"content-")
    }
}

/// An OpenPGP armor header line (RFC 4880 §6.2).
const PGP_ARMOR: &[u8] = b"-----BEGIN PGP MESSAGE-----";

/// Finds the header fields and the body start of `raw`. `complete` says
/// whether `raw` is the whole message (else a prefix that must contain the
/// whole header section).
fn scan_header(raw: &[u8], complete: bool) -> Result<(Vec<Field>, usize), MimeError> {
    if raw.is_empty() {
        return Err(MimeError::Empty);
    }
    let mut fields: Vec<Field> = Vec::new();
    let mut pos = 0;
    let mut line_no = 0;
    let body_start = loop {
        if pos >= raw.len() {
            if !complete {
                return Err(MimeError::HeaderTooLong);
            }
            // RFC 5322 §3.5: the body (and the empty line before it) is optional.
            break raw.len();
        }
        if pos > MAX_HEADER_SECTION {
            return Err(MimeError::HeaderTooLong);
        }
        line_no += 1;
        let line_end = raw[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |i| pos + i + 1);
        let content = trim_newline(&raw[pos..line_end]);
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
    Ok((fields, body_start))
}

fn trim_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(m: &Message) -> Vec<u8> {
        let mut out = Vec::new();
        m.body().reader().read_to_end(&mut out).unwrap();
        out
    }

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
        assert_eq!(body(&m), b"Hello\r\n");
        let names: Vec<&[u8]> = m.fields().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                &b"From"[..],
                b"To",
                b"Cc",
                b"Bcc",
                b"Subject",
                b"Content-Type"
            ]
        );
        assert_eq!(
            m.fields_named("subject").next().unwrap(),
            b"Subject: a folded\r\n subject\r\n"
        );
        assert_eq!(m.to(), ["bob@example.test", "carol@example.test"]);
        assert!(m.cc().is_empty());
        assert_eq!(m.bcc(), ["dave@example.test"]);
        assert_eq!(m.from(), ["alice@example.test"]);
        assert_eq!(m.content_type().unwrap().0, "text/plain");
        assert_eq!(m.protection(), None);
        // Reassembled, the fields and body are the message.
        let mut again: Vec<u8> = m.fields().flat_map(|(_, w)| w.to_vec()).collect();
        again.extend_from_slice(b"\r\n");
        again.extend_from_slice(&body(&m));
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
            assert_eq!(
                Message::parse(raw).unwrap().protection(),
                expected,
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
        let quoted =
            Message::parse(b"Subject: x\r\n\r\n> -----BEGIN PGP MESSAGE-----\r\n").unwrap();
        assert_eq!(quoted.protection(), None);
    }

    #[test]
    fn malformed_input_is_a_clear_error() {
        let long = format!("Subject: {}\r\n\r\nbody", "x".repeat(1024 * 1024));
        let cases: [(&[u8], MimeError); 5] = [
            (b"", MimeError::Empty),
            (
                b"Subject: x\r\nthis is not a header\r\n\r\nbody",
                MimeError::NotAHeader { line: 2 },
            ),
            (
                b" folded first\r\n\r\nbody",
                MimeError::NotAHeader { line: 1 },
            ),
            (
                b"Subject: a\0b\r\n\r\nbody",
                MimeError::NulInHeader { line: 1 },
            ),
            (
                long.as_bytes(),
                MimeError::FieldTooLong {
                    line: 1,
                    len: 1024 * 1024 + 11,
                },
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(Message::parse(raw).unwrap_err(), expected);
        }
    }

    #[test]
    fn headers_without_body_and_nul_in_body_are_fine() {
        let m = Message::parse(b"Subject: no body\r\nTo: a@b.test\r\n").unwrap();
        assert_eq!(body(&m), b"");
        let m = Message::parse(b"Subject: x\r\n\r\na\0b").unwrap();
        assert_eq!(body(&m), b"a\0b");
        let m = Message::parse(b"Subject: x\n\nlf body\n").unwrap();
        assert_eq!(body(&m), b"lf body\n");
    }

    #[test]
    fn spooled_file_keeps_its_body_on_disk() {
        use std::io::{Seek, Write};
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(SIMPLE).unwrap();
        file.rewind().unwrap();
        let m = Message::from_file(file).unwrap();
        assert_eq!(m.to(), ["bob@example.test", "carol@example.test"]);
        assert!(matches!(m.body(), Body::File { .. }));
        assert_eq!(body(&m), b"Hello\r\n");
        assert_eq!(m.header().len() + 7, SIMPLE.len());

        let mut huge = tempfile::tempfile().unwrap();
        huge.write_all(
            &b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
                .repeat(30_000),
        )
        .unwrap();
        huge.rewind().unwrap();
        assert!(matches!(
            Message::from_file(huge),
            Err(FileError::Mime(MimeError::HeaderTooLong))
        ));
    }
}
