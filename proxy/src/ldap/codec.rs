//! LDAP messages on the wire: BER framing by ldap3_proto's codec, bounded
//! in size and nesting, with its logging silenced (it logs the raw bytes of
//! malformed input at ERROR) and the start of the input kept for our own,
//! bounded line (see `server.rs`).

use std::sync::LazyLock;

use ldap3_proto::proto::LdapMsg;
use ldap3_proto::LdapCodec;
use tokio_util::bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

/// Largest LDAP message accepted: address-book requests are a few hundred
/// bytes; anything near this is an attack.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// Deepest BER nesting accepted (filters nest And/Or/Not).
pub const MAX_DEPTH: usize = 32;

/// Bytes of a malformed message kept for the log.
pub const EXCERPT: usize = 200;

/// A dispatcher that drops everything, for ldap3_proto's decoding.
static SILENT: LazyLock<tracing::Dispatch> = LazyLock::new(tracing::Dispatch::none);

pub struct Codec {
    inner: LdapCodec,
    /// The first [`EXCERPT`] bytes the last decode saw.
    head: Vec<u8>,
    /// How many bytes the last decode saw.
    seen: usize,
}

impl Default for Codec {
    fn default() -> Self {
        Self {
            inner: LdapCodec::new(Some(MAX_MESSAGE), Some(MAX_DEPTH)),
            head: Vec::with_capacity(EXCERPT),
            seen: 0,
        }
    }
}

impl Codec {
    /// The first [`EXCERPT`] bytes the last decode saw.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// How many bytes the last decode saw.
    pub fn seen(&self) -> usize {
        self.seen
    }
}

impl Decoder for Codec {
    type Item = LdapMsg;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<LdapMsg>, Self::Error> {
        self.head.clear();
        self.head.extend_from_slice(&buf[..buf.len().min(EXCERPT)]);
        self.seen = buf.len();
        let inner = &mut self.inner;
        let message = tracing::dispatcher::with_default(&SILENT, || inner.decode(buf))?;
        match message {
            // ldap3_proto reads any INTEGER; a negative one would be
            // answered under a different ID (it encodes it back unsigned).
            Some(message) if message.msgid < 0 => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "message ID {} is outside 0..2147483647 (RFC 4511 §4.1.1.1)",
                    message.msgid
                ),
            )),
            other => Ok(other),
        }
    }
}

impl Encoder<LdapMsg> for Codec {
    type Error = std::io::Error;

    fn encode(&mut self, msg: LdapMsg, buf: &mut BytesMut) -> Result<(), Self::Error> {
        self.inner.encode(msg, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the ldap_request fuzz target: message ID -123 (four bytes
    /// ff ff ff 85) was decoded, and its reply went out as ID 133.
    #[test]
    fn a_negative_message_id_is_malformed() {
        // SEQUENCE { INTEGER msgid, [APPLICATION 0] bind v3 "" simple "" }
        let bind = |id: &[u8]| {
            let mut body = vec![0x02, id.len() as u8];
            body.extend_from_slice(id);
            body.extend_from_slice(&[0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00]);
            let mut wire = vec![0x30, body.len() as u8];
            wire.extend(body);
            BytesMut::from(&wire[..])
        };
        let mut codec = Codec::default();
        let message = codec.decode(&mut bind(&[0x00, 0x85])).unwrap().unwrap();
        assert_eq!(message.msgid, 133);
        let err = Codec::default()
            .decode(&mut bind(&[0xff, 0xff, 0xff, 0x85]))
            .unwrap_err();
        assert!(err.to_string().contains("message ID -123"), "{err}");
    }
}
