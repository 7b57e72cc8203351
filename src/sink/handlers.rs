//! The handlers: `/healthz`, the posts (`/v1/events`, `/v1/guard`, `/v1/decide`, `/v1/reviews`,
//! `/v1/verifications`: body limited while it streams → event → record, with approval, ticket and
//! verification evidence → group-commit append → integrity check of a duplicate), `GET /v1/records`
//! (on the query pool) and the tiled log `GET /v1/log/…` (served.rs). Never logs bodies or tokens; a
//! rejection writes nothing.

use super::approvals::{self, Approvals};
use super::auth::{self, Auth, Caller};
use super::metrics::{event_label, Metrics, Outcome as Counted};
use super::query::QueryPool;
use super::reply::Reply;
use super::served::Served;
use super::tickets::Tickets;
use super::verification::{self, Verifications};
use super::writer::{Appender, Health};
use crate::ledger::{Outcome, Reader, Select};
use crate::record::{
    self, Body, EventError, Record, EMERGENCY_REVIEW, GUARD_DECISION, VERIFICATION,
};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::CONTENT_LENGTH;
use hyper::Request;
use regex::Regex;
use serde_json::{json, Map, Value};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Default of `--max-body`: 4 MiB. An Application may be up to about 1.5 MiB in etcd, and the webhook
/// body carries it whole (`{{toJson .app}}`) with the commit.
pub const DEFAULT_MAX_BODY: usize = 4 << 20;

/// Longest a request may take from its head to its answer: the body must arrive, and the record be
/// made durable (or the query answered), within this.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(30);

/// Default and largest `limit` of `GET /v1/records`.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// Everything the handlers need.
pub struct Context {
    /// Who may do what.
    pub auth: Auth,
    pub appender: Appender,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    /// The durable head and the index (lock-free: a query never holds anything the writer waits on).
    pub reader: Reader,
    /// Where queries run.
    pub queries: Arc<QueryPool>,
    pub change_pattern: Regex,
    /// Largest accepted body (`--max-body`).
    pub max_body: usize,
    /// See [`REQUEST_DEADLINE`].
    pub request_deadline: Duration,
    /// The checkpoint and tiles of `GET /v1/log/…`.
    pub served: Arc<Served>,
    /// Approvals at the Git host: `POST /v1/decide`, and the evidence on sync records.
    pub approvals: Option<Arc<Approvals>>,
    /// The change ticket's state: `POST /v1/decide`, evidence on sync records, work notes, reviews
    /// (`POST /v1/reviews`).
    pub tickets: Option<Arc<Tickets>>,
    /// The extension's API and the auditor's pages (src/sink/ui), with credentials of their own.
    pub ui: Arc<super::ui::Access>,
    /// Post-change verification: `POST /v1/verifications`, the evidence on sync records, rollback.
    pub verifications: Option<Arc<Verifications>>,
}

/// Which post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An Argo CD Notifications event (`POST /v1/events`).
    Event,
    /// A guard Job's decision (`POST /v1/guard`).
    Guard,
    /// The guard asks for the sink's decision (`POST /v1/decide`, src/sink/decide.rs).
    Decide,
    /// The review of an emergency (`POST /v1/reviews`, src/sink/tickets/review.rs).
    Review,
    /// The verification hook reports (`POST /v1/verifications`, src/sink/verification).
    Verify,
}

impl Kind {
    /// The `event` label of a post counted before its body is read.
    pub fn fixed_label(self) -> &'static str {
        match self {
            Kind::Event => "unknown",
            Kind::Guard | Kind::Decide => GUARD_DECISION,
            Kind::Review => EMERGENCY_REVIEW,
            Kind::Verify => VERIFICATION,
        }
    }
}

