//! `sluice guard`: the `PreSync` hook Job's decision at sync time. Takes a [`Request`] (the policy JSON
//! of `SLUICE_GUARD_POLICY` and the app identity), a [`Clock`] and a [`Reporter`]; decides as an
//! automated sync (Argo CD does not tell hooks whether a sync is manual), waits for the next opening
//! when `onClosed: wait` allows it, posts the decision to `guard.report`, and gives the [`Outcome`].
//! The clock and the reporter are injected so the wait loop and the report are tested without
//! sleeping or sockets; the commands layer prints the outcome and turns it into an exit code.

use super::ask::{decide_url, Decider};
use super::duration::parse_go_duration;
use super::reason::{human, rfc3339};
pub use super::report::{Env, HttpReporter, ReportUrl, Reporter};
use super::rules::{Decision, Rules, Subject};
use super::spec::{EmergencySpec, GuardPolicy, GuardSpec, OnClosed};
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
    /// What the sink needs for an approvals decision (`SLUICE_COMMIT`, `SLUICE_REPO_URL`, …); empty
    /// unless the policy has `approvals`.
    pub source: SourceRef,
}

/// The revision synced and its source, as the guard Job's environment gives them.
#[derive(Debug, Clone, Default)]
pub struct SourceRef {
    /// The full commit synced.
    pub commit: String,
    pub repo_url: String,
    pub target_revision: String,
    pub project: String,
    /// A Source Hydrator's dry revision, empty otherwise.
    pub dry_sha: String,
    /// The sink's base URL (`SLUICE_SINK_URL`).
    pub sink_url: String,
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
    /// A blocked sync was blocked by a window or freeze (exit 3), not by the sink's approvals or ticket
    /// decision (exit 1).
    pub by_window: bool,
}

