//! sluice: change management for Argo CD, in two pipelines that share one crate.
//!
//! **generate** (the config-management plugin, run by argocd-cmp-server on every refresh):
//!
//! ```text
//! cli::generate | cli::render → generate: policy (.sluice.yaml) → render (directory | kustomize | helm)
//!   → manifest (read as Kubernetes reads YAML) → transform (checksums, guard, backup, migrations)
//!   → bytes → cli writes them to stdout, only on success
//! ```
//!
//! **serve** (the notification sink, called by Argo CD Notifications on every sync outcome):
//!
//! ```text
//! cli::serve → sink: request → limits → auth → event → record (model, gate findings, attribution by
//!   commit) → writer (batch) → ledger: canonical bytes → hash chain → append + fsync → reply
//! watch (Kubernetes API: list | watch | relist on 410) → finished operations after a grace period
//!   → the sink's append path (same record, same idempotency key)
//! ledger (segments, Merkle tree, tiles) → evidence (checkpoints signed only when the tree extends
//!   the last one) → witnesses (cosignatures) and archive (object storage)
//! ```
//!
//! **witness** (`sluice witness serve`, run by another party):
//!
//! ```text
//! cli::witness → witness: request → add-checkpoint → evidence::witness (verify the log's signature,
//!   the consistency proof from the last checkpoint cosigned) → persist → cosignature
//! ```
//!
//! The modules:
//!
//! ```text
//! cli        clap types, one file per command; the only code that reads arguments, the process
//!            environment, stdin and stdout, and maps errors to exit codes; presentation of the audit
//!            log (tables, CSV, the change report) in cli/audit
//! diff       two revisions rendered and compared (the pull-request check)
//! sink       the HTTP sink, group-commit writer, queries, metrics, checkpoint signer, witnesses' client
//! witness    the witness's HTTP server (C2SP tlog-witness)
//! generate   the plugin pipeline
//! archive    sealed segments and checkpoints in object storage: write-once puts, retention check
//! watch      the Application watch (kube-rs), behind a Recorder
//! render     directory | kustomize | helm
//! transform  checksums and PreSync hooks (pure)
//! evidence   checkpoints, cosignatures, the witness's rules, proofs against them, the export
//! record     what a record says: the typed model, gate findings, how events become records
//! policy     .sluice.yaml: schema, defaults, validation
//! ledger     canonical lines, segments, the one line reader, the index and queries, the Merkle
//!            tree and its tiles; no threads
//! commit     commit messages: change ids, trailers, approvers, attribution, lint rules (no log)
//! window     cron, Go durations, globs, zones, the CanSync decision, the guard's wait loop (pure)
//! manifest   Kubernetes documents read as Kubernetes reads YAML, and written back
//! parallel   data parallelism over slices
//! ```
//!
//! The layers, top to bottom: a module imports only modules of the rows below its own
//! (tests/it/layout.rs checks the code against this block, and that no module's files import each
//! other in a circle):
//!
//! ```text
//! cli
//! diff sink witness
//! generate archive watch
//! render transform evidence record
//! policy ledger commit
//! window manifest
//! parallel
//! ```
//!
//! Only [`cli`] is public (the binary uses it); the integration tests run the binary. A few types
//! are re-exported for the benchmarks in `benches/`.

pub mod cli;

mod archive;
mod commit;
mod diff;
mod evidence;
mod generate;
mod ledger;
mod manifest;
mod parallel;
mod policy;
mod record;
mod render;
mod sink;
mod transform;
mod watch;
mod window;
mod witness;

pub use policy::{load as load_policy, Policy, PolicyError};
pub use window::{Decision, Rules, Subject};
