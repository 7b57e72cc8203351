//! The live [`Source`] of the ticket systems, and the work notes written back: ServiceNow's and Jira's
//! REST APIs over reqwest (rustls with the process's crypto provider, ring, as src/host/client.rs).
//!
//! - every call has a timeout (`--ticket-timeout`), and every judgment a deadline the caller sets;
//! - a failed connection, a 5xx answer and a `429` without `Retry-After` are retried twice with
//!   backoff, within the deadline;
//! - `429` (ServiceNow's rate limit) and `503` with `Retry-After` wait as asked, when that is within
//!   the deadline; otherwise the call fails saying until when;
//! - answers are cached for a short bound (`--ticket-cache-ttl`, default 30 s): a guard that retries,
//!   or a sync's webhook right after its decision, does not ask again;
//! - every answer is at most [`MAX_BODY`] bytes.
//!
//! Credentials (ServiceNow basic auth or OAuth client credentials, Jira's e-mail and API token) are
//! read from files when a request needs them (an OAuth token is kept until shortly before it
//! expires), and go into the `Authorization` header only, never into URLs, errors or logs.
//!
//! A work note is written once: a write is retried only when the system refused it before doing
//! anything (no connection, or `429`/`503` with `Retry-After`), never after a timeout or a `5xx`, which
//! may have written it.

use crate::policy::ticket::System;
use crate::remote::http::{error_message, read_limited, root_cause, sleep_within};
use crate::remote::secret::{read_token, Secret, SecretError};
use crate::remote::{RemoteError, Req, Source};
use base64::Engine as _;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Largest answer read.
pub const MAX_BODY: usize = 8 << 20;
/// Answers kept in the cache.
const CACHE_ENTRIES: usize = 1024;
/// Retries of a failed connection or a 5xx answer (reads only).
const RETRIES: u32 = 2;
/// `Retry-After` waits per call.
const RATE_WAITS: u32 = 3;
/// An OAuth token is renewed this long before it expires.
const TOKEN_MARGIN_SECONDS: i64 = 60;

/// How the sink signs in to ServiceNow (as a user with the role `sn_change_read`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceNowAuth {
    /// Basic auth: the user name and a file holding the password.
    Basic {
        user: String,
        password_file: PathBuf,
    },
    /// OAuth 2.0 client credentials (`POST /oauth_token.do`): the client id and a file holding the
    /// client secret.
    OAuth {
        client_id: String,
        secret_file: PathBuf,
    },
}

/// A ServiceNow instance.
#[derive(Debug, Clone)]
pub struct Instance {
    /// `https://acme.service-now.com`, without a trailing `/`.
    pub url: String,
    pub auth: ServiceNowAuth,
}

/// A Jira Cloud site.
#[derive(Debug, Clone)]
pub struct Site {
    /// `https://acme.atlassian.net`, without a trailing `/`.
    pub url: String,
    /// The e-mail address of the Atlassian account the API token belongs to.
    pub email: String,
    pub token_file: PathBuf,
}

/// What the commands layer validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub servicenow: Option<Instance>,
    pub jira: Option<Site>,
    /// Each call's timeout.
    pub call_timeout: Duration,
    /// How long an answer is reused (0: never).
    pub cache_ttl: Duration,
}

