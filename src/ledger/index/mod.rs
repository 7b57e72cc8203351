//! The index of the log and the verified-prefix marker (docs/audit-log.md, "Index and start-up"), both
//! derived from the log and never trusted for integrity.
//!
//! - In memory, the writer keeps, for every record, its byte offset in its segment, and the seqs of
//!   every app and every change id, and publishes an immutable [`Snapshot`] after each batch through an
//!   [`arc_swap::ArcSwap`]: a reader loads the current snapshot without a lock (the persistent `imbl`
//!   structures make each snapshot an O(1) copy), so readers never hold anything the writer waits for.
//! - On disk, `DATA_DIR/index/journal` records the same in append-only binary entries (written after
//!   each batch, not fsynced), and `DATA_DIR/index/marker.json` the verified prefix: the seq, hash and
//!   place of the last record verified, the sealed segments' lengths, and the journal's length and
//!   checksum at that point (the journal is fsynced before the marker is written). `DATA_DIR/index/
//!   postings` holds the journal up to a point (the last open or seal) by name, for the commands.
//! - On start, when the log still matches the marker (the record at the marked place has the marked
//!   seq and hash and is itself intact, the sealed segments have the marked lengths) and the journal
//!   has the marked digest, the index is loaded from the journal and only the records after the marker
//!   are verified (and indexed). Otherwise the whole chain is verified and the index rebuilt.
//! - Every record a query reads through the index is checked (its seq, and its filing) before it is
//!   answered; if the index is found wrong, the query reads the log instead.
//! - The commands read the index on disk without the writer ([`Lookup`]): the marker checked, the
//!   postings read for the names a query asks for and the journal after their point decoded (or the
//!   whole journal streamed, without postings), nothing written.
//!
//! ```text
//! snapshot  what readers see (head, segments, offsets, seqs by app and change)
//! query     Reader: queries through the snapshot, or the segments when the index is wrong
//! journal   the journal's entries and the marker on disk
//! postings  the journal up to a point by name: written from the journal, read a block at a time
//! writer    Writer: the working index, keys, journal appends, the marker and postings (as chores)
//! lookup    Lookup: the index on disk read by a command, read-only, in small memory
//! ```

mod journal;
mod lookup;
mod postings;
mod query;
mod snapshot;
mod writer;

pub use lookup::{Lookup, Want};
pub use query::{Found, Reader, Select};
pub use writer::{Start, Writer};

#[cfg(test)]
mod tests;
