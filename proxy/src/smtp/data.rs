//! The bytes of a session, framed without I/O: commands (smtp-proto's
//! receiver), AUTH continuation lines, and the message after 354 — its end
//! (`<CRLF>.<CRLF>`, and nothing else), dot-unstuffing, and canonical line
//! ends ([`Canonical`]). `server.rs` fills the pending bytes from the socket;
//! the fuzz targets fill them from arbitrary input, in arbitrary chunks.

use smtp_proto::request::receiver::{DataReceiver, MAX_LINE_LENGTH};
use smtp_proto::{Error as ParseError, Request};

use super::canonical::Canonical;

/// The commands of a session, one at a time, from bytes as they arrive.
///
/// Each command line is framed here, up to its LF, before smtp-proto parses
/// it: given more, its parser reads on past a line it finds incomplete
/// (`RCPT TO` with no colon takes the next pipelined command with it, and
/// what it takes depends on how the bytes were split into reads).
#[derive(Default)]
pub struct Commands {
    /// The start of a command line whose LF has not come yet.
    line: Vec<u8>,
    /// The current line grew too long: the rest of it is dropped.
    skipping_line: bool,
}

impl Commands {
    /// The next command in `pending` (consumed from it), or `None` when more
    /// bytes are needed: a partial line is then kept here and `pending` is
    /// left empty. A line over [`MAX_LINE_LENGTH`] is dropped as it comes
    /// and answered once it ends.
    pub fn next(&mut self, pending: &mut Vec<u8>) -> Option<Result<Request<String>, ParseError>> {
        let Some(end) = memchr::memchr(b'\n', pending) else {
            if self.line.len() + pending.len() > MAX_LINE_LENGTH {
                self.line.clear();
                self.skipping_line = true;
            } else if !self.skipping_line {
                self.line.append(pending);
            }
            pending.clear();
            return None;
        };
        let rest = pending.split_off(end + 1);
        let line = std::mem::replace(pending, rest);
        let too_long = std::mem::take(&mut self.skipping_line)
            || self.line.len() + line.len() > MAX_LINE_LENGTH;
        self.line.extend_from_slice(&line);
        let line = std::mem::take(&mut self.line);
        if too_long {
            return Some(Err(ParseError::ResponseTooLong));
        }
        Some(match Request::parse(&mut line.iter()) {
            Ok(request) => Ok(request.into_owned()),
            // The whole line is here: what it lacks, it lacks.
            Err(ParseError::NeedsMoreData { .. }) => Err(incomplete(&line)),
            Err(e) => Err(e),
        })
    }

    /// One AUTH continuation line (RFC 4954 §4) from `pending`, with its
    /// line end, or `None` when more bytes are needed. A line longer than a
    /// command line may be is dropped as it comes (memory stays bounded)
    /// and reads as empty once it ends: the exchange then fails, however
    /// the line was split into reads.
    pub fn auth_line(&mut self, pending: &mut Vec<u8>) -> Option<Vec<u8>> {
        match memchr::memchr(b'\n', pending) {
            Some(end) => {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let skipped = std::mem::take(&mut self.skipping_line);
                Some(if skipped || line.len() > MAX_LINE_LENGTH {
                    Vec::new()
                } else {
                    line
                })
            }
            None => {
                if pending.len() > MAX_LINE_LENGTH {
                    pending.clear();
                    self.skipping_line = true;
                }
                None
            }
        }
    }
}

/// The error for a complete command line the parser found unfinished.
fn incomplete(line: &[u8]) -> ParseError {
    let verb = line.get(..4).map(|v| v.to_ascii_uppercase());
    let syntax = match verb.as_deref() {
        Some(b"RCPT") => "RCPT TO:<forward-path> [parameters]",
        Some(b"MAIL") => "MAIL FROM:<reverse-path> [parameters]",
        _ => "a complete command on one line",
    };
    ParseError::SyntaxError { syntax }
}

/// The message after 354, as it arrives.
pub struct Message {
    receiver: DataReceiver,
    /// Unstuffed bytes not yet made canonical.
    unstuffed: Vec<u8>,
    canonical: Canonical,
    /// Canonical bytes so far.
    pub size: usize,
    done: bool,
}

impl Default for Message {
    fn default() -> Self {
        // Primed as if a CRLF had come just before: the data begins at the
        // start of a line (RFC 5321 §4.1.1.4), so a "." right after 354
        // ends an empty message instead of being data.
        let mut receiver = DataReceiver::new();
        receiver.ingest(&mut b"\r\n".iter(), &mut Vec::new());
        Self {
            receiver,
            unstuffed: Vec::new(),
            canonical: Canonical::default(),
            size: 0,
            done: false,
        }
    }
}

