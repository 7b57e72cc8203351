//! Evidence over the ledger for people who do not trust its operator (docs/audit-log.md, "Checkpoints",
//! "Witnesses", "Export for auditors"): signed checkpoints of the Merkle tree, witnesses' cosignatures,
//! the proof that a log (or an archive's copy of it) matches its checkpoints, and the auditor's export
//! bundle. The archive (src/archive) stores this evidence, the tiles and the sealed segments off the
//! machine.
//!
//! ```text
//! note        Ed25519 keys (a log's, a witness's) and signed notes (C2SP signed-note, tlog-cosignature)
//! checkpoint  C2SP tlog-checkpoint bodies, their files
//! sign        signing only a tree that extends the newest checkpoint signed before
//! witness     the witness's add-checkpoint (C2SP tlog-witness), and the log's side of it
//! tiles       the tiles a verifier is given, checked to agree, as a source of subtree hashes
//! proof       segments + checkpoints + tiles → a report, or the first thing that does not hold
//! tlog_proof  C2SP tlog-proof: one record's inclusion proof with its checkpoint, as text
//! export      verified records + a witnessed checkpoint + inclusion proofs → the bundle's files
//! snapshot    what outside systems said for a decision, stored by SHA-256 beside the log
//! ```

pub mod checkpoint;
pub mod export;
pub mod note;
pub mod proof;
pub mod sign;
pub mod snapshot;
pub mod tiles;
pub mod tlog_proof;
pub mod witness;
