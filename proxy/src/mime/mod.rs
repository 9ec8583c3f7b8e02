//! Submitted messages as bytes: header fields found, body never decoded.
//!
//! The body of a message is carried untouched into every copy (encrypted or
//! not); only header fields are moved or dropped, byte for byte.

mod message;

pub use message::{Message, MimeError, Protection, MAX_HEADER_FIELD, MAX_HEADER_SECTION};

/// Turns bare LF line ends into CRLF (RFC 5322 §2.1; S/MIME's canonical form,
/// RFC 8551 §3.1.1). Messages from SMTP already use CRLF and are returned
/// as they are, without a copy; files from disk often use LF.
pub fn canonicalize_line_ends(raw: Vec<u8>) -> Vec<u8> {
    let bare = raw
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' && (i == 0 || raw[i - 1] != b'\r'))
        .count();
    if bare == 0 {
        return raw;
    }
    let mut out = Vec::with_capacity(raw.len() + bare);
    for (i, &b) in raw.iter().enumerate() {
        if b == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_lf_becomes_crlf_and_crlf_stays() {
        assert_eq!(canonicalize_line_ends(b"a\nb\r\nc\n".to_vec()), b"a\r\nb\r\nc\r\n");
        assert_eq!(canonicalize_line_ends(b"\nx".to_vec()), b"\r\nx");
        assert_eq!(canonicalize_line_ends(b"a\r\n".to_vec()), b"a\r\n");
    }
}
