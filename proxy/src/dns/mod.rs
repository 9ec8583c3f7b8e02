//! The DNS layer: DNSSEC-validated queries and nothing else.
//!
//! Every answer the product acts on comes from [`SecureResolver::query`] as a
//! [`DnsAnswer`], whose variant is the validation state (RFC 4033 §5). No
//! other module talks to the network for DNS or reads a hickory `Proof`.

mod answer;
mod cache;
pub mod doctor;
mod probe;
mod resolver;

pub use answer::{DnsAnswer, Security};
pub use resolver::{load_trust_anchor, SecureResolver, SetupError};

pub use hickory_resolver::proto::rr::{Name, RData, RecordType};
