//! The change ticket's own state gates the sync (docs/tickets.md), end to end: the real `sluice guard`
//! asks a real `sluice serve`, which reads the change request from an emulated ServiceNow or Jira
//! Service Management (tests/it/itsm: real HTTP on 127.0.0.1, every answer checked against the
//! vendors' descriptions), judges it, stores the snapshot and records the decision; Argo CD's webhook
//! then records the sync, a work note goes back to the ticket, emergencies wait for their review.
//! Neither system can run here; the emulators reproduce their documented behaviour and quirks.

// "ServiceNow" is a name, not code; the policy sections are built as values and moved into the policy.
#![allow(clippy::doc_markdown, clippy::needless_pass_by_value)]

use crate::itsm::jira::{self, Approval, Issue, Jira};
use crate::itsm::servicenow::{self, Change, ServiceNow};
use crate::support::{self, Sink};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Output;

const TOKEN: &str = "sink-write-token-2671";
const PATTERN: &str = "^CHG[0-9]{7}$";
const JIRA_PATTERN: &str = "^[A-Z]+-[0-9]+$";
const COMMIT: &str = "4a3f9c2e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39";

fn secret(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.display().to_string()
}

/// A sink that reads ServiceNow `sn` (basic auth, or OAuth client credentials) and Jira `jira`.
fn sink(
    tmp: &Path,
    sn: Option<&ServiceNow>,
    jira: Option<&Jira>,
    oauth: bool,
    extra: &[&str],
) -> Sink {
    let data = tmp.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut args: Vec<String> = Vec::new();
    if let Some(sn) = sn {
        args.extend(["--servicenow-url".into(), sn.url.clone()]);
        let (user, password, id, secret_text) = sn.with(|s| {
            (
                s.user.clone(),
                s.password.clone(),
                s.oauth.0.clone(),
                s.oauth.1.clone(),
            )
        });
        if oauth {
            args.extend([
                "--servicenow-client-id".into(),
                id,
                "--servicenow-client-secret-file".into(),
                secret(tmp, "sn-secret", &secret_text),
            ]);
        } else {
            args.extend([
                "--servicenow-user".into(),
                user,
                "--servicenow-password-file".into(),
                secret(tmp, "sn-password", &format!("{password}\n")),
            ]);
        }
    }
    if let Some(j) = jira {
        let (email, token) = j.with(|s| (s.email.clone(), s.token.clone()));
        args.extend([
            "--jira-url".into(),
            j.url.clone(),
            "--jira-email".into(),
            email,
            "--jira-token-file".into(),
            secret(tmp, "jira-token", &token),
        ]);
    }
    if !extra.contains(&"--change-pattern") {
        args.extend(["--change-pattern".into(), PATTERN.into()]);
    }
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Sink::start_with(&data, Some(TOKEN), &args, None)
}

/// What the guard Job would get.
struct Guard<'a> {
    sink_url: String,
    policy: Value,
    change_id: &'a str,
    emergency: &'a str,
    commit: String,
    app: &'a str,
}

impl Guard<'_> {
    fn run(&self) -> Output {
        support::sluice_in(
            Path::new("."),
            &["guard"],
            &[
                ("SLUICE_GUARD_POLICY", &self.policy.to_string()),
                ("SLUICE_APP", self.app),
                ("SLUICE_NAMESPACE", "production"),
                ("SLUICE_CHANGE_ID", self.change_id),
                ("SLUICE_EMERGENCY", self.emergency),
                ("SLUICE_REVISION", &self.commit[..7]),
                ("SLUICE_COMMIT", &self.commit),
                ("SLUICE_REPO_URL", "https://github.com/acme/deploy.git"),
                ("SLUICE_TARGET_REVISION", "main"),
                ("SLUICE_PROJECT", "default"),
                ("SLUICE_SINK_URL", &self.sink_url),
                ("SLUICE_REPORT_TOKEN", TOKEN),
            ],
        )
    }
}

/// A guard of `app` for the ticket policy `ticket` (plus `more` top-level sections).
fn guard<'a>(sink: &Sink, ticket: Value, change_id: &'a str, more: Value) -> Guard<'a> {
    let mut policy = json!({"windows": [], "freezes": [], "guard": {"enabled": true},
        "ticket": ticket, "changeIdPattern": PATTERN});
    if let Value::Object(m) = more {
        for (k, v) in m {
            policy[k] = v;
        }
    }
    Guard {
        sink_url: format!("http://{}", sink.addr),
        policy,
        change_id,
        emergency: "",
        commit: COMMIT.into(),
        app: "shop",
    }
}

/// A freeze over now: every sync is refused by the windows.
fn freeze() -> Value {
    let now = Utc::now();
    json!({"freezes": [{"name": "year-end", "from": (now - Duration::hours(1)).to_rfc3339(), "until": (now + Duration::hours(5)).to_rfc3339()}]})
}

