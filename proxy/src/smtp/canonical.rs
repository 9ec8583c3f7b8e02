//! Message data as the provider will see it, canonical at the edge: every
//! line ends in CRLF. A bare CR or a bare LF becomes CRLF before the message
//! is spooled, as Postfix's `smtpd_forbid_bare_newline = normalize` does, so
//! that nothing relayed holds a line end a lenient provider could read as
//! the end of DATA (SMTP smuggling: `<LF>.<LF>` inside the data would start
//! a second, unencrypted message there). After normalisation such a dot
//! line is an ordinary line, dot-stuffed on relay like any other.
//!
//! Also measures the longest line: RFC 5322 §2.1.1 allows 998 octets, and a
//! longer line is refused before the 250 (the provider would refuse it, and
//! the DSN quoting it too, so the sender would never learn).

/// RFC 5322 §2.1.1: at most 998 characters a line, CRLF excluded.
pub const MAX_LINE: usize = 998;

/// The normaliser's state across chunks of one message.
#[derive(Debug, Default)]
pub struct Canonical {
    /// The last byte seen was a CR whose LF has not come yet.
    pending_cr: bool,
    line: usize,
    /// The longest line so far, CRLF excluded.
    pub longest: usize,
    /// Bare CRs and LFs turned into CRLF.
    pub normalised: u64,
}

impl Canonical {
    /// Appends `input`, canonical, to `out`.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len());
        let mut rest = input;
        while let Some((&first, tail)) = rest.split_first() {
            if self.pending_cr {
                self.pending_cr = false;
                out.extend_from_slice(b"\r\n");
                self.end_line();
                if first == b'\n' {
                    rest = tail;
                    continue;
                }
                self.normalised += 1;
            }
            // Runs without CR or LF go through whole.
            let run = memchr::memchr2(b'\r', b'\n', rest).unwrap_or(rest.len());
            out.extend_from_slice(&rest[..run]);
            self.line += run;
            self.longest = self.longest.max(self.line);
            rest = &rest[run..];
            match rest.split_first() {
                Some((b'\r', tail)) => {
                    self.pending_cr = true;
                    rest = tail;
                }
                Some((b'\n', tail)) => {
                    out.extend_from_slice(b"\r\n");
                    self.end_line();
                    self.normalised += 1;
                    rest = tail;
                }
                _ => {}
            }
        }
    }

    /// Ends the message: a CR left waiting is a bare CR.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.pending_cr {
            self.pending_cr = false;
            out.extend_from_slice(b"\r\n");
            self.end_line();
            self.normalised += 1;
        }
    }

    fn end_line(&mut self) {
        self.longest = self.longest.max(self.line);
        self.line = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(chunks: &[&[u8]]) -> (Vec<u8>, Canonical) {
        let mut c = Canonical::default();
        let mut out = Vec::new();
        for chunk in chunks {
            c.push(chunk, &mut out);
        }
        c.finish(&mut out);
        (out, c)
    }

    #[test]
    fn bare_line_ends_become_crlf_across_chunk_boundaries() {
        let (out, c) = canonical(&[b"a\r\nb\n.\nc\r", b"\n.\r\r\nd\re"]);
        assert_eq!(out, b"a\r\nb\r\n.\r\nc\r\n.\r\n\r\nd\r\ne");
        assert_eq!(c.normalised, 4);
        let (out, c) = canonical(&[b"x\r"]);
        assert_eq!((out.as_slice(), c.normalised), (b"x\r\n".as_slice(), 1));
        let (out, c) = canonical(&[b"ok\r\n", b"", b"fine\r\n"]);
        assert_eq!(
            (out.as_slice(), c.normalised),
            (b"ok\r\nfine\r\n".as_slice(), 0)
        );
    }

    #[test]
    fn the_longest_line_is_measured_without_its_line_end() {
        let long = vec![b'x'; 999];
        let (_, c) = canonical(&[b"short\r\n", &long[..500], &long[500..], b"\r\nend"]);
        assert_eq!(c.longest, 999);
        let (_, c) = canonical(&[&long[..998], b"\r\n"]);
        assert_eq!(c.longest, MAX_LINE);
    }
}
