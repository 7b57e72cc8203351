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
//! cli::serve → sink (one tokio runtime): request → limits → route → auth → event → record (model,
//!   gate findings, attribution by commit) → writer thread (batch) → ledger: canonical bytes → hash
//!   chain → append + fsync → Merkle tree → reply
//! sink::watch (Kubernetes API: list | watch | relist on 410) → finished operations after a grace
//!   period → the sink's append path (same record, same idempotency key)
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
//! sink       the HTTP sink on one runtime: routes and auth, group-commit writer, query threads,
//!            metrics, the checkpoint signer, witnesses' client and archive uploader tasks, the
//!            Application watch (kube-rs), what the log taught it (kept in the ledger's marker)
//! witness    the witness's HTTP server (C2SP tlog-witness)
//! generate   the plugin pipeline
//! host       the Git hosts (GitHub, GitLab): credentials, the REST clients, snapshots of what they said
//! itsm       the ticket systems (ServiceNow, Jira Service Management): credentials, the REST clients,
//!            snapshots of what they said, work notes
//! archive    the evidence in object storage (snapshots, segments, tiles, checkpoints): write-once
//!            streamed puts, retention check, every object version read back
//! render     directory | kustomize | helm
//! transform  checksums and PreSync hooks (pure)
//! evidence   checkpoints, cosignatures, the witness's rules, proofs against them, the export, snapshots
//! approval   approvals at the Git host, judged: effective rules (floors, the rule in force), verdict
//! ticket     a change ticket's state, judged: authorized, outside its window, an emergency, or not
//! verify     the PostSync verification hook's runner: Prometheus, HTTP probes, workloads, AnalysisRuns
//! analysis   measurements, limits and phases as data (Argo Rollouts' semantics), the verdict
//! record     what a record says: the typed model, gate findings, how events become records
//! policy     .sluice.yaml: schema, defaults, validation
//! ledger     canonical lines, segments, the one line reader, the index and queries, the Merkle
//!            tree and its tiles; no threads
//! remote     what is asked of outside systems and kept of their answers; credentials that never print
//! commit     commit messages: change ids, trailers, approvers, attribution, lint rules (no log)
//! window     cron, Go durations, globs, zones, the CanSync decision, the guard's wait loop (pure)
//! expr       the condition language of Argo Rollouts (an expr-lang subset), pure
//! manifest   Kubernetes documents read as Kubernetes reads YAML, and written back
//! parallel   data parallelism over slices
//! net        the one TLS setup (ring; the system's and the in-cluster CAs) and HTTP client
//! ```
//!
//! The layers, top to bottom: a module imports only modules of the rows below its own
//! (tests/it/layout.rs checks the code against this block, and that no module's files import each
//! other in a circle):
//!
//! ```text
//! cli
//! diff sink witness
//! generate archive host itsm verify
//! render transform evidence record approval ticket analysis
//! policy ledger commit remote
//! window manifest expr
//! parallel net signals
//! ```
//!
//! Only [`cli`] is public (the binary uses it); the integration tests run the binary. A few types
//! are re-exported for the benchmarks in `benches/`.

pub mod cli;

mod analysis;
mod approval;
mod archive;
mod commit;
mod diff;
mod evidence;
mod expr;
mod generate;
mod host;
mod itsm;
mod ledger;
mod manifest;
mod net;
mod parallel;
mod policy;
mod record;
mod remote;
mod render;
mod signals;
mod sink;
mod ticket;
mod transform;
mod verify;
mod window;
mod witness;

pub use policy::{load as load_policy, Policy, PolicyError};
pub use window::{Decision, Rules, Subject};