/// The webhook's body for a sync of `app` at `revision` that started at `started` and finished ten
/// minutes later (the guard decided in between).
fn sync_body(app: &str, revision: &str, started: &str, selective: bool, message: &str) -> String {
    let finished = iso(DateTime::parse_from_rfc3339(started)
        .unwrap()
        .with_timezone(&Utc)
        + Duration::minutes(10));
    let mut operation = json!({"initiatedBy": {"automated": true}, "sync": {"revision": revision}});
    let mut resources = vec![
        json!({"group": "batch", "version": "v1", "kind": "Job", "namespace": "production",
        "name": format!("{app}-sluice-guard"), "hookType": "PreSync", "hookPhase": "Succeeded", "syncPhase": "PreSync"}),
    ];
    if selective {
        operation["sync"]["resources"] =
            json!([{"group": "apps", "kind": "Deployment", "name": "web"}]);
        resources.clear();
    }
    resources.push(json!({"group": "velero.io", "version": "v1", "kind": "Backup", "namespace": "velero", "name": format!("{app}-pre-change-x7k2p"), "hookType": "PreSync", "hookPhase": "Succeeded", "syncPhase": "PreSync"}));
    json!({
        "event": "sync-succeeded",
        "app": {
            "metadata": {"name": app, "namespace": "argocd", "uid": format!("uid-{app}")},
            "spec": {"project": "default", "destination": {"server": "https://kubernetes.default.svc", "namespace": "production"},
                     "source": {"repoURL": "https://github.com/acme/deploy.git", "targetRevision": "main", "path": app, "plugin": {"name": "sluice"}}},
            "status": {"sync": {"status": "Synced", "revision": revision}, "health": {"status": "Healthy"},
                "history": [{"id": 6, "revision": "0ld0ld0", "deployStartedAt": "2026-01-01T00:00:00Z"},
                            {"id": 7, "revision": revision, "deployStartedAt": started}],
                "operationState": {"phase": "Succeeded", "message": "successfully synced", "startedAt": started, "finishedAt": finished,
                    "operation": operation, "syncResult": {"revision": revision, "resources": resources}}}
        },
        "commit": {"Message": message, "Author": "Ann <ann@example.com>", "Date": started, "Tags": []}
    })
    .to_string()
}

