//! One request, start to end: route → auth → bounded body → event → record → group-commit append →
//! response. Never logs bodies or tokens; every rejection is a JSON `{"error": …}` and writes nothing.

use super::metrics::{event_label, Metrics, Outcome as Counted};
use super::server::{Method, Request, Response};
use super::writer::Appender;
use crate::audit::index::Reader;
use crate::audit::log::Outcome;
use crate::audit::query::Filter;
use crate::audit::record::{self, Body, EventError, GUARD_DECISION};
use regex::Regex;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::{ErrorKind, Read};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest accepted body: 1 MiB.
pub const BODY_LIMIT: usize = 1 << 20;

/// Longest a body may take to arrive, whatever the per-read socket timeout.
const BODY_DEADLINE: Duration = Duration::from_secs(30);

/// Default and largest `limit` of `GET /v1/records`.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// Everything a worker needs to answer requests.
pub struct Context {
    /// SHA-256 of the bearer token, when one is configured (compared digest to digest, in constant time).
    pub token_digest: Option<[u8; 32]>,
    pub appender: Appender,
    pub metrics: Arc<Metrics>,
    /// The durable head and the index (lock-free: a query never holds anything the writer waits on).
    pub reader: Reader,
    pub change_pattern: Regex,
}

/// A response before it is sent.
struct Reply {
    status: u16,
    body: String,
    content_type: &'static str,
    extra: Option<(&'static str, &'static str)>,
}

impl Reply {
    fn json(status: u16, body: &Value) -> Self {
        Reply {
            status,
            body: body.to_string(),
            content_type: "application/json",
            extra: None,
        }
    }

    fn error(status: u16, message: impl std::fmt::Display) -> Self {
        Reply::json(status, &json!({ "error": message.to_string() }))
    }
}

