//! The guard's report to the sink (`guard.report`): where it goes ([`ReportUrl`]), the credential it goes
//! with ([`Env`]: the Job's projected `ServiceAccount` token, read when the report is sent), and the
//! [`Reporter`] that posts it ([`HttpReporter`], the one HTTP client of src/net.rs with a whole-request
//! timeout).

use serde_json::Value;

/// Delivers the decision to the sink.
pub trait Reporter {
    /// # Errors
    ///
    /// Why the report did not arrive; the guard logs it and carries on.
    fn report(&self, url: &ReportUrl, token: Option<&str>, body: &Value) -> Result<(), String>;
}

/// `POST` with the one HTTP client (src/net.rs: rustls for `https://`, the system's and the in-cluster
/// CAs), with a whole-request timeout.
pub struct HttpReporter;

/// Longest the report may take, connecting included; the guard decides on time regardless.
pub(super) const REPORT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// What the guard takes from the environment besides its arguments.
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// `SLUICE_REPORT_TOKEN`: sent as `Authorization: Bearer …` (a token given by hand).
    pub report_token: Option<String>,
    /// `SLUICE_REPORT_TOKEN_FILE`: the Job's projected `ServiceAccount` token (audience `sluice`), read
    /// when the report is sent (the kubelet renews the file while a waiting guard runs); preferred
    /// over `report_token`.
    pub report_token_file: Option<std::path::PathBuf>,
}

impl Env {
    /// The bearer token to report with, as it is now.
    pub fn token(&self) -> Option<String> {
        if let Some(path) = &self.report_token_file {
            match std::fs::read_to_string(path) {
                Ok(text) if !text.trim().is_empty() => return Some(text.trim().to_owned()),
                Ok(_) => tracing::warn!(path = %path.display(), "the report token file is empty"),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot read the report token file");
                }
            }
        }
        self.report_token.clone()
    }
}

/// An `http(s)://host[:port]/path` report endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportUrl {
    /// `https://` (TLS, verified against the system's and the in-cluster CAs) rather than `http://`.
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
    /// The `Host` header value.
    pub authority: String,
}

impl ReportUrl {
    /// Parses a report URL.
    ///
    /// # Errors
    ///
    /// Anything but `http(s)://host[:port][/path]`.
    pub fn parse(text: &str) -> Result<ReportUrl, String> {
        let (tls, rest) = match (text.strip_prefix("http://"), text.strip_prefix("https://")) {
            (Some(rest), _) => (false, rest),
            (_, Some(rest)) => (true, rest),
            _ => {
                return Err(format!(
                    "{text:?} is not an http:// or https:// URL; write e.g. http://sluice-sink.argocd.svc:8080/v1/guard"
                ))
            }
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path
        };
        if authority.is_empty() || authority.contains('@') || path.contains(char::is_whitespace) {
            return Err(format!(
                "{text:?}: expected http://host[:port]/path without credentials or spaces (the token comes from SLUICE_REPORT_TOKEN)"
            ));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("{text:?}: unclosed '[' in the host"))?;
            (h.to_string(), after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        let port = match port {
            None if tls => 443,
            None => 80,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| format!("{text:?}: port {p:?} is not a number 1-65535"))?,
        };
        if host.is_empty() {
            return Err(format!("{text:?}: the host is empty"));
        }
        Ok(ReportUrl {
            tls,
            host,
            port,
            path,
            authority: authority.to_string(),
        })
    }
}

impl ReportUrl {
    /// The URL again, as the HTTP client takes it.
    pub fn to_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{}", self.authority, self.path)
    }
}

impl Reporter for HttpReporter {
    fn report(&self, url: &ReportUrl, token: Option<&str>, body: &Value) -> Result<(), String> {
        let client = crate::net::blocking_client(REPORT_TIMEOUT)?;
        let mut request = client
            .post(url.to_url())
            .header("Content-Type", "application/json")
            .header("User-Agent", "sluice-guard")
            .body(body.to_string());
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let response = request.send().map_err(|e| {
            if e.is_timeout() {
                format!(
                    "{} did not answer within {} s (timed out)",
                    url.to_url(),
                    REPORT_TIMEOUT.as_secs()
                )
            } else {
                format!(
                    "cannot reach {}: {}",
                    url.to_url(),
                    crate::net::describe(&e)
                )
            }
        })?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(format!("the sink answered HTTP {status}"))
        }
    }
}
