//! The durable outbox: received messages become entries on disk before 250
//! (`intake`, `spool`), and are delivered, retried or bounced from there
//! (`manager`, `dsn`).

pub mod dsn;
mod intake;
mod manager;
pub mod spool;

pub use intake::{decisions, Intake, IntakeError, Receipt, MESSAGE_FILE};
pub use manager::Outbox;
pub use spool::{Entry, Spool, SpoolError, Status};
