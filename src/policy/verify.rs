//! The `verify` section of `.sluice.yaml` (docs/hooks.md, "Post-change verification"): the checks a
//! `PostSync` hook runs after the sync, how long they may take (`within`) and what a failure does
//! (`onFailure`). Checks follow Argo Rollouts' `Metric` (`successCondition`, `failureCondition`,
//! `interval`, `count`, `failureLimit`, `inconclusiveLimit`, `consecutiveErrorLimit`,
//! `consecutiveSuccessLimit`, `initialDelay`) so that a metric of an `AnalysisTemplate` can be pasted in,
//! with `provider: {prometheus: …}` accepted as written there. Takes the section as written (YAML, or
//! the JSON the hook Job carries); gives a validated [`VerifySpec`] whose conditions compile. Pure.

use crate::expr::Condition;
use crate::window::duration::parse_go_duration;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// Default of `within`.
pub const DEFAULT_WITHIN: &str = "30m";
/// Longest `within`: a `PostSync` hook holds the sync operation open until it ends, so a longer soak
/// belongs to Argo Rollouts' analysis (whose `AnalysisRuns` sluice collects into the record).
pub const MAX_WITHIN: Duration = Duration::from_hours(2);
/// Most checks in a policy.
pub const MAX_CHECKS: usize = 20;
/// Most measurements of one check.
pub const MAX_COUNT: u32 = 1000;
/// Default interval between polls of the workload check.
pub const DEFAULT_WORKLOAD_INTERVAL: &str = "5s";

/// `verify`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifySpec {
    /// How long the whole verification may take (Go duration).
    #[serde(default = "default_within")]
    pub within: String,
    #[serde(default)]
    pub on_failure: OnFailure,
    /// Defaults for the Prometheus checks.
    #[serde(default, skip_serializing_if = "PrometheusDefaults::is_empty")]
    pub prometheus: PrometheusDefaults,
    pub checks: Vec<CheckSpec>,
}

fn default_within() -> String {
    DEFAULT_WITHIN.to_owned()
}

/// `verify.onFailure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
pub enum OnFailure {
    /// Record the verdict; the sync stands.
    #[default]
    #[serde(rename = "record")]
    Record,
    /// The hook fails unless the verdict is Successful: Argo CD marks the operation Failed.
    #[serde(rename = "fail-sync")]
    FailSync,
    /// As `fail-sync`, and on a Failed verdict the sink opens a revert pull request.
    #[serde(rename = "rollback")]
    Rollback,
}

impl OnFailure {
    /// As written in the policy.
    pub fn as_str(self) -> &'static str {
        match self {
            OnFailure::Record => "record",
            OnFailure::FailSync => "fail-sync",
            OnFailure::Rollback => "rollback",
        }
    }
}

/// `verify.prometheus`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrometheusDefaults {
    /// The Prometheus server's URL (`http://prometheus.monitoring.svc:9090`).
    #[serde(default)]
    pub address: String,
}

impl PrometheusDefaults {
    fn is_empty(&self) -> bool {
        self.address.is_empty()
    }
}

/// One check: a Prometheus query, an HTTP probe, or the app's workloads.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workloads: Option<WorkloadsCheck>,
    /// Argo Rollouts' spelling: `provider: {prometheus: …}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_condition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_condition: Option<String>,
    /// Go duration between measurements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Go duration before the first measurement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_delay: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Failed measurements allowed (default 0); -1 turns the limit off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inconclusive_limit: Option<u32>,
    /// Errors in a row allowed (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_error_limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_success_limit: Option<u32>,
}

/// `provider` as Argo Rollouts writes it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    pub prometheus: PrometheusCheck,
}

/// A `PromQL` instant query.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrometheusCheck {
    pub query: String,
    /// The server; default `verify.prometheus.address`, else the installation's.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub address: String,
    /// Seconds a query may take (Argo Rollouts' `timeout`, default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

/// An HTTP probe of a URL inside the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpCheck {
    pub url: String,
    /// The status that counts (default 200); another status is a Failed measurement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_status: Option<u16>,
    /// Kubernetes `JSONPath` of the value the conditions see (`{$.status}`); default: the whole body
    /// (JSON when it parses, else text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_path: Option<String>,
    /// Seconds a probe may take (Argo Rollouts' web `timeoutSeconds`, default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<Header>,
}

/// A request header of an HTTP probe.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub key: String,
    pub value: String,
}

