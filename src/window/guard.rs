//! `sluice guard`: the `PreSync` hook Job's decision at sync time. Takes a [`Request`] (the policy JSON
//! of `SLUICE_GUARD_POLICY` and the app identity), a [`Clock`] and a [`Reporter`]; decides as an
//! automated sync (Argo CD does not tell hooks whether a sync is manual), waits for the next opening
//! when `onClosed: wait` allows it, posts the decision to `guard.report`, and gives the [`Outcome`].
//! The clock and the reporter are injected so the wait loop and the report are tested without
//! sleeping or sockets; the commands layer prints the outcome and turns it into an exit code.

use super::duration::parse_go_duration;
use super::reason::{human, rfc3339};
use super::rules::{Decision, Rules, Subject};
use super::spec::{GuardPolicy, GuardSpec, OnClosed};
use super::WindowError;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

/// Time as the guard sees it; sleeping is part of it so tests can fast-forward.
pub trait Clock {
    fn now(&self) -> DateTime<Utc>;
    fn sleep(&self, d: std::time::Duration);
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
    fn sleep(&self, d: std::time::Duration) {
        std::thread::sleep(d);
    }
}

/// Delivers the decision to the sink.
pub trait Reporter {
    /// # Errors
    ///
    /// Why the report did not arrive; the guard logs it and carries on.
    fn report(&self, url: &ReportUrl, token: Option<&str>, body: &Value) -> Result<(), String>;
}

/// `POST` with ureq (HTTP/1.1; rustls for `https://`), with a whole-request timeout.
pub struct HttpReporter;

/// Longest the report may take, connecting included; the guard decides on time regardless.
const REPORT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// What the guard is asked to decide: the policy and the sync, as the guard Job's environment gives them.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The windows, freezes and guard settings as JSON (`SLUICE_GUARD_POLICY`).
    pub policy_json: String,
    pub app: String,
    pub namespace: String,
    /// Destination cluster names or server URLs; empty values are ignored.
    pub clusters: Vec<String>,
    /// Emergency change id, empty when none.
    pub emergency: String,
    /// Change id of this sync, for the report.
    pub change_id: String,
    /// Revision being synced, for the report.
    pub revision: String,
}

/// The policy handed to the guard cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("SLUICE_GUARD_POLICY: {0}")]
pub struct GuardError(String);

/// The final decision, and when the guard gave up waiting, why.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub decision: Decision,
    /// Appended to the reason of a blocked sync: ` (onClosed: wait gives up: …)`, or empty.
    pub note: String,
}

impl Outcome {
    /// What Argo CD shows for a blocked sync, `None` when the sync may go ahead.
    pub fn blocked_message(&self) -> Option<String> {
        (!self.decision.allowed).then(|| format!("{}{}", self.decision.reason, self.note))
    }
}

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
    /// `https://` (TLS, verified against the Mozilla root certificates) rather than `http://`.
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

/// The validated `guard` section (the parts the guard uses).
#[derive(Debug, Clone)]
pub struct Settings {
    pub on_closed: OnClosed,
    pub max_wait: Duration,
    pub max_wait_text: String,
    pub report: Option<ReportUrl>,
}

impl Settings {
    /// Validates `guard.maxWait` and `guard.report`.
    ///
    /// # Errors
    ///
    /// The invalid key, with its path (`guard.maxWait: …`).
    pub fn compile(spec: &GuardSpec) -> Result<Settings, WindowError> {
        let invalid = |path: &str, message: String| WindowError::Invalid {
            path: path.to_string(),
            message,
        };
        let nanos = parse_go_duration(&spec.max_wait).map_err(|e| invalid("guard.maxWait", e.0))?;
        if nanos < 0 {
            return Err(invalid(
                "guard.maxWait",
                format!("{:?} is negative; write e.g. 6h", spec.max_wait),
            ));
        }
        let report = if spec.report.is_empty() {
            None
        } else {
            Some(ReportUrl::parse(&spec.report).map_err(|e| invalid("guard.report", e))?)
        };
        Ok(Settings {
            on_closed: spec.on_closed,
            max_wait: Duration::nanoseconds(nanos),
            max_wait_text: spec.max_wait.clone(),
            report,
        })
    }
}