/// Answers one request (the worker's whole job for it).
pub fn handle(ctx: &Context, rq: &mut Request<'_>) -> Response {
    let started = Instant::now();
    let method = rq.method().clone();
    let url = rq.url().to_owned();
    let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    let reply = route(ctx, rq, &method, path, query);
    tracing::info!(
        method = %method,
        path = %loggable(path),
        status = reply.status,
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    Response {
        status: reply.status,
        content_type: reply.content_type,
        body: reply.body,
        headers: reply.extra.into_iter().collect(),
    }
}

/// A request path fit for a log line: at most 200 characters, control characters replaced.
fn loggable(path: &str) -> String {
    path.chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn route(ctx: &Context, rq: &mut Request<'_>, method: &Method, path: &str, query: &str) -> Reply {
    match (method, path) {
        (Method::Get | Method::Head, "/healthz") => {
            let seq = ctx.reader.head().seq;
            Reply::json(200, &json!({"status": "ok", "seq": seq}))
        }
        (Method::Get, "/metrics") => Reply {
            status: 200,
            body: ctx.metrics.render(),
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            extra: None,
        },
        (Method::Post, "/v1/events") => post(ctx, rq, Kind::Event),
        (Method::Post, "/v1/guard") => post(ctx, rq, Kind::Guard),
        (Method::Get, "/v1/records") => match authorize(ctx, rq) {
            Ok(()) => records(ctx, query),
            Err(reply) => reply,
        },
        (_, "/healthz" | "/metrics" | "/v1/records") => Reply {
            extra: Some(("Allow", "GET")),
            ..Reply::error(405, "method not allowed")
        },
        (_, "/v1/events" | "/v1/guard") => Reply {
            extra: Some(("Allow", "POST")),
            ..Reply::error(405, "method not allowed")
        },
        _ => Reply::error(404, format!("no such endpoint: {}", loggable(path))),
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Event,
    Guard,
}

fn post(ctx: &Context, rq: &mut Request<'_>, kind: Kind) -> Reply {
    let fixed_label = match kind {
        Kind::Event => "unknown",
        Kind::Guard => GUARD_DECISION,
    };
    if let Err(reply) = authorize(ctx, rq) {
        ctx.metrics.count(fixed_label, Counted::Unauthorized);
        return reply;
    }
    let body = match read_body(rq) {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            ctx.metrics.count(fixed_label, Counted::TooLarge);
            return Reply::error(
                413,
                format!("the body is over the limit of {BODY_LIMIT} bytes"),
            );
        }
        Err(BodyError::Timeout) => {
            ctx.metrics.count(fixed_label, Counted::Timeout);
            return Reply::error(408, "the body did not arrive in time");
        }
        Err(BodyError::Io(e)) => {
            ctx.metrics.count(fixed_label, Counted::Rejected);
            return Reply::error(400, format!("cannot read the body: {e}"));
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
        Kind::Guard => GUARD_DECISION,
    };
    let received_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let draft: Result<Body, EventError> = match kind {
        Kind::Event => record::event_record(&value, &received_at, &ctx.change_pattern),
        Kind::Guard => record::guard_record(&value, &received_at),
    };
    // The body may hold secrets (Helm values in the Application): drop it before waiting on the disk.
    drop(value);
    drop(body);
    let draft = match draft {
        Ok(d) => d,
        Err(e) => {
            ctx.metrics.count(label, Counted::Rejected);
            return Reply::error(400, e);
        }
    };
    let queued = Instant::now();
    let result = ctx.appender.append(draft);
    ctx.metrics.observe_append(queued.elapsed());
    match result {
        Ok(Outcome::Appended { seq, hash }) => {
            ctx.metrics.count(label, Counted::Created);
            Reply::json(201, &json!({"seq": seq, "hash": hash}))
        }
        Ok(Outcome::Duplicate { seq }) => {
            ctx.metrics.count(label, Counted::Duplicate);
            Reply::json(200, &json!({"seq": seq, "duplicate": true}))
        }
        Err(e) => {
            ctx.metrics.count(label, Counted::Unavailable);
            Reply {
                extra: Some(("Retry-After", "5")),
                ..Reply::error(503, format!("{e}; nothing was recorded, retry later"))
            }
        }
    }
}

/// Checks `Authorization: Bearer <token>` when a token is configured.
fn authorize(ctx: &Context, rq: &Request<'_>) -> Result<(), Reply> {
    let Some(expected) = ctx.token_digest else {
        return Ok(());
    };
    let presented = rq.header("Authorization").and_then(bearer);
    match presented {
        Some(token) if constant_time_eq(&digest(token), &expected) => Ok(()),
        _ => Err(Reply {
            extra: Some(("WWW-Authenticate", "Bearer")),
            ..Reply::error(401, "a valid bearer token is required")
        }),
    }
}

/// The token of a `Bearer` credential (scheme case-insensitive, RFC 7235).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// SHA-256 of a token: comparing digests makes the comparison independent of the token's length.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Equality that takes the same time wherever the inputs differ.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Debug)]
enum BodyError {
    TooLarge,
    Timeout,
    Io(std::io::Error),
}

/// Reads at most `BODY_LIMIT + 1` bytes (never trusting Content-Length alone), within `BODY_DEADLINE`.
fn read_body(rq: &mut Request<'_>) -> Result<Vec<u8>, BodyError> {
    if rq.body_length().is_some_and(|n| n > BODY_LIMIT as u64) {
        return Err(BodyError::TooLarge);
    }
    let deadline = Instant::now() + BODY_DEADLINE;
    let capacity = rq
        .body_length()
        .map_or(8192, |n| n as usize)
        .min(BODY_LIMIT);
    let mut body = Vec::with_capacity(capacity);
    let mut reader = rq.body().take(BODY_LIMIT as u64 + 1);
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
                return Err(BodyError::Timeout)
            }
            Err(e) => return Err(BodyError::Io(e)),
        }
        if body.len() > BODY_LIMIT {
            return Err(BodyError::TooLarge);
        }
        if Instant::now() > deadline {
            return Err(BodyError::Timeout);
        }
    }
    Ok(body)
}

/// `GET /v1/records?app=&change=&after=SEQ&limit=N`: with `after`, the first `limit` matches after that
/// seq (page forward by passing the last seq seen); without it, the last `limit` matches. Oldest first.
fn records(ctx: &Context, query: &str) -> Reply {
    let mut filter = Filter::default();
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
    // Through the index: reads only the records it answers with, and stops at `limit`.
    let found = match ctx.reader.query(&filter, after, limit) {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the audit log for a query");
            return Reply::error(500, "cannot read the audit log");
        }
    };
    // Each record serializes with its members in the order of its line in the log.
    match serde_json::to_string(&found) {
        Ok(body) => Reply {
            status: 200,
            body,
            content_type: "application/json",
            extra: None,
        },
        Err(e) => {
            tracing::error!(error = %e, "cannot print the records of a query");
            Reply::error(500, "cannot print the records")
        }
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

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(b)) => {
                out.push(b);
                i += 2;
            }
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
    }

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

    #[test]
    fn constant_time_eq_compares_all_bytes() {
        let a = digest("secret");
        assert!(constant_time_eq(&a, &digest("secret")));
        assert!(!constant_time_eq(&a, &digest("secreT")));
    }
}
