//! The live [`Source`]: GitHub's and GitLab's REST APIs over reqwest (already in the tree through
//! `object_store`; rustls with the process's crypto provider, ring, and the platform's trust store).
//!
//! - every call has a timeout (`--host-timeout`), and every gather a deadline the caller sets;
//! - 5xx answers and failed connections are retried twice with backoff, within the deadline;
//! - rate limits are honoured: a `403`/`429` with `Retry-After` (GitHub's secondary limit, which
//!   comes while `X-RateLimit-Remaining` is still above 0) waits that long, and an exhausted primary
//!   limit (`X-RateLimit-Remaining: 0`) waits for `X-RateLimit-Reset`, each only when that is within
//!   the deadline; otherwise the call fails saying until when;
//! - `Link: <…>; rel="next"` pages are followed (same origin only, at most [`MAX_PAGES`]), each
//!   answer at most [`MAX_BODY`] bytes;
//! - answers addressed by a commit id (`commits/{sha}/pulls`, `compare/{a}...{b}`, files at a
//!   revision) are cached: they do not change.
//!
//! GitHub requests carry `X-GitHub-Api-Version` ([`super::GITHUB_API_VERSION`]) and
//! `Accept: application/vnd.github+json`; GitLab requests `PRIVATE-TOKEN`. Credentials go into
//! headers only, never into URLs, errors or logs.

use super::secret::{self, App, Permissions, Secret, SecretError};
use super::{HostError, Kind, Paging, Req, Source};
use crate::remote::http::{next_link, read_limited, root_cause, sleep_within};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Most pages followed for one request.
pub const MAX_PAGES: usize = 100;
/// Largest answer read (one page).
pub const MAX_BODY: usize = 16 << 20;
/// Answers kept in the cache.
const CACHE_ENTRIES: usize = 4096;
/// Retries of a failed connection or a 5xx answer.
const RETRIES: u32 = 2;
/// Rate-limit waits per call.
const RATE_WAITS: u32 = 3;
/// An installation token is renewed this long before it expires.
const TOKEN_MARGIN_SECONDS: i64 = 300;

/// How the sink authenticates to a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// No credentials: public repositories only (a private one answers 404, not 401).
    None,
    /// A token file (`--github-token-file`, `--gitlab-token-file`).
    Token(PathBuf),
    /// A GitHub App (`--github-app-id`, `--github-app-key-file`).
    App(App),
}

/// One host's API.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub kind: Kind,
    /// The API's base URL without a trailing `/`: `https://api.github.com`,
    /// `https://gitlab.example.com/api/v4`.
    pub api: String,
    /// The host (and port) of the repository URLs it serves: `github.com`, `gitlab.example.com`.
    pub web_host: String,
    pub auth: Auth,
}

impl Endpoint {
    /// GitHub at `api` (`https://api.github.com`, or GitHub Enterprise Server's
    /// `https://HOST/api/v3`): repositories on `github.com` for the first, on `HOST` otherwise.
    pub fn github(api: &str, auth: Auth) -> Result<Endpoint, String> {
        let api = api.trim_end_matches('/').to_owned();
        let host = authority(&api)?;
        let web_host = if host == "api.github.com" {
            "github.com".to_owned()
        } else {
            host
        };
        Ok(Endpoint {
            kind: Kind::GitHub,
            api,
            web_host,
            auth,
        })
    }

    /// GitLab at `url` (`https://gitlab.com`): the API is `url/api/v4`.
    pub fn gitlab(url: &str, auth: Auth) -> Result<Endpoint, String> {
        let url = url.trim_end_matches('/');
        let web_host = authority(url)?;
        Ok(Endpoint {
            kind: Kind::GitLab,
            api: format!("{url}/api/v4"),
            web_host,
            auth,
        })
    }
}

