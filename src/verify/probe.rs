//! The measurements that go out over HTTP: a Prometheus instant query (`GET /api/v1/query`, as
//! `client_golang`'s `API.Query` sends it from argo-rollouts' provider) and an HTTP probe. Each gives
//! one [`Measurement`]: the value as printed, and the phase the check's conditions give it, or an
//! Error naming what went wrong (no answer, a non-2xx answer from Prometheus, a body that is not
//! Prometheus's). The HTTP client is reqwest (already in the tree) with rustls.

use crate::analysis::evaluate::evaluate;
use crate::analysis::read;
use crate::analysis::{Measurement, Phase};
use crate::expr::Value;
use crate::policy::verify::{Conditions, Header, Step};
use std::time::Duration;

/// Largest answer read.
const MAX_BODY: usize = 16 << 20;

/// The RFC 3339 time of now, as an `AnalysisRun` writes it (seconds).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// An HTTP client for the probes and the reports.
///
/// # Errors
///
/// The client cannot be built (no TLS roots).
pub fn client() -> Result<reqwest::Client, String> {
    // The process's rustls provider is ring, as for the sink's clients.
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    reqwest::Client::builder()
        .user_agent(concat!("sluice-verify/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

fn error(started_at: String, message: String) -> Measurement {
    Measurement {
        value: String::new(),
        phase: Phase::Error,
        started_at,
        finished_at: now(),
        message: Some(message),
    }
}

/// The innermost cause of a reqwest error (the OS's or hyper's reason).
fn cause(e: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    if e.is_timeout() {
        "no answer in time".to_owned()
    } else {
        source.to_string()
    }
}

async fn body(response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut response = response;
    let mut out = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("the answer broke off: {}", cause(&e)))?
    {
        if out.len() + chunk.len() > MAX_BODY {
            return Err(format!("the answer is over {MAX_BODY} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// One Prometheus measurement.
pub async fn prometheus(
    client: &reqwest::Client,
    address: &str,
    query: &str,
    timeout: Duration,
    conditions: &Conditions,
) -> Measurement {
    let started_at = now();
    let time = format!(
        "{:.3}",
        chrono::Utc::now().timestamp_millis() as f64 / 1000.0
    );
    let url = match url::Url::parse_with_params(
        &format!("{}/api/v1/query", address.trim_end_matches('/')),
        [("query", query), ("time", &time)],
    ) {
        Ok(u) => u,
        Err(e) => return error(started_at, format!("{address:?} is not a URL: {e}")),
    };
    let sent = client.get(url).timeout(timeout).send().await;
    let response = match sent {
        Ok(r) => r,
        Err(e) => {
            return error(
                started_at,
                format!("cannot query Prometheus at {address}: {}", cause(&e)),
            )
        }
    };
    let status = response.status().as_u16();
    let bytes = match body(response).await {
        Ok(b) => b,
        Err(m) => return error(started_at, m),
    };
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    if !(200..300).contains(&status) {
        let why = json
            .get("error")
            .and_then(serde_json::Value::as_str)
            .map_or_else(
                || String::from_utf8_lossy(&bytes).chars().take(200).collect(),
                str::to_owned,
            );
        return error(
            started_at,
            format!("Prometheus answered HTTP {status}: {}", why.trim()),
        );
    }
    match read::prometheus(&json) {
        Ok((value, printed)) => finish(started_at, &value, printed, conditions),
        Err(m) => error(started_at, m),
    }
}

fn finish(
    started_at: String,
    value: &Value,
    printed: String,
    conditions: &Conditions,
) -> Measurement {
    let (phase, message) = evaluate(
        value,
        conditions.success.as_ref(),
        conditions.failure.as_ref(),
    );
    Measurement {
        value: printed,
        phase,
        started_at,
        finished_at: now(),
        message,
    }
}

/// What an HTTP probe asks.
pub struct HttpProbe<'a> {
    pub url: &'a str,
    pub expected_status: u16,
    pub path: &'a [Step],
    pub timeout: Duration,
    pub headers: &'a [Header],
}

/// One HTTP measurement. A status other than the expected one is a Failed measurement whose value
/// is the status (Argo's web provider would call any non-2xx an Error; a wrong status here is
/// evidence, not a failure to measure); no answer is an Error.
pub async fn http(
    client: &reqwest::Client,
    probe: &HttpProbe<'_>,
    conditions: &Conditions,
) -> Measurement {
    let started_at = now();
    let mut request = client.get(probe.url).timeout(probe.timeout);
    for h in probe.headers {
        request = request.header(&h.key, &h.value);
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            return error(
                started_at,
                format!("cannot reach {}: {}", probe.url, cause(&e)),
            )
        }
    };
    let status = response.status().as_u16();
    if status != probe.expected_status {
        return Measurement {
            value: status.to_string(),
            phase: Phase::Failed,
            started_at,
            finished_at: now(),
            message: Some(format!("HTTP {status}, expected {}", probe.expected_status)),
        };
    }
    let bytes = match body(response).await {
        Ok(b) => b,
        Err(m) => return error(started_at, m),
    };
    match read::http_value(&bytes, probe.path) {
        Ok((value, printed)) => {
            let printed: String = printed.chars().take(1024).collect();
            finish(started_at, &value, printed, conditions)
        }
        Err(m) => error(started_at, m),
    }
}