/// Checks that `url` is `http(s)://host[:port][/path]` and drops a trailing `/`.
///
/// # Errors
///
/// Anything else, with an example.
pub fn base_url(url: &str, example: &str) -> Result<String, String> {
    let trimmed = url.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or_else(|| format!("{url:?} is not an http:// or https:// URL (e.g. {example})"))?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() || host.contains('@') || trimmed.contains(['?', '#', ' ']) {
        return Err(format!(
            "{url:?}: expected {example}, without credentials, query or spaces"
        ));
    }
    Ok(trimmed.to_owned())
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct ItsmMetrics {
    /// (system, outcome) → requests.
    requests: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

impl ItsmMetrics {
    fn count(&self, system: System, outcome: &'static str) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((system.as_str(), outcome)).or_default() += 1;
        }
    }

    /// The Prometheus lines.
    pub fn render(&self, o: &mut String) {
        let _ = writeln!(
            o,
            "# HELP sluice_ticket_requests_total Requests to the ticket systems, by outcome (ok, cached, not_found, denied, rate_limited, failed).\n# TYPE sluice_ticket_requests_total counter"
        );
        if let Ok(m) = self.requests.lock() {
            for ((system, outcome), n) in m.iter() {
                let _ = writeln!(
                    o,
                    "sluice_ticket_requests_total{{system=\"{system}\",outcome=\"{outcome}\"}} {n}"
                );
            }
        }
    }
}

/// The ticket systems the sink talks to, shared by every judgment.
pub struct Systems {
    client: reqwest::Client,
    pub servicenow: Option<Instance>,
    pub jira: Option<Site>,
    call_timeout: Duration,
    cache_ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, Value)>>,
    /// The ServiceNow OAuth token and its expiry (Unix seconds).
    oauth: tokio::sync::Mutex<Option<(Secret, i64)>>,
    pub metrics: ItsmMetrics,
}

/// One answer.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Systems {
    /// A client for the configured systems.
    ///
    /// # Errors
    ///
    /// The HTTP client cannot be built.
    pub fn new(config: Config) -> Result<Systems, String> {
        // The process's rustls provider is ring (as for the hosts and the watch).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.call_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Systems {
            client,
            servicenow: config.servicenow,
            jira: config.jira,
            call_timeout: config.call_timeout,
            cache_ttl: config.cache_ttl,
            cache: Mutex::default(),
            oauth: tokio::sync::Mutex::default(),
            metrics: ItsmMetrics::default(),
        })
    }

    /// The base URL of `system`, when the sink is configured for it.
    pub fn api(&self, system: System) -> Option<&str> {
        match system {
            System::ServiceNow => self.servicenow.as_ref().map(|i| i.url.as_str()),
            System::Jira => self.jira.as_ref().map(|s| s.url.as_str()),
        }
    }

    /// A source for requests to `system`, which must all be done by `deadline`; `None` when the sink
    /// has no such system configured.
    pub fn source(&self, system: System, deadline: Instant) -> Option<HttpSource<'_>> {
        let api = self.api(system)?.to_owned();
        Some(HttpSource {
            systems: self,
            system,
            api,
            deadline,
        })
    }

    fn cached(&self, key: &str) -> Option<Value> {
        if self.cache_ttl.is_zero() {
            return None;
        }
        let cache = self.cache.lock().ok()?;
        let (at, value) = cache.get(key)?;
        (at.elapsed() < self.cache_ttl).then(|| value.clone())
    }

    fn remember(&self, key: String, value: &Value) {
        if self.cache_ttl.is_zero() {
            return;
        }
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        if cache.len() >= CACHE_ENTRIES {
            let ttl = self.cache_ttl;
            cache.retain(|_, (at, _)| at.elapsed() < ttl);
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(key, (Instant::now(), value.clone()));
    }

    /// Adds `text` to the change request: a work note (ServiceNow, `PATCH
    /// /api/sn_chg_rest/change/{sys_id}` with `work_notes`) or a comment (Jira, `POST
    /// /rest/api/3/issue/{key}/comment`, in Atlassian Document Format). `id` is ServiceNow's `sys_id`,
    /// `number` Jira's issue key.
    ///
    /// # Errors
    ///
    /// The system is not configured, refused, or did not answer; never retried once it may have written.
    pub async fn write_note(
        &self,
        system: System,
        id: &str,
        number: &str,
        text: &str,
        deadline: Instant,
    ) -> Result<(), RemoteError> {
        let source = self
            .source(system, deadline)
            .ok_or_else(|| RemoteError::new("work note", "the ticket system is not configured"))?;
        let (method, path, body) = match system {
            System::ServiceNow => (
                "PATCH",
                format!("/api/sn_chg_rest/change/{id}"),
                json!({ "work_notes": text }),
            ),
            System::Jira => (
                "POST",
                format!("/rest/api/3/issue/{number}/comment"),
                json!({ "body": adf(text) }),
            ),
        };
        let auth = source.credential().await?;
        source
            .call(method, &path, &auth, Some(body.to_string()), false)
            .await
            .map(|_| ())
    }
}