fn post(sink: &Sink, path: &str, body: &str) -> (u16, Value) {
    let r = sink.http(
        "POST",
        path,
        &[
            ("Authorization", &format!("Bearer {TOKEN}")),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    );
    (r.status, r.json())
}

fn records(sink: &Sink) -> Vec<Value> {
    sink.log_lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn last_decision(sink: &Sink) -> Value {
    records(sink)
        .into_iter()
        .rev()
        .find(|r| r["event"] == "guard-decision")
        .expect("a guard decision")
}

fn audit(sink: &Sink, args: &[&str], env: &[(&str, &str)]) -> Output {
    let data = sink.data_dir.display().to_string();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--data-dir", &data]);
    support::sluice_in(Path::new("."), &all, env)
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Polls `f` until it is true, within a generous deadline.
fn eventually(what: &str, f: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{what} did not happen within 30 s");
}

fn tmpdir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    (dir, path)
}

#[test]
fn an_approved_change_in_implement_inside_its_window_syncs_and_re_judges_from_its_snapshot() {
    let now = Utc::now();
    let (start, end) = (now - Duration::hours(1), now + Duration::hours(2));
    // The calling user's zone is not UTC: display values are an hour or more off the raw values.
    let sn = servicenow::start(
        vec![Change::new("CHG0030001", start, end)],
        chrono_tz::America::Los_Angeles,
    );
    sn.with(|s| s.rate_limited = 1);
    let (_keep, tmp) = tmpdir();
    let sink = sink(&tmp, Some(&sn), None, true, &[]);
    let out = guard(
        &sink,
        json!({"system": "servicenow"}),
        "CHG0030001",
        json!({}),
    )
    .run();
    assert!(out.status.success(), "{}", support::stderr(&out));
    let d = last_decision(&sink);
    assert_eq!(d["allowed"], true);
    let t = &d["ticket"];
    assert_eq!(t["verdict"], "authorized", "{t}");
    assert_eq!(t["number"], "CHG0030001");
    assert_eq!(t["state"], "Implement");
    assert_eq!(t["stateValue"], "-1");
    assert_eq!(t["approval"], "approved");
    assert_eq!(t["type"], "normal");
    assert_eq!(t["assignmentGroup"], "Platform");
    assert_eq!(
        t["plannedStart"],
        iso(start),
        "the raw UTC value, not the display value"
    );
    assert_eq!(t["plannedEnd"], iso(end));
    assert_eq!(t["approvers"][0]["name"], "Carla Change-Manager");
    assert_eq!(t["approvers"][0]["decision"], "approved");
    assert_eq!(t["decided"], "at-sync");
    assert!(t["fetchedAt"].is_string());
    let digest = t["snapshotDigest"].as_str().unwrap();
    let snapshot = std::fs::read(
        sink.data_dir
            .join("snapshots")
            .join(format!("{digest}.json")),
    )
    .unwrap();
    let text = String::from_utf8_lossy(&snapshot);
    assert!(
        text.contains("\"value\":-1.0") || text.contains("\"value\":-1"),
        "{text}"
    );
    // The rate limit was waited out as ServiceNow asked (Retry-After), and the token came from OAuth.
    assert!(sn.requests_to("/api/sn_chg_rest/change").len() >= 2);
    assert_eq!(sn.requests_to("/oauth_token.do").len(), 1);
    assert!(sn.with(|s| s
        .requests
        .iter()
        .filter(|(_, p, _)| p.starts_with("/api/"))
        .all(|(_, _, a)| a.starts_with("Bearer sn-access-token-"))));
    // The Table API is asked for the approver records with display values and no reference links.
    let approvers = sn.requests_to("/api/now/table/sysapproval_approver");
    assert!(
        approvers[0].contains("sysparm_display_value=all")
            && approvers[0].contains("sysparm_exclude_reference_link=true"),
        "{approvers:?}"
    );

    let seq = d["seq"].as_u64().unwrap().to_string();
    let again = audit(&sink, &["audit", "rejudge", &seq], &[]);
    assert!(
        again.status.success(),
        "{}{}",
        support::stdout(&again),
        support::stderr(&again)
    );
    let said = support::stdout(&again);
    assert!(
        said.contains(&format!("ticket snapshot {digest}")) && said.contains("SHA-256 verified"),
        "{said}"
    );
    assert!(
        said.contains("re-judged:  authorized: ServiceNow CHG0030001: Implement, approved"),
        "{said}"
    );

    // The webhook's sync record gets the decision's evidence.
    let (status, body) = post(
        &sink,
        "/v1/events",
        &sync_body(
            "shop",
            COMMIT,
            &iso(now),
            false,
            "CHG0030001: raise replicas",
        ),
    );
    assert_eq!(status, 201, "{body}");
    let sync = records(&sink)
        .into_iter()
        .find(|r| r["event"] == "sync-succeeded")
        .unwrap();
    assert_eq!(sync["ticket"]["decision"], d["seq"]);
    assert_eq!(sync["ticket"]["finding"], Value::Null);
    let show = audit(&sink, &["audit", "show", "CHG0030001"], &[]);
    let shown = support::stdout(&show);
    assert!(
        shown.contains("Ticket (the change request's own state):"),
        "{shown}"
    );
    assert!(
        shown.contains(
            "ticket: servicenow CHG0030001, type normal, state Implement, approval approved"
        ),
        "{shown}"
    );
    // Tampering with the snapshot is found.
    let path = sink
        .data_dir
        .join("snapshots")
        .join(format!("{digest}.json"));
    std::fs::write(&path, text.replace("Implement", "Implemenz")).unwrap();
    let tampered = audit(&sink, &["audit", "rejudge", &seq], &[]);
    assert!(!tampered.status.success());
    assert!(
        support::stderr(&tampered).contains("the snapshot was changed"),
        "{}",
        support::stderr(&tampered)
    );
    // No credential in the logs, the records, the snapshots or /metrics.
    let metrics = sink.http("GET", "/metrics", &[], b"").body;
    assert!(
        metrics.contains(
            "sluice_ticket_decisions_total{decided=\"at-sync\",verdict=\"authorized\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "sluice_ticket_requests_total{system=\"servicenow\",outcome=\"rate_limited\"}"
        ) || metrics.contains("sluice_ticket_requests_total{system=\"servicenow\",outcome=\"ok\"}"),
        "{metrics}"
    );
    let everything = format!(
        "{}{}{}{}",
        sink.stderr(),
        sink.log_lines().join("\n"),
        text,
        metrics
    );
    for secret in [
        "sn-client-secret-8831",
        "sn-access-token-0001",
        "sn-password-5519",
    ] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }
    assert!(sink.stderr().contains("Retry-After"), "the wait was logged");
    sn.validate();
}

#[test]
fn refusals_name_the_ticket_and_why() {
    let now = Utc::now();
    let (start, end) = (now - Duration::hours(1), now + Duration::hours(2));
    let sn = servicenow::start(
        vec![
            Change::new("CHG0030002", start, end)
                .state(-4)
                .approval("requested"),
            Change::new(
                "CHG0030003",
                now - Duration::hours(5),
                now - Duration::hours(1),
            ),
            Change::new("CHG0030004", start, end).state(4),
        ],
        chrono_tz::Europe::Berlin,
    );
    let (_keep, tmp) = tmpdir();
    let sink = sink(&tmp, Some(&sn), None, false, &["--ticket-cache-ttl", "0s"]);
    for (change, why) in [
        ("CHG0030002", "blocked: ticket: ServiceNow CHG0030002: state Assess; a sync needs Implement (ticket.states)"),
        ("CHG0030003", "is past its planned end (ticket.withinPlannedWindow)"),
        ("CHG0030004", "blocked: ticket: ServiceNow CHG0030004: state Canceled: a canceled change authorizes nothing, whatever its approval says (its approval reads approved)"),
        ("CHG0030099", "blocked: ticket: ServiceNow CHG0030099: no such change request (ticket.required)"),
        ("", "blocked: ticket: the sync names no change id, so no ticket (ticket.required)"),
    ] {
        let out = guard(&sink, json!({"system": "servicenow"}), change, json!({})).run();
        assert_eq!(out.status.code(), Some(1), "{change}: {}", support::stderr(&out));
        let err = support::stderr(&out);
        assert!(err.contains(why), "{change}: {err}");
        let d = last_decision(&sink);
        assert_eq!(d["allowed"], false);
        assert_eq!(d["ticket"]["finding"], Value::Null, "a refusal that stopped the sync is no finding");
    }
    let past = records(&sink)
        .into_iter()
        .filter(|r| r["event"] == "guard-decision")
        .nth(1)
        .unwrap();
    assert_eq!(past["ticket"]["verdict"], "outside-window");
    // An unknown number is 200 with an empty result, not 404.
    assert!(sn
        .served
        .routes()
        .contains(&"GET /api/sn_chg_rest/change 200".to_owned()));
    sn.validate();
}

#[test]
fn an_invalid_query_term_returns_every_row_and_none_but_the_numbered_one_is_taken() {
    // ServiceNow ignores a query term it cannot read and answers every row: a client that takes the
    // first row judges another change.
    let now = Utc::now();
    let sn = servicenow::start(
        vec![
            Change::new(
                "CHG0030005",
                now - Duration::hours(1),
                now + Duration::hours(1),
            )
            .state(-4),
            Change::new(
                "CHG0030006",
                now - Duration::hours(1),
                now + Duration::hours(1),
            ),
        ],
        chrono_tz::UTC,
    );
    sn.with(|s| s.ignore_query = true);
    let (_keep, tmp) = tmpdir();
    let sink = sink(&tmp, Some(&sn), None, false, &[]);
    let out = guard(
        &sink,
        json!({"system": "servicenow"}),
        "CHG0030006",
        json!({}),
    )
    .run();
    assert!(out.status.success(), "{}", support::stderr(&out));
    assert_eq!(last_decision(&sink)["ticket"]["number"], "CHG0030006");
    let out = guard(
        &sink,
        json!({"system": "servicenow"}),
        "CHG0030007",
        json!({}),
    )
    .run();
    let err = support::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("ServiceNow answered 2 change requests, none numbered CHG0030007: the query was not applied"), "{err}");
    assert_eq!(last_decision(&sink)["ticket"]["verdict"], "unverified");
    sn.validate();
}

#[test]
fn an_approved_emergency_change_passes_a_freeze_and_an_unapproved_one_does_not() {
    let now = Utc::now();
    let (start, end) = (now - Duration::hours(1), now + Duration::hours(2));
    let sn = servicenow::start(
        vec![
            Change::new("CHG0030010", start, end).kind("emergency"),
            Change::new("CHG0030011", start, end)
                .kind("emergency")
                .approval("requested"),
            Change::new("CHG0030012", start, end),
        ],
        chrono_tz::UTC,
    );
    let (_keep, tmp) = tmpdir();
    let sink = sink(&tmp, Some(&sn), None, false, &[]);
    let rules = json!({"system": "servicenow"});
    // The emergency change's own ticket opens the freeze.
    let out = guard(&sink, rules.clone(), "CHG0030010", freeze()).run();
    assert!(out.status.success(), "{}", support::stderr(&out));
    let d = last_decision(&sink);
    assert_eq!(d["allowed"], true);
    assert_eq!(d["emergency"], "CHG0030010");
    assert_eq!(d["ticket"]["emergency"], true);
    let reason = d["reason"].as_str().unwrap();
    assert!(reason.starts_with("allowed: emergency change CHG0030010 (ServiceNow CHG0030010: Implement, approved, planned"), "{reason}");
    assert!(
        reason
            .contains("overrides sync windows and freezes (without it: blocked: freeze 'year-end'"),
        "{reason}"
    );
    let due = DateTime::parse_from_rfc3339(d["reviewDue"].as_str().unwrap()).unwrap();
    let at = DateTime::parse_from_rfc3339(d["at"].as_str().unwrap()).unwrap();
    assert_eq!(
        (due - at).num_seconds(),
        48 * 3600,
        "emergency.reviewWithin's default"
    );
    // An unapproved emergency change does not: the freeze blocks it (exit 3, a closed window).
    let out = guard(&sink, rules.clone(), "CHG0030011", freeze()).run();
    assert_eq!(out.status.code(), Some(3));
    let err = support::stderr(&out);
    assert!(
        err.contains("freeze 'year-end'")
            && err.contains("ServiceNow CHG0030011: approval requested, not approved"),
        "{err}"
    );
    assert_eq!(last_decision(&sink)["emergency"], Value::Null);
    // A self-declared emergency id (SLUICE_EMERGENCY) needs such a ticket with ticket.required.
    let mut g = guard(&sink, rules.clone(), "CHG0030012", freeze());
    g.emergency = "CHG0030012";
    let out = g.run();
    assert_eq!(out.status.code(), Some(1));
    let err = support::stderr(&out);
    assert!(
        err.contains("blocked: emergency CHG0030012: ServiceNow CHG0030012: Implement, approved"),
        "{err}"
    );
    assert!(err.contains("not an emergency change (ticket.required: an emergency override needs an approved emergency ticket)"), "{err}");
    g.emergency = "CHG0030099";
    let err = support::stderr(&g.run());
    assert!(
        err.contains(
            "blocked: emergency CHG0030099: ServiceNow CHG0030099: no such change request"
        ),
        "{err}"
    );
    // The override with an approved emergency ticket passes.
    g.emergency = "CHG0030010";
    let out = g.run();
    assert!(out.status.success(), "{}", support::stderr(&out));
    assert_eq!(last_decision(&sink)["emergency"], "CHG0030010");
    // Listed as an emergency awaiting its review; the export's window column marks it.
    let ex = audit(&sink, &["audit", "exceptions"], &[]);
    let listed = support::stdout(&ex);
    assert!(
        listed.contains("CHG0030010") && listed.contains("emergency-review-pending (due"),
        "{listed}"
    );
    assert_eq!(
        listed.matches("emergency-review-pending").count(),
        1,
        "one emergency, listed once: {listed}"
    );
    sn.validate();
}

#[test]
fn an_emergency_override_awaits_its_review_is_overdue_after_review_within_and_is_closed_by_a_review(
) {
    let (_keep, tmp) = tmpdir();
    let data = tmp.join("data");
    let sink = Sink::start_with(&data, Some(TOKEN), &[], None);
    let report = format!("http://{}/v1/guard", sink.addr);
    let run = |id: &str| {
        let mut policy = freeze();
        policy["guard"] = json!({"enabled": true, "report": report});
        policy["emergency"] = json!({"reviewWithin": "2h"});
        support::sluice_in(
            Path::new("."),
            &["guard"],
            &[
                ("SLUICE_GUARD_POLICY", &policy.to_string()),
                ("SLUICE_APP", "shop"),
                ("SLUICE_NAMESPACE", "production"),
                ("SLUICE_EMERGENCY", id),
                ("SLUICE_REVISION", "4a3f9c2"),
                ("SLUICE_REPORT_TOKEN", TOKEN),
            ],
        )
    };
    for id in ["CHG-911", "CHG-912"] {
        let out = run(id);
        assert!(out.status.success(), "{}", support::stderr(&out));
    }
    let first = records(&sink)
        .into_iter()
        .find(|r| r["emergency"] == "CHG-911")
        .unwrap();
    let due = DateTime::parse_from_rfc3339(first["reviewDue"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc);
    let at = DateTime::parse_from_rfc3339(first["at"].as_str().unwrap()).unwrap();
    assert_eq!((due - at.with_timezone(&Utc)).num_seconds(), 7200);
    let exceptions = |now: Option<DateTime<Utc>>| {
        let now = now.map(iso);
        let env: Vec<(&str, &str)> = now.iter().map(|n| ("SLUICE_NOW", n.as_str())).collect();
        let out = audit(&sink, &["audit", "exceptions"], &env);
        assert!(out.status.success(), "{}", support::stderr(&out));
        support::stdout(&out)
    };
    let before = exceptions(None);
    assert!(
        before.contains(&format!("emergency-review-pending (due {})", iso(due))),
        "{before}"
    );
    let after = exceptions(Some(due + Duration::minutes(1)));
    assert!(
        after.contains(&format!("emergency-review-overdue (due {})", iso(due))),
        "{after}"
    );
    let metrics = sink.http("GET", "/metrics", &[], b"").body;
    assert!(
        metrics.contains("sluice_emergency_reviews{status=\"pending\"} 2"),
        "{metrics}"
    );
    // The review through the sink's API, with the write token.
    let token_file = secret(&tmp, "write-token", TOKEN);
    let server = format!("http://{}", sink.addr);
    let review = support::sluice_in(
        Path::new("."),
        &[
            "audit",
            "review",
            "CHG-911",
            "--by",
            "Dee Reviewer",
            "--note",
            "root cause: the certificate expired; renewal automated",
            "--server",
            &server,
            "--token-file",
            &token_file,
        ],
        &[],
    );
    assert!(review.status.success(), "{}", support::stderr(&review));
    assert!(
        support::stdout(&review).contains("emergency CHG-911 reviewed by Dee Reviewer"),
        "{}",
        support::stdout(&review)
    );
    // A retry of the same review is found as a duplicate; another review of it is refused.
    let again = support::sluice_in(
        Path::new("."),
        &[
            "audit",
            "review",
            "CHG-911",
            "--by",
            "Dee Reviewer",
            "--note",
            "root cause: the certificate expired; renewal automated",
            "--server",
            &server,
            "--token-file",
            &token_file,
        ],
        &[],
    );
    assert!(
        support::stdout(&again).contains("is recorded already"),
        "{}",
        support::stdout(&again)
    );
    let other = support::sluice_in(
        Path::new("."),
        &[
            "audit",
            "review",
            "CHG-911",
            "--by",
            "Eve",
            "--note",
            "again",
            "--server",
            &server,
            "--token-file",
            &token_file,
        ],
        &[],
    );
    assert!(
        support::stderr(&other).contains("CHG-911 was reviewed already"),
        "{}",
        support::stderr(&other)
    );
    let unknown = support::sluice_in(
        Path::new("."),
        &[
            "audit",
            "review",
            "CHG-1",
            "--by",
            "Eve",
            "--note",
            "x",
            "--server",
            &server,
            "--token-file",
            &token_file,
        ],
        &[],
    );
    assert!(
        support::stderr(&unknown).contains("no emergency change CHG-1 is recorded"),
        "{}",
        support::stderr(&unknown)
    );
    let no_token = support::sluice_in(
        Path::new("."),
        &[
            "audit", "review", "CHG-912", "--by", "Eve", "--note", "x", "--server", &server,
        ],
        &[],
    );
    assert!(
        support::stderr(&no_token).contains("401"),
        "{}",
        support::stderr(&no_token)
    );
    let after = exceptions(Some(due + Duration::minutes(1)));
    assert!(!after.contains("CHG-911"), "{after}");
    assert!(
        after.contains("emergency-review-overdue"),
        "CHG-912 still waits: {after}"
    );
    let metrics = sink.http("GET", "/metrics", &[], b"").body;
    assert!(
        metrics.contains("sluice_emergency_reviews{status=\"pending\"} 1"),
        "{metrics}"
    );
    let reviews: Vec<Value> = records(&sink)
        .into_iter()
        .filter(|r| r["event"] == "emergency-review")
        .collect();
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0]["changeId"], "CHG-911");
    assert_eq!(reviews[0]["emergencies"], json!([first["seq"]]));
    assert_eq!(reviews[0]["due"], iso(due));
    assert_eq!(reviews[0]["late"], false);
    assert_eq!(reviews[0]["via"], "api");
    // The same straight into the data directory once no sink holds it; the chain verifies.
    drop(sink);
    let local = support::sluice_in(
        Path::new("."),
        &[
            "audit",
            "review",
            "CHG-912",
            "--by",
            "Dee Reviewer",
            "--note",
            "fine",
            "--data-dir",
            &data.display().to_string(),
        ],
        &[("SLUICE_NOW", &iso(due + Duration::hours(1)))],
    );
    assert!(local.status.success(), "{}", support::stderr(&local));
    assert!(
        support::stdout(&local).contains("(late)"),
        "{}",
        support::stdout(&local)
    );
    let verify = support::sluice_in(
        Path::new("."),
        &["audit", "verify", "--data-dir", &data.display().to_string()],
        &[],
    );
    assert!(verify.status.success(), "{}", support::stderr(&verify));
    let lines = support::read_log_lines(&data);
    let last: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(
        (
            last["event"].as_str(),
            last["via"].as_str(),
            last["late"].as_bool()
        ),
        (Some("emergency-review"), Some("cli"), Some(true))
    );
    let none = support::sluice_in(
        Path::new("."),
        &[
            "audit",
            "exceptions",
            "--data-dir",
            &data.display().to_string(),
        ],
        &[],
    );
    assert!(
        !support::stdout(&none).contains("emergency-review"),
        "{}",
        support::stdout(&none)
    );
    let show = support::sluice_in(
        Path::new("."),
        &[
            "audit",
            "show",
            "CHG-912",
            "--data-dir",
            &data.display().to_string(),
        ],
        &[],
    );
    assert!(
        support::stdout(&show).contains("reviewed by Dee Reviewer"),
        "{}",
        support::stdout(&show)
    );
}