/// Every Deployment, `StatefulSet`, `DaemonSet` and Rollout the app renders, rolled out and available.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadsCheck {}

/// What a check measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Prometheus,
    Http,
    Workloads,
}

impl Kind {
    /// As the record names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Prometheus => "prometheus",
            Kind::Http => "http",
            Kind::Workloads => "workloads",
        }
    }
}

impl CheckSpec {
    /// The Prometheus query, from `prometheus` or Argo's `provider.prometheus`.
    pub fn prometheus(&self) -> Option<&PrometheusCheck> {
        self.prometheus
            .as_ref()
            .or(self.provider.as_ref().map(|p| &p.prometheus))
    }

    /// What the check measures (validation made sure there is exactly one).
    pub fn kind(&self) -> Kind {
        if self.http.is_some() {
            Kind::Http
        } else if self.workloads.is_some() {
            Kind::Workloads
        } else {
            Kind::Prometheus
        }
    }

    /// The count Argo Rollouts works to (`EffectiveCount`): `count`, else 1 without an interval,
    /// else none (measure until `within`).
    pub fn effective_count(&self) -> Option<u32> {
        match (self.count, &self.interval) {
            (Some(n), _) if n > 0 => Some(n),
            (_, None) => Some(1),
            _ => None,
        }
    }
}

/// A Go duration as a [`Duration`].
///
/// # Errors
///
/// The text is not a Go duration, or is negative.
pub fn duration(text: &str) -> Result<Duration, String> {
    match parse_go_duration(text) {
        Ok(ns) if ns < 0 => Err(format!("{text:?} is negative")),
        Ok(ns) => Ok(Duration::from_nanos(ns as u64)),
        Err(e) => Err(format!("{text:?} is not a Go duration: {e}")),
    }
}

/// The compiled conditions of a check.
#[derive(Debug, Clone)]
pub struct Conditions {
    pub success: Option<Condition>,
    pub failure: Option<Condition>,
}

/// Compiles a check's conditions.
///
/// # Errors
///
/// The key (`successCondition` or `failureCondition`) and why, with the column.
pub fn conditions(check: &CheckSpec) -> Result<Conditions, (String, String)> {
    let compile = |key: &str,
                   text: &Option<String>|
     -> Result<Option<Condition>, (String, String)> {
        let Some(text) = text else {
            return Ok(None);
        };
        Condition::compile(text).map(Some).map_err(|e| {
            let at = e
                .at
                .map(|a| format!(" at column {}", text[..a.min(text.len())].chars().count() + 1))
                .unwrap_or_default();
            (
                key.to_owned(),
                format!(
                    "{text:?} is not a condition Argo Rollouts would run: {e}{at} (docs/hooks.md, \"The condition language\")"
                ),
            )
        })
    };
    Ok(Conditions {
        success: compile("successCondition", &check.success_condition)?,
        failure: compile("failureCondition", &check.failure_condition)?,
    })
}

impl VerifySpec {
    /// `within` as a duration (validation made sure it parses).
    pub fn within(&self) -> Duration {
        duration(&self.within).unwrap_or(MAX_WITHIN)
    }