/// `text` as an Atlassian Document Format document: one paragraph per line.
pub fn adf(text: &str) -> Value {
    let paragraphs: Vec<Value> = text
        .lines()
        .map(|line| {
            if line.is_empty() {
                json!({"type": "paragraph", "content": []})
            } else {
                json!({"type": "paragraph", "content": [{"type": "text", "text": line}]})
            }
        })
        .collect();
    json!({"type": "doc", "version": 1, "content": paragraphs})
}

/// Requests to one system, within one deadline.
pub struct HttpSource<'a> {
    systems: &'a Systems,
    system: System,
    api: String,
    deadline: Instant,
}

impl Source for HttpSource<'_> {
    async fn fetch(&self, req: &Req) -> Result<Value, RemoteError> {
        let key = format!("{}{}", self.api, req.path);
        if let Some(hit) = self.systems.cached(&key) {
            self.systems.metrics.count(self.system, "cached");
            return Ok(hit);
        }
        let auth = self.credential().await?;
        let answer = self.call("GET", &req.path, &auth, None, true).await?;
        let value: Value = serde_json::from_slice(&answer.body).map_err(|e| RemoteError {
            request: req.key(),
            message: format!("the answer is not JSON: {e}"),
            answered: true,
            status: Some(answer.status),
        })?;
        self.systems.remember(key, &value);
        Ok(value)
    }
}

