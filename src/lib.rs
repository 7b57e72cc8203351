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
//! cli::serve → sink: request → limits → auth → event → audit: record → canonical bytes
//!   → hash chain → append + fsync → reply
//! watch (Kubernetes API: list | watch | relist on 410) → finished operations after a grace period
//!   → the sink's append path (same record, same idempotency key)
//! ```
//!
//! The layers, from the top; each imports only what is below it:
//!
//! ```text
//! cli        clap types, one file per command; the only code that reads arguments, the process
//!            environment, stdin and stdout, and maps errors to exit codes
//! diff       two revisions rendered and compared (the pull-request check)
//! generate   the plugin pipeline          sink      the HTTP sink, group-commit writer, metrics
//!                                         watch     the Application watch (kube-rs), behind a Recorder
//! render     directory | kustomize | helm  transform  checksums and PreSync hooks (pure)
//! policy     .sluice.yaml: schema, defaults, validation
//! window     cron, Go durations, globs, zones, the CanSync decision, the guard's wait loop (pure)
//! audit      records, canonical bytes, the hash-chained log, queries, commit messages
//! manifest   Kubernetes documents read as Kubernetes reads YAML, and written back
//! parallel   data parallelism over slices
//! ```
//!
//! Only [`cli`] is public (the binary uses it); the integration tests run the binary. A few types
//! are re-exported for the benchmarks in `benches/`.

pub mod cli;

mod audit;
mod diff;
mod generate;
mod manifest;
mod parallel;
mod policy;
mod render;
mod sink;
mod transform;
mod watch;
mod window;

pub use policy::{load as load_policy, Policy, PolicyError};
pub use window::{Decision, Rules, Subject};
