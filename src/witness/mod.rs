//! `sluice witness serve`: a C2SP tlog-witness that another party runs (a security team, an auditor),
//! so that no single operator can rewrite the audit log unseen (docs/witness.md). Hyper 1's HTTP/1.1
//! server on the tokio runtime its caller runs; the witness's logic and state are evidence/witness.rs.
//!
//! ```text
//! POST /add-checkpoint        old size + consistency proof + checkpoint → cosignature (or 400 403 404 409 422)
//! GET  /<origin hash>/checkpoint  the last checkpoint cosigned for that log (monitoring), or 404
//! GET  /healthz               {"status": "ok", "logs": [...]}
//! ```
//!
//! Bounded like the sink: at most `max_connections` at once, request heads within 10 s (also the idle
//! keep-alive timeout), bodies at most 64 KiB (413 past that, before or while they stream). The state
//! directory is locked (an advisory `flock` on `STATE_DIR/.lock`) so that two witnesses never share it.

use crate::evidence::witness::{Answer, Witness, MAX_BODY};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::fs::File;
use std::future::Future;
use std::path::Path;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Longest wait for a request head (and the idle keep-alive timeout).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest a request may take from its head to its answer.
const REQUEST_DEADLINE: Duration = Duration::from_secs(30);

/// How long requests in flight may take to finish after the stop signal.
const GRACE: Duration = Duration::from_secs(10);

/// Why the witness cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{path}: {source}")]
    State {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}: another witness holds this state directory (its .lock); one witness per state directory")]
    Locked(String),
}

/// Locks `state_dir` (creating it) for this process: the returned file holds the lock until dropped.
///
/// # Errors
///
/// The directory cannot be created, or another process holds the lock.
pub fn lock_state(state_dir: &Path) -> Result<File, ServeError> {
    let err = |source| ServeError::State {
        path: state_dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(state_dir).map_err(err)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(state_dir.join(".lock"))
        .map_err(err)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(ServeError::Locked(state_dir.display().to_string()))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(err(e)),
    }
}

/// Serves `witness` on `listener` until `stop` resolves, with at most `max_connections` at once; then
/// stops accepting and lets the requests in flight finish (at most 10 s).
pub async fn serve(
    listener: TcpListener,
    witness: Arc<Witness>,
    max_connections: usize,
    stop: impl Future<Output = ()>,
) {
    let max = max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let permits = Arc::new(Semaphore::new(max));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_headers(100)
        .keep_alive(true);
    let builder = Arc::new(builder);
    let mut stop = pin!(stop);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "witness listening");
    }
    loop {
        let permit = tokio::select! {
            () = &mut stop => break,
            p = Arc::clone(&permits).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (witness, builder) = (Arc::clone(&witness), Arc::clone(&builder));
        tokio::spawn(async move {
            let _permit = permit;
            let service = service_fn(move |rq: Request<Incoming>| {
                let witness = Arc::clone(&witness);
                async move { Ok::<_, Infallible>(handle(&witness, rq).await) }
            });
            if let Err(e) = builder
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
    drop(listener);
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(GRACE, permits.acquire_many(all)).await;
}

fn reply(answer: Answer) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(answer.body)));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(answer.content_type));
    response
}

fn text(status: u16, body: &str) -> Response<Full<Bytes>> {
    reply(Answer {
        status,
        content_type: "text/plain; charset=utf-8",
        body: format!("{body}\n"),
    })
}

async fn handle(witness: &Arc<Witness>, rq: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = rq.uri().path().to_owned();
    let method = rq.method().clone();
    let response = match (&method, path.as_str()) {
        (&Method::POST, "/add-checkpoint") => add_checkpoint(witness, rq).await,
        (&Method::GET, "/healthz") => reply(Answer {
            status: 200,
            content_type: "application/json",
            body: serde_json::json!({"status": "ok", "logs": witness.origins()}).to_string(),
        }),
        (&Method::GET, p) if p.ends_with("/checkpoint") => {
            let hash = p.trim_start_matches('/').trim_end_matches("/checkpoint");
            match witness.latest(hash) {
                Some(note) => reply(Answer {
                    status: 200,
                    content_type: "text/plain; charset=utf-8",
                    body: note,
                }),
                None => text(404, "no checkpoint cosigned for that log"),
            }
        }
        (_, "/add-checkpoint") => text(405, "POST only"),
        _ => text(404, "no such endpoint"),
    };
    tracing::info!(method = %method, path = %path.chars().take(200).collect::<String>(), status = response.status().as_u16(), "request");
    response
}

async fn add_checkpoint(witness: &Arc<Witness>, rq: Request<Incoming>) -> Response<Full<Bytes>> {
    let declared = rq
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return text(413, "the body is over 64 KiB");
    }
    let body = Limited::new(rq.into_body(), MAX_BODY);
    let body = match tokio::time::timeout(REQUEST_DEADLINE, body.collect()).await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return text(413, "the body is over 64 KiB")
        }
        Ok(Err(e)) => return text(400, &format!("cannot read the body: {e}")),
        Err(_) => return text(408, "the body did not arrive in time"),
    };
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
    let witness = Arc::clone(witness);
    // Persisting is an fsync: off the runtime's threads.
    match tokio::task::spawn_blocking(move || witness.add_checkpoint(&body, now)).await {
        Ok(answer) => reply(answer),
        Err(_) => text(500, "the witness failed"),
    }
}
