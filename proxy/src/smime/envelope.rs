//! One encrypted copy of a message, as an RFC 8551 S/MIME message:
//! the original header fields (without `Content-*`, `MIME-Version` and
//! `Bcc`) byte for byte, the S/MIME headers, and the CMS structure in base64
//! with CRLF line ends. The inner entity is the original `Content-*` fields,
//! the empty line, and the untouched body.

use std::io::Write;

use base64::Engine;
use openssl::symm::Cipher;
use openssl::x509::X509Ref;

use super::ffi::{encrypt_streaming, RsaPadding, StreamError};
use crate::mime::{inner_entity, write_outer_fields, Message};

/// The symmetric content cipher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
pub enum ContentCipher {
    /// AES-256-CBC EnvelopedData: read by every S/MIME client (default).
    #[default]
    #[serde(rename = "aes-256-cbc")]
    Aes256Cbc,
    /// AES-256-GCM AuthEnvelopedData (RFC 5083/5084): integrity-protected,
    /// but not read by gpgsm 2.2 or NSS 3.87.
    #[serde(rename = "aes-256-gcm")]
    Aes256Gcm,
}

/// How a copy is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EncryptOptions {
    pub cipher: ContentCipher,
    pub rsa_oaep: bool,
}

/// Why a copy could not be encrypted.
#[derive(Debug, thiserror::Error)]
pub enum SmimeError {
    #[error("no recipient certificate to encrypt to")]
    NoRecipients,
    #[error(transparent)]
    Stream(#[from] StreamError),
    #[error("writing the encrypted message: {0}")]
    Io(#[from] std::io::Error),
}

/// Writes `message` encrypted to `recipients` as a complete S/MIME message.
pub fn write_encrypted(
    message: &Message,
    recipients: &[&X509Ref],
    options: EncryptOptions,
    out: &mut dyn Write,
) -> Result<(), SmimeError> {
    if recipients.is_empty() {
        return Err(SmimeError::NoRecipients);
    }
    write_outer_fields(message, out)?;
    let smime_type = match options.cipher {
        ContentCipher::Aes256Cbc => "enveloped-data",
        ContentCipher::Aes256Gcm => "authEnveloped-data",
    };
    write!(
        out,
        "MIME-Version: 1.0\r\n\
         Content-Type: application/pkcs7-mime; smime-type={smime_type}; name=\"smime.p7m\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"smime.p7m\"\r\n\
         \r\n"
    )?;
    let cipher = match options.cipher {
        ContentCipher::Aes256Cbc => Cipher::aes_256_cbc(),
        ContentCipher::Aes256Gcm => Cipher::aes_256_gcm(),
    };
    let padding = if options.rsa_oaep {
        RsaPadding::Oaep
    } else {
        RsaPadding::Pkcs1v15
    };
    let mut lines = Base64Lines::new(out);
    encrypt_streaming(
        recipients,
        cipher,
        padding,
        &mut inner_entity(message),
        &mut |der| lines.write(der),
    )?;
    lines.finish()?;
    Ok(())
}

/// Base64 (RFC 2045 §6.8) in 76-character lines ending in CRLF, streamed.
struct Base64Lines<'w> {
    out: &'w mut dyn Write,
    pending: [u8; LINE_BYTES],
    len: usize,
    line: [u8; 78],
}

/// 57 input bytes make one 76-character line.
const LINE_BYTES: usize = 57;

impl<'w> Base64Lines<'w> {
    fn new(out: &'w mut dyn Write) -> Self {
        Self {
            out,
            pending: [0; LINE_BYTES],
            len: 0,
            line: [0; 78],
        }
    }

    fn write(&mut self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            let take = (LINE_BYTES - self.len).min(data.len());
            self.pending[self.len..self.len + take].copy_from_slice(&data[..take]);
            self.len += take;
            data = &data[take..];
            if self.len == LINE_BYTES {
                self.flush_line()?;
            }
        }
        Ok(())
    }

    fn flush_line(&mut self) -> std::io::Result<()> {
        let n = base64::engine::general_purpose::STANDARD
            .encode_slice(&self.pending[..self.len], &mut self.line)
            .expect("76 characters fit the line buffer");
        self.line[n] = b'\r';
        self.line[n + 1] = b'\n';
        self.len = 0;
        self.out.write_all(&self.line[..n + 2])
    }

    fn finish(mut self) -> std::io::Result<()> {
        if self.len > 0 {
            self.flush_line()?;
        }
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_lines_are_76_chars_with_crlf() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let mut out = Vec::new();
        let mut lines = Base64Lines::new(&mut out);
        for chunk in data.chunks(7) {
            lines.write(chunk).unwrap();
        }
        lines.finish().unwrap();
        let text = String::from_utf8(out).unwrap();
        let all: Vec<&str> = text.split_terminator("\r\n").collect();
        assert!(all[..all.len() - 1].iter().all(|l| l.len() == 76));
        assert!(!text.replace("\r\n", "").contains('\n'));
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(text.replace("\r\n", ""))
            .unwrap();
        assert_eq!(decoded, data);
    }
}
