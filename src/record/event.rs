//! What identifies an event: the event names, how the sink learnt of one (`via`), why a request body
//! is not one, and the idempotency keys (docs/audit-log.md, "Idempotency"). Pure.

use super::facts::Members;
use std::borrow::Cow;

/// The `event` values: one per trigger of the webhook templates in `argocd-cm-patch/`.
pub const EVENTS: [&str; 8] = [
    "created",
    "deleted",
    "deployed",
    "health-degraded",
    "sync-failed",
    "sync-running",
    "sync-status-unknown",
    "sync-succeeded",
];

/// The `event` of a guard decision record (`POST /v1/guard`).
pub const GUARD_DECISION: &str = "guard-decision";

/// The `event` of the Application watch's confirmation of a webhook record.
pub const WATCH_CONFIRMATION: &str = "watch-confirmation";

/// The `event` of the review of an emergency change (`sluice audit review`, `POST /v1/reviews`).
pub const EMERGENCY_REVIEW: &str = "emergency-review";

/// The `event` of a verification record: the `PostSync` hook's verdict (`POST /v1/verifications`).
pub const VERIFICATION: &str = "verification";

/// The events that record a finished operation: the ones that carry gate findings, and the ones the
/// Application watch records.
pub const SYNC_SUCCEEDED: &str = "sync-succeeded";
pub const SYNC_FAILED: &str = "sync-failed";

/// How the sink learnt of an event (the record's `via`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Argo CD Notifications posted it (`POST /v1/events`).
    Webhook,
    /// The Application watch saw the finished operation in `status.operationState`.
    Watch,
    /// The Application watch found the deployment in `status.history` only.
    History,
    /// Imported from the Applications as they were when the watch first started: a sync from before
    /// sluice recorded, kept for the record but not a new change.
    Import,
}

impl Via {
    /// The value of `via`.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Webhook => "webhook",
            Via::Watch => "watch",
            Via::History => "history",
            Via::Import => "import",
        }
    }
}

/// Why a request body is not an event (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("the body must be a JSON object")]
    NotAnObject,
    #[error("missing \"event\" (one of {})", EVENTS.join(", "))]
    MissingEvent,
    #[error("unknown event {0:?} (one of {all})", all = EVENTS.join(", "))]
    UnknownEvent(String),
    #[error("missing app.metadata.name (the body's \"app\" must be the whole Application)")]
    MissingAppName,
    #[error("missing or empty {0:?}")]
    Missing(&'static str),
    #[error("{field:?} must be {expected}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
}

/// The idempotency key of an Argo CD Notifications event (docs/audit-log.md, "Idempotency"): the
/// lowercase hex SHA-256 of the four fields, each written as its UTF-8 length (8 bytes, big-endian) and
/// then its bytes, so that no two different field lists share an encoding (`a|b` + `c` and `a` + `b|c`
/// are different keys). An unknown field is the empty string.
///
/// - `event`: the trigger's event name (`sync-succeeded`, …);
/// - `app_uid`: the Application's `metadata.uid`, or `namespace/name` when it has none;
/// - `started_at`: `status.operationState.startedAt` as Argo CD wrote it;
/// - `revision`: the synced revision (see `event_record`).
///
/// The sink and anything that backfills records (the watch recorder) key with this one function, so a
/// record delivered twice, by either path, is found as a duplicate.
pub fn idempotency_key(event: &str, app_uid: &str, started_at: &str, revision: &str) -> String {
    length_prefixed_digest(&[event, app_uid, started_at, revision])
}

/// The idempotency key of a guard decision: the same encoding over `guard-decision`, the app as
/// `namespace/name`, the revision, the decision time and `true`/`false`.
pub(super) fn guard_key(app: &str, revision: &str, at: &str, allowed: bool) -> String {
    let allowed = if allowed { "true" } else { "false" };
    length_prefixed_digest(&[GUARD_DECISION, app, revision, at, allowed])
}

/// The idempotency key of the confirmation of the record whose key is `confirmed`: the same encoding
/// over `watch-confirmation` and that key, so a record is confirmed once however often the watch sees
/// its operation again (each relist).
pub(super) fn confirmation_key(confirmed: &str) -> String {
    length_prefixed_digest(&[WATCH_CONFIRMATION, confirmed])
}

/// The idempotency key of a review: the same encoding over `emergency-review`, the change id, the
/// reviewer and the note, so that a retried review is found as a duplicate.
pub(super) fn review_key(change_id: &str, by: &str, note: &str) -> String {
    length_prefixed_digest(&[EMERGENCY_REVIEW, change_id, by, note])
}

/// The idempotency key of a verification record: the app (`namespace/name`), the revision and the
/// time the verification started (a re-run of the hook starts later: another record).
pub(super) fn verification_key(app: &str, revision: &str, started_at: &str) -> String {
    length_prefixed_digest(&[VERIFICATION, app, revision, started_at])
}

fn length_prefixed_digest(fields: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for field in fields {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// The key under which a record of the log is indexed for idempotency: its `key` member, or, for a
/// record written before keys were digests (`event|app|start|revision`, joined with `|`), the digest key
/// recomputed from the record's own members, so that a redelivery of an event recorded by an older
/// release is still found as a duplicate. `None` for a record without a string `key`.
pub fn index_key<'a>(record: &impl Members<'a>) -> Option<String> {
    let key = record.text(&["key"])?;
    if !key.contains('|') {
        return Some(key.into_owned());
    }
    let text = |path: &[&str]| record.text(path).map(Cow::into_owned).unwrap_or_default();
    let event = text(&["event"]);
    if event == GUARD_DECISION {
        let allowed = record.flag(&["allowed"])?;
        let app = format!(
            "{}/{}",
            text(&["destination", "namespace"]),
            text(&["app", "name"])
        );
        return Some(guard_key(
            &app,
            &text(&["revision"]),
            &text(&["at"]),
            allowed,
        ));
    }
    let uid = text(&["app", "uid"]);
    let identity = if uid.is_empty() {
        format!("{}/{}", text(&["app", "namespace"]), text(&["app", "name"]))
    } else {
        uid
    };
    Some(idempotency_key(
        &event,
        &identity,
        &text(&["startedAt"]),
        &text(&["revision"]),
    ))
}
