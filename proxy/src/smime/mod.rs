//! S/MIME encryption (RFC 8551) of one copy of a message, streamed through
//! OpenSSL's CMS so that memory does not grow with the message.

mod envelope;
mod ffi;

pub use envelope::{write_encrypted, ContentCipher, EncryptOptions, SmimeError};
pub use ffi::{certs_only, StreamError};