/// Runs the guard: decide, maybe wait, report. A report that does not arrive is logged, not fatal.
///
/// # Errors
///
/// The policy JSON or its settings are invalid.
pub fn run(
    request: &Request,
    env: &Env,
    clock: &dyn Clock,
    reporter: &dyn Reporter,
) -> Result<Outcome, GuardError> {
    let bad = |e: String| GuardError(e);
    let policy: GuardPolicy =
        serde_json::from_str(&request.policy_json).map_err(|e| bad(e.to_string()))?;
    let rules = Rules::compile(&policy.windows, &policy.freezes).map_err(|e| bad(e.to_string()))?;
    let settings = Settings::compile(&policy.guard).map_err(|e| bad(e.to_string()))?;
    let subject = Subject {
        app: request.app.clone(),
        namespace: request.namespace.clone(),
        clusters: request
            .clusters
            .iter()
            .filter(|c| !c.is_empty())
            .cloned()
            .collect(),
        // Argo CD does not tell a hook whether the sync was started by a person; evaluate as automated.
        manual: false,
        emergency: Some(request.emergency.clone()).filter(|e| !e.is_empty()),
    };
    let (decision, note) = decide_or_wait(&rules, &subject, &settings, clock);
    if let Some(url) = &settings.report {
        let body = report_body(request, &rules, &decision);
        match reporter.report(url, env.token().as_deref(), &body) {
            Ok(()) => tracing::info!(url = %url.authority, "reported the decision to the sink"),
            Err(e) => tracing::warn!("could not report the decision to {}: {e}", url.authority),
        }
    }
    if decision.allowed {
        tracing::info!("{}", decision.reason);
    }
    Ok(Outcome { decision, note })
}

/// Decides now; with `onClosed: wait`, sleeps until the next opening while it is within `maxWait`,
/// logging once a minute. Returns the final decision and, when it gave up waiting, why.
pub fn decide_or_wait(
    rules: &Rules,
    subject: &Subject,
    settings: &Settings,
    clock: &dyn Clock,
) -> (Decision, String) {
    let start = clock.now();
    let mut decision = rules.decide(subject, start);
    if decision.allowed || settings.on_closed == OnClosed::Fail {
        return (decision, String::new());
    }
    let deadline = start + settings.max_wait;
    // Each round either sleeps until an opening or returns; the bound only guards against a clock
    // that does not move.
    for _ in 0..10_000 {
        let Some(open) = decision.next_open else {
            return (
                decision,
                " (onClosed: wait, but nothing opens within the search horizon)".into(),
            );
        };
        if open > deadline {
            return (
                decision,
                format!(
                    " (onClosed: wait gives up: the opening is beyond guard.maxWait {})",
                    settings.max_wait_text
                ),
            );
        }
        tracing::info!(
            "{}; waiting until {} (guard.maxWait {})",
            decision.reason,
            rfc3339(open),
            settings.max_wait_text
        );
        loop {
            let now = clock.now();
            if now >= open {
                break;
            }
            let left = open - now;
            tracing::info!(
                "waiting for the sync window: opens {} ({} min left)",
                human(open, rules.zone(), now),
                (left.num_seconds() + 59) / 60
            );
            let step = left.min(Duration::seconds(60));
            clock.sleep(step.to_std().unwrap_or(std::time::Duration::from_secs(1)));
        }
        decision = rules.decide(subject, clock.now());
        if decision.allowed {
            return (decision, String::new());
        }
    }
    (decision, " (onClosed: wait gave up)".into())
}