/// `/healthz`: 200 while the writer runs and appends succeed; 503 when the writer is gone (the process
/// is stopping) or the last append failed (disk full, I/O error) less than 30 s ago.
pub fn health(ctx: &Context) -> Reply {
    if !ctx.health.writer_alive() {
        return Reply::json(503, &json!({"status": "the audit writer has stopped"}));
    }
    if ctx.health.appends_failing() {
        return Reply::json(
            503,
            &json!({"status": "appends are failing (disk full or I/O errors); see the sink's log"}),
        )
        .with("Retry-After", "5");
    }
    let seq = ctx.reader.head().seq;
    let mut health = json!({"status": "ok", "seq": seq});
    let mut problems = Vec::new();
    if let Some(c) = ctx.metrics.checkpoints.get() {
        let refused = c.refusal();
        let mut evidence = json!({
            "checkpointSeq": c.last_seq.load(Relaxed),
            "signing": if refused.is_some() { "refused" } else { "ok" },
        });
        if let Some(why) = refused {
            evidence["refused"] = json!(why);
            problems.push(why);
        }
        if let Some(witnesses) = ctx.metrics.witnesses.get() {
            let list: Vec<Value> = witnesses
                .iter()
                .map(|(name, w)| {
                    let r = w.refused.lock().ok().and_then(|e| e.clone());
                    let e = w.last_error.lock().ok().and_then(|e| e.clone());
                    let state = if r.is_some() {
                        "refused"
                    } else if e.is_some() {
                        "retrying"
                    } else {
                        "ok"
                    };
                    if let Some(why) = &r {
                        if !problems.contains(why) {
                            problems.push(why.clone());
                        }
                    }
                    json!({"name": name, "cosignedSize": w.cosigned_size.load(Relaxed),
                           "state": state, "refused": r, "lastError": e})
                })
                .collect();
            evidence["witnesses"] = json!(list);
        }
        if let Some(a) = ctx.metrics.archive.get() {
            let error = a.last_error();
            evidence["archive"] = json!({
                "state": if error.is_some() { "retrying" } else { "ok" },
                "lagSegments": a.lag_segments.load(Relaxed),
                "lagCheckpoints": a.lag_checkpoints.load(Relaxed),
                "uploadFailures": a.failures.load(Relaxed),
                "lastError": error,
            });
        }
        health["evidence"] = evidence;
    }
    if let Some(watch) = ctx.metrics.watch.get() {
        let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
        problems.extend(watch.problem(now));
    }
    // Degraded, not down (200): records are still taken, and each one is still evidence.
    if !problems.is_empty() {
        health["status"] = json!("degraded");
        health["problems"] = json!(problems);
    }
    Reply::json(200, &health)
}