impl Outcome {
    /// What Argo CD shows for a blocked sync, `None` when the sync may go ahead.
    pub fn blocked_message(&self) -> Option<String> {
        (!self.decision.allowed).then(|| format!("{}{}", self.decision.reason, self.note))
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

/// Runs the guard: decide, maybe wait, ask the sink (`approvals`, `ticket`), report (a report that
/// does not arrive is logged, not fatal). With `ticket` the sink is asked even when the window is
/// closed (an emergency ticket may pass it); `onClosed: wait` then waits if the sink says `gate: window`.
///
/// # Errors
///
/// The policy JSON or its settings are invalid.
pub fn run(
    request: &Request,
    env: &Env,
    clock: &dyn Clock,
    reporter: &dyn Reporter,
    decider: &dyn Decider,
) -> Result<Outcome, GuardError> {
    let bad = |e: String| GuardError(e);
    let policy: GuardPolicy =
        serde_json::from_str(&request.policy_json).map_err(|e| bad(e.to_string()))?;
    let rules = Rules::compile(&policy.windows, &policy.freezes).map_err(|e| bad(e.to_string()))?;
    let settings = Settings::compile(&policy.guard).map_err(|e| bad(e.to_string()))?;
    let review_within = EmergencySpec::seconds_of(policy.emergency.as_ref()).map_err(bad)?;
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
    let ask = |decision: &mut Decision| ask_sink(request, env, &policy, &rules, decision, decider);
    let (mut recorded, mut early) = (false, None);
    // Which gate blocked, when the sink was asked (else the windows did).
    let mut gate = None;
    let mut first = rules.decide(&subject, clock.now());
    if policy.ticket.is_some() && !first.allowed {
        // An emergency ticket may open the window: ask before waiting for it.
        let asked = ask(&mut first);
        let by_window = asked.gate.as_deref() == Some("window") || !asked.answered;
        if first.allowed || settings.on_closed == OnClosed::Fail || !by_window {
            recorded = asked.answered;
            gate = asked.gate;
            early = Some((first, String::new()));
        }
    }
    let (decision, note) = early.unwrap_or_else(|| {
        let (mut decision, note) = decide_or_wait(&rules, &subject, &settings, clock);
        if policy.ticket.is_some() || (policy.approvals.is_some() && decision.allowed) {
            let asked = ask(&mut decision);
            recorded = asked.answered;
            gate = asked.gate;
        }
        (decision, note)
    });
    let by_window = !decision.allowed && gate.as_deref().is_none_or(|g| g == "window");
    if let (Some(url), false) = (&settings.report, recorded) {
        let mut body = report_body(request, &rules, &decision);
        if decision.allowed && !request.emergency.is_empty() {
            body["reviewDue"] = rfc3339(decision.at + Duration::seconds(review_within)).into();
        }
        match reporter.report(url, env.token().as_deref(), &body) {
            Ok(()) => tracing::info!(url = %url.authority, "reported the decision to the sink"),
            Err(e) => tracing::warn!("could not report the decision to {}: {e}", url.authority),
        }
    }
    if decision.allowed {
        tracing::info!("{}", decision.reason);
    }
    Ok(Outcome {
        decision,
        note,
        by_window,
    })
}

/// What asking the sink gave.
struct Asked {
    /// The sink answered (and recorded the decision): no report is sent then.
    answered: bool,
    /// Which gate refused, as the sink says (`window`, `ticket` or `approvals`), or as the guard
    /// knows it when the sink could not be asked; `None`: none refused.
    gate: Option<String>,
}

/// Has the sink decide the ticket and approvals of a sync (src/window/ask.rs), and makes its answer
/// the decision.
fn ask_sink(
    request: &Request,
    env: &Env,
    policy: &GuardPolicy,
    rules: &Rules,
    decision: &mut Decision,
    decider: &dyn Decider,
) -> Asked {
    let flagged = |section: &Option<Value>| {
        section
            .as_ref()
            .is_none_or(|s| s.get("onUnavailable").and_then(Value::as_str) == Some("allow-flagged"))
    };
    let flagged = flagged(&policy.approvals) && flagged(&policy.ticket);
    let mut body = report_body(request, rules, decision);
    let window = body.take();
    let s = &request.source;
    let non_empty = |v: &str| (!v.is_empty()).then(|| v.to_owned());
    let body = json!({
        "app": request.app,
        "namespace": request.namespace,
        "project": non_empty(&s.project),
        "clusters": request.clusters.iter().filter(|c| !c.is_empty()).collect::<Vec<_>>(),
        "changeId": non_empty(&request.change_id),
        "revision": non_empty(&s.commit).unwrap_or_else(|| request.revision.clone()),
        "reviewed": non_empty(&s.dry_sha),
        "repoURL": non_empty(&s.repo_url),
        "targetRevision": non_empty(&s.target_revision),
        "approvals": policy.approvals,
        "ticket": policy.ticket,
        "changeIdPattern": policy.change_id_pattern,
        "emergency": policy.emergency,
        "window": window,
    });
    let (what, keys) = match (policy.ticket.is_some(), policy.approvals.is_some()) {
        (true, true) => (
            "the ticket and approvals",
            "ticket.onUnavailable and approvals.onUnavailable",
        ),
        (true, false) => ("the ticket", "ticket.onUnavailable"),
        _ => ("approvals", "approvals.onUnavailable"),
    };
    let answer = decide_url(&s.sink_url, &policy.guard.report)
        .ok_or_else(|| {
            "no sink to ask: set SLUICE_SINK_URL on the plugin sidecar or guard.report".to_owned()
        })
        .and_then(|url| decider.decide(&url, env.token().as_deref(), &body));
    let asked_gate = if policy.ticket.is_some() {
        "ticket"
    } else {
        "approvals"
    };
    match answer {
        Ok(answer) => {
            decision.allowed = answer.get("allowed").and_then(Value::as_bool) == Some(true);
            if let Some(reason) = answer.get("reason").and_then(Value::as_str) {
                reason.clone_into(&mut decision.reason);
            }
            Asked {
                answered: true,
                gate: answer
                    .get("gate")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            }
        }
        Err(why) if !decision.allowed => {
            tracing::warn!("{what} could not be checked: {why}");
            decision.reason = format!("{}; {what} could not be checked: {why}", decision.reason);
            Asked {
                answered: false,
                gate: Some("window".to_owned()),
            }
        }
        Err(why) if flagged => {
            tracing::warn!("{what} could not be checked: {why}");
            decision.reason = format!(
                "{}; {what} could not be checked ({why}): allowed by {keys}: allow-flagged, the sink flags the sync when it hears of it",
                decision.reason
            );
            Asked {
                answered: false,
                gate: None,
            }
        }
        Err(why) => {
            decision.allowed = false;
            decision.reason = format!("blocked: {what} could not be checked ({keys}: fail): {why}");
            Asked {
                answered: false,
                gate: Some(asked_gate.to_owned()),
            }
        }
    }
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
            source: SourceRef::default(),
        }
    }

