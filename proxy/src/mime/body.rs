//! A message body, in memory or as a region of a spooled file, read as often
//! as there are copies to write — never loaded whole when it is a file.

use std::fs::File;
use std::io::{self, Read};
use std::sync::Arc;

/// The bytes after the header section.
#[derive(Debug, Clone)]
pub enum Body {
    Bytes(Arc<[u8]>),
    /// `file[start..end]`, read with positional reads so that any number of
    /// readers can share the file.
    File {
        file: Arc<File>,
        start: u64,
        end: u64,
    },
}

impl Body {
    pub fn len(&self) -> u64 {
        match self {
            Self::Bytes(bytes) => bytes.len() as u64,
            Self::File { start, end, .. } => end - start,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A fresh reader from the first byte of the body.
    pub fn reader(&self) -> BodyReader<'_> {
        match self {
            Self::Bytes(bytes) => BodyReader::Bytes(&bytes[..]),
            Self::File { file, start, end } => BodyReader::File {
                file,
                pos: *start,
                end: *end,
            },
        }
    }

    /// Whether a line of the body starts with `prefix` (streamed, in chunks).
    pub fn has_line_starting_with(&self, prefix: &[u8]) -> io::Result<bool> {
        const CHUNK: usize = 256 * 1024;
        let mut needle = Vec::with_capacity(prefix.len() + 1);
        needle.push(b'\n');
        needle.extend_from_slice(prefix);
        let finder = memchr::memmem::Finder::new(&needle);
        let mut reader = self.reader();
        // The window starts with a line end (the body's first line) and keeps
        // the previous chunk's tail, so that a match may straddle chunks.
        let mut window: Vec<u8> = vec![b'\n'];
        let mut chunk = vec![0u8; CHUNK];
        loop {
            let n = reader.read(&mut chunk)?;
            if n == 0 {
                return Ok(false);
            }
            window.extend_from_slice(&chunk[..n]);
            if finder.find(&window).is_some() {
                return Ok(true);
            }
            let keep = prefix.len().min(window.len());
            window.drain(..window.len() - keep);
        }
    }
}

/// Reads one [`Body`] from its start.
pub enum BodyReader<'a> {
    Bytes(&'a [u8]),
    File { file: &'a File, pos: u64, end: u64 },
}

impl Read for BodyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Bytes(bytes) => bytes.read(buf),
            Self::File { file, pos, end } => {
                let want = usize::try_from(*end - *pos)
                    .unwrap_or(usize::MAX)
                    .min(buf.len());
                if want == 0 {
                    return Ok(0);
                }
                let n = read_at(file, &mut buf[..want], *pos)?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the spooled message file is shorter than when it was parsed",
                    ));
                }
                *pos += n as u64;
                Ok(n)
            }
        }
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn file_body_reads_its_region_any_number_of_times() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"headers\r\n\r\nthe body\r\n").unwrap();
        let body = Body::File {
            file: Arc::new(file),
            start: 11,
            end: 21,
        };
        for _ in 0..2 {
            let mut out = Vec::new();
            body.reader().read_to_end(&mut out).unwrap();
            assert_eq!(out, b"the body\r\n");
        }
        assert_eq!(body.len(), 10);
    }

    #[test]
    fn line_prefix_found_across_chunk_boundaries() {
        let mut data = vec![b'x'; 256 * 1024 - 3];
        data.extend_from_slice(b"\n-----BEGIN PGP MESSAGE-----\n");
        let body = Body::Bytes(data.into());
        assert!(body
            .has_line_starting_with(b"-----BEGIN PGP MESSAGE-----")
            .unwrap());
        let body = Body::Bytes(b"-----BEGIN PGP MESSAGE-----".to_vec().into());
        assert!(body
            .has_line_starting_with(b"-----BEGIN PGP MESSAGE-----")
            .unwrap());
        let body = Body::Bytes(b"> -----BEGIN PGP MESSAGE-----".to_vec().into());
        assert!(!body
            .has_line_starting_with(b"-----BEGIN PGP MESSAGE-----")
            .unwrap());
    }
}