/// A post by `caller` (authenticated for its route by the route table).
pub async fn post(
    ctx: &Context,
    rq: Request<Incoming>,
    kind: Kind,
    caller: &Caller,
    deadline: Instant,
) -> Reply {
    let fixed_label = kind.fixed_label();
    let too_large = || {
        Reply::error(
            413,
            format!(
                "the body is over the limit of {} bytes (--max-body)",
                ctx.max_body
            ),
        )
        .closing()
    };
    let declared = rq
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > ctx.max_body as u64) {
        ctx.metrics.count(fixed_label, Counted::TooLarge);
        return too_large();
    }
    let limited = Limited::new(rq.into_body(), ctx.max_body);
    let body = match tokio::time::timeout_at(deadline, limited.collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            ctx.metrics.count(fixed_label, Counted::TooLarge);
            return too_large();
        }
        Ok(Err(e)) => {
            ctx.metrics.count(fixed_label, Counted::Rejected);
            return Reply::error(400, format!("cannot read the body: {e}")).closing();
        }
        Err(_) => {
            ctx.metrics.count(fixed_label, Counted::Timeout);
            return Reply::error(408, "the body did not arrive in time").closing();
        }
    };
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            ctx.metrics.count(fixed_label, Counted::Rejected);
            return Reply::error(400, format!("malformed JSON: {e}"));
        }
    };
    let label = match kind {
        Kind::Event => event_label(value.get("event").and_then(Value::as_str)),
        Kind::Guard | Kind::Decide | Kind::Review | Kind::Verify => fixed_label,
    };
    // A hook Job's ServiceAccount reports, asks and verifies only for apps deployed to its own
    // namespace (the body's `namespace`, as the guard and the verify hook send it).
    let namespace = value.get("namespace").and_then(Value::as_str).unwrap_or("");
    if let Err(refusal) = auth::may_report_for(caller, namespace) {
        ctx.metrics.count(label, Counted::Unauthorized);
        tracing::warn!(caller = ?caller, namespace, "a hook Job's request for another namespace was refused (403)");
        return refusal.reply();
    }
    let received_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    match kind {
        Kind::Decide => return decide(ctx, &value, &received_at).await,
        Kind::Review => return review(ctx, &value, &received_at).await,
        Kind::Event | Kind::Guard | Kind::Verify => {}
    }
    // What judging the sync's approvals after the fact needs of the Application (a few strings).
    let source = ctx.approvals.as_ref().map(|_| approvals::source_of(&value));
    // What the verification evidence needs of it: the verify hook's trace and the source.
    let hook = ctx
        .verifications
        .as_ref()
        .map(|_| verification::hook_of(&value));
    let mut way_back = Vec::new();
    let draft: Result<Body, EventError> = match kind {
        Kind::Event => record::event_record(&value, &received_at, &ctx.change_pattern),
        Kind::Guard | Kind::Decide | Kind::Review => record::guard_record(&value, &received_at),
        Kind::Verify => match verification_draft(ctx, &value, &received_at) {
            Ok(Some((body, back))) => {
                way_back = back;
                Ok(body)
            }
            Ok(None) => {
                ctx.metrics.count(label, Counted::Created);
                return Reply::json(202, &json!({"accepted": true}));
            }
            Err(e) => Err(e),
        },
    };
    // The body may hold secrets (Helm values in the Application): drop it before waiting on the disk.
    drop(value);
    drop(body);
    let mut draft = match draft {
        Ok(d) => d,
        Err(e) => {
            ctx.metrics.count(label, Counted::Rejected);
            return Reply::error(400, e);
        }
    };
    if let (Some(approvals), Some(source)) = (&ctx.approvals, &source) {
        approvals.attach(&mut draft, source).await;
    }
    if let Some(tickets) = &ctx.tickets {
        tickets.attach(&mut draft).await;
    }
    if let (Some(verifications), Some(hook)) = (&ctx.verifications, &hook) {
        verifications.attach(&mut draft, hook).await;
    }
    let content = draft.clone();
    let queued = Instant::now();
    let result = tokio::time::timeout_at(deadline, ctx.appender.append(draft)).await;
    ctx.metrics.observe_append(queued.elapsed());
    let unavailable = |why: &str| {
        ctx.metrics.count(label, Counted::Unavailable);
        Reply::error(
            503,
            format!(
                "{why}; retry later (a retry of a recorded delivery is answered as a duplicate)"
            ),
        )
        .with("Retry-After", "5")
    };
    match result {
        Ok(Ok(Outcome::Appended { seq, hash })) => {
            ctx.metrics.count(label, Counted::Created);
            // What the record teaches (rules in force, decisions, emergencies, verdicts) the sink's
            // memory learnt from the ledger once it was durable (src/sink/memory.rs).
            if let Some(tickets) = &ctx.tickets {
                tickets.after_append(&tokio::runtime::Handle::current(), seq, &hash, &content);
            }
            if let Some(verifications) = &ctx.verifications {
                verifications.count(&content);
            }
            let mut answer = json!({"seq": seq, "hash": hash});
            if !way_back.is_empty() {
                answer["wayBack"] = json!(way_back);
            }
            Reply::json(201, &answer)
        }
        Ok(Ok(Outcome::Duplicate { seq })) => duplicate(ctx, label, &content, seq).await,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "answering 503");
            unavailable("the record could not be made durable, nothing was recorded")
        }
        Err(_) => unavailable("the record was not confirmed durable in time"),
    }
}

/// `POST /v1/verifications`: a progress report is kept (`None`); a final one becomes the draft of a
/// `verification` record, with the way back the sink knows for the hook's log.
fn verification_draft(
    ctx: &Context,
    value: &Value,
    received_at: &str,
) -> Result<Option<(Body, Vec<String>)>, EventError> {
    let report = record::verification::report(value)?;
    let Some(verifications) = &ctx.verifications else {
        return Ok(Some((
            record::verification::verification_record(&report, received_at),
            Vec::new(),
        )));
    };
    if !report.done {
        verifications.progress(&report);
        return Ok(None);
    }
    let way_back = verifications.way_back(&report);
    Ok(Some((
        record::verification::verification_record(&report, received_at),
        way_back,
    )))
}

