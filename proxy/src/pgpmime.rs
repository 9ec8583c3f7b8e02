//! One copy of a message encrypted as PGP/MIME (RFC 3156 §4): the original
//! header fields (without `Content-*`, `MIME-Version` and `Bcc`) byte for
//! byte, then `multipart/encrypted` with the version part and the
//! ASCII-armored OpenPGP message. The encrypted entity is the original
//! `Content-*` fields, the empty line and the untouched body, exactly as
//! for S/MIME. Streamed: rpgp reads the entity in chunks and writes
//! partial-length packets, so memory does not grow with the message.

use std::io::{self, Write};

use pgp::composed::{ArmorOptions, MessageBuilder};
use pgp::crypto::sym::SymmetricKeyAlgorithm;

use crate::dane::UsableOpenPgpKey;
use crate::mime::{inner_entity, write_outer_fields, Message};

/// Why a copy could not be encrypted.
#[derive(Debug, thiserror::Error)]
pub enum PgpMimeError {
    #[error("no OpenPGP key to encrypt to")]
    NoRecipients,
    #[error("OpenPGP encryption failed: {0}")]
    OpenPgp(String),
    #[error("writing the encrypted message: {0}")]
    Io(#[from] io::Error),
}

/// Writes `message` encrypted to `keys` as a complete PGP/MIME message.
///
/// SEIPD v1 (RFC 9580 §5.13.1) with AES-256: what GnuPG 2.2 and Sequoia
/// both read; v2 (AEAD) is not read by GnuPG 2.2.
pub fn write_encrypted(
    message: &Message,
    keys: &[&UsableOpenPgpKey],
    out: &mut dyn Write,
) -> Result<(), PgpMimeError> {
    if keys.is_empty() {
        return Err(PgpMimeError::NoRecipients);
    }
    let boundary = format!("=-danemail-{}", hex::encode(rand::random::<[u8; 12]>()));
    write_outer_fields(message, out)?;
    write!(
        out,
        "MIME-Version: 1.0\r\n\
         Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\";\r\n \
         boundary=\"{boundary}\"\r\n\
         \r\n\
         This is an OpenPGP/MIME encrypted message (RFC 3156).\r\n\
         --{boundary}\r\n\
         Content-Type: application/pgp-encrypted\r\n\
         Content-Description: PGP/MIME version identification\r\n\
         \r\n\
         Version: 1\r\n\
         \r\n\
         --{boundary}\r\n\
         Content-Type: application/octet-stream; name=\"encrypted.asc\"\r\n\
         Content-Description: OpenPGP encrypted message\r\n\
         Content-Disposition: inline; filename=\"encrypted.asc\"\r\n\
         \r\n"
    )?;
    let mut builder = MessageBuilder::from_reader("", inner_entity(message))
        .seipd_v1(rand::thread_rng(), SymmetricKeyAlgorithm::AES256);
    for key in keys {
        key.add_to(&mut builder).map_err(pgp_error)?;
    }
    let mut armored = CrlfLines { out: &mut *out };
    builder
        .to_armored_writer(rand::thread_rng(), ArmorOptions::default(), &mut armored)
        .map_err(pgp_error)?;
    write!(out, "\r\n--{boundary}--\r\n")?;
    out.flush()?;
    Ok(())
}

/// rpgp's I/O errors stay I/O errors (a full disk is temporary), the rest
/// is a failure of the key or the library.
fn pgp_error(error: pgp::errors::Error) -> PgpMimeError {
    match error {
        pgp::errors::Error::IO { source, .. } => PgpMimeError::Io(source),
        other => PgpMimeError::OpenPgp(other.to_string()),
    }
}

/// rpgp armors with LF line ends; mail needs CRLF (RFC 5322 §2.1). The
/// armor holds no CR of its own, so every LF becomes CRLF.
struct CrlfLines<'w> {
    out: &'w mut dyn Write,
}

impl Write for CrlfLines<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut start = 0;
        for lf in memchr::memchr_iter(b'\n', buf) {
            self.out.write_all(&buf[start..lf])?;
            self.out.write_all(b"\r\n")?;
            start = lf + 1;
        }
        self.out.write_all(&buf[start..])?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