/// The body of `POST /v1/guard`, as agreed with the sink.
pub fn report_body(request: &Request, rules: &Rules, decision: &Decision) -> Value {
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    json!({
        "app": request.app,
        "namespace": request.namespace,
        "changeId": non_empty(&request.change_id),
        "revision": request.revision,
        "allowed": decision.allowed,
        "emergency": non_empty(&request.emergency),
        "reason": decision.reason,
        "at": rfc3339(decision.at),
        "active": decision.active,
        "windows": decision
            .active
            .iter()
            .filter_map(|&i| rules.window(i).map(super::compiled::Window::label))
            .collect::<Vec<_>>(),
    })
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
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(REPORT_TIMEOUT))
            .http_status_as_error(false)
            .user_agent("sluice-guard")
            .build()
            .into();
        let mut request = agent
            .post(url.to_url())
            .header("Content-Type", "application/json");
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let response = request
            .send(body.to_string())
            .map_err(|e| format!("cannot reach {}: {e}", url.to_url()))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(format!("the sink answered HTTP {status}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};

    struct FakeClock {
        now: Cell<DateTime<Utc>>,
        sleeps: Cell<usize>,
    }

    impl Clock for FakeClock {
        fn now(&self) -> DateTime<Utc> {
            self.now.get()
        }
        fn sleep(&self, d: std::time::Duration) {
            assert!(
                d <= std::time::Duration::from_mins(1),
                "sleeps at most a minute between logs"
            );
            self.sleeps.set(self.sleeps.get() + 1);
            self.now
                .set(self.now.get() + Duration::from_std(d).expect("small duration"));
        }
    }

    #[derive(Default)]
    struct FakeReporter {
        seen: RefCell<Vec<(String, Option<String>, Value)>>,
        fail: bool,
    }

    impl Reporter for FakeReporter {
        fn report(&self, url: &ReportUrl, token: Option<&str>, body: &Value) -> Result<(), String> {
            self.seen.borrow_mut().push((
                url.path.clone(),
                token.map(str::to_string),
                body.clone(),
            ));
            if self.fail {
                Err("connection refused".into())
            } else {
                Ok(())
            }
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test instant")
            .with_timezone(&Utc)
    }

    fn clock(at: &str) -> FakeClock {
        FakeClock {
            now: Cell::new(utc(at)),
            sleeps: Cell::new(0),
        }
    }

    fn args(policy: &str) -> Request {
        Request {
            policy_json: policy.to_string(),
            app: "shop".into(),
            namespace: "production".into(),
            clusters: vec![String::new()],
            emergency: String::new(),
            change_id: "CHG-1".into(),
            revision: "abc1234".into(),
        }
    }

    const TUESDAY_ALLOW: &str = r#"{"windows":[{"kind":"allow","schedule":"0 2 * * 2","duration":"4h","applications":["*"],"description":"Tue maintenance"}],
        "guard":{"onClosed":"wait","maxWait":"6h","report":"http://sink.argocd.svc:8080/v1/guard"}}"#;

    #[test]
    fn waits_for_the_window_within_max_wait_logging_each_minute() {
        let clock = clock("2026-11-24T00:30:00Z");
        let reporter = FakeReporter::default();
        let outcome =
            run(&args(TUESDAY_ALLOW), &Env::default(), &clock, &reporter).expect("valid policy");
        assert_eq!(outcome.blocked_message(), None, "allowed after waiting");
        assert_eq!(clock.now.get(), utc("2026-11-24T02:00:00Z"));
        assert_eq!(clock.sleeps.get(), 90);
        let seen = reporter.seen.borrow();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0, "/v1/guard");
        assert_eq!(seen[0].2["allowed"], json!(true));
        assert_eq!(seen[0].2["windows"], json!(["Tue maintenance"]));
        assert_eq!(seen[0].2["at"], json!("2026-11-24T02:00:00Z"));
    }

    #[test]
    fn gives_up_when_the_opening_is_beyond_max_wait() {
        let clock = clock("2026-11-23T10:00:00Z");
        let reporter = FakeReporter::default();
        let outcome =
            run(&args(TUESDAY_ALLOW), &Env::default(), &clock, &reporter).expect("valid policy");
        let msg = outcome.blocked_message().expect("blocked");
        assert!(
            msg.starts_with("blocked: outside allow window 'Tue maintenance'"),
            "{msg}"
        );
        assert!(
            msg.contains("next allowed window opens Tue 24 Nov 02:00 UTC"),
            "{msg}"
        );
        assert!(msg.contains("beyond guard.maxWait 6h"), "{msg}");
        assert_eq!(clock.sleeps.get(), 0);
        assert_eq!(reporter.seen.borrow()[0].2["allowed"], json!(false));
    }

    #[test]
    fn fails_at_once_with_on_closed_fail_and_a_failed_report_is_not_fatal() {
        let policy = TUESDAY_ALLOW.replace("\"wait\"", "\"fail\"");
        let clock = clock("2026-11-24T00:30:00Z");
        let reporter = FakeReporter {
            fail: true,
            ..FakeReporter::default()
        };
        let env = Env {
            report_token: Some("s3cret".into()),
            report_token_file: None,
        };
        let outcome = run(&args(&policy), &env, &clock, &reporter).expect("valid policy");
        assert!(outcome.blocked_message().is_some(), "blocked");
        assert_eq!(clock.sleeps.get(), 0);
        assert_eq!(reporter.seen.borrow()[0].1.as_deref(), Some("s3cret"));
    }

    #[test]
    fn emergency_passes_and_is_reported() {
        let mut a = args(TUESDAY_ALLOW);
        a.emergency = "CHG-911".into();
        let clock = clock("2026-11-23T10:00:00Z");
        let reporter = FakeReporter::default();
        let outcome = run(&a, &Env::default(), &clock, &reporter).expect("valid policy");
        assert_eq!(outcome.blocked_message(), None, "allowed");
        let body = &reporter.seen.borrow()[0].2;
        assert_eq!(body["emergency"], json!("CHG-911"));
        assert_eq!(body["changeId"], json!("CHG-1"));
        assert!(body["reason"]
            .as_str()
            .expect("reason")
            .contains("emergency change CHG-911"));
    }

    #[test]
    fn invalid_policy_json_is_a_usage_error() {
        let clock = clock("2026-11-23T10:00:00Z");
        let reporter = FakeReporter::default();
        let err = run(&args("{\"windows\":[{\"kind\":\"allow\",\"schedule\":\"0 2 * * 7\",\"duration\":\"1h\"}]}"), &Env::default(), &clock, &reporter)
            .expect_err("invalid");
        assert!(
            err.to_string()
                .contains("windows[0].schedule: day-of-week 7"),
            "{err}"
        );
    }

    #[test]
    fn parses_report_urls() {
        let u = ReportUrl::parse("http://sluice-sink.argocd.svc:8080/v1/guard").expect("url");
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("sluice-sink.argocd.svc", 8080, "/v1/guard")
        );
        let u = ReportUrl::parse("http://[::1]:9/x?y=1").expect("v6");
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("::1", 9, "/x?y=1")
        );
        assert_eq!(ReportUrl::parse("http://sink").expect("bare").path, "/");
        let u = ReportUrl::parse("https://sink.example.com/v1/guard").expect("https");
        assert_eq!((u.tls, u.port), (true, 443));
        assert_eq!(u.to_url(), "https://sink.example.com/v1/guard");
        for bad in [
            "ftp://sink/v1/guard",
            "sink:8080",
            "http://user:pw@sink/",
            "http://sink:0/",
            "http://:80/",
        ] {
            assert!(ReportUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn http_reporter_posts_json_with_bearer_token() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().expect("accept");
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&got).contains("\"app\"") {
                let n = conn.read(&mut buf).expect("read");
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            conn.write_all(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
                .expect("write");
            String::from_utf8_lossy(&got).into_owned()
        });
        let url = ReportUrl::parse(&format!("http://127.0.0.1:{port}/v1/guard")).expect("url");
        HttpReporter
            .report(&url, Some("tok"), &json!({"app": "shop"}))
            .expect("report");
        let request = server.join().expect("server").to_ascii_lowercase();
        assert!(
            request.starts_with("post /v1/guard http/1.1\r\n"),
            "{request}"
        );
        assert!(
            request.contains("\r\nauthorization: bearer tok\r\n"),
            "{request}"
        );
        assert!(
            request.contains("\r\ncontent-type: application/json\r\n"),
            "{request}"
        );
    }

    #[test]
    fn http_reporter_gives_up_on_a_silent_sink_and_speaks_tls_to_https() {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        // A sink that accepts and never answers: the report fails within its timeout.
        let silent = std::thread::spawn(move || {
            let (conn, _) = listener.accept().expect("accept");
            std::thread::sleep(REPORT_TIMEOUT + std::time::Duration::from_secs(2));
            drop(conn);
            listener
        });
        let url = ReportUrl::parse(&format!("http://127.0.0.1:{port}/v1/guard")).expect("url");
        let started = std::time::Instant::now();
        let err = HttpReporter
            .report(&url, None, &json!({}))
            .expect_err("no answer");
        assert!(
            started.elapsed() < REPORT_TIMEOUT + std::time::Duration::from_secs(2),
            "{err}"
        );
        let listener = silent.join().expect("server");
        // https:// opens with a TLS ClientHello (record type 22), not with a request line.
        let hello = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().expect("accept");
            let mut first = [0u8; 1];
            conn.read_exact(&mut first).expect("read");
            first[0]
        });
        let url = ReportUrl::parse(&format!("https://127.0.0.1:{port}/v1/guard")).expect("url");
        assert!(HttpReporter.report(&url, None, &json!({})).is_err());
        assert_eq!(hello.join().expect("server"), 22);
    }
}