impl HttpSource<'_> {
    /// The `Authorization` header value.
    async fn credential(&self) -> Result<Secret, RemoteError> {
        let denied = |e: SecretError| RemoteError::new("credentials", e.to_string());
        let basic = |user: &str, secret: &Secret| {
            let b64 = base64::engine::general_purpose::STANDARD;
            Secret::new(format!(
                "Basic {}",
                b64.encode(format!("{user}:{}", secret.expose()))
            ))
        };
        match self.system {
            System::Jira => {
                let site = self
                    .systems
                    .jira
                    .as_ref()
                    .ok_or_else(|| RemoteError::new("credentials", "Jira is not configured"))?;
                Ok(basic(
                    &site.email,
                    &read_token(&site.token_file).map_err(denied)?,
                ))
            }
            System::ServiceNow => {
                let instance = self.systems.servicenow.as_ref().ok_or_else(|| {
                    RemoteError::new("credentials", "ServiceNow is not configured")
                })?;
                match &instance.auth {
                    ServiceNowAuth::Basic {
                        user,
                        password_file,
                    } => Ok(basic(user, &read_token(password_file).map_err(denied)?)),
                    ServiceNowAuth::OAuth {
                        client_id,
                        secret_file,
                    } => {
                        let token = self.oauth_token(client_id, secret_file).await?;
                        Ok(Secret::new(format!("Bearer {}", token.expose())))
                    }
                }
            }
        }
    }

    /// A ServiceNow OAuth access token (client credentials grant), kept until shortly before it expires.
    async fn oauth_token(
        &self,
        client_id: &str,
        secret_file: &std::path::Path,
    ) -> Result<Secret, RemoteError> {
        let now = chrono::Utc::now().timestamp();
        let mut kept = self.systems.oauth.lock().await;
        if let Some((token, expires)) = kept.as_ref() {
            if *expires - TOKEN_MARGIN_SECONDS > now {
                return Ok(token.clone());
            }
        }
        let secret =
            read_token(secret_file).map_err(|e| RemoteError::new("credentials", e.to_string()))?;
        let form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            super::encode(client_id),
            super::encode(secret.expose())
        );
        let request = "POST /oauth_token.do";
        let url = format!("{}/oauth_token.do", self.api);
        let response = self
            .systems
            .client
            .post(&url)
            .timeout(self.systems.call_timeout)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(form)
            .send()
            .await
            .map_err(|e| {
                self.systems.metrics.count(self.system, "failed");
                RemoteError::new(
                    request,
                    format!("cannot reach the instance: {}", root_cause(&e)),
                )
            })?;
        let status = response.status().as_u16();
        let bytes = read_limited(response, MAX_BODY)
            .await
            .map_err(|m| RemoteError::new(request, m))?;
        if !(200..300).contains(&status) {
            self.systems.metrics.count(self.system, "denied");
            return Err(RemoteError {
                request: request.to_owned(),
                message: format!(
                    "the OAuth client credentials were refused ({status}: {})",
                    error_message(&bytes)
                ),
                answered: true,
                status: Some(status),
            });
        }
        self.systems.metrics.count(self.system, "ok");
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let token = value
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| RemoteError::new(request, "no access_token in the answer"))?;
        let expires = now
            + value
                .get("expires_in")
                .and_then(Value::as_i64)
                .unwrap_or(1800);
        let token = Secret::new(token.to_owned());
        *kept = Some((token.clone(), expires));
        Ok(token)
    }

    /// One request with retries and `Retry-After` waits, within the deadline: a 2xx answer or an
    /// error. `idempotent`: a failed connection or a 5xx may be retried.
    async fn call(
        &self,
        method: &str,
        path: &str,
        auth: &Secret,
        body: Option<String>,
        idempotent: bool,
    ) -> Result<Answer, RemoteError> {
        let request = format!("{method} {path}");
        let url = format!("{}{path}", self.api);
        let system = self.system;
        let metrics = &self.systems.metrics;
        let (mut failures, mut waits) = (0u32, 0u32);
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                metrics.count(system, "failed");
                return Err(RemoteError::new(
                    &request,
                    "no time left for the ticket system to answer (the decision's deadline passed)",
                ));
            }
            let mut rq = match method {
                "POST" => self.systems.client.post(&url),
                "PATCH" => self.systems.client.patch(&url),
                _ => self.systems.client.get(&url),
            }
            .timeout(self.systems.call_timeout.min(left))
            .header("accept", "application/json")
            .header("authorization", auth.expose());
            if let Some(body) = &body {
                rq = rq
                    .header("content-type", "application/json")
                    .body(body.clone());
            }
            let retry = |failures: &mut u32, why: String| -> Result<Duration, RemoteError> {
                *failures += 1;
                if *failures > RETRIES {
                    return Err(RemoteError::new(&request, why));
                }
                Ok(Duration::from_millis(250 << *failures))
            };
            let response = match rq.send().await {
                Ok(r) => r,
                Err(e) => {
                    let why = if e.is_timeout() {
                        format!("no answer within {} s", self.systems.call_timeout.as_secs())
                    } else {
                        format!("cannot reach {}: {}", self.api, root_cause(&e))
                    };
                    // A write is retried only when it never reached the system.
                    let again = if idempotent || e.is_connect() {
                        retry(&mut failures, why)
                    } else {
                        Err(RemoteError::new(&request, why))
                    };
                    match again {
                        Ok(pause) => {
                            sleep_within(pause, self.deadline).await;
                            continue;
                        }
                        Err(e) => {
                            metrics.count(system, "failed");
                            return Err(e);
                        }
                    }
                }
            };
            let status = response.status().as_u16();
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let retry_after = header("retry-after").and_then(|v| v.trim().parse::<u64>().ok());
            let bytes = read_limited(response, MAX_BODY)
                .await
                .map_err(|m| RemoteError::new(&request, m))?;
            if (200..300).contains(&status) {
                metrics.count(system, "ok");
                return Ok(Answer {
                    status,
                    body: bytes,
                });
            }
            if let (429 | 503, Some(seconds)) = (status, retry_after) {
                let wait = Duration::from_secs(seconds);
                waits += 1;
                if Instant::now() + wait < self.deadline && waits <= RATE_WAITS {
                    tracing::info!(
                        system = system.as_str(),
                        seconds,
                        status,
                        "the ticket system asks to retry later (Retry-After); waiting"
                    );
                    tokio::time::sleep(wait).await;
                    continue;
                }
                metrics.count(system, "rate_limited");
                return Err(RemoteError {
                    request,
                    message: format!(
                        "the ticket system answered {status} and asks to retry after {seconds} s (Retry-After), beyond the decision's deadline: {}",
                        error_message(&bytes)
                    ),
                    answered: true,
                    status: Some(status),
                });
            }
            // A 5xx, or a 429 that says not when: retried with backoff (reads only).
            if (status >= 500 || status == 429) && idempotent {
                match retry(
                    &mut failures,
                    format!(
                        "the ticket system answered {status}: {}",
                        error_message(&bytes)
                    ),
                ) {
                    Ok(pause) => {
                        sleep_within(pause, self.deadline).await;
                        continue;
                    }
                    Err(mut e) => {
                        metrics.count(system, "failed");
                        e.answered = true;
                        e.status = Some(status);
                        return Err(e);
                    }
                }
            }
            let message = error_message(&bytes);
            let (outcome, message) = match (status, system) {
                (401, _) => ("denied", format!("the credentials were refused (401: {message})")),
                (403, System::ServiceNow) => ("denied", format!("forbidden (403: {message}); the user needs the role sn_change_read (and itil for work notes)")),
                (403, System::Jira) => ("denied", format!("forbidden (403: {message}); the account cannot see the project or the request")),
                (404, System::Jira) => ("not_found", format!("not found (404: {message}); Jira also answers 404, not 401, when the credentials are missing or cannot browse the project")),
                (404, System::ServiceNow) => ("not_found", format!("not found (404: {message})")),
                _ => ("failed", format!("the ticket system answered {status}: {message}")),
            };
            metrics.count(system, outcome);
            return Err(RemoteError {
                request,
                message,
                answered: true,
                status: Some(status),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_plain_http_origins() {
        assert_eq!(
            base_url("https://acme.service-now.com/", "x").unwrap(),
            "https://acme.service-now.com"
        );
        assert!(base_url("acme.service-now.com", "x").is_err());
        assert!(base_url("https://user:pw@acme.atlassian.net", "x").is_err());
        assert!(base_url("https://acme.atlassian.net/?x=1", "x").is_err());
    }

    #[test]
    fn a_comment_is_a_document_of_paragraphs() {
        assert_eq!(
            adf("a\n\nb"),
            json!({"type": "doc", "version": 1, "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": "a"}]},
                {"type": "paragraph", "content": []},
                {"type": "paragraph", "content": [{"type": "text", "text": "b"}]}
            ]})
        );
    }

    #[test]
    fn answers_are_cached_for_the_bound_only() {
        let systems = Systems::new(Config {
            servicenow: None,
            jira: None,
            call_timeout: Duration::from_secs(1),
            cache_ttl: Duration::from_secs(30),
        })
        .unwrap();
        systems.remember("k".into(), &json!(1));
        assert_eq!(systems.cached("k"), Some(json!(1)));
        let off = Systems::new(Config {
            servicenow: None,
            jira: None,
            call_timeout: Duration::from_secs(1),
            cache_ttl: Duration::ZERO,
        })
        .unwrap();
        off.remember("k".into(), &json!(1));
        assert_eq!(off.cached("k"), None);
    }
}
