//! The Merkle tree over the log's records (docs/audit-log.md, "The Merkle tree"): RFC 6962 hashing
//! with SHA-256, where a record's leaf is its line without the newline, kept as C2SP tlog-tiles under
//! `DATA_DIR/tile/`. It sits beside the hash chain: the chain proves order line by line, the tree lets
//! anyone prove that one record is in a signed tree (inclusion) and that a signed tree only grew
//! (consistency) without the whole log.
//!
//! ```text
//! hash   leaf and node hashes, the empty root, base64
//! proof  inclusion and consistency proofs from any source of subtree hashes, and their checks
//! tile   tile paths, the incremental builder (one partial tile per level in memory)
//! store  tiles on disk, the writer the ledger owns, readers and views
//! ```

pub mod hash;
pub mod proof;
pub mod store;
pub mod tile;

pub use hash::Hash;
pub use store::{Reader, View, Writer};
pub use tile::{Builder, TileId};
