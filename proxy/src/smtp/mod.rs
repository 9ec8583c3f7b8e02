//! The local SMTP submission server mail clients send through (RFC 6409):
//! `session` is the protocol (no I/O), `server` the sockets, `reply` the
//! wire replies, `tls` the local certificate, `data` the framing of
//! commands and message data, `canonical` the line ends of message data,
//! `wire` a connection's read and reply buffers (the filter's LMTP too).

pub mod canonical;
pub mod data;
mod reply;
pub mod server;
pub mod session;
pub mod tls;
pub mod wire;

pub use reply::{parse_error_reply, Reply};
pub use server::{bind, serve, Context, ServerError};
pub use session::SessionConfig;
