//! The ledger (docs/audit-log.md, "The log", "Segments", "Index and start-up"): an append-only chain of
//! canonical JSON lines in segment files, and the index over it. It knows records only as JSON objects:
//! what a record says, how it is filed in the index and what its idempotency key is come from the
//! record layer through a [`Schema`] and the [`Entry`] of each draft. Reads and writes the data
//! directory; never the process environment or stdout; owns no thread (work that may wait, such as
//! writing the verified-prefix marker, is handed to its owner as [`Chores`]).
//!
//! ```text
//! line       the one line reader: verify a line against the one before, read lines and single lines
//! canonical  canonical bytes and the SHA-256 chain over them
//! segment    the files: list, name, seal, and walk the chain across them
//! index      snapshot (what readers see) + journal/marker (on disk) + queries
//! tree       the Merkle tree over the records: hashes, proofs, tiles on disk
//! log        the open ledger: open (verify, recover a torn tail), append batches, seal by size or age
//! chores     the work the owner schedules: markers, the idempotency keys after a start
//! ```

pub mod canonical;
mod check;
pub mod chores;
mod error;
pub mod index;
pub mod line;
pub mod lock;
pub mod log;
mod names;
mod read;
mod schema;
pub mod segment;
#[cfg(test)]
pub(crate) mod testing;
pub mod tree;
mod verify;

#[cfg(test)]
pub use check::spans;
pub use check::Span;
pub use error::{BadReason, LedgerError};
pub use index::{Found, Lookup, Reader, Select, Want};
pub use line::Head;
pub use log::{Ledger, Outcome, Rolling};
pub use read::{read_again, read_each, tree, verify, SeqSet, Verified};
#[cfg(test)]
pub use schema::read_map;
pub use schema::{Entry, Filing, Fold, Reading, Schema};
pub use segment::LOG_FILE;