#[test]
fn write_back_adds_one_work_note_per_finished_sync_and_none_when_off() {
    let now = Utc::now();
    let (start, end) = (now - Duration::hours(1), now + Duration::hours(2));
    let sn = servicenow::start(
        vec![
            Change::new("CHG0030020", start, end),
            Change::new("CHG0030021", start, end),
        ],
        chrono_tz::UTC,
    );
    let (_keep, tmp) = tmpdir();
    let sink = sink(&tmp, Some(&sn), None, false, &[]);
    let mut g = guard(
        &sink,
        json!({"system": "servicenow", "writeBack": true}),
        "CHG0030020",
        json!({}),
    );
    let out = g.run();
    assert!(out.status.success(), "{}", support::stderr(&out));
    let body = sync_body(
        "shop",
        &g.commit,
        &iso(now),
        false,
        "CHG0030020: raise replicas",
    );
    let (status, first) = post(&sink, "/v1/events", &body);
    assert_eq!(status, 201, "{first}");
    // Argo CD Notifications retries the same delivery: a duplicate, and no second note.
    for _ in 0..2 {
        let (status, _) = post(&sink, "/v1/events", &body);
        assert_eq!(status, 200);
    }
    eventually("the work note", || {
        sn.with(|s| !s.changes[0].work_notes.is_empty())
    });
    let metrics_settled = || {
        sink.http("GET", "/metrics", &[], b"")
            .body
            .contains("sluice_ticket_writebacks_total{outcome=\"written\"} 1")
    };
    eventually("the note counted", metrics_settled);
    let notes = sn.with(|s| s.changes[0].work_notes.clone());
    assert_eq!(notes.len(), 1, "{notes:?}");
    let seq = first["seq"].as_u64().unwrap();
    let note = &notes[0];
    for line in [
        "sluice: the sync of shop succeeded".to_owned(),
        format!("Revision: {}", g.commit),
        "Outcome: Succeeded (sync-succeeded), health Healthy".to_owned(),
        format!(
            "Audit record: seq {seq}, hash {}",
            first["hash"].as_str().unwrap()
        ),
        "Backup: shop-pre-change-x7k2p".to_owned(),
        "  argocd app rollback shop 6    # back to revision 0ld0ld0".to_owned(),
        "  velero restore create --from-backup shop-pre-change-x7k2p".to_owned(),
    ] {
        assert!(note.lines().any(|l| l == line), "{line:?} not in\n{note}");
    }
    assert_eq!(
        sn.requests_to("/api/sn_chg_rest/change/").len(),
        1,
        "one PATCH"
    );
    // A second sync of the same change is another finished sync: another note.
    let (status, _) = post(
        &sink,
        "/v1/events",
        &sync_body(
            "shop",
            &g.commit,
            &iso(now + Duration::minutes(5)),
            false,
            "CHG0030020: raise replicas",
        ),
    );
    assert_eq!(status, 201);
    eventually("the second note", || {
        sn.with(|s| s.changes[0].work_notes.len() == 2)
    });
    // Off (the default): no note.
    g = guard(
        &sink,
        json!({"system": "servicenow"}),
        "CHG0030021",
        json!({}),
    );
    g.app = "cart";
    assert!(g.run().status.success());
    let (status, _) = post(
        &sink,
        "/v1/events",
        &sync_body("cart", &g.commit, &iso(now), false, "CHG0030021: cart"),
    );
    assert_eq!(status, 201);
    // The write-back of the first app settled (counted) and nothing was written for the second.
    eventually("the counts", || {
        sink.http("GET", "/metrics", &[], b"")
            .body
            .contains("sluice_ticket_writebacks_total{outcome=\"written\"} 2")
    });
    assert!(sn.with(|s| s.changes[1].work_notes.is_empty()));
    assert_eq!(sn.requests_to("/api/sn_chg_rest/change/").len(), 2);
    sn.validate();
}