    /// A sink that must not be asked (policies without approvals).
    struct NoDecider;

    impl Decider for NoDecider {
        fn decide(&self, _: &str, _: Option<&str>, _: &Value) -> Result<Value, String> {
            panic!("the sink was asked for a decision")
        }
    }

    const TUESDAY_ALLOW: &str = r#"{"windows":[{"kind":"allow","schedule":"0 2 * * 2","duration":"4h","applications":["*"],"description":"Tue maintenance"}],
        "guard":{"onClosed":"wait","maxWait":"6h","report":"http://sink.argocd.svc:8080/v1/guard"}}"#;

    #[test]
    fn waits_for_the_window_within_max_wait_logging_each_minute() {
        let clock = clock("2026-11-24T00:30:00Z");
        let reporter = FakeReporter::default();
        let outcome = run(
            &args(TUESDAY_ALLOW),
            &Env::default(),
            &clock,
            &reporter,
            &NoDecider,
        )
        .expect("valid policy");
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
        let outcome = run(
            &args(TUESDAY_ALLOW),
            &Env::default(),
            &clock,
            &reporter,
            &NoDecider,
        )
        .expect("valid policy");
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
        let outcome =
            run(&args(&policy), &env, &clock, &reporter, &NoDecider).expect("valid policy");
        assert!(outcome.blocked_message().is_some(), "blocked");
        assert_eq!(clock.sleeps.get(), 0);
        assert_eq!(reporter.seen.borrow()[0].1.as_deref(), Some("s3cret"));
    }

    /// A sink that refuses the approvals of every sync.
    struct Refuses;

    impl Decider for Refuses {
        fn decide(&self, _: &str, _: Option<&str>, _: &Value) -> Result<Value, String> {
            Ok(
                json!({"allowed": false, "reason": "blocked: approvals: 0 of 2", "gate": "approvals"}),
            )
        }
    }

    #[test]
    fn a_window_blocks_by_window_and_the_sinks_refusal_does_not() {
        let closed = TUESDAY_ALLOW.replace("\"wait\"", "\"fail\"");
        let reporter = FakeReporter::default();
        let env = Env::default();
        let at = |t: &str, policy: &str, decider: &dyn Decider| {
            run(&args(policy), &env, &clock(t), &reporter, decider).expect("valid policy")
        };
        let window = at("2026-11-23T10:00:00Z", &closed, &NoDecider);
        assert!(window.blocked_message().is_some() && window.by_window);
        let mut approvals: Value = serde_json::from_str(&closed).unwrap();
        approvals["approvals"] = json!({"required": 2});
        let approvals = approvals.to_string();
        let refused = at("2026-11-24T03:00:00Z", &approvals, &Refuses);
        assert!(refused.blocked_message().is_some(), "refused by the sink");
        assert!(!refused.by_window, "the approvals refused, not a window");
        let allowed = at("2026-11-24T03:00:00Z", &closed, &NoDecider);
        assert!(allowed.blocked_message().is_none() && !allowed.by_window);
    }

    #[test]
    fn emergency_passes_and_is_reported() {
        let mut a = args(TUESDAY_ALLOW);
        a.emergency = "CHG-911".into();
        let clock = clock("2026-11-23T10:00:00Z");
        let reporter = FakeReporter::default();
        let outcome =
            run(&a, &Env::default(), &clock, &reporter, &NoDecider).expect("valid policy");
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
        let err = run(&args("{\"windows\":[{\"kind\":\"allow\",\"schedule\":\"0 2 * * 7\",\"duration\":\"1h\"}]}"), &Env::default(), &clock, &reporter, &NoDecider)
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
        // A sink that accepts and never answers: the report gives up on its own timeout (the
        // connection stays open until the report has returned).
        let (gave_up, wait) = std::sync::mpsc::channel::<()>();
        let silent = std::thread::spawn(move || {
            let (conn, _) = listener.accept().expect("accept");
            let _ = wait.recv();
            drop(conn);
            listener
        });
        let url = ReportUrl::parse(&format!("http://127.0.0.1:{port}/v1/guard")).expect("url");
        let err = HttpReporter
            .report(&url, None, &json!({}))
            .expect_err("no answer");
        assert!(err.contains("timed out"), "{err}");
        gave_up.send(()).expect("the server waits");
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
