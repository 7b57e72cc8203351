//! Evidence over the ledger for people who do not trust its operator (docs/audit-log.md, "Checkpoints",
//! "Export for auditors"): signed checkpoints of the chain's head, the proof that a log (or an archive's
//! copy of it) matches its checkpoints, and the auditor's export bundle. The archive (src/archive)
//! stores this evidence and the sealed segments off the machine.
//!
//! ```text
//! checkpoint  Ed25519 keys and signed notes (Go's note format), C2SP tlog-checkpoint bodies, files
//! proof       segments + checkpoints → a report, or the first thing that does not hold
//! export      verified records + a covering checkpoint → the bundle's files (bytes, no I/O)
//! snapshot    what outside systems said for a decision, stored by SHA-256 beside the log
//! ```

pub mod checkpoint;
pub mod export;
pub mod proof;
pub mod snapshot;
