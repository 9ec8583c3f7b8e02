//! The DNS layer: DNSSEC-validated queries and nothing else.
//!
//! Every answer the product acts on comes from [`SecureResolver::query`] as a
//! [`DnsAnswer`], whose variant is the validation state (RFC 4033 §5). No
//! other module talks to the network for DNS or reads a hickory `Proof`.
//! Which transport carries the queries ([`path`], [`choice`]) changes
//! nothing about what is trusted.

mod answer;
mod cache;
mod choice;
pub mod doctor;
mod path;
mod probe;
mod resolver;

pub use answer::{DnsAnswer, Security};
pub use choice::{Choice, PathReport};
pub use path::{Health, PathKind};
pub use resolver::{load_trust_anchor, SecureResolver, SetupError};

pub use hickory_resolver::proto::rr::{Name, RData, RecordType};