#[test]
fn with_the_ticket_system_down_fail_refuses_and_allow_flagged_allows_and_flags() {
    let now = Utc::now();
    let sn = servicenow::start(
        vec![Change::new(
            "CHG0030030",
            now - Duration::hours(1),
            now + Duration::hours(1),
        )],
        chrono_tz::UTC,
    );
    sn.with(|s| s.down = true);
    let (_keep, tmp) = tmpdir();
    let sink = sink(&tmp, Some(&sn), None, false, &["--ticket-timeout", "2s"]);
    let out = guard(
        &sink,
        json!({"system": "servicenow"}),
        "CHG0030030",
        json!({}),
    )
    .run();
    assert_eq!(out.status.code(), Some(1));
    let err = support::stderr(&out);
    assert!(err.contains("blocked: the ticket could not be verified (ticket.onUnavailable: fail): cannot verify ServiceNow CHG0030030: GET /api/sn_chg_rest/change?sysparm_query=number%3DCHG0030030: cannot reach"), "{err}");
    let mut g = guard(
        &sink,
        json!({"system": "servicenow", "onUnavailable": "allow-flagged"}),
        "CHG0030030",
        json!({}),
    );
    let out = g.run();
    assert!(out.status.success(), "{}", support::stderr(&out));
    let d = last_decision(&sink);
    assert_eq!(d["ticket"]["verdict"], "unverified");
    assert!(d["reason"].as_str().unwrap().contains(
        "allowed by ticket.onUnavailable: allow-flagged and recorded as ticket-unverified"
    ));
    let (status, _) = post(
        &sink,
        "/v1/events",
        &sync_body("shop", &g.commit, &iso(now), false, "CHG0030030: x"),
    );
    assert_eq!(status, 201);
    let sync = records(&sink)
        .into_iter()
        .find(|r| r["event"] == "sync-succeeded")
        .unwrap();
    assert_eq!(sync["ticket"]["finding"], "ticket-unverified");
    let ex = support::stdout(&audit(&sink, &["audit", "exceptions"], &[]));
    assert!(ex.contains("ticket-unverified"), "{ex}");
    // The sink down: the guard fails closed, unless allow-flagged.
    // A port held by a socket that never listens: the connection is refused at once.
    let closed = support::ClosedPort::new();
    g.sink_url = format!("http://127.0.0.1:{}", closed.port);
    g.policy["ticket"] = json!({"system": "servicenow"});
    let out = g.run();
    assert_eq!(out.status.code(), Some(1));
    assert!(support::stderr(&out).contains("blocked: the ticket could not be checked (ticket.onUnavailable: fail): cannot reach the sink"), "{}", support::stderr(&out));
    g.policy["ticket"] = json!({"system": "servicenow", "onUnavailable": "allow-flagged"});
    assert!(g.run().status.success());
}

