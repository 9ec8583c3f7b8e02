//! Submitted messages as bytes: header fields found, body never decoded.
//!
//! The body of a message is carried untouched into every copy (encrypted or
//! not); only header fields are moved or dropped, byte for byte.

mod body;
mod message;

use std::io::{self, Read, Write};

pub use body::{Body, BodyReader};
pub use message::{
    FileError, Message, MimeError, Protection, MAX_HEADER_FIELD, MAX_HEADER_SECTION,
};

/// The inner MIME entity of an encrypted copy (S/MIME, RFC 8551 §3.1;
/// PGP/MIME, RFC 3156 §4): the `Content-*` fields, the empty line, the
/// untouched body. This is what a recipient's client decrypts.
pub fn inner_entity(message: &Message) -> impl Read + '_ {
    let mut head: Vec<u8> = message
        .fields()
        .filter(|(name, _)| Message::is_content_field(name))
        .flat_map(|(_, whole)| whole.iter().copied())
        .collect();
    head.extend_from_slice(b"\r\n");
    io::Cursor::new(head).chain(message.body().reader())
}

/// The header fields an encrypted copy keeps outside, byte for byte: all
/// but `Content-*`, `MIME-Version` (the copy writes its own) and `Bcc`.
pub fn write_outer_fields(message: &Message, out: &mut dyn Write) -> io::Result<()> {
    for (name, whole) in message.fields() {
        if !(Message::is_content_field(name)
            || name.eq_ignore_ascii_case(b"MIME-Version")
            || name.eq_ignore_ascii_case(b"Bcc"))
        {
            out.write_all(whole)?;
        }
    }
    Ok(())
}

/// Copies `reader` to `writer`, turning bare LF line ends into CRLF
/// (RFC 5322 §2.1; S/MIME's canonical form, RFC 8551 §3.1.1). Messages
/// from SMTP already use CRLF; files from disk often use LF. Streams:
/// memory does not grow with the message. Returns the bytes written.
pub fn copy_canonical(mut reader: impl Read, mut writer: impl Write) -> io::Result<u64> {
    let mut input = vec![0u8; 64 * 1024];
    let mut output = Vec::with_capacity(128 * 1024);
    let mut previous = 0u8;
    let mut written = 0u64;
    loop {
        let n = match reader.read(&mut input) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = &input[..n];
        output.clear();
        let mut run_start = 0;
        let mut changed = false;
        for lf in memchr::memchr_iter(b'\n', chunk) {
            let before = if lf == 0 { previous } else { chunk[lf - 1] };
            if before != b'\r' {
                output.extend_from_slice(&chunk[run_start..lf]);
                output.extend_from_slice(b"\r");
                run_start = lf;
                changed = true;
            }
        }
        let data = if changed {
            output.extend_from_slice(&chunk[run_start..]);
            &output[..]
        } else {
            chunk
        };
        writer.write_all(data)?;
        written += data.len() as u64;
        previous = chunk[n - 1];
    }
    writer.flush()?;
    Ok(written)
}

/// Whether `reader` holds a bare LF (an LF not preceded by CR).
pub fn has_bare_lf(mut reader: impl Read) -> io::Result<bool> {
    let mut input = vec![0u8; 256 * 1024];
    let mut previous = 0u8;
    loop {
        let n = match reader.read(&mut input) {
            Ok(0) => return Ok(false),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = &input[..n];
        if memchr::memchr_iter(b'\n', chunk)
            .any(|lf| (if lf == 0 { previous } else { chunk[lf - 1] }) != b'\r')
        {
            return Ok(true);
        }
        previous = chunk[n - 1];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        copy_canonical(input, &mut out).unwrap();
        out
    }

    #[test]
    fn bare_lf_becomes_crlf_and_crlf_stays() {
        assert_eq!(canonical(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
        assert_eq!(canonical(b"\nx"), b"\r\nx");
        assert_eq!(canonical(b"a\r\n"), b"a\r\n");
        // A CR at the end of one read and its LF at the start of the next.
        let mut big = vec![b'x'; 64 * 1024 - 1];
        big.extend_from_slice(b"\r\n");
        assert_eq!(canonical(&big), big);
        let mut split = vec![b'x'; 64 * 1024];
        split.extend_from_slice(b"\nend");
        let mut expected = vec![b'x'; 64 * 1024];
        expected.extend_from_slice(b"\r\nend");
        assert_eq!(canonical(&split), expected);
    }

    #[test]
    fn bare_lf_is_found() {
        assert!(has_bare_lf(&b"a\r\nb\n"[..]).unwrap());
        assert!(has_bare_lf(&b"\n"[..]).unwrap());
        assert!(!has_bare_lf(&b"a\r\nb\r\n"[..]).unwrap());
        assert!(!has_bare_lf(&b""[..]).unwrap());
    }
}
