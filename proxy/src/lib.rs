//! DANE Mail's engine: DNSSEC-validated SMIMEA / OPENPGPKEY / MX / TLSA
//! lookups, the per-recipient decision they lead to, and the S/MIME and
//! PGP/MIME copies a message becomes — in the desktop proxy and in the
//! Postfix content filter.
//!
//! The crate is the whole product as a library; the `danemail` binary and
//! the tray app only build a [`config::Config`] and call into it.
//! See docs/ARCHITECTURE.md for the map.

#![deny(unsafe_code)]

pub mod civil;
pub mod config;
pub mod credentials;
pub mod dane;
pub mod dns;
pub mod events;
pub mod filter;
pub mod inbound;
pub mod keys;
pub mod ldap;
pub mod listener;
pub mod mime;
pub mod outbox;
pub mod pgpmime;
pub mod plan;
pub mod publish;
pub mod relay;
pub mod roots;
pub mod service;
pub mod smime;
pub mod smtp;