/// `POST /v1/decide`: the sink's decision for the guard (src/sink/decide.rs). It may take longer than
/// other requests (the Git host and the ticket system are asked), so it is not held to the request
/// deadline once its body has arrived.
async fn decide(ctx: &Context, request: &Value, received_at: &str) -> Reply {
    let gates = super::decide::Gates {
        approvals: ctx.approvals.clone(),
        tickets: ctx.tickets.clone(),
    };
    if gates.approvals.is_none() && gates.tickets.is_none() {
        ctx.metrics.count(GUARD_DECISION, Counted::Rejected);
        return Reply::error(404, "this sink makes no approvals decisions");
    }
    let answer = super::decide::decide(&gates, request, &ctx.appender, received_at).await;
    ctx.metrics.count(GUARD_DECISION, answer.counted);
    let reply = Reply::json(answer.status, &answer.body);
    if answer.status == 503 {
        reply.with("Retry-After", "5")
    } else {
        reply
    }
}

/// `POST /v1/reviews`: the review of an emergency (src/sink/tickets/review.rs).
async fn review(ctx: &Context, request: &Value, received_at: &str) -> Reply {
    let Some(tickets) = &ctx.tickets else {
        ctx.metrics.count(EMERGENCY_REVIEW, Counted::Rejected);
        return Reply::error(404, "this sink records no reviews");
    };
    let answer = tickets.review(request, &ctx.appender, received_at).await;
    let counted = match answer.status {
        201 => Counted::Created,
        200 => Counted::Duplicate,
        409 => Counted::Conflict,
        503 => Counted::Unavailable,
        _ => Counted::Rejected,
    };
    ctx.metrics.count(EMERGENCY_REVIEW, counted);
    let reply = Reply::json(answer.status, &answer.body);
    if answer.status == 503 {
        reply.with("Retry-After", "5")
    } else {
        reply
    }
}

/// `GET /v1/log/checkpoint` and `/v1/log/tile/…` (files, read on the blocking pool).
pub async fn log_file(ctx: &Context, path: String, deadline: Instant) -> Reply {
    let served = Arc::clone(&ctx.served);
    let read = tokio::task::spawn_blocking(move || served.answer(&path));
    match tokio::time::timeout_at(deadline, read).await {
        Ok(Ok(a)) => Reply::bytes(a.status, a.content_type, a.body).with("Cache-Control", a.cache),
        Ok(Err(_)) => Reply::error(500, "the read failed"),
        Err(_) => Reply::error(503, "the read did not finish in time").with("Retry-After", "5"),
    }
}

/// A delivery whose key is already in the log: 200 when the recorded content is the same (a
/// redelivery), 409 when it differs (never a silent duplicate: a forged or changed delivery is refused,
/// logged and counted).
async fn duplicate(ctx: &Context, label: &'static str, draft: &Body, seq: u64) -> Reply {
    let reader = ctx.reader.clone();
    let stored = tokio::task::spawn_blocking(move || {
        reader
            .record(seq)
            .and_then(|found| record::read_found(found).ok())
    })
    .await
    .ok()
    .flatten();
    let Some(stored) = stored else {
        tracing::error!(seq, "cannot read back the record of a duplicate key");
        ctx.metrics.count(label, Counted::Unavailable);
        return Reply::error(
            503,
            "cannot compare with the recorded delivery; retry later",
        )
        .with("Retry-After", "5");
    };
    if same_content(&stored, draft) {
        ctx.metrics.count(label, Counted::Duplicate);
        return Reply::json(200, &json!({"seq": seq, "duplicate": true}));
    }
    ctx.metrics.count(label, Counted::Conflict);
    tracing::warn!(
        seq,
        key = draft.key(),
        event = label,
        "a delivery with the key of a recorded one but different content was refused (409)"
    );
    Reply::json(
        409,
        &json!({
            "error": "a delivery with this idempotency key is already recorded with different content",
            "seq": seq,
        }),
    )
}