#[test]
fn jira_service_management_statuses_and_approvals_on_every_page() {
    let issues = vec![
        Issue::new(
            "OPS-12",
            "Implementing",
            "indeterminate",
            vec![
                Approval::new("Change manager", "approved", "Carla"),
                Approval::new("CAB", "approved", "Bob"),
                Approval::new("Security", "declined", "Sam"),
            ],
        ),
        Issue::new(
            "OPS-13",
            "Implementing",
            "indeterminate",
            vec![
                Approval::new("Change manager", "approved", "Carla"),
                Approval::new("CAB", "approved", "Bob"),
                Approval::new("Security", "approved", "Sam"),
            ],
        ),
        Issue::new(
            "OPS-14",
            "Completed",
            "done",
            vec![Approval::new("CAB", "approved", "Bob")],
        ),
        {
            let mut i = Issue::new(
                "OPS-15",
                "Implementing",
                "indeterminate",
                vec![Approval::new("ECAB", "approved", "Carla")],
            );
            i.request_type = Some("Emergency change".into());
            i
        },
    ];
    let site = jira::start(issues);
    let (_keep, tmp) = tmpdir();
    let sink = sink(
        &tmp,
        None,
        Some(&site),
        false,
        &["--change-pattern", JIRA_PATTERN],
    );
    let rules = json!({"system": "jira", "statuses": ["Implementing", "Completed"], "emergencyRequestTypes": ["Emergency change"], "writeBack": true});
    let run = |key: &str, more: Value| {
        let mut g = guard(&sink, rules.clone(), key, more);
        g.policy["changeIdPattern"] = json!(JIRA_PATTERN);
        (g.run(), g.commit)
    };
    let (out, _) = run("OPS-12", json!({}));
    assert_eq!(out.status.code(), Some(1));
    let err = support::stderr(&out);
    assert!(err.contains("blocked: ticket: Jira OPS-12: approval \"Security\" declined by Sam (page 2 of its approvals) (ticket.approval: approved)"), "{err}");
    let d = last_decision(&sink);
    assert_eq!(d["ticket"]["approval"], "declined");
    assert_eq!(d["ticket"]["approvers"][2]["page"], 2);
    let (out, _) = run("OPS-14", json!({}));
    assert!(support::stderr(&out).contains("Jira OPS-14: status Completed is in the done category: the request is finished, not authorized"), "{}", support::stderr(&out));
    let (out, commit) = run("OPS-13", json!({}));
    assert!(out.status.success(), "{}", support::stderr(&out));
    let d = last_decision(&sink);
    assert_eq!(
        (
            d["ticket"]["state"].as_str(),
            d["ticket"]["stateValue"].as_str(),
            d["ticket"]["type"].as_str()
        ),
        (
            Some("Implementing"),
            Some("indeterminate"),
            Some("Normal change")
        )
    );
    // The approvals were read page by page (two per page) until isLastPage.
    let pages = site.with(|s| {
        s.requests
            .iter()
            .filter(|(_, p)| p.starts_with("/rest/servicedeskapi/request/OPS-13/approval"))
            .count()
    });
    assert_eq!(pages, 2);
    let (status, _) = post(
        &sink,
        "/v1/events",
        &sync_body(
            "shop",
            &commit,
            &iso(Utc::now()),
            false,
            "OPS-13: raise replicas",
        ),
    );
    assert_eq!(status, 201);
    eventually("the comment", || {
        site.with(|s| s.issues[1].comments.len() == 1)
    });
    let comment = site.with(|s| s.issues[1].comments[0].clone());
    assert_eq!(
        comment["content"][0]["content"][0]["text"],
        "sluice: the sync of shop succeeded"
    );
    // An approved emergency request type passes a freeze.
    let (out, _) = run("OPS-15", freeze());
    assert!(out.status.success(), "{}", support::stderr(&out));
    assert_eq!(last_decision(&sink)["emergency"], "OPS-15");
    // Jira answers 404, not 401, to an anonymous request; an issue the account cannot see reads as
    // none, and the reason says why.
    let anonymous = support::http(
        site.url.trim_start_matches("http://"),
        "GET",
        "/rest/api/3/issue/OPS-13",
        &[],
        b"",
    );
    assert_eq!(anonymous.status, 404);
    let (out, _) = run("OPS-99", json!({}));
    assert!(support::stderr(&out).contains("Jira OPS-99: no such issue (Jira answers 404 both for an issue that does not exist and for one the credentials cannot see)"), "{}", support::stderr(&out));
    let everything = format!("{}{}", sink.stderr(), sink.log_lines().join("\n"));
    assert!(!everything.contains("ATATT3xFfGF0-emulated-api-token-0017"));
    site.validate();
}

