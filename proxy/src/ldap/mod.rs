//! The local LDAP directory for address books (Outlook, Thunderbird): each
//! search for a complete address is answered from DNSSEC-validated SMIMEA,
//! so the mail client itself can encrypt (seed 000's LVDT).

pub mod codec;
pub mod directory;
pub mod request;
pub mod server;

pub use server::{bind, serve, LdapContext, LdapError};