/// Whether a recorded line and a new draft carry the same delivery.
///
/// Two webhook deliveries are compared member for member, but for the receipt time, the key (its format
/// changed once) and the chain members. When either side was learnt another way (`via` `watch` or
/// `history`, or a record an older version wrote, without `via`), the members this sink derives (the
/// commit and what is read from it, the gate findings, `via`) legitimately differ, and a history entry
/// carries no phase or message: then the observed facts are compared, each where both sides have it.
pub(super) fn same_content(stored: &Record, draft: &Body) -> bool {
    /// What Argo CD observed about the operation, identical on every path that saw it.
    const FACTS: [&str; 9] = [
        "event",
        "app",
        "destination",
        "revision",
        "phase",
        "message",
        "startedAt",
        "finishedAt",
        "initiatedBy",
    ];
    fn content(mut map: Map<String, Value>) -> Map<String, Value> {
        // `approval` and `ticket` are the sink's own judgments (the host or the ticket may have
        // changed since), and `reviewDue` follows from the receipt: not the delivery's; so is a
        // sync's `verification` (the verdict the hook reported, the way back taken).
        for member in [
            "seq",
            "prev",
            "hash",
            "key",
            "receivedAt",
            "approval",
            "ticket",
            "reviewDue",
        ] {
            map.remove(member);
        }
        if map.get("event").and_then(Value::as_str) != Some(VERIFICATION) {
            map.remove("verification");
        }
        map
    }
    let Ok(Value::Object(stored)) = serde_json::to_value(stored) else {
        return false;
    };
    let is_sync = matches!(draft, Body::Sync(_));
    let draft = draft.to_map();
    let webhook =
        |map: &Map<String, Value>| map.get("via").and_then(Value::as_str) == Some("webhook");
    if !is_sync || (webhook(&stored) && webhook(&draft)) {
        return content(stored) == content(draft);
    }
    FACTS
        .iter()
        .all(|member| match (stored.get(*member), draft.get(*member)) {
            (Some(a), Some(b)) if !a.is_null() && !b.is_null() => a == b,
            _ => true,
        })
}

/// `GET /v1/records?app=&change=&after=SEQ&limit=N`: with `after`, the first `limit` matches after that
/// seq (page forward by passing the last seq seen); without it, the last `limit` matches. Oldest first.
pub async fn records(ctx: &Context, query: &str, deadline: Instant) -> Reply {
    let mut filter = Select::default();
    let mut after: Option<u64> = None;
    let mut limit = DEFAULT_LIMIT;
    for (key, value) in parse_query(query) {
        match key.as_str() {
            "app" => filter.app = Some(value),
            "change" => filter.change = Some(value),
            "after" => match value.parse() {
                Ok(n) => after = Some(n),
                Err(_) => return Reply::error(400, "after must be a record seq (an integer ≥ 0)"),
            },
            "limit" => match value.parse::<usize>() {
                Ok(n) if n >= 1 => limit = n.min(MAX_LIMIT),
                _ => {
                    return Reply::error(
                        400,
                        format!("limit must be an integer from 1 to {MAX_LIMIT}"),
                    )
                }
            },
            _ => {
                return Reply::error(
                    400,
                    format!("unknown query parameter {key:?} (app, change, after, limit)"),
                )
            }
        }
    }
    // Through the index, on a query thread: reads only the records it answers with, and stops at
    // `limit`. Giving up at the deadline drops the answer's receiver, which stops the query.
    let Ok(answer) = ctx.queries.submit(filter, after, limit) else {
        return Reply::error(503, "too many queries are waiting; retry later")
            .with("Retry-After", "5");
    };
    match tokio::time::timeout_at(deadline, answer).await {
        Ok(Ok(Ok(body))) => Reply::json_text(200, body),
        Ok(Ok(Err(e))) => {
            tracing::error!(error = %e, "cannot answer a query");
            Reply::error(500, "cannot read the audit log")
        }
        Ok(Err(_)) => Reply::error(500, "the query failed"),
        Err(_) => Reply::error(503, "the query did not finish in time").with("Retry-After", "5"),
    }
}

/// `a=b&c=d` with `+` and `%XX` decoded (invalid escapes are kept as they are).
fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// `%XX` decoded (with the percent-encoding crate) after `+` became a space.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    #[test]
    fn decodes_query_parameters() {
        assert_eq!(
            parse_query("app=my%2Dapp&change=CHG-1&x=a+b&bad=%zz&end=%4"),
            vec![
                ("app".into(), "my-app".into()),
                ("change".into(), "CHG-1".into()),
                ("x".into(), "a b".into()),
                ("bad".into(), "%zz".into()),
                ("end".into(), "%4".into()),
            ]
        );
    }

    proptest::proptest! {
        #[test]
        fn any_query_string_parses_without_panicking(q in "\\PC{0,64}") {
            let pairs = parse_query(&q);
            proptest::prop_assert!(pairs.len() <= q.len());
        }

        #[test]
        fn percent_encoding_round_trips(s in "\\PC{0,32}") {
            let encoded = s.bytes().fold(String::new(), |mut out, b| {
                let _ = write!(out, "%{b:02X}");
                out
            });
            proptest::prop_assert_eq!(percent_decode(&encoded), s);
        }
    }
}
