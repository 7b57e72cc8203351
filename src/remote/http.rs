//! Helpers of the HTTP clients of outside systems (src/host/client.rs, src/itsm/client.rs): a body
//! read within a bound, the innermost cause of an error (without the URL reqwest adds, which may hold
//! a query), a pause that ends before a deadline, `Link` headers (RFC 8288), and the short message of
//! an error answer. No client of its own.

// "ServiceNow" and "OpenAPI" are names, not code: no backticks around them in the docs.
#![allow(clippy::doc_markdown)]

use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;

/// The body, at most `max` bytes.
///
/// # Errors
///
/// The body broke off, or is longer.
pub async fn read_limited(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("the answer broke off: {}", root_cause(&e)))?
    {
        if out.len() + chunk.len() > max {
            return Err(format!("the answer is over {max} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The innermost error (hyper's and the OS's reason), without the URL reqwest adds.
pub fn root_cause(e: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

/// Sleeps `pause`, or until just before the deadline.
pub async fn sleep_within(pause: Duration, deadline: Instant) {
    let left = deadline.saturating_duration_since(Instant::now());
    tokio::time::sleep(pause.min(left)).await;
}

/// The `rel="next"` target of a `Link` header (RFC 8288).
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| target.to_owned())
    })
}

/// The message of an error answer, shortened and with control characters replaced: GitHub's and
/// GitLab's `message` or `error`, ServiceNow's `error.message` (and `error.detail`), Jira's
/// `errorMessages` and `errors`, JSM's `errorMessage`.
pub fn error_message(body: &[u8]) -> String {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    let found = if let Some(m) = value.get("message") {
        Some(text(m))
    } else if let Some(e) = value.get("error") {
        match (e.get("message"), e.get("detail")) {
            (Some(m), Some(d)) if !d.is_null() && d != "" => {
                Some(format!("{}: {}", text(m), text(d)))
            }
            (Some(m), _) => Some(text(m)),
            _ => Some(text(e)),
        }
    } else if let Some(list) = value
        .get("errorMessages")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
    {
        Some(list.iter().map(text).collect::<Vec<_>>().join("; "))
    } else if let Some(errors) = value
        .get("errors")
        .and_then(Value::as_object)
        .filter(|e| !e.is_empty())
    {
        Some(
            errors
                .iter()
                .map(|(k, v)| format!("{k}: {}", text(v)))
                .collect::<Vec<_>>()
                .join("; "),
        )
    } else {
        value.get("errorMessage").map(text)
    };
    found
        .unwrap_or_else(|| "no message".to_owned())
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_next_link() {
        let h = r#"<https://api.github.com/repositories/1/pulls?page=2>; rel="next", <https://api.github.com/repositories/1/pulls?page=5>; rel="last""#;
        assert_eq!(
            next_link(h).as_deref(),
            Some("https://api.github.com/repositories/1/pulls?page=2")
        );
        assert_eq!(next_link(r#"<https://x/?page=1>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }

    #[test]
    fn error_messages_of_each_system() {
        assert_eq!(
            error_message(br#"{"message":"Bad\ncredentials"}"#),
            "Bad credentials"
        );
        assert_eq!(
            error_message(br#"{"error":"insufficient_scope"}"#),
            "insufficient_scope"
        );
        assert_eq!(
            error_message(br#"{"error":{"message":"User Not Authenticated","detail":"Required to provide Auth information"},"status":"failure"}"#),
            "User Not Authenticated: Required to provide Auth information"
        );
        assert_eq!(
            error_message(br#"{"errorMessages":["Issue does not exist or you do not have permission to see it."],"errors":{}}"#),
            "Issue does not exist or you do not have permission to see it."
        );
        assert_eq!(
            error_message(
                br#"{"errorMessages":[],"errors":{"body":"Comment body can not be empty!"}}"#
            ),
            "body: Comment body can not be empty!"
        );
        assert_eq!(
            error_message(
                br#"{"errorMessage":"The request does not exist","i18nErrorMessage":{}}"#
            ),
            "The request does not exist"
        );
        assert_eq!(error_message(b"<html>"), "no message");
    }
}