#[test]
fn syncs_that_skipped_the_guard_are_judged_after_the_fact() {
    let now = Utc::now();
    let (start, end) = (now - Duration::hours(1), now + Duration::hours(2));
    let sn = servicenow::start(
        vec![
            Change::new("CHG0030040", start, end),
            Change::new("CHG0030041", start, end)
                .state(-4)
                .approval("requested"),
            Change::new(
                "CHG0030042",
                now - Duration::hours(5),
                now - Duration::hours(2),
            ),
            Change::new("CHG0030043", start, end),
        ],
        chrono_tz::UTC,
    );
    let (_keep, tmp) = tmpdir();
    let sink = sink(
        &tmp,
        Some(&sn),
        None,
        false,
        &["--ticket-timeout", "2s", "--ticket-cache-ttl", "0s"],
    );
    // A guarded sync: its ticket rules are in force for the app from now on.
    let g = guard(
        &sink,
        json!({"system": "servicenow"}),
        "CHG0030040",
        json!({}),
    );
    assert!(g.run().status.success());
    let (status, _) = post(
        &sink,
        "/v1/events",
        &sync_body("shop", &g.commit, &iso(now), false, "CHG0030040: first"),
    );
    assert_eq!(status, 201);
    // Selective syncs of other revisions skip the guard; each is judged by its change's ticket.
    let cases = [
        (
            "1111111111111111111111111111111111111111",
            "CHG0030041",
            "ticket-not-authorized",
        ),
        (
            "2222222222222222222222222222222222222222",
            "CHG0030042",
            "ticket-outside-window",
        ),
        (
            "3333333333333333333333333333333333333333",
            "CHG0030043",
            "ticket-unverified",
        ),
    ];
    for (i, (rev, change, finding)) in cases.iter().enumerate() {
        if *finding == "ticket-unverified" {
            sn.with(|s| s.down = true);
        }
        let started = iso(now + Duration::minutes(i64::try_from(i).unwrap() + 1));
        let (status, body) = post(
            &sink,
            "/v1/events",
            &sync_body("shop", rev, &started, true, &format!("{change}: selective")),
        );
        assert_eq!(status, 201, "{body}");
        let sync = records(&sink)
            .into_iter()
            .rev()
            .find(|r| r["event"] == "sync-succeeded")
            .unwrap();
        assert_eq!(sync["ticket"]["finding"], *finding, "{}", sync["ticket"]);
        assert_eq!(sync["ticket"]["decided"], "after-the-fact");
        assert!(sync["ticket"]["sources"][0]
            .as_str()
            .unwrap()
            .starts_with("in-force (decision seq "));
    }
    let ex = support::stdout(&audit(&sink, &["audit", "exceptions"], &[]));
    for (_, change, finding) in cases {
        assert!(
            ex.lines()
                .any(|l| l.contains(change) && l.contains(finding)),
            "{change} {finding}: {ex}"
        );
    }
    let metrics = sink.http("GET", "/metrics", &[], b"").body;
    assert!(metrics.contains("sluice_ticket_decisions_total{decided=\"after-the-fact\",verdict=\"not-authorized\"} 1"), "{metrics}");
}