/// The host and port of an `http(s)://` URL, lower-cased.
fn authority(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("{url:?} is not an http:// or https:// URL"))?;
    let host = rest.split('/').next().unwrap_or(rest);
    if host.is_empty() || host.contains('@') {
        return Err(format!("{url:?}: expected http(s)://host[:port][/path]"));
    }
    Ok(host.to_ascii_lowercase())
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct HostMetrics {
    /// (host, outcome) → requests.
    requests: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// host → the last `X-RateLimit-Remaining` seen.
    remaining: Mutex<BTreeMap<&'static str, u64>>,
}

impl HostMetrics {
    fn count(&self, kind: Kind, outcome: &'static str) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((kind.as_str(), outcome)).or_default() += 1;
        }
    }

    fn remaining(&self, kind: Kind, left: u64) {
        if let Ok(mut m) = self.remaining.lock() {
            m.insert(kind.as_str(), left);
        }
    }

    /// The Prometheus lines.
    pub fn render(&self, o: &mut String) {
        let _ = writeln!(
            o,
            "# HELP sluice_host_requests_total Requests to the Git hosts, by outcome (ok, cached, not_found, denied, rate_limited, failed).\n# TYPE sluice_host_requests_total counter"
        );
        if let Ok(m) = self.requests.lock() {
            for ((host, outcome), n) in m.iter() {
                let _ = writeln!(
                    o,
                    "sluice_host_requests_total{{host=\"{host}\",outcome=\"{outcome}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            o,
            "# HELP sluice_host_rate_limit_remaining The host's X-RateLimit-Remaining at the last answer.\n# TYPE sluice_host_rate_limit_remaining gauge"
        );
        if let Ok(m) = self.remaining.lock() {
            for (host, n) in m.iter() {
                let _ = writeln!(o, "sluice_host_rate_limit_remaining{{host=\"{host}\"}} {n}");
            }
        }
    }
}

/// The hosts the sink talks to, shared by every decision.
pub struct Hosts {
    client: reqwest::Client,
    pub endpoints: Vec<Endpoint>,
    call_timeout: Duration,
    cache: Mutex<(HashMap<String, Value>, VecDeque<String>)>,
    /// Installation id → (token, expiry in Unix seconds).
    tokens: tokio::sync::Mutex<HashMap<u64, (Secret, i64)>>,
    /// `owner` → installation id, for Apps without `--github-installation-id`.
    installations: Mutex<HashMap<String, u64>>,
    pub metrics: HostMetrics,
    /// What an App's installation tokens are asked for: read for the approvals check, write only
    /// for the writer of revert pull requests ([`Hosts::writer`]).
    permissions: Permissions,
}

impl Hosts {
    /// A client for `endpoints`, each call bounded by `call_timeout`.
    ///
    /// # Errors
    ///
    /// The HTTP client cannot be built (no TLS roots).
    pub fn new(endpoints: Vec<Endpoint>, call_timeout: Duration) -> Result<Hosts, String> {
        // The process's rustls provider is ring (as for the Application watch); without a default,
        // reqwest would pick aws-lc-rs, a second provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(call_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Hosts {
            client,
            endpoints,
            call_timeout,
            cache: Mutex::default(),
            tokens: tokio::sync::Mutex::default(),
            installations: Mutex::default(),
            metrics: HostMetrics::default(),
            permissions: Permissions::APPROVALS,
        })
    }

    /// A client that writes (revert pull requests): App installation tokens are asked with
    /// [`Permissions::ROLLBACK`], token files are the write tokens the commands layer names.
    ///
    /// # Errors
    ///
    /// As [`Hosts::new`].
    pub fn writer(endpoints: Vec<Endpoint>, call_timeout: Duration) -> Result<Hosts, String> {
        Ok(Hosts {
            permissions: Permissions::ROLLBACK,
            ..Hosts::new(endpoints, call_timeout)?
        })
    }

    /// The host of a repository URL and the repository's path there.
    pub fn resolve(&self, repo_url: &str) -> Option<(&Endpoint, String)> {
        let (host, path) = super::split_repo_url(repo_url)?;
        let endpoint = self.endpoints.iter().find(|e| e.web_host == host)?;
        Some((endpoint, path))
    }

    /// A source for requests about `repository` on `endpoint`, which must all be done by `deadline`.
    pub fn source<'a>(
        &'a self,
        endpoint: &'a Endpoint,
        repository: &str,
        deadline: Instant,
    ) -> HttpSource<'a> {
        HttpSource {
            hosts: self,
            endpoint,
            repository: repository.to_owned(),
            deadline,
        }
    }

    fn cached(&self, key: &str) -> Option<Value> {
        self.cache.lock().ok()?.0.get(key).cloned()
    }

    fn remember(&self, key: String, value: &Value) {
        let Ok(mut guard) = self.cache.lock() else {
            return;
        };
        let (map, order) = &mut *guard;
        if map.insert(key.clone(), value.clone()).is_none() {
            order.push_back(key);
        }
        while order.len() > CACHE_ENTRIES {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }
}

