//! The hook's reports to the sink (`POST <sink>/v1/verifications`, docs/hooks.md, "What the hook
//! reports"): each measurement as progress (best effort: a slow or absent sink never holds a check
//! back), and the verdict, retried until the sink has recorded it or the report's deadline passes.
//! Authenticates as the guard does: `Authorization: Bearer` with the Job's projected `ServiceAccount`
//! token (`SLUICE_REPORT_TOKEN_FILE`, audience `sluice`, read again for every report since the kubelet
//! renews it), which the sink checks with the `TokenReview` API and binds to the app's namespace; or a
//! token given by hand (`SLUICE_REPORT_TOKEN`).

use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;

/// Longest a progress report may take.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest the verdict may take to be recorded, retries included.
pub const FINAL_DEADLINE: Duration = Duration::from_mins(1);
/// Largest answer read from the sink.
const MAX_ANSWER: usize = 1 << 20;

/// Where and how reports go.
pub struct Sink {
    client: reqwest::Client,
    url: String,
    token: Option<String>,
    token_file: Option<std::path::PathBuf>,
}

/// The report URL of a sink's base URL (`http://sluice-sink.argocd.svc:8080`).
pub fn report_url(base: &str) -> String {
    format!("{}/v1/verifications", base.trim().trim_end_matches('/'))
}

impl Sink {
    pub fn new(client: reqwest::Client, base: &str, token: Option<String>) -> Sink {
        Sink {
            client,
            url: report_url(base),
            token,
            token_file: None,
        }
    }

    /// Reports with the token in `path` (read for every report), before the token given to [`Sink::new`].
    #[must_use]
    pub fn with_token_file(self, path: Option<std::path::PathBuf>) -> Sink {
        Sink {
            token_file: path,
            ..self
        }
    }

    /// The bearer token as it is now.
    fn token(&self) -> Option<String> {
        if let Some(path) = &self.token_file {
            match std::fs::read_to_string(path) {
                Ok(text) if !text.trim().is_empty() => return Some(text.trim().to_owned()),
                Ok(_) => tracing::warn!(path = %path.display(), "the report token file is empty"),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot read the report token file");
                }
            }
        }
        self.token.clone()
    }

    async fn post(&self, body: &Value, timeout: Duration) -> Result<(u16, Value), String> {
        let mut request = self
            .client
            .post(&self.url)
            .timeout(timeout)
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(token) = self.token() {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("cannot reach the sink at {}: {}", self.url, root(&e)))?;
        let status = response.status().as_u16();
        let mut response = response;
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("the sink's answer broke off: {}", root(&e)))?
        {
            if bytes.len() + chunk.len() > MAX_ANSWER {
                return Err("the sink's answer is too large".into());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    /// A measurement in progress; failures are logged, never fatal.
    pub async fn progress(&self, body: &Value) {
        match self.post(body, PROGRESS_TIMEOUT).await {
            Ok((s, _)) if (200..300).contains(&s) => {}
            Ok((s, answer)) => {
                tracing::warn!(status = s, error = %error_of(&answer), "the sink refused a progress report");
            }
            Err(e) => tracing::warn!("progress not reported: {e}"),
        }
    }

    /// The verdict: retried on a failed connection or a 5xx answer until `deadline`; the sink's
    /// answer (`{seq, hash}`, and what it knows of the way back).
    ///
    /// # Errors
    ///
    /// The sink refused the report (4xx), or did not record it in time.
    pub async fn finish(&self, body: &Value, deadline: Instant) -> Result<Value, String> {
        let mut pause = Duration::from_millis(500);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "the sink at {} did not record the verdict in time",
                    self.url
                ));
            }
            let last = match self.post(body, left).await {
                Ok((s, answer)) if (200..300).contains(&s) => return Ok(answer),
                Ok((s, answer)) if (400..500).contains(&s) => {
                    return Err(format!(
                        "the sink refused the verdict (HTTP {s}: {})",
                        error_of(&answer)
                    ))
                }
                Ok((s, answer)) => format!("HTTP {s}: {}", error_of(&answer)),
                Err(e) => e,
            };
            tracing::warn!("the verdict is not recorded yet ({last}); retrying");
            tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
            pause = (pause * 2).min(Duration::from_secs(8));
        }
    }
}

fn error_of(answer: &Value) -> String {
    answer
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("no message")
        .chars()
        .take(300)
        .collect()
}

fn root(e: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}
