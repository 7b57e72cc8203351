//! The guard's question to the sink (docs/approvals.md): once the window allows a sync, a policy with
//! `approvals` has the sink decide (`POST <sink>/v1/decide`). The sink holds the Git host's
//! credentials, judges, records the decision with its evidence, and answers allow or refuse with the
//! reason. The guard holds no host credential and fails closed when the sink cannot be asked, unless
//! the policy says `onUnavailable: allow-flagged` (the sync then goes ahead and the sink, when it
//! hears of the sync, judges it after the fact and flags it).

use serde_json::Value;

/// Longest the guard waits for the sink's decision (the sink gives the ticket system 20 s and the Git
/// host 45 s, one after the other).
pub const DECIDE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(90);

/// Asks the sink.
pub trait Decider {
    /// The sink's answer (`{"allowed": …, "reason": …}`) to `body` at `url`.
    ///
    /// # Errors
    ///
    /// Why no decision came back: the sink is unreachable, or answered something else than a decision.
    fn decide(&self, url: &str, token: Option<&str>, body: &Value) -> Result<Value, String>;
}

/// `POST` with ureq (rustls for `https://`), as the report is sent.
pub struct HttpDecider;

impl Decider for HttpDecider {
    fn decide(&self, url: &str, token: Option<&str>, body: &Value) -> Result<Value, String> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(DECIDE_TIMEOUT))
            .http_status_as_error(false)
            .user_agent("sluice-guard")
            .build()
            .into();
        let mut request = agent.post(url).header("Content-Type", "application/json");
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let mut response = request
            .send(body.to_string())
            .map_err(|e| format!("cannot reach the sink at {url}: {e}"))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
            .map_err(|e| format!("the sink's answer broke off: {e}"))?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let decided = value.get("allowed").and_then(Value::as_bool).is_some();
        if (200..300).contains(&status) && decided {
            return Ok(value);
        }
        let why = value
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no decision in the answer");
        Err(format!("the sink answered HTTP {status}: {why}"))
    }
}

/// The decision URL of a sink: `SLUICE_SINK_URL` (the sink's base URL, set on the plugin sidecar by
/// the install kit) with `/v1/decide`, else the origin of `guard.report`.
pub fn decide_url(sink_url: &str, report: &str) -> Option<String> {
    let base = if sink_url.trim().is_empty() {
        let rest = report
            .strip_prefix("https://")
            .map(|r| ("https", r))
            .or_else(|| report.strip_prefix("http://").map(|r| ("http", r)))?;
        let authority = rest.1.split(['/', '?']).next().filter(|a| !a.is_empty())?;
        format!("{}://{authority}", rest.0)
    } else {
        sink_url.trim().trim_end_matches('/').to_owned()
    };
    Some(format!("{base}/v1/decide"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decision_url_comes_from_the_sidecar_else_the_report() {
        assert_eq!(
            decide_url("http://sluice-sink.argocd.svc:8080/", "").as_deref(),
            Some("http://sluice-sink.argocd.svc:8080/v1/decide")
        );
        assert_eq!(
            decide_url("", "https://sink.example.com:8443/v1/guard").as_deref(),
            Some("https://sink.example.com:8443/v1/decide")
        );
        assert_eq!(decide_url("", ""), None);
    }
}
