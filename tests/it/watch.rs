//! `sluice serve --watch-applications` against the emulated Kubernetes API (`kube_api.rs`): every sync
//! recorded once whatever the watch and the sink go through, webhook deliveries that come late
//! recorded as duplicates, and the syncs that skipped the gate in `audit exceptions`.
//!
//! The waits below poll the log with a generous bound (60 s): the watch records within its grace
//! period (0 s or a few seconds here) plus kube-rs' reconnect backoff (under a few seconds), so the
//! bound only matters on a stalled machine, where the failure names what was missing.

use crate::kube_api::{application, Cluster, KubeApi, SyncKind};
use crate::support::{read_log_lines, sluice_in, stderr, stdout, Sink};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The records of the log, parsed.
fn records(data: &Path) -> Vec<Value> {
    read_log_lines(data)
        .iter()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Waits until the log holds `n` records (never more: more fails at once).
fn wait_for_records(data: &Path, n: usize, sink: &Sink, what: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        let records = records(data);
        assert!(
            records.len() <= n,
            "{what}: {} records, expected {n}",
            records.len()
        );
        if records.len() == n {
            return records;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {} of {n} records after 60 s; sink stderr:\n{}",
            records.len(),
            sink.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts the sink with the watch on, over the emulated API.
fn start_watching(data: &Path, kubeconfig: &Path, grace: &str) -> Sink {
    Sink::start_with(
        data,
        None,
        &[
            "--watch-applications",
            "--watch-grace",
            grace,
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ],
        None,
    )
}

fn setup(apps: usize) -> (tempfile::TempDir, PathBuf, PathBuf, Cluster) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let api = KubeApi::start();
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig);
    let cluster = Cluster::new(api, apps);
    (dir, data, kubeconfig, cluster)
}

/// The `(app, startedAt, revision)` of a sync record.
fn identity(r: &Value) -> (String, String, String) {
    (
        r["app"]["name"].as_str().unwrap().to_owned(),
        r["startedAt"].as_str().unwrap().to_owned(),
        r["revision"].as_str().unwrap().to_owned(),
    )
}

fn metric(sink: &Sink, line_start: &str) -> u64 {
    let text = sink.http("GET", "/metrics", &[], b"").body;
    text.lines()
        .find_map(|l| l.strip_prefix(line_start)?.trim().parse().ok())
        .unwrap_or(0)
}

/// The metric once it reads `want`, polled with a generous bound: the writer counts a batch's
/// ungated syncs just after the batch is durable, so a reader of the log file can see a record a
/// moment before `/metrics` counts it.
fn metric_reaches(sink: &Sink, line_start: &str, want: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = metric(sink, line_start);
        if got >= want || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn every_sync_is_recorded_once_through_drops_expiry_outages_and_late_webhooks() {
    let _heavy = crate::support::exclusive();
    let (_dir, data, kubeconfig, mut cluster) = setup(10);
    let mut sink = start_watching(&data, &kubeconfig, "0s");
    let mut synced = 0;
    let mut sync_round = |cluster: &mut Cluster, n: usize| {
        for _ in 0..n {
            cluster.sync(&format!("app-{}", synced % 10), SyncKind::Guarded);
            synced += 1;
        }
    };

    // 30 syncs watched live (bookmarks flow while nothing happens).
    sync_round(&mut cluster, 30);
    wait_for_records(&data, 30, &sink, "live watch");

    // The connection drops mid-stream: the watch resumes from the last resourceVersion it saw.
    cluster.api.drop_watches();
    sync_round(&mut cluster, 15);
    wait_for_records(&data, 45, &sink, "after a dropped connection");

    // etcd compaction: the resumed watch is 410 Gone, the watch relists and backfills.
    cluster.api.compact();
    cluster.api.drop_watches();
    sync_round(&mut cluster, 15);
    wait_for_records(&data, 60, &sink, "after 410 Gone");
    let requests = cluster.api.requests();
    assert!(
        requests.iter().any(|r| r.ends_with("-> 410")),
        "the watch was never expired: {requests:?}"
    );
    assert!(
        metric(&sink, "sluice_watch_relists_total") >= 2,
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("watch * rv=") && r.ends_with(" bookmarks")),
        "watches resume from a resourceVersion, with bookmarks: {requests:?}"
    );

    // The sink is down for 20 syncs, 2 per app: the first of each pair is only in status.history
    // when the sink is back.
    sink.kill();
    sync_round(&mut cluster, 20);
    let sink = start_watching(&data, &kubeconfig, "0s");
    wait_for_records(&data, 80, &sink, "backfill after the outage");

    sync_round(&mut cluster, 20);
    let all = wait_for_records(&data, 100, &sink, "the last 20 syncs");

    // 0 missing, 0 double: exactly the 100 syncs, one sync-succeeded record each.
    let expected: BTreeSet<_> = cluster.syncs.iter().cloned().collect();
    let recorded: Vec<_> = all.iter().map(identity).collect();
    let distinct: BTreeSet<_> = recorded.iter().cloned().collect();
    assert_eq!(recorded.len(), 100);
    assert_eq!(distinct, expected, "the records are exactly the syncs");
    assert!(all.iter().all(|r| r["event"] == "sync-succeeded"));
    let via: BTreeMap<_, _> = all
        .iter()
        .map(|r| (identity(r), r["via"].as_str().unwrap().to_owned()))
        .collect();
    // During the outage each app synced twice: the first of each pair was only in status.history
    // when the sink came back, the second in operationState. (Syncs made while the watch relisted
    // after 410 may be in either, depending on timing.)
    for (i, sync) in cluster.syncs.iter().enumerate().take(80).skip(60) {
        let expected = if i < 70 { "history" } else { "watch" };
        assert_eq!(via[sync], expected, "sync {i}");
    }
    assert!(via.values().all(|v| v == "watch" || v == "history"));
    let from_history = all.iter().find(|r| r["via"] == "history").unwrap();
    assert_eq!(
        from_history["gate"]["exceptions"],
        json!(["gate-unknown"]),
        "no sync result in a history entry: its gate is unknown, an exception"
    );
    assert_eq!(from_history["changeId"], "CHG-1234");
    let watched = all.iter().find(|r| r["via"] == "watch").unwrap();
    assert_eq!(watched["changeId"], "CHG-1234");
    assert_eq!(watched["changeIdSource"], "application");
    assert_eq!(watched["gate"]["guard"], "Succeeded");
    assert_eq!(watched["gate"]["exceptions"], json!([]));

    // Argo CD Notifications delivers every outcome late: each is a duplicate, nothing is written.
    for (name, started, revision) in &cluster.syncs {
        let app = app_after(&cluster, name, started, revision);
        let body = json!({"event": "sync-succeeded", "app": app,
            "commit": {"Message": "CHG-1234: raise replicas\n\nApproved-by: @sre-lead\n",
                       "Author": "Ann <ann@example.com>", "Date": started, "Tags": []}});
        let resp = sink.http("POST", "/v1/events", &[], body.to_string().as_bytes());
        assert_eq!(resp.status, 200, "{name} {started}: {}", resp.body);
        assert_eq!(resp.json()["duplicate"], true);
    }
    assert_eq!(records(&data).len(), 100, "late webhooks wrote nothing");
    let out = sluice_in(
        Path::new("/"),
        &["audit", "verify", "--data-dir", data.to_str().unwrap()],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

/// The Application as the webhook template would have rendered it right after the sync
/// `(name, started, revision)`: the current object with that operation's state and history.
fn app_after(cluster: &Cluster, name: &str, started: &str, revision: &str) -> Value {
    let mut app = cluster.api.get("argocd", name);
    let history = app["status"]["history"].as_array().unwrap().clone();
    let finished = history
        .iter()
        .find(|h| h["deployStartedAt"] == started)
        .map_or(json!(started), |h| h["deployedAt"].clone());
    app["status"]["operationState"]["startedAt"] = json!(started);
    app["status"]["operationState"]["finishedAt"] = finished;
    app["status"]["operationState"]["syncResult"]["revision"] = json!(revision);
    app["status"]["sync"]["revision"] = json!(revision);
    app
}

#[test]
fn a_webhook_delivered_within_the_grace_period_is_the_record() {
    let (_dir, data, kubeconfig, mut cluster) = setup(1);
    // The grace period is what this test is about; 5 s is ample for one local POST.
    let sink = start_watching(&data, &kubeconfig, "5s");
    let app = cluster.sync("app-0", SyncKind::Guarded);
    let body = json!({"event": "sync-succeeded", "app": app, "commit": {
        "Message": "Merge pull request #12 from acme/replicas\n\nCHG-77: raise replicas\n\nApproved-by: @sre-lead, @platform-lead\n",
        "Author": "Ann <ann@example.com>", "Date": "2026-01-01T00:00:00Z", "Tags": []}});
    let resp = sink.http("POST", "/v1/events", &[], body.to_string().as_bytes());
    assert_eq!(resp.status, 201, "{}", resp.body);
    // The watch's record for the same operation comes due after the grace period: a duplicate.
    let deadline = Instant::now() + Duration::from_mins(1);
    while metric(
        &sink,
        "sluice_watch_records_total{via=\"watch\",outcome=\"duplicate\"}",
    ) == 0
    {
        assert!(Instant::now() < deadline, "{}", sink.stderr());
        std::thread::sleep(Duration::from_millis(100));
    }
    // The duplicate is counted once the watch's confirmation of the webhook record is durable.
    let all = records(&data);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["via"], "webhook");
    assert_eq!(all[1]["event"], "watch-confirmation");
    assert_eq!(all[1]["confirms"], 1);
    assert_eq!(all[1]["via"], "watch");
    assert_eq!(
        all[0]["changeId"], "CHG-1234",
        "the Application's id wins over the commit's"
    );
    assert_eq!(all[0]["approvedBy"], json!(["@sre-lead", "@platform-lead"]));
}

#[test]
fn syncs_that_skip_the_gate_are_flagged_and_listed_in_audit_exceptions() {
    let (_dir, data, kubeconfig, mut cluster) = setup(0);
    for name in ["guarded", "selective", "rollback", "helm"] {
        cluster.api.put(application(name, "argocd"));
    }
    let sink = start_watching(&data, &kubeconfig, "0s");
    // Every app has been synced through the plugin once.
    for name in ["guarded", "selective", "rollback", "helm"] {
        cluster.sync(name, SyncKind::Guarded);
    }
    wait_for_records(&data, 4, &sink, "the guarded syncs");
    cluster.sync("guarded", SyncKind::Guarded);
    cluster.sync("selective", SyncKind::Selective);
    cluster.sync("rollback", SyncKind::Rollback);
    cluster.sync("helm", SyncKind::Helm);
    let all = wait_for_records(&data, 8, &sink, "the second syncs");
    let flagged: BTreeMap<String, Value> = all
        .iter()
        .filter(|r| r["gate"]["exceptions"] != json!([]))
        .map(|r| {
            (
                r["app"]["name"].as_str().unwrap().to_owned(),
                r["gate"]["exceptions"].clone(),
            )
        })
        .collect();
    assert_eq!(
        flagged,
        BTreeMap::from([
            ("helm".into(), json!(["bypasses-plugin"])),
            ("rollback".into(), json!(["rollback"])),
            ("selective".into(), json!(["selective-sync"])),
        ])
    );
    for reason in ["selective-sync", "rollback", "bypasses-plugin"] {
        let line = format!("sluice_ungated_syncs_total{{reason=\"{reason}\"}}");
        assert_eq!(metric_reaches(&sink, &line, 1), 1, "{reason}");
    }
    assert_eq!(
        metric(
            &sink,
            "sluice_ungated_syncs_total{reason=\"no-guard-decision\"}"
        ),
        0
    );

    let data_arg = data.to_str().unwrap();
    let out = sluice_in(
        Path::new("/"),
        &["audit", "exceptions", "--data-dir", data_arg],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{table}");
    for (app, reason) in [
        ("selective", "selective-sync"),
        ("rollback", "rollback"),
        ("helm", "bypasses-plugin"),
    ] {
        assert!(
            rows.iter()
                .any(|r| r.contains(app) && r.contains(reason) && r.contains("none")),
            "{app}: {table}"
        );
    }
    assert!(
        !table.contains("guarded"),
        "a guarded sync is no exception: {table}"
    );
    let json_out = sluice_in(
        Path::new("/"),
        &[
            "audit",
            "exceptions",
            "--data-dir",
            data_arg,
            "--format",
            "json",
        ],
        &[],
    );
    let listed: Vec<Value> = serde_json::from_str(&stdout(&json_out)).unwrap();
    assert_eq!(listed.len(), 3);
    // --since after every record: nothing.
    let out = sluice_in(
        Path::new("/"),
        &[
            "audit",
            "exceptions",
            "--data-dir",
            data_arg,
            "--since",
            "2999-01-01T00:00:00Z",
        ],
        &[],
    );
    assert_eq!(stdout(&out).lines().count(), 1, "{}", stdout(&out));
}

/// A sync only the watch saw carries the same evidence as a webhook delivery would (issue 22 asked
/// for the verification verdict on this path, issue 24 for the approvals judgment): the verdict the
/// `PostSync` hook recorded for its revision during the operation, and an approvals judgment after
/// the fact where a floor asks for approvals (here unverified: no Git host serves the app's
/// repository, so nothing leaves the machine).
#[test]
fn a_sync_only_the_watch_saw_carries_the_verification_verdict_and_the_approval_judgment() {
    let (_dir, data, kubeconfig, mut cluster) = setup(1);
    let sink = Sink::start_with(
        &data,
        None,
        &[
            "--watch-applications",
            "--watch-grace",
            "0s",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--approvals-floor",
            "project=default:required=1",
        ],
        None,
    );
    // The first sync of the cluster is to this revision (kube_api.rs: Cluster::sync), and starts a
    // second after the cluster's clock, set to now (after the sink started: not an import): the
    // hook's verdict, started now, belongs to it.
    let revision = format!("{:040x}", 1);
    let at = chrono::Utc::now();
    cluster.set_clock(at);
    let now = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let report = json!({"app": "app-0", "namespace": "argocd", "revision": revision, "final": true,
        "verification": {"verdict": "Failed", "reason": "check \"errors\" assessed Failed",
            "onFailure": "record", "within": "5m", "startedAt": now, "finishedAt": now,
            "checks": [{"name": "errors", "kind": "http", "phase": "Failed",
                "measurements": [{"value": "503", "phase": "Failed", "startedAt": now, "finishedAt": now}]}]}});
    let recorded = sink.http(
        "POST",
        "/v1/verifications",
        &[],
        report.to_string().as_bytes(),
    );
    assert_eq!(recorded.status, 201, "{}", recorded.body);
    let report_seq = recorded.json()["seq"].as_u64().unwrap();
    cluster.sync("app-0", SyncKind::Guarded);
    let all = wait_for_records(&data, 2, &sink, "the watch's record of the sync");
    let sync = &all[1];
    assert_eq!(
        (sync["event"].as_str(), sync["via"].as_str()),
        (Some("sync-succeeded"), Some("watch")),
        "{sync}"
    );
    let v = &sync["verification"];
    assert_eq!(v["verdict"], "Failed", "{sync}");
    assert_eq!(v["finding"], "verification-failed");
    assert_eq!(v["report"], report_seq);
    assert_eq!(v["checks"][0]["measurements"][0]["value"], "503");
    let a = &sync["approval"];
    assert_eq!(
        (
            a["decided"].as_str(),
            a["verdict"].as_str(),
            a["finding"].as_str()
        ),
        (
            Some("after-the-fact"),
            Some("unverified"),
            Some("approval-unverified")
        ),
        "{sync}"
    );
    assert!(
        a["reason"]
            .as_str()
            .is_some_and(|r| r.contains("no Git host is configured for https://git.example.com")),
        "{a}"
    );
    let out = sluice_in(
        data.parent().unwrap(),
        &["audit", "verify", "--data-dir", data.to_str().unwrap()],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A delivery the Application never showed (what a leaked write token could post) has no witness: once
/// the watch has seen a later operation of the app, `audit exceptions` lists it as `unconfirmed`, while
/// the delivery of a real operation carries the watch's confirmation.
#[test]
fn a_webhook_record_the_watch_never_confirms_is_unconfirmed_in_audit_exceptions() {
    let (_dir, data, kubeconfig, mut cluster) = setup(1);
    // The webhook comes first within the grace period, as it normally does.
    let sink = start_watching(&data, &kubeconfig, "5s");
    let app = cluster.sync("app-0", SyncKind::Guarded);
    let post = |app: &Value| {
        let body = json!({"event": "sync-succeeded", "app": app});
        sink.http("POST", "/v1/events", &[], body.to_string().as_bytes())
    };
    assert_eq!(post(&app).status, 201);
    // A forged delivery: the same app, an operation that never ran (a second after the real one).
    let started = app["status"]["operationState"]["startedAt"]
        .as_str()
        .unwrap();
    let forged_start = (chrono::DateTime::parse_from_rfc3339(started).unwrap()
        + chrono::TimeDelta::seconds(1))
    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut forged = app.clone();
    forged["status"]["operationState"]["startedAt"] = json!(forged_start);
    forged["status"]["operationState"]["finishedAt"] = json!(forged_start);
    forged["status"]["operationState"]["syncResult"]["revision"] = json!("f0f0f0f");
    forged["status"]["sync"]["revision"] = json!("f0f0f0f");
    assert_eq!(post(&forged).status, 201);
    let all = wait_for_records(&data, 3, &sink, "the confirmation of the real delivery");
    assert_eq!(
        (&all[2]["event"], &all[2]["confirms"]),
        (&json!("watch-confirmation"), &json!(1))
    );

    let data_arg = data.to_str().unwrap();
    let exceptions = |format: &str| {
        let out = sluice_in(
            Path::new("/"),
            &["audit", "exceptions", "--data-dir", data_arg, "-o", format],
            &[],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    // Nothing later seen yet: the forged delivery may still be confirmed.
    assert_eq!(
        exceptions("table").lines().count(),
        1,
        "{}",
        exceptions("table")
    );

    // The app syncs again; the watch records that operation and never saw the forged one.
    cluster.sync("app-0", SyncKind::Guarded);
    let all = wait_for_records(&data, 4, &sink, "the next sync, through the watch");
    assert_eq!(all[3]["via"], "watch");
    let table = exceptions("table");
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{table}");
    assert!(
        rows[0].starts_with("2 ") && rows[0].ends_with("unconfirmed"),
        "{table}"
    );
    assert!(exceptions("csv")
        .lines()
        .nth(1)
        .unwrap()
        .ends_with(",unconfirmed"));
    let listed: Vec<Value> = serde_json::from_str(&exceptions("json")).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["seq"], 2);

    // The confirmation is a record of the chain, listed as what it confirms.
    let out = sluice_in(
        Path::new("/"),
        &["audit", "list", "--data-dir", data_arg],
        &[],
    );
    let list = stdout(&out);
    assert!(
        list.lines()
            .any(|l| l.contains("watch-confirmation") && l.contains("confirms 1 (watch)")),
        "{list}"
    );
    let out = sluice_in(
        Path::new("/"),
        &["audit", "verify", "--data-dir", data_arg],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn the_watch_follows_only_the_namespaces_it_is_given() {
    let (_dir, data, kubeconfig, mut cluster) = setup(0);
    let mut other = application("elsewhere", "team-a");
    other["status"]["operationState"] = json!({"phase": "Succeeded", "startedAt": "2026-01-01T00:00:00Z",
        "finishedAt": "2026-01-01T00:00:05Z", "operation": {"sync": {"revision": "abc"}},
        "syncResult": {"revision": "abc", "resources": []}});
    cluster.api.put(other);
    cluster.api.put(application("here", "argocd"));
    let sink = Sink::start_with(
        &data,
        None,
        &[
            "--watch-applications",
            "--watch-grace",
            "0s",
            "--watch-namespaces",
            "argocd",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ],
        None,
    );
    cluster.sync("here", SyncKind::Guarded);
    let all = wait_for_records(&data, 1, &sink, "the watched namespace");
    assert_eq!(all[0]["app"]["name"], "here");
    assert!(
        cluster.api.requests().iter().all(|r| r.contains(" argocd")),
        "{:?}",
        cluster.api.requests()
    );
}

#[test]
fn serve_refuses_a_watch_it_cannot_configure() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let missing = dir.path().join("no-such-kubeconfig");
    let out = sluice_in(
        dir.path(),
        &[
            "serve",
            "--insecure-no-auth",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data,
            "--watch-applications",
            "--kubeconfig",
            missing.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no-such-kubeconfig"),
        "{}",
        stderr(&out)
    );
    let out = sluice_in(
        dir.path(),
        &[
            "serve",
            "--insecure-no-auth",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data,
            "--watch-applications",
            "--watch-grace",
            "2 minutes",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--watch-grace"), "{}", stderr(&out));
    // Without KUBECONFIG and outside a cluster: says what to set.
    let out = sluice_in(
        dir.path(),
        &[
            "serve",
            "--insecure-no-auth",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data,
            "--watch-applications",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("KUBECONFIG"), "{}", stderr(&out));
    // Refused before the log was opened: the data directory was not made.
    assert!(!dir.path().join("audit.jsonl").exists());
}

/// The record of `(app, startedAt)` in the log, if any.
fn record_of<'a>(all: &'a [Value], app: &str, started: &str) -> Option<&'a Value> {
    all.iter()
        .find(|r| r["app"]["name"] == app && r["startedAt"] == started)
}

#[test]
fn a_failed_sync_still_inside_its_grace_period_at_sigterm_is_recorded() {
    let (_dir, data, kubeconfig, mut cluster) = setup(1);
    // Ten minutes for the webhook, which never comes: at SIGTERM the watch still waits.
    let mut sink = start_watching(&data, &kubeconfig, "10m");
    cluster.sync("app-0", SyncKind::Failed);
    let (_, started, _) = cluster.syncs[0].clone();
    // Wait until the watch holds the failed operation (pending, not recorded).
    let deadline = Instant::now() + Duration::from_mins(1);
    while metric(&sink, "sluice_watch_pending") != 1 {
        assert!(Instant::now() < deadline, "{}", sink.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        records(&data).is_empty(),
        "recorded before its grace period"
    );
    let status = sink.terminate(Duration::from_secs(30)).expect("stops");
    assert!(status.success(), "{}", sink.stderr());
    assert!(
        sink.stderr()
            .contains("recorded the operations still waiting for the webhook"),
        "{}",
        sink.stderr()
    );
    // After the restart the record is there, once (the webhook, should it come now, is a duplicate).
    let sink = start_watching(&data, &kubeconfig, "10m");
    let all = records(&data);
    let r = record_of(&all, "app-0", &started).expect("the failed sync is recorded");
    assert_eq!(
        (r["event"].as_str(), r["via"].as_str()),
        (Some("sync-failed"), Some("watch"))
    );
    assert_eq!(all.len(), 1);
    let app = cluster.api.get("argocd", "app-0");
    let body = json!({"event": "sync-failed", "app": app});
    let resp = sink.http("POST", "/v1/events", &[], body.to_string().as_bytes());
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.json()["duplicate"], true);
}

#[test]
fn what_synced_before_sluice_is_imported_once_and_later_history_is_an_exception() {
    let (_dir, data, kubeconfig, mut cluster) = setup(2);
    // Syncs made before the sink ever ran (yesterday).
    cluster.set_clock(chrono::Utc::now() - chrono::TimeDelta::days(1));
    for i in 0..6 {
        cluster.sync(&format!("app-{}", i % 2), SyncKind::Guarded);
    }
    cluster.set_clock(chrono::Utc::now() + chrono::TimeDelta::hours(1));
    let mut sink = start_watching(&data, &kubeconfig, "0s");
    let all = wait_for_records(&data, 6, &sink, "the import");
    assert!(
        all.iter()
            .all(|r| r["via"] == "import" && r["gate"].is_null()),
        "{all:?}"
    );
    let marker = data.join("watch/imported");
    let deadline = Instant::now() + Duration::from_mins(1);
    while !marker.exists() {
        assert!(Instant::now() < deadline, "{}", sink.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        metric(&sink, "sluice_ungated_syncs_total{reason=\"gate-unknown\"}"),
        0
    );
    let out = sluice_in(
        Path::new("/"),
        &["audit", "exceptions", "--data-dir", data.to_str().unwrap()],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).lines().count(),
        1,
        "no exception: {}",
        stdout(&out)
    );
    // Down for two syncs of app-0: the first is only in history when the sink is back. Not imported
    // (the first start is over): a missed sync whose gate is unknown, listed as an exception.
    sink.kill();
    cluster.sync("app-0", SyncKind::Guarded);
    cluster.sync("app-0", SyncKind::Guarded);
    let sink = start_watching(&data, &kubeconfig, "0s");
    let all = wait_for_records(&data, 8, &sink, "the missed syncs");
    let (_, missed, _) = cluster.syncs[6].clone();
    let r = record_of(&all, "app-0", &missed).unwrap();
    assert_eq!(r["via"], "history");
    assert_eq!(r["gate"]["exceptions"], json!(["gate-unknown"]));
    assert_eq!(
        metric_reaches(
            &sink,
            "sluice_ungated_syncs_total{reason=\"gate-unknown\"}",
            1
        ),
        1
    );
    let out = sluice_in(
        Path::new("/"),
        &["audit", "exceptions", "--data-dir", data.to_str().unwrap()],
        &[],
    );
    let table = stdout(&out);
    assert_eq!(table.lines().count(), 2, "{table}");
    assert!(
        table.contains("gate-unknown") && table.contains("history"),
        "{table}"
    );
}

#[test]
fn a_failing_watch_makes_healthz_degraded_not_down_and_shows_in_metrics() {
    let (_dir, data, kubeconfig, cluster) = setup(1);
    let sink = Sink::start_with(
        &data,
        None,
        &[
            "--watch-applications",
            "--watch-grace",
            "0s",
            "--watch-unhealthy-after",
            "1s",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(metric(&sink, "sluice_watch_healthy"), 1);
    // The Role is taken away: every request is 403.
    cluster.api.forbid(true);
    let deadline = Instant::now() + Duration::from_mins(1);
    let health = loop {
        let r = sink.http("GET", "/healthz", &[], b"");
        if r.json()["status"] == "degraded" {
            break r;
        }
        assert!(Instant::now() < deadline, "{}: {}", r.body, sink.stderr());
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(health.status, 200, "degraded, not down");
    let problem = health.json()["problems"][0].as_str().unwrap().to_owned();
    assert!(
        problem.contains("the Application watch has failed") && problem.contains("403"),
        "{problem}"
    );
    assert_eq!(metric(&sink, "sluice_watch_healthy"), 0);
    assert!(metric(&sink, "sluice_watch_errors_total") > 0);
    // Allowed again: healthy again once the watch is back and hears of an Application. A watch that
    // kube-rs resumed from its resourceVersion (rather than listing again) reports nothing until an
    // Application changes; Argo CD refreshes each one every `timeout.reconciliation` (3 min).
    cluster.api.forbid(false);
    let mut app = cluster.api.get("argocd", "app-0");
    app["status"]["reconciledAt"] = json!("2026-11-20T10:03:00Z");
    cluster.api.put(app);
    let deadline = Instant::now() + Duration::from_mins(1);
    while metric(&sink, "sluice_watch_healthy") != 1 {
        assert!(Instant::now() < deadline, "{}", sink.stderr());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        sink.http("GET", "/healthz", &[], b"").json()["status"],
        "ok"
    );
}