#[test]
fn the_export_marks_emergencies_by_ticket_for_the_auditors_sample() {
    let now = Utc::now();
    let sn = servicenow::start(
        vec![
            Change::new(
                "CHG0030050",
                now - Duration::hours(1),
                now + Duration::hours(2),
            )
            .kind("emergency"),
            Change::new(
                "CHG0030051",
                now - Duration::hours(1),
                now + Duration::hours(2),
            ),
        ],
        chrono_tz::UTC,
    );
    let (_keep, tmp) = tmpdir();
    let prefix = tmp.join("k");
    let keygen = support::sluice_in(
        Path::new("."),
        &[
            "audit",
            "keygen",
            "--name",
            "ci.example/sluice",
            "--out",
            &prefix.display().to_string(),
        ],
        &[],
    );
    assert!(keygen.status.success(), "{}", support::stderr(&keygen));
    let key = tmp.join("k.key").display().to_string();
    let mut sink = sink(
        &tmp,
        Some(&sn),
        None,
        false,
        &["--checkpoint-key-file", &key, "--checkpoint-every", "1"],
    );
    let out = guard(
        &sink,
        json!({"system": "servicenow"}),
        "CHG0030050",
        freeze(),
    )
    .run();
    assert!(out.status.success(), "{}", support::stderr(&out));
    let out = guard(
        &sink,
        json!({"system": "servicenow"}),
        "CHG0030051",
        json!({}),
    )
    .run();
    assert!(out.status.success(), "{}", support::stderr(&out));
    assert!(sink
        .terminate(std::time::Duration::from_secs(20))
        .is_some_and(|s| s.success()));
    let bundle = tmp.join("bundle");
    let export = support::sluice_in(
        Path::new("."),
        &[
            "audit",
            "export",
            "--data-dir",
            &sink.data_dir.display().to_string(),
            "--public-key",
            &tmp.join("k.pub").display().to_string(),
            "--from",
            "2000-01-01T00:00:00Z",
            "--to",
            "2100-01-01T00:00:00Z",
            "--out",
            &bundle.display().to_string(),
        ],
        &[],
    );
    assert!(export.status.success(), "{}", support::stderr(&export));
    let csv = std::fs::read_to_string(bundle.join("changes.csv")).unwrap();
    let row = |id: &str| {
        csv.lines()
            .find(|l| l.starts_with(&format!("\"{id}\"")))
            .unwrap_or_else(|| panic!("{id}: {csv}"))
            .to_owned()
    };
    let window = |line: &str| line.split("\",\"").nth(7).unwrap().to_owned();
    assert_eq!(window(&row("CHG0030050")), "emergency");
    assert_eq!(window(&row("CHG0030051")), "allowed");
}
