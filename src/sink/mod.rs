//! The notification sink (docs/audit-log.md): hyper 1's HTTP/1.1 server on one tokio runtime, with
//! every client resource bounded, writing the records of Argo CD's notifications, the guard's
//! decisions and the Application watch's findings into the ledger through one group-commit writer
//! thread, and answering queries from a bounded pool of query threads.
//!
//! ```text
//! listener → server (cap, head timeout, lingering close) → routes: strict → route table → auth
//!   → handlers: body ≤ --max-body → record (+ approvals, verification evidence) → writer (batch →
//!   one write + fsync → replies) → ledger → memory (what the log taught, kept in the marker)
//! watch (Kubernetes API) → watched → the same evidence → writer
//! writer → evidence: checkpoint signer → archive uploader
//! ```
//!
//! ```text
//! serve     the one runtime, what runs on it, and the shutdown tree
//! server    connections: hyper, limits, lingering close
//! routes    one request: framing checks, the route table, access, dispatch
//! auth      Access per route; the credentials (bearer tokens) that give it
//! handlers  healthz, the posts, GET /v1/records
//! approvals POST /v1/decide, approval evidence on sync records (judged at the Git host)
//! verification  POST /v1/verifications, verification evidence on sync records, rollback
//! reply     a response before it is sent
//! strict    framing checks hyper leaves to the application
//! writer    the group-commit writer thread behind an async Appender; gate findings per batch
//! memory    the ledger's fold: gate knowledge, approvals and verification registries
//! query     the bounded, cancellable query threads
//! metrics   the counters and the one text exposition
//! evidence  checkpoint signer and archive uploader tasks
//! watch     the Application watch (kube-rs) and its tracker; watched: its append path
//! ```

pub mod approvals;
pub mod auth;
pub mod evidence;
pub mod handlers;
pub mod memory;
pub mod metrics;
pub mod query;
pub mod reply;
pub mod routes;
pub mod serve;
pub mod server;
pub mod strict;
pub mod verification;
pub mod watch;
pub mod watched;
pub mod writer;

pub use serve::{serve, Config, SinkError};