    /// Checks what the schema cannot: names, one kind per check, the conditions compile, durations
    /// parse, Argo Rollouts' rules on the limits (`utils/analysis/factory.go`, `ValidateMetric`), and
    /// that every check can finish within `within`.
    ///
    /// # Errors
    ///
    /// The key (relative to `verify`) and why.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let within = duration(&self.within).map_err(|m| ("within".to_owned(), m))?;
        if within.is_zero() {
            return Err(("within".into(), "must be more than 0 (e.g. 30m)".into()));
        }
        if within > MAX_WITHIN {
            return Err(("within".into(), format!(
                "{} is longer than the 2h a PostSync hook may hold the sync operation open; for a longer soak use an Argo Rollouts AnalysisTemplate on the app's Rollout (sluice collects its AnalysisRuns into the record) and keep within to the first minutes",
                self.within
            )));
        }
        if self.checks.is_empty() {
            return Err((
                "checks".into(),
                "is empty; list at least one check (prometheus, http or workloads)".into(),
            ));
        }
        if self.checks.len() > MAX_CHECKS {
            return Err((
                "checks".into(),
                format!("{} checks is more than {MAX_CHECKS}", self.checks.len()),
            ));
        }
        for address in std::iter::once(&self.prometheus.address).filter(|a| !a.is_empty()) {
            http_url(address).map_err(|m| ("prometheus.address".to_owned(), m))?;
        }
        let mut seen = std::collections::HashSet::new();
        for (i, check) in self.checks.iter().enumerate() {
            let at = |key: &str| format!("checks[{i}].{key}");
            validate_check(check, within).map_err(|(key, message)| (at(&key), message))?;
            if !seen.insert(check.name.as_str()) {
                return Err((
                    at("name"),
                    format!(
                        "{:?} is used by an earlier check; names must be unique",
                        check.name
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn validate_check(check: &CheckSpec, within: Duration) -> Result<(), (String, String)> {
    let name_ok = !check.name.is_empty()
        && check.name.len() <= 63
        && check
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !name_ok {
        return Err((
            "name".into(),
            format!(
                "{:?} must be 1 to 63 letters, digits, '-', '_' or '.'",
                check.name
            ),
        ));
    }
    let kinds = [
        check.prometheus.is_some(),
        check.http.is_some(),
        check.workloads.is_some(),
        check.provider.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        return Err(("prometheus".into(), "set exactly one of prometheus (a PromQL query), http (a URL to probe), workloads ({}) or provider.prometheus".into()));
    }
    let args = [
        (
            "prometheus.query",
            check.prometheus().map(|p| p.query.as_str()),
        ),
        ("http.url", check.http.as_ref().map(|h| h.url.as_str())),
        ("successCondition", check.success_condition.as_deref()),
        ("failureCondition", check.failure_condition.as_deref()),
    ];
    if let Some((key, _)) = args
        .iter()
        .find(|(_, t)| t.is_some_and(|t| t.contains("{{")))
    {
        return Err(((*key).to_owned(), "holds a template (`{{args.…}}`): Argo Rollouts' args are not substituted here; write the value in".into()));
    }
    if let Some(p) = check.prometheus() {
        if p.query.trim().is_empty() {
            return Err(("prometheus.query".into(), "is empty".into()));
        }
        if !p.address.is_empty() {
            http_url(&p.address).map_err(|m| ("prometheus.address".to_owned(), m))?;
        }
    }
    if let Some(h) = &check.http {
        http_url(&h.url).map_err(|m| ("http.url".to_owned(), m))?;
        if let Some(s) = h.expected_status {
            if !(100..=599).contains(&s) {
                return Err((
                    "http.expectedStatus".into(),
                    format!("{s} is not an HTTP status"),
                ));
            }
        }
        if let Some(p) = &h.json_path {
            crate::policy::verify::json_path(p).map_err(|m| ("http.jsonPath".to_owned(), m))?;
        }
    }
    let parse = |key: &str, text: &Option<String>| -> Result<Option<Duration>, (String, String)> {
        text.as_deref()
            .map(duration)
            .transpose()
            .map_err(|m| (key.to_owned(), m))
    };
    let interval = parse("interval", &check.interval)?;
    let delay = parse("initialDelay", &check.initial_delay)?.unwrap_or_default();
    if check.workloads.is_some() {
        let extra = [
            ("successCondition", check.success_condition.is_some()),
            ("failureCondition", check.failure_condition.is_some()),
            ("count", check.count.is_some()),
            ("failureLimit", check.failure_limit.is_some()),
            ("inconclusiveLimit", check.inconclusive_limit.is_some()),
            (
                "consecutiveErrorLimit",
                check.consecutive_error_limit.is_some(),
            ),
            (
                "consecutiveSuccessLimit",
                check.consecutive_success_limit.is_some(),
            ),
        ];
        if let Some((key, _)) = extra.iter().find(|(_, set)| *set) {
            return Err(((*key).to_owned(), "does not apply to the workloads check, which waits (polling every interval, default 5s) until every workload is rolled out, as `kubectl rollout status` judges, or within passes".into()));
        }
        if interval.is_some_and(|i| i.is_zero()) {
            return Err(("interval".into(), "must be more than 0".into()));
        }
        return Ok(());
    }
    conditions(check)?;
    // Argo Rollouts' ValidateMetric.
    let count = i64::from(check.count.unwrap_or(0));
    let failure_limit = check.failure_limit.unwrap_or(0);
    let success_limit = i64::from(check.consecutive_success_limit.unwrap_or(0));
    let inconclusive_limit = i64::from(check.inconclusive_limit.unwrap_or(0));
    if failure_limit < -1 {
        return Err((
            "failureLimit".into(),
            "must be >= 0, or -1 to be disabled".into(),
        ));
    }
    if success_limit == 0 && failure_limit == -1 {
        return Err((
            "failureLimit".into(),
            "failureLimit and consecutiveSuccessLimit cannot both be disabled".into(),
        ));
    }
    if count > i64::from(MAX_COUNT) {
        return Err(("count".into(), format!("{count} is more than {MAX_COUNT}")));
    }
    if count > 0 {
        if failure_limit >= 0 && count < failure_limit + success_limit {
            return Err(("count".into(), format!("count ({count}) must be >= failureLimit + consecutiveSuccessLimit ({failure_limit} + {success_limit})")));
        }
        if failure_limit < 0 && count < success_limit {
            return Err(("count".into(), "must be >= consecutiveSuccessLimit".into()));
        }
        if count < inconclusive_limit {
            return Err(("count".into(), "must be >= inconclusiveLimit".into()));
        }
    }
    if count > 1 && interval.is_none() {
        return Err(("interval".into(), "must be specified when count > 1".into()));
    }
    if interval.is_some_and(|i| i.is_zero()) {
        return Err(("interval".into(), "must be more than 0".into()));
    }
    // The least time the check needs: the delay and count - 1 intervals.
    if let (Some(n), Some(i)) = (check.effective_count(), interval) {
        let least = delay + i * n.saturating_sub(1);
        if least >= within {
            return Err(("count".into(), format!(
                "{n} measurements {} apart after an initialDelay of {}s take at least {}s, not less than within ({}s); lower count or interval, or raise within",
                check.interval.as_deref().unwrap_or(""),
                delay.as_secs(),
                least.as_secs(),
                within.as_secs()
            )));
        }
    } else if delay >= within {
        return Err(("initialDelay".into(), "is not less than within".into()));
    }
    Ok(())
}

/// Checks an `http://` or `https://` URL with a host.
fn http_url(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "{text:?} must be an http:// or https:// URL with a host"
        ));
    }
    Ok(())
}

/// One step of a `JSONPath`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Member(String),
    Index(i64),
}

/// A Kubernetes `JSONPath` of the simple form the web metrics of Argo Rollouts use: `{$.a.b[0].c}`
/// (braces and `$` optional), members by `.name` or `['name']`, elements by `[i]`.
///
/// # Errors
///
/// Filters, wildcards, ranges and recursive descent, which sluice does not read.
pub fn json_path(text: &str) -> Result<Vec<Step>, String> {
    let t = text.trim();
    let t = t
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or(t)
        .trim();
    let mut rest = t.strip_prefix('$').unwrap_or(t);
    let mut steps = Vec::new();
    let unsupported = || {
        format!("{text:?}: only members (.name, ['name']) and indices ([0]) are supported, as in {{$.data.status}}")
    };
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let name = &r[..end];
            if name.is_empty() || name.contains(['*', '?', '@', '(', ')', ' ']) {
                return Err(unsupported());
            }
            steps.push(Step::Member(name.to_owned()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(unsupported)?;
            let inner = r[..end].trim();
            let quoted = inner
                .strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
            match (quoted, inner.parse::<i64>()) {
                (Some(name), _) => steps.push(Step::Member(name.to_owned())),
                (None, Ok(i)) => steps.push(Step::Index(i)),
                _ => return Err(unsupported()),
            }
            rest = &r[end + 1..];
        } else {
            return Err(unsupported());
        }
    }
    Ok(steps)
}

/// Reads the section from JSON (what the hook Job carries).
///
/// # Errors
///
/// The section does not fit the schema or fails validation; the message names the key under
/// `verify`.
pub fn from_value(value: &Value) -> Result<VerifySpec, String> {
    let spec: VerifySpec = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            format!("verify: {}", e.inner())
        } else {
            format!("verify.{path}: {}", e.inner())
        }
    })?;
    spec.validate()
        .map_err(|(key, message)| format!("verify.{key}: {message}"))?;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[allow(clippy::needless_pass_by_value)] // `err(json!(…))` reads best at the call sites
    fn err(v: Value) -> String {
        from_value(&v).unwrap_err()
    }

    #[test]
    fn defaults_and_argo_spelling() {
        let spec = from_value(&json!({"checks": [
            {"name": "errors", "provider": {"prometheus": {"query": "up"}}, "successCondition": "result[0] == 1"},
            {"name": "ready", "workloads": {}},
        ]}))
        .unwrap();
        assert_eq!(spec.within, "30m");
        assert_eq!(spec.on_failure, OnFailure::Record);
        assert_eq!(spec.checks[0].prometheus().unwrap().query, "up");
        assert_eq!(spec.checks[0].kind(), Kind::Prometheus);
        assert_eq!(spec.checks[0].effective_count(), Some(1));
        assert_eq!(spec.checks[1].kind(), Kind::Workloads);
    }

    #[test]
    fn mistakes_name_the_key_and_the_fix() {
        let e = err(
            json!({"checks": [{"name": "a", "prometheus": {"query": "up"}, "successCondition": "result[0] <"}]}),
        );
        assert!(
            e.starts_with("verify.checks[0].successCondition: \"result[0] <\" is not a condition"),
            "{e}"
        );
        assert!(e.contains("unexpected token EOF at column 12"), "{e}");
        let e = err(json!({"checks": [{"name": "a", "prometheus": {"query": "up"}, "count": 3}]}));
        assert_eq!(
            e,
            "verify.checks[0].interval: must be specified when count > 1"
        );
        let e = err(
            json!({"checks": [{"name": "a", "prometheus": {"query": "up"}, "count": 2, "failureLimit": 3, "interval": "1s"}]}),
        );
        assert!(
            e.contains("count (2) must be >= failureLimit + consecutiveSuccessLimit (3 + 0)"),
            "{e}"
        );
        let e = err(
            json!({"within": "1m", "checks": [{"name": "a", "prometheus": {"query": "up"}, "count": 10, "interval": "10s"}]}),
        );
        assert!(
            e.starts_with("verify.checks[0].count: 10 measurements 10s apart"),
            "{e}"
        );
        let e = err(json!({"within": "6h", "checks": [{"name": "a", "workloads": {}}]}));
        assert!(e.contains("Argo Rollouts AnalysisTemplate"), "{e}");
        let e = err(json!({"checks": [{"name": "a", "workloads": {}, "count": 2}]}));
        assert!(
            e.starts_with("verify.checks[0].count: does not apply"),
            "{e}"
        );
        let e = err(json!({"checks": [{"name": "a", "http": {"url": "ftp://x"}}]}));
        assert!(e.starts_with("verify.checks[0].http.url"), "{e}");
        let e = err(
            json!({"checks": [{"name": "a", "http": {"url": "http://x", "jsonPath": "{$..a}"}}]}),
        );
        assert!(e.starts_with("verify.checks[0].http.jsonPath"), "{e}");
        let e = err(json!({"checks": [{"name": "a"}]}));
        assert!(e.contains("exactly one of"), "{e}");
        let e = err(
            json!({"checks": [{"name": "a", "workloads": {}}, {"name": "a", "workloads": {}}]}),
        );
        assert!(e.starts_with("verify.checks[1].name"), "{e}");
        let e = err(json!({"onFailure": "revert", "checks": []}));
        assert!(e.starts_with("verify.onFailure: unknown variant"), "{e}");
        let e = err(
            json!({"checks": [{"name": "a", "prometheus": {"query": "up"}, "failureLimit": -1}]}),
        );
        assert!(e.contains("cannot both be disabled"), "{e}");
        let e = err(
            json!({"checks": [{"name": "a", "prometheus": {"query": "up{job=\"{{args.job}}\"}"}}]}),
        );
        assert!(
            e.starts_with("verify.checks[0].prometheus.query: holds a template"),
            "{e}"
        );
        let e =
            err(json!({"checks": [{"name": "a", "prometheus": {"query": "up", "adress": "x"}}]}));
        assert!(
            e.starts_with("verify.checks[0].prometheus.adress: unknown field"),
            "{e}"
        );
    }

    #[test]
    fn json_paths_of_the_simple_form() {
        assert_eq!(
            json_path("{$.data.items[0]['a b']}").unwrap(),
            vec![
                Step::Member("data".into()),
                Step::Member("items".into()),
                Step::Index(0),
                Step::Member("a b".into())
            ]
        );
        assert_eq!(
            json_path("$.status").unwrap(),
            vec![Step::Member("status".into())]
        );
        assert_eq!(json_path("{$}").unwrap(), vec![]);
        for bad in ["{$..a}", "{$.a[*]}", "{$.a[?(@.x)]}", "{$.a[0:2]}", "a.b"] {
            assert!(json_path(bad).is_err(), "{bad}");
        }
    }
}
