//! The notification sink (docs/audit-log.md): hyper 1's HTTP/1.1 server on one tokio runtime, with
//! every client resource bounded, writing the records of Argo CD's notifications, the guard's
//! decisions and the Application watch's findings into the ledger through one group-commit writer
//! thread, and answering queries from a bounded pool of query threads.
//!
//! ```text
//! listener → server (cap, head timeout, lingering close) → routes: strict → route table → auth
//!   → handlers: body ≤ --max-body → record (+ approval, ticket, verification evidence) → writer
//!   (batch → one write + fsync → replies) → ledger (+ Merkle tree) → memory (what the log taught,
//!   kept in the marker)
//! POST /v1/decide → decide: window → tickets → approvals → one guard decision → writer
//! watch (Kubernetes API) → watched → the same evidence → writer
//! writer → evidence: checkpoint signer (only a tree that extends what was signed) → witnesses
//!   (cosignatures) → archive uploader
//! ```
//!
//! ```text
//! serve     the one runtime, what runs on it, and the shutdown tree
//! server    connections: hyper, limits, lingering close
//! routes    one request: framing checks, the route table, access, dispatch
//! auth      who may call which route: the tokens, the guard's ServiceAccount token (TokenReview,
//!           tokenreview.rs), a hook Job only for its own namespace
//! handlers  healthz, the posts, GET /v1/records, GET /v1/log/…
//! served    the tiled log: the newest checkpoint and the tiles
//! decide    POST /v1/decide: the gates together, one guard decision
//! approvals approval evidence on guard decisions and sync records (judged at the Git host)
//! tickets   ticket evidence, work notes, emergencies and POST /v1/reviews (the ticket system)
//! verification  POST /v1/verifications, verification evidence on sync records, rollback
//! ui        the read side for people: the Argo CD extension's API, the auditor's pages
//! reply     a response before it is sent
//! strict    framing checks hyper leaves to the application
//! writer    the group-commit writer thread behind an async Appender; gate findings per batch
//! memory    the ledger's fold: gate knowledge, approvals and verification registries
//! query     the bounded, cancellable query threads
//! metrics   the counters and the one text exposition
//! evidence  checkpoint signer and archive uploader tasks; witnesses: the witnesses' client
//! watch     the Application watch (kube-rs) and its tracker; watched: its append path;
//!           watch_health: its health
//! ```

pub mod approvals;
pub mod auth;
pub mod decide;
pub mod evidence;
pub mod handlers;
pub mod memory;
pub mod metrics;
pub mod query;
pub mod reply;
pub mod routes;
pub mod serve;
pub mod served;
pub mod server;
pub mod strict;
pub mod tickets;
pub mod tokenreview;
pub mod ui;
pub mod verification;
pub mod watch;
pub mod watch_health;
pub mod watched;
pub mod witnesses;
pub mod writer;

pub use serve::{serve, Config, GuardReview, SinkError};
