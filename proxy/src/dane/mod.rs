//! The DANE judgement: what validated DNS proves about a recipient address,
//! and what to do about it (DESIGN.md's trust table).
//!
//! Data flow: [`Address`] → owner names → [`crate::dns`] answers →
//! [`smimea::evaluate`] / [`openpgpkey::evaluate`] per record → [`Decision`].

mod address;
mod decision;
mod lookup;
pub mod openpgpkey;
mod recent;
pub mod report;
pub mod smimea;

pub use address::{Address, AddressError, NameForm};
pub use decision::{Action, Decision, TempfailCause};
pub use lookup::{
    DaneLookup, MxHost, RecipientReport, RrsetFinding, Scope, SmimeaFinding, TlsaRecord,
};
pub use openpgpkey::{KeyVerdict, UsableOpenPgpKey};
pub use recent::RecentAddresses;
pub use smimea::{KeyKind, UsableCertificate};