/// Requests about one repository, within one deadline.
pub struct HttpSource<'a> {
    hosts: &'a Hosts,
    endpoint: &'a Endpoint,
    repository: String,
    deadline: Instant,
}

/// Whether an answer is addressed by a commit id: it does not change, so it may be cached.
fn immutable(path: &str) -> bool {
    path.split(['/', '?', '&', '=', '.']).any(|part| {
        (part.len() == 40 || part.len() == 64) && part.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

impl super::Write for HttpSource<'_> {
    async fn send(
        &self,
        method: &'static str,
        path: &str,
        body: &Value,
    ) -> Result<Value, HostError> {
        let auth = self.credential().await?;
        let header = auth.as_ref().map(|(name, s)| (*name, s));
        let request = format!("{method} {path}");
        let answer = self
            .call(method, &self.url(path), header, Some(body.to_string()))
            .await?;
        if answer.body.is_empty() {
            return Ok(Value::Null);
        }
        Self::json(&request, &answer)
    }
}

impl Source for HttpSource<'_> {
    async fn fetch(&self, req: &Req) -> Result<Value, HostError> {
        {
            let key = format!("{} {}", self.endpoint.api, req.path);
            let cacheable = immutable(&req.path);
            if cacheable {
                if let Some(hit) = self.hosts.cached(&key) {
                    self.hosts.metrics.count(self.endpoint.kind, "cached");
                    return Ok(hit);
                }
            }
            let auth = self.credential().await?;
            let value = self.pages(req, auth.as_ref()).await?;
            if cacheable {
                self.hosts.remember(key, &value);
            }
            Ok(value)
        }
    }
}

/// One answer: status, the headers that matter, the body.
struct Answer {
    status: u16,
    next: Option<String>,
    body: Vec<u8>,
}

impl HttpSource<'_> {
    /// The header that authenticates requests to this host, `None` without credentials.
    async fn credential(&self) -> Result<Option<(&'static str, Secret)>, HostError> {
        let denied = |e: SecretError| HostError::new("credentials", e.to_string());
        match (&self.endpoint.auth, self.endpoint.kind) {
            (Auth::None, _) => Ok(None),
            (Auth::Token(path), Kind::GitHub) => {
                let token = secret::read_token(path).map_err(denied)?;
                Ok(Some((
                    "authorization",
                    Secret::new(format!("Bearer {}", token.expose())),
                )))
            }
            (Auth::Token(path), Kind::GitLab) => Ok(Some((
                "private-token",
                secret::read_token(path).map_err(denied)?,
            ))),
            (Auth::App(app), _) => {
                let token = self.installation_token(app, self.hosts.permissions).await?;
                Ok(Some((
                    "authorization",
                    Secret::new(format!("Bearer {}", token.expose())),
                )))
            }
        }
    }

    /// An installation token of `app` for this repository, with `permissions` (cached until shortly
    /// before it expires).
    async fn installation_token(
        &self,
        app: &App,
        permissions: Permissions,
    ) -> Result<Secret, HostError> {
        let now = chrono::Utc::now().timestamp();
        let jwt = || {
            app.jwt(chrono::Utc::now().timestamp())
                .map_err(|e| HostError::new("GitHub App", e.to_string()))
        };
        let owner = self.repository.split('/').next().unwrap_or("").to_owned();
        let installation = if let Some(id) = app.installation {
            id
        } else {
            {
                let known = self
                    .hosts
                    .installations
                    .lock()
                    .ok()
                    .and_then(|m| m.get(&owner).copied());
                if let Some(id) = known {
                    id
                } else {
                    {
                        let path = format!("/repos/{}/installation", self.repository);
                        let jwt = jwt()?;
                        let answer = self
                            .call(
                                "GET",
                                &self.url(&path),
                                Some(("authorization", &bearer(&jwt))),
                                None,
                            )
                            .await?;
                        let value = Self::json(&format!("GET {path}"), &answer)?;
                        let id = value.get("id").and_then(Value::as_u64).ok_or_else(|| {
                            HostError::new(
                                &format!("GET {path}"),
                                "no installation id in the answer",
                            )
                        })?;
                        if let Ok(mut m) = self.hosts.installations.lock() {
                            m.insert(owner, id);
                        }
                        id
                    }
                }
            }
        };
        let mut tokens = self.hosts.tokens.lock().await;
        if let Some((token, expires)) = tokens.get(&installation) {
            if *expires - TOKEN_MARGIN_SECONDS > now {
                return Ok(token.clone());
            }
        }
        let path = format!("/app/installations/{installation}/access_tokens");
        let request = format!("POST {path}");
        let jwt = jwt()?;
        let body = permissions.to_json().to_string();
        let answer = self
            .call(
                "POST",
                &self.url(&path),
                Some(("authorization", &bearer(&jwt))),
                Some(body),
            )
            .await?;
        let value = Self::json(&request, &answer)?;
        let token = value
            .get("token")
            .and_then(Value::as_str)
            .ok_or_else(|| HostError::new(&request, "no token in the answer"))?;
        let expires = value
            .get("expires_at")
            .and_then(Value::as_str)
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map_or(now + 3000, |t| t.timestamp());
        let token = Secret::new(token.to_owned());
        tokens.insert(installation, (token.clone(), expires));
        Ok(token)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint.api)
    }

    /// All pages of `req`, joined.
    async fn pages(
        &self,
        req: &Req,
        auth: Option<&(&'static str, Secret)>,
    ) -> Result<Value, HostError> {
        let request = req.key();
        let header = auth.map(|(name, s)| (*name, s));
        let mut url = self.url(&req.path);
        let mut joined: Option<Value> = None;
        for _ in 0..MAX_PAGES {
            let answer = self.call("GET", &url, header, None).await?;
            let page = Self::json(&request, &answer)?;
            joined = Some(match (joined, &req.paging) {
                (None, _) => page,
                (Some(Value::Array(mut all)), Paging::Array) => {
                    all.extend(page.as_array().cloned().unwrap_or_default());
                    Value::Array(all)
                }
                (Some(mut all), Paging::Member(member)) => {
                    let more = page
                        .get(*member)
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    if let Some(Value::Array(items)) = all.get_mut(*member) {
                        items.extend(more);
                    }
                    all
                }
                (Some(first), _) => first,
            });
            match (&req.paging, answer.next) {
                (Paging::None, _) | (_, None) => {
                    return joined.ok_or_else(|| HostError::new(&request, "no answer"))
                }
                (_, Some(next)) => {
                    if !next.starts_with(&self.endpoint.api) {
                        return Err(HostError::new(
                            &request,
                            "a Link to another origin was not followed",
                        ));
                    }
                    url = next;
                }
            }
        }
        Err(HostError::new(
            &request,
            format!("more than {MAX_PAGES} pages"),
        ))
    }

    fn json(request: &str, answer: &Answer) -> Result<Value, HostError> {
        serde_json::from_slice(&answer.body).map_err(|e| HostError {
            request: request.to_owned(),
            message: format!("the answer is not JSON: {e}"),
            answered: true,
            status: Some(answer.status),
        })
    }

    /// One request with retries and rate-limit waits, within the deadline; a 2xx answer or an error.
    async fn call(
        &self,
        method: &str,
        url: &str,
        auth: Option<(&'static str, &Secret)>,
        body: Option<String>,
    ) -> Result<Answer, HostError> {
        let path = url.strip_prefix(&self.endpoint.api).unwrap_or(url);
        let request = format!("{method} {path}");
        let kind = self.endpoint.kind;
        let (mut failures, mut waits) = (0u32, 0u32);
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.hosts.metrics.count(kind, "failed");
                return Err(HostError::new(
                    &request,
                    "no time left for the host to answer (the decision's deadline passed)",
                ));
            }
            let mut rq = match method {
                "POST" => self.hosts.client.post(url),
                "PATCH" => self.hosts.client.patch(url),
                _ => self.hosts.client.get(url),
            }
            .timeout(self.hosts.call_timeout.min(left));
            if kind == Kind::GitHub {
                rq = rq
                    .header("accept", "application/vnd.github+json")
                    .header("x-github-api-version", super::GITHUB_API_VERSION);
            }
            if let Some((name, secret)) = auth {
                rq = rq.header(name, secret.expose());
            }
            if let Some(body) = &body {
                rq = rq
                    .header("content-type", "application/json")
                    .body(body.clone());
            }
            let retry = |failures: &mut u32, why: String| -> Result<Duration, HostError> {
                *failures += 1;
                if *failures > RETRIES {
                    return Err(HostError::new(&request, why));
                }
                Ok(Duration::from_millis(250 << *failures))
            };
            let response = match rq.send().await {
                Ok(r) => r,
                Err(e) => {
                    let why = if e.is_timeout() {
                        format!("no answer within {} s", self.hosts.call_timeout.as_secs())
                    } else {
                        format!(
                            "cannot reach {}: {}",
                            self.endpoint.web_host,
                            root_cause(&e)
                        )
                    };
                    match retry(&mut failures, why) {
                        Ok(pause) => {
                            sleep_within(pause, self.deadline).await;
                            continue;
                        }
                        Err(e) => {
                            self.hosts.metrics.count(kind, "failed");
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
            let remaining = header("x-ratelimit-remaining").and_then(|v| v.parse::<u64>().ok());
            if let Some(left) = remaining {
                self.hosts.metrics.remaining(kind, left);
            }
            let retry_after = header("retry-after").and_then(|v| v.trim().parse::<u64>().ok());
            let reset = header("x-ratelimit-reset").and_then(|v| v.trim().parse::<i64>().ok());
            let next = header("link").and_then(|l| next_link(&l));
            let bytes = read_limited(response, MAX_BODY)
                .await
                .map_err(|m| HostError::new(&request, m))?;
            if (200..300).contains(&status) {
                self.hosts.metrics.count(kind, "ok");
                return Ok(Answer {
                    status,
                    next,
                    body: bytes,
                });
            }
            let limited =
                matches!(status, 403 | 429) && (retry_after.is_some() || remaining == Some(0));
            if limited {
                let wait = retry_after.map(Duration::from_secs).or_else(|| {
                    reset.map(|r| {
                        Duration::from_secs(
                            u64::try_from(r - chrono::Utc::now().timestamp()).unwrap_or(0) + 1,
                        )
                    })
                });
                let wait = wait.unwrap_or(Duration::from_mins(1));
                let fits = Instant::now() + wait < self.deadline;
                waits += 1;
                if fits && waits <= RATE_WAITS {
                    tracing::info!(
                        host = kind.as_str(),
                        seconds = wait.as_secs(),
                        "rate limited by the host; waiting as it asks"
                    );
                    tokio::time::sleep(wait).await;
                    continue;
                }
                self.hosts.metrics.count(kind, "rate_limited");
                let until = match (retry_after, reset) {
                    (Some(s), _) => format!("the host asks to retry after {s} s (Retry-After)"),
                    (None, Some(r)) => format!(
                        "the rate limit is exhausted until {} (X-RateLimit-Reset)",
                        chrono::DateTime::from_timestamp(r, 0)
                            .map_or_else(|| r.to_string(), |t| t.to_rfc3339())
                    ),
                    _ => "rate limited".into(),
                };
                return Err(HostError {
                    request,
                    message: format!("{until}, beyond the decision's deadline"),
                    answered: true,
                    status: Some(status),
                });
            }
            if status >= 500 {
                match retry(
                    &mut failures,
                    format!("the host answered {status}: {}", host_message(&bytes)),
                ) {
                    Ok(pause) => {
                        sleep_within(pause, self.deadline).await;
                        continue;
                    }
                    Err(mut e) => {
                        self.hosts.metrics.count(kind, "failed");
                        e.answered = true;
                        e.status = Some(status);
                        return Err(e);
                    }
                }
            }
            let (outcome, message) = match status {
                401 => ("denied", format!("the credentials were refused (401: {})", host_message(&bytes))),
                403 => ("denied", format!("forbidden (403: {}); the credentials lack a permission", host_message(&bytes))),
                404 if kind == Kind::GitHub => ("not_found", format!(
                    "not found (404: {}); GitHub also answers 404, not 401, when the credentials cannot see a private repository",
                    host_message(&bytes)
                )),
                404 => ("not_found", format!("not found (404: {})", host_message(&bytes))),
                _ => ("failed", format!("the host answered {status}: {}", host_message(&bytes))),
            };
            self.hosts.metrics.count(kind, outcome);
            return Err(HostError {
                request,
                message,
                answered: true,
                status: Some(status),
            });
        }
    }
}

fn bearer(jwt: &Secret) -> Secret {
    Secret::new(format!("Bearer {}", jwt.expose()))
}

/// The `message` (GitHub, GitLab) or `error` (GitLab) of an error answer, shortened, control
/// characters replaced.
fn host_message(body: &[u8]) -> String {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let text = value
        .get("message")
        .or_else(|| value.get("error"))
        .map_or_else(
            || "no message".to_owned(),
            |m| m.as_str().map_or_else(|| m.to_string(), str::to_owned),
        );
    text.chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_answers_addressed_by_a_commit_are_cached() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert!(immutable(&format!("/repos/o/r/commits/{sha}/pulls")));
        assert!(immutable(&format!(
            "/repos/o/r/compare/{sha}...{sha}?per_page=100"
        )));
        assert!(immutable(&format!(
            "/repos/o/r/contents/CODEOWNERS?ref={sha}"
        )));
        assert!(!immutable("/repos/o/r/pulls/7/reviews"));
    }

    #[test]
    fn endpoints_know_the_hosts_of_their_repositories() {
        let gh = Endpoint::github("https://api.github.com/", Auth::None).unwrap();
        assert_eq!(
            (gh.api.as_str(), gh.web_host.as_str()),
            ("https://api.github.com", "github.com")
        );
        let ghes = Endpoint::github("https://git.example.com/api/v3", Auth::None).unwrap();
        assert_eq!(ghes.web_host, "git.example.com");
        let gl = Endpoint::gitlab("http://127.0.0.1:9000", Auth::None).unwrap();
        assert_eq!(
            (gl.api.as_str(), gl.web_host.as_str()),
            ("http://127.0.0.1:9000/api/v4", "127.0.0.1:9000")
        );
        assert!(Endpoint::github("api.github.com", Auth::None).is_err());
        let hosts = Hosts::new(vec![gh, gl], Duration::from_secs(1)).unwrap();
        let (e, path) = hosts.resolve("https://github.com/o/r.git").unwrap();
        assert_eq!((e.kind, path.as_str()), (Kind::GitHub, "o/r"));
        assert!(hosts.resolve("https://bitbucket.org/o/r.git").is_none());
    }

    #[test]
    fn host_messages_are_short_and_plain() {
        assert_eq!(
            host_message(br#"{"message":"Bad\ncredentials"}"#),
            "Bad credentials"
        );
        assert_eq!(
            host_message(br#"{"error":"insufficient_scope"}"#),
            "insufficient_scope"
        );
        assert_eq!(host_message(b"<html>"), "no message");
    }
}