impl Message {
    /// Consumes `pending` up to the final dot (what follows stays there) and
    /// appends the message's canonical bytes so far to `out`. True once the
    /// final dot has come.
    pub fn push(&mut self, pending: &mut Vec<u8>, out: &mut Vec<u8>) -> bool {
        if self.done {
            return true;
        }
        let mut bytes = pending.iter();
        self.done = self.receiver.ingest(&mut bytes, &mut self.unstuffed);
        let consumed = pending.len() - bytes.as_slice().len();
        pending.drain(..consumed);
        // The receiver may take back a trailing CR when the next bytes turn
        // out to end the data: keep it until then.
        let keep = usize::from(!self.done && self.unstuffed.last() == Some(&b'\r'));
        let ready = self.unstuffed.len() - keep;
        let before = out.len();
        self.canonical.push(&self.unstuffed[..ready], out);
        if self.done {
            self.canonical.finish(out);
        }
        self.unstuffed.drain(..ready);
        self.size += out.len() - before;
        self.done
    }

    /// The longest line, CRLF excluded.
    pub fn longest_line(&self) -> usize {
        self.canonical.longest
    }

    /// Bare CRs and LFs turned into CRLF.
    pub fn normalised(&self) -> u64 {
        self.canonical.normalised
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole message and what is left after it, fed in `chunk`-byte pieces.
    fn read(input: &[u8], chunk: usize) -> (Vec<u8>, Vec<u8>, bool) {
        let mut message = Message::default();
        let mut pending = Vec::new();
        let mut out = Vec::new();
        for (i, piece) in input.chunks(chunk).enumerate() {
            pending.extend_from_slice(piece);
            if message.push(&mut pending, &mut out) {
                pending.extend_from_slice(&input[((i + 1) * chunk).min(input.len())..]);
                return (out, pending, true);
            }
        }
        (out, pending, false)
    }

    #[test]
    fn the_end_is_found_in_any_chunking_and_what_follows_is_kept() {
        let input = b"Subject: x\r\n\r\n..dot\r\nbare\nline\r\r\n.\r\nQUIT\r\n";
        for chunk in 1..input.len() {
            let (out, rest, done) = read(input, chunk);
            assert!(done, "chunk {chunk}");
            assert_eq!(
                out, b"Subject: x\r\n\r\n.dot\r\nbare\r\nline\r\n\r\n",
                "chunk {chunk}"
            );
            assert_eq!(rest, b"QUIT\r\n", "chunk {chunk}");
        }
    }

    #[test]
    fn a_dot_right_after_354_is_an_empty_message() {
        assert_eq!(
            read(b".\r\nRSET\r\n", 100),
            (Vec::new(), b"RSET\r\n".to_vec(), true)
        );
    }

    /// Every command of `input`, read `chunk` bytes at a time.
    fn commands(input: &[u8], chunk: usize) -> Vec<String> {
        let mut commands = Commands::default();
        let (mut pending, mut out) = (Vec::new(), Vec::new());
        for piece in input.chunks(chunk) {
            pending.extend_from_slice(piece);
            while let Some(parsed) = commands.next(&mut pending) {
                out.push(format!("{parsed:?}"));
            }
        }
        out
    }

    /// Found by the smtp_session fuzz target: smtp-proto, handed more than
    /// one line, read past `RCPT TO` (no colon) and swallowed the next
    /// pipelined command — or not, depending on the reads.
    #[test]
    fn a_command_without_its_colon_does_not_swallow_the_next_one() {
        let input = b"RCPT TO\r\nNOOP\r\nMAIL FROM\nRSET\r\n";
        let whole = commands(input, input.len());
        assert_eq!(whole.len(), 4, "{whole:?}");
        assert!(whole[0].contains("RCPT TO:<forward-path>"), "{whole:?}");
        assert!(whole[1].starts_with("Ok(Noop"), "{whole:?}");
        assert!(whole[2].contains("MAIL FROM:<reverse-path>"), "{whole:?}");
        for chunk in 1..input.len() {
            assert_eq!(commands(input, chunk), whole, "chunk {chunk}");
        }
    }

    #[test]
    fn a_line_too_long_is_answered_once_it_ends_however_it_was_read() {
        let mut input = b"NOOP ".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE_LENGTH));
        input.extend_from_slice(b"\r\nQUIT\r\n");
        for chunk in [1, 7, 1000, input.len()] {
            let got = commands(&input, chunk);
            assert_eq!(got.len(), 2, "chunk {chunk}: {got:?}");
            assert_eq!(got[0], "Err(ResponseTooLong)");
            assert_eq!(got[1], "Ok(Quit)");
        }
    }

    #[test]
    fn commands_come_one_at_a_time_and_partial_lines_wait() {
        let mut commands = Commands::default();
        let mut pending = b"NOOP\r\nRS".to_vec();
        assert!(matches!(
            commands.next(&mut pending),
            Some(Ok(Request::Noop { .. }))
        ));
        assert!(commands.next(&mut pending).is_none());
        assert!(pending.is_empty());
        pending.extend_from_slice(b"ET\r\n");
        assert!(matches!(
            commands.next(&mut pending),
            Some(Ok(Request::Rset))
        ));
    }
}
