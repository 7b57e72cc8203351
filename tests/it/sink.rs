//! Integration tests: sink. Each runs the real `sluice serve` on 127.0.0.1 over a real data directory.

use crate::support::{event_body, read_log_lines, sluice_in, stderr, stdout, Sink};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "t0ken-for-tests";

fn auth() -> (&'static str, String) {
    ("Authorization", format!("Bearer {TOKEN}"))
}

fn post(sink: &Sink, path: &str, body: &str) -> crate::support::Resp {
    let (k, v) = auth();
    sink.http("POST", path, &[(k, &v)], body.as_bytes())
}

#[test]
fn requires_the_bearer_token_when_one_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start(&dir.path().join("data"), Some(TOKEN));
    let body = event_body(
        "sync-succeeded",
        "shop",
        "2026-11-20T10:00:00Z",
        "abc123",
        None,
    );
    let none = sink.http("POST", "/v1/events", &[], body.as_bytes());
    assert_eq!(none.status, 401, "{}", none.body);
    assert!(none
        .headers
        .iter()
        .any(|(k, v)| k == "www-authenticate" && v == "Bearer"));
    let wrong = sink.http(
        "POST",
        "/v1/events",
        &[("Authorization", "Bearer t0ken-for-testsX")],
        body.as_bytes(),
    );
    assert_eq!(wrong.status, 401);
    let basic = sink.http(
        "POST",
        "/v1/events",
        &[("Authorization", TOKEN)],
        body.as_bytes(),
    );
    assert_eq!(basic.status, 401);
    assert_eq!(sink.http("GET", "/v1/records", &[], b"").status, 401);
    assert!(
        sink.log_lines().is_empty(),
        "nothing written before the right token"
    );
    let right = post(&sink, "/v1/events", &body);
    assert_eq!(right.status, 201, "{}", right.body);
    assert_eq!(right.json()["seq"], 1);
    assert_eq!(sink.log_lines().len(), 1);
    // Health and metrics stay open for probes and scrapers.
    assert_eq!(sink.http("GET", "/healthz", &[], b"").status, 200);
    assert_eq!(sink.http("GET", "/metrics", &[], b"").status, 200);
    assert!(
        !sink.stderr().contains(TOKEN),
        "the token must never be logged"
    );
}

#[test]
fn rejects_bad_requests_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start(&dir.path().join("data"), None);
    let cases: Vec<(&str, String, u16)> = vec![
        ("malformed JSON", "{\"event\": ".into(), 400),
        ("not an object", "[1, 2]".into(), 400),
        (
            "unknown event",
            event_body("sync-done", "shop", "t", "r", None),
            400,
        ),
        (
            "no app name",
            json!({"event": "deployed", "app": {"metadata": {"namespace": "argocd"}}}).to_string(),
            400,
        ),
        ("no app", json!({"event": "deployed"}).to_string(), 400),
    ];
    for (what, body, status) in &cases {
        let r = sink.http("POST", "/v1/events", &[], body.as_bytes());
        assert_eq!(r.status, *status, "{what}: {}", r.body);
        assert!(r.json()["error"].is_string(), "{what}: JSON error body");
    }
    let r = sink.http("POST", "/v1/guard", &[], br#"{"app": "shop"}"#);
    assert_eq!(r.status, 400, "guard decision without at/allowed");

    // Over 1 MiB, announced by Content-Length, and the same hidden in a chunked body.
    let big = format!(
        "{{\"event\":\"deployed\",\"pad\":\"{}\"}}",
        "x".repeat(1 << 20)
    );
    let r = sink.http("POST", "/v1/events", &[], big.as_bytes());
    assert_eq!(r.status, 413, "{}", r.body);
    let r = sink.http(
        "POST",
        "/v1/events",
        &[("Transfer-Encoding", "chunked")],
        big.as_bytes(),
    );
    assert_eq!(r.status, 413, "chunked: {}", r.body);
    // Exactly at the limit is fine as far as size goes (and then judged as JSON).
    let mut at_limit = event_body("deployed", "shop", "t", "r", None);
    let pad = (1 << 20) - at_limit.len() - 12;
    at_limit.insert_str(1, &format!("\"p\":\"{}\",", "y".repeat(pad)));
    let r = sink.http("POST", "/v1/events", &[], at_limit.as_bytes());
    assert!(
        r.status == 201,
        "a body of {} bytes: {} {}",
        at_limit.len(),
        r.status,
        r.body
    );

    let lines = sink.log_lines();
    assert_eq!(lines.len(), 1, "only the valid event is written");
    assert!(!lines[0].contains("yyyy"), "the body is never stored");
    assert!(
        !lines[0].contains("hunter2"),
        "Helm values are never stored"
    );
    assert!(!lines[0].contains("someFutureField"));
    let log = sink.stderr();
    assert!(
        !log.contains("hunter2") && !log.contains("yyyy"),
        "bodies are never logged: {log}"
    );
    assert_eq!(sink.http("GET", "/nope", &[], b"").status, 404);
    assert_eq!(sink.http("DELETE", "/v1/events", &[], b"").status, 405);
}

#[test]
fn a_redelivery_is_a_duplicate_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sink = Sink::start(&data, None);
    let body = event_body(
        "sync-succeeded",
        "shop",
        "2026-11-20T10:00:00Z",
        "abc123",
        Some("CHG-1: x"),
    );
    let first = sink.http("POST", "/v1/events", &[], body.as_bytes());
    assert_eq!(first.status, 201, "{}", first.body);
    let seq = first.json()["seq"].clone();
    assert_eq!(first.json()["hash"].as_str().map(str::len), Some(64));
    let again = sink.http("POST", "/v1/events", &[], body.as_bytes());
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.json(), json!({"seq": seq, "duplicate": true}));
    // Another event of the same operation is not a duplicate.
    let other = event_body("deployed", "shop", "2026-11-20T10:00:00Z", "abc123", None);
    assert_eq!(
        sink.http("POST", "/v1/events", &[], other.as_bytes())
            .status,
        201
    );
    assert_eq!(sink.log_lines().len(), 2);
    // The index survives a restart.
    drop(sink);
    let sink = Sink::start(&data, None);
    assert_eq!(
        sink.http("POST", "/v1/events", &[], body.as_bytes()).status,
        200
    );
    assert_eq!(sink.log_lines().len(), 2);
}

#[test]
fn queries_records_by_app_change_and_seq() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start(&dir.path().join("data"), Some(TOKEN));
    let bodies = [
        event_body(
            "sync-succeeded",
            "shop",
            "2026-11-20T10:00:00Z",
            "r1",
            Some("CHG-1: a"),
        ),
        event_body(
            "sync-succeeded",
            "cart",
            "2026-11-20T11:00:00Z",
            "r2",
            Some("CHG-2: b"),
        ),
        event_body(
            "sync-failed",
            "shop",
            "2026-11-20T12:00:00Z",
            "r3",
            Some("CHG-2: c"),
        ),
        event_body(
            "deployed",
            "shop",
            "2026-11-20T13:00:00Z",
            "r4",
            Some("no ticket"),
        ),
    ];
    for b in &bodies {
        assert_eq!(post(&sink, "/v1/events", b).status, 201);
    }
    let (k, v) = auth();
    let get = |q: &str| {
        let r = sink.http("GET", &format!("/v1/records{q}"), &[(k, &v)], b"");
        assert_eq!(r.status, 200, "{q}: {}", r.body);
        r.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["seq"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(get(""), vec![1, 2, 3, 4]);
    assert_eq!(get("?app=shop"), vec![1, 3, 4]);
    assert_eq!(get("?change=CHG-2"), vec![2, 3]);
    assert_eq!(get("?app=shop&change=CHG-2"), vec![3]);
    assert_eq!(get("?after=2"), vec![3, 4]);
    assert_eq!(get("?after=1&limit=2"), vec![2, 3]);
    assert_eq!(
        get("?limit=2"),
        vec![3, 4],
        "without after: the newest, oldest first"
    );
    assert_eq!(get("?after=99"), Vec::<u64>::new());
    assert_eq!(get("?app=nope"), Vec::<u64>::new());
    let r = sink.http("GET", "/v1/records?limit=0", &[(k, &v)], b"");
    assert_eq!(r.status, 400);
    let r = sink.http("GET", "/v1/records?colour=red", &[(k, &v)], b"");
    assert_eq!(r.status, 400);
    let r = sink.http("GET", "/v1/records?change=CHG-1", &[(k, &v)], b"");
    let rec = &r.json()[0];
    assert_eq!(rec["changeId"], "CHG-1");
    assert_eq!(rec["backup"], "pre-change-shop-x7k2p");
    assert_eq!(rec["historyId"], 7);
    let r = sink.http("GET", "/v1/records?app=shop&change=", &[(k, &v)], b"");
    assert_eq!(r.status, 200);
    let no_ticket = sink
        .http("GET", "/v1/records?after=3", &[(k, &v)], b"")
        .json();
    assert_eq!(no_ticket[0]["changeId"], Value::Null);
}

/// Parses Prometheus text format 0.0.4: `name{labels} value` lines, `# HELP`/`# TYPE` comments.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    let line_re = regex::Regex::new(
        r#"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*)?\})? (-?[0-9.eE+-]+|\+Inf|NaN)$"#,
    )
    .unwrap();
    let mut typed = BTreeSet::new();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().unwrap().to_owned();
            let kind = parts.next().unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(typed.insert(name), "TYPE given twice: {line}");
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let caps = line_re
            .captures(line)
            .unwrap_or_else(|| panic!("not a Prometheus sample line: {line:?}"));
        let name = &caps[1];
        let family = name
            .trim_end_matches("_bucket")
            .trim_end_matches("_sum")
            .trim_end_matches("_count");
        assert!(
            typed.contains(name) || typed.contains(family),
            "sample before its TYPE: {line}"
        );
        let value: f64 = caps[4].replace("+Inf", "inf").parse().unwrap();
        let key = format!("{}{}", name, caps.get(2).map_or("", |m| m.as_str()));
        out.insert(key, value);
    }
    out
}

#[test]
fn metrics_are_prometheus_text_with_events_latency_and_log_size() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start(&dir.path().join("data"), None);
    let body = event_body("sync-succeeded", "shop", "2026-11-20T10:00:00Z", "r1", None);
    assert_eq!(
        sink.http("POST", "/v1/events", &[], body.as_bytes()).status,
        201
    );
    assert_eq!(
        sink.http("POST", "/v1/events", &[], body.as_bytes()).status,
        200
    );
    assert_eq!(sink.http("POST", "/v1/events", &[], b"{").status, 400);
    let r = sink.http("GET", "/metrics", &[], b"");
    assert!(r
        .headers
        .iter()
        .any(|(k, v)| k == "content-type" && v.starts_with("text/plain; version=0.0.4")));
    let m = parse_metrics(&r.body);
    assert_eq!(
        m[r#"sluice_events_total{event="sync-succeeded",outcome="created"}"#],
        1.0
    );
    assert_eq!(
        m[r#"sluice_events_total{event="sync-succeeded",outcome="duplicate"}"#],
        1.0
    );
    assert_eq!(
        m[r#"sluice_events_total{event="unknown",outcome="rejected"}"#],
        1.0
    );
    assert_eq!(m[r#"sluice_append_latency_seconds_bucket{le="+Inf"}"#], 2.0);
    assert_eq!(m["sluice_append_latency_seconds_count"], 2.0);
    assert!(m["sluice_append_latency_seconds_sum"] > 0.0);
    let size = std::fs::metadata(sink.data_dir.join("audit.jsonl"))
        .unwrap()
        .len();
    assert_eq!(m["sluice_audit_log_size_bytes"], size as f64);
    assert_eq!(m["sluice_audit_last_seq"], 1.0);
    assert_eq!(m["sluice_audit_torn_tails_recovered"], 0.0);
    // Buckets are cumulative.
    let buckets: Vec<f64> = m
        .iter()
        .filter(|(k, _)| k.starts_with("sluice_append_latency_seconds_bucket"))
        .map(|(_, v)| *v)
        .collect();
    assert!(buckets.iter().all(|b| *b <= 2.0));
}

#[test]
fn records_guard_decisions_for_audit_show() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sink = Sink::start(&data, Some(TOKEN));
    let guard = json!({"app": "shop", "namespace": "production", "changeId": "CHG-77", "revision": "r1",
        "allowed": true, "emergency": null, "reason": "inside window 0", "at": "2026-11-20T09:59:00Z",
        "active": [0], "windows": ["Tue/Thu maintenance window"]});
    let r = post(&sink, "/v1/guard", &guard.to_string());
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(post(&sink, "/v1/guard", &guard.to_string()).status, 200);
    let msg = "CHG-77: raise replicas\n\nApproved-by: Bob <bob@example.com>\nApproved-by: Carol <carol@example.com>\nRisk: low\nTested: staging\nRollback: argocd app rollback\n";
    let body = event_body(
        "sync-succeeded",
        "shop",
        "2026-11-20T10:00:00Z",
        "r1",
        Some(msg),
    );
    assert_eq!(post(&sink, "/v1/events", &body).status, 201);
    let out = sluice_in(
        dir.path(),
        &[
            "audit",
            "show",
            "--data-dir",
            data.to_str().unwrap(),
            "CHG-77",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report = stdout(&out);
    for want in [
        "Change CHG-77",
        "Bob <bob@example.com>, Carol <carol@example.com>",
        "Tue/Thu maintenance window",
        "allowed",
        "pre-change-shop-x7k2p",
        "argocd app rollback shop 6",
        "velero restore create --from-backup pre-change-shop-x7k2p",
        "sync-succeeded",
        "alice",
    ] {
        assert!(report.contains(want), "missing {want:?} in:\n{report}");
    }
}

#[test]
fn slow_clients_are_cut_off_without_blocking_others() {
    use std::io::{BufRead, Write};
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start_with(&dir.path().join("data"), None, &["--workers", "2"], None);
    // Two clients announce a 4 KiB body and send one byte: both workers wait on them.
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let addr = sink.addr.clone();
            std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(&addr).unwrap();
                s.write_all(
                    b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n{",
                )
                .unwrap();
                let started = std::time::Instant::now();
                let mut status = String::new();
                let _ = std::io::BufReader::new(s).read_line(&mut status);
                (started.elapsed(), status)
            })
        })
        .collect();
    for t in slow {
        let (took, response) = t.join().unwrap();
        assert!(took < Duration::from_secs(20), "cut off after {took:?}");
        assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    }
    // More than the 10 s socket timeout has passed since the last accept: the listener (whose receive
    // timeout also bounds accept) must still take connections.
    let body = event_body("deployed", "shop", "t", "r", None);
    assert_eq!(
        sink.http("POST", "/v1/events", &[], body.as_bytes()).status,
        201
    );
    assert!(sink.log_lines().len() == 1);
}

#[test]
fn acknowledged_records_survive_sigkill_and_the_chain_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut sink = Sink::start(&data, None);
    let acked: Arc<Mutex<Vec<(u64, String)>>> = Arc::default();
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let addr = sink.addr.clone();
            let acked = Arc::clone(&acked);
            std::thread::spawn(move || {
                for i in 0..100_000 {
                    let app = format!("app-{c}");
                    let started = format!("2026-11-20T10:00:{c:02}.{i:06}Z");
                    let body = event_body("sync-succeeded", &app, &started, "rev", None);
                    match crate::support::try_http(
                        &addr,
                        "POST",
                        "/v1/events",
                        &[],
                        body.as_bytes(),
                    ) {
                        Ok(r) if r.status == 201 => {
                            let seq = r.json()["seq"].as_u64().unwrap();
                            acked.lock().unwrap().push((seq, started));
                        }
                        Ok(r) => panic!("unexpected {}: {}", r.status, r.body),
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    // Let the clients get going, then kill the server mid-flight.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while acked.lock().unwrap().len() < 200 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    sink.kill();
    for c in clients {
        c.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 50, "only {} acknowledged", acked.len());

    let sink = Sink::start(&data, None);
    let lines = read_log_lines(&data);
    let records: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["seq"], i as u64 + 1, "seq is gapless");
    }
    for (seq, started) in &acked {
        let r = &records[*seq as usize - 1];
        assert_eq!(
            r["startedAt"],
            started.as_str(),
            "acknowledged seq {seq} is that record"
        );
    }
    drop(sink);
    let out = sluice_in(
        dir.path(),
        &["audit", "verify", "--data-dir", data.to_str().unwrap()],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with(&format!("ok: {} records", records.len())));
}

/// Posts `n` distinct `deployed` events for app `shop` (operation starts 10:00:00Z, 10:00:01Z, …), each acknowledged.
fn post_deployed(sink: &Sink, n: usize) {
    for i in 0..n {
        let b = event_body(
            "deployed",
            "shop",
            &format!("2026-11-20T10:00:{i:02}Z"),
            "r",
            None,
        );
        assert_eq!(
            sink.http("POST", "/v1/events", &[], b.as_bytes()).status,
            201
        );
    }
}

#[test]
fn a_torn_tail_is_moved_aside_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sink = Sink::start(&data, None);
    post_deployed(&sink, 3);
    drop(sink);
    let log = data.join("audit.jsonl");
    let good = std::fs::read(&log).unwrap();
    let torn = b"{\"app\":{\"name\":\"shop\"},\"appr";
    let mut bytes = good.clone();
    bytes.extend_from_slice(torn);
    std::fs::write(&log, &bytes).unwrap();

    let sink = Sink::start(&data, None);
    assert_eq!(
        std::fs::read(&log).unwrap(),
        good,
        "cut back to the last good record"
    );
    let side: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("audit.jsonl.torn-")
        })
        .collect();
    assert_eq!(side.len(), 1, "{side:?}");
    assert_eq!(std::fs::read(&side[0]).unwrap(), torn.to_vec());
    let err = sink.stderr();
    assert!(err.contains("torn") && err.contains("line=4"), "{err}");
    let m = sink.http("GET", "/metrics", &[], b"").body;
    assert!(m.contains("sluice_audit_torn_tails_recovered 1\n"), "{m}");
    assert!(m.contains(&format!(
        "sluice_audit_torn_bytes_recovered {}\n",
        torn.len()
    )));
    // Appends go on from seq 4.
    let b = event_body("deployed", "shop", "2026-11-20T11:00:00Z", "r", None);
    assert_eq!(
        sink.http("POST", "/v1/events", &[], b.as_bytes()).json()["seq"],
        4
    );
}

#[test]
fn refuses_to_start_on_a_chain_broken_in_the_middle() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sink = Sink::start(&data, None);
    post_deployed(&sink, 3);
    drop(sink);
    let log = data.join("audit.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let tampered = [lines[0], &lines[1].replace("Healthy", "Degraded"), lines[2]].join("\n") + "\n";
    std::fs::write(&log, tampered).unwrap();
    let out = sluice_in(
        dir.path(),
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("line 2 (seq 2)"), "{}", stderr(&out));
}

/// Disk full, unprivileged: `ulimit -S -f` caps the file size and an ignored SIGXFSZ (inherited across
/// exec) turns the overflowing write into EFBIG. Space "returns" by raising the soft limit of the same
/// running process with `prlimit --pid` (allowed for one's own processes up to the hard limit), so the
/// test shows the same process recovering.
#[test]
fn a_full_disk_answers_503_keeps_the_log_valid_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // 8 blocks of 1024 bytes: room for a few records of ~1 KiB.
    let sink = Sink::start_with(&data, None, &[], Some("trap '' XFSZ; ulimit -S -f 8;"));
    let mut statuses = Vec::new();
    for i in 0..20 {
        let b = event_body(
            "deployed",
            "shop",
            &format!("2026-11-20T10:00:{i:02}Z"),
            "r",
            None,
        );
        statuses.push(sink.http("POST", "/v1/events", &[], b.as_bytes()).status);
    }
    let created = statuses.iter().filter(|s| **s == 201).count();
    assert!(created >= 1, "{statuses:?}");
    assert!(
        statuses[created..].iter().all(|s| *s == 503),
        "{statuses:?}"
    );
    let log = data.join("audit.jsonl");
    let len = std::fs::metadata(&log).unwrap().len();
    assert!(len <= 8 * 1024);
    assert_eq!(
        read_log_lines(&data).len(),
        created,
        "nothing unacknowledged stays"
    );
    let verify = |dir: &std::path::Path| {
        sluice_in(
            dir,
            &["audit", "verify", "--data-dir", data.to_str().unwrap()],
            &[],
        )
    };
    let out = verify(dir.path());
    assert!(
        out.status.success(),
        "log valid while full: {}",
        stderr(&out)
    );
    let m = sink.http("GET", "/metrics", &[], b"").body;
    assert!(m.contains(r#"sluice_events_total{event="deployed",outcome="unavailable"}"#));

    // Space returns: raise the running server's soft limit.
    let pid = sink.child.id().to_string();
    let raised = std::process::Command::new("prlimit")
        .args(["--pid", &pid, "--fsize=unlimited:"])
        .output()
        .expect("prlimit (util-linux) is needed for this test");
    assert!(
        raised.status.success(),
        "{}",
        String::from_utf8_lossy(&raised.stderr)
    );
    let b = event_body("deployed", "shop", "2026-11-20T10:00:19Z", "r", None);
    let r = sink.http("POST", "/v1/events", &[], b.as_bytes());
    assert_eq!(r.status, 201, "after space returns: {}", r.body);
    assert_eq!(r.json()["seq"], created as u64 + 1);
    let out = verify(dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Sends raw bytes on a fresh connection and returns the status line of the answer.
fn raw_status(addr: &str, request: &[u8]) -> String {
    use std::io::{BufRead, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = s.write_all(request);
    let mut status = String::new();
    let _ = std::io::BufReader::new(s).read_line(&mut status);
    status
}

#[test]
fn hostile_request_heads_are_refused_and_the_sink_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start(&dir.path().join("data"), Some("tok"));
    // A declared body of 100 GB is refused before a byte of it is read (tiny_http 0.12 allocated it
    // and aborted); before authentication too.
    let huge = raw_status(
        &sink.addr,
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\nContent-Length: 100000000000\r\n\r\n{",
    );
    assert!(huge.starts_with("HTTP/1.1 413"), "{huge}");
    let unauth = raw_status(
        &sink.addr,
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000000\r\n\r\n{",
    );
    assert!(unauth.starts_with("HTTP/1.1 401"), "{unauth}");
    // An endless header line, and too many headers.
    let mut long = b"GET /healthz HTTP/1.1\r\nX-Long: ".to_vec();
    long.extend(std::iter::repeat_n(b'a', 100_000));
    long.extend_from_slice(b"\r\n\r\n");
    assert!(raw_status(&sink.addr, &long).starts_with("HTTP/1.1 431"));
    let mut many = b"GET /healthz HTTP/1.1\r\n".to_vec();
    for i in 0..500 {
        many.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert!(raw_status(&sink.addr, &many).starts_with("HTTP/1.1 431"));
    // Conflicting lengths (request smuggling) and an unsupported coding.
    let smuggle = raw_status(
        &sink.addr,
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    );
    assert!(smuggle.starts_with("HTTP/1.1 400"), "{smuggle}");
    let gzip = raw_status(
        &sink.addr,
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
    );
    assert!(gzip.starts_with("HTTP/1.1 501"), "{gzip}");
    assert!(raw_status(&sink.addr, b"garbage\r\n\r\n").starts_with("HTTP/1.1 400"));
    // The sink is still up and nothing was written.
    assert_eq!(sink.http("GET", "/healthz", &[], b"").status, 200);
    assert!(sink.log_lines().is_empty());
}

#[test]
fn keep_alive_connection_carries_several_requests() {
    use std::io::{BufRead, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start(&dir.path().join("data"), None);
    let mut s = std::net::TcpStream::connect(&sink.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut reader = std::io::BufReader::new(s.try_clone().unwrap());
    for i in 0..3 {
        let body = event_body(
            "deployed",
            "shop",
            &format!("2026-11-23T10:0{i}:00Z"),
            "r",
            None,
        );
        write!(s, "POST /v1/events HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n", body.len()).unwrap();
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.starts_with("HTTP/1.1 100"), "{line}");
        reader.read_line(&mut line).unwrap();
        s.write_all(body.as_bytes()).unwrap();
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.starts_with("HTTP/1.1 201"), "request {i}: {status}");
        let mut length = 0;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            if h == "\r\n" {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut buf = vec![0; length];
        reader.read_exact(&mut buf).unwrap();
    }
    assert_eq!(sink.log_lines().len(), 3);
}

#[test]
fn change_pattern_of_the_organisation_is_used_for_commit_subjects() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start_with(
        &dir.path().join("data"),
        None,
        &["--change-pattern", "^RFC-[0-9]+$"],
        None,
    );
    let rfc = event_body(
        "deployed",
        "shop",
        "2026-11-23T10:00:00Z",
        "r1",
        Some("RFC-77: rotate keys\n\nApproved-by: Bob <bob@example.com>\n"),
    );
    let chg = event_body(
        "deployed",
        "shop",
        "2026-11-23T11:00:00Z",
        "r2",
        Some("CHG-1: not ours\n"),
    );
    assert_eq!(
        sink.http("POST", "/v1/events", &[], rfc.as_bytes()).status,
        201
    );
    assert_eq!(
        sink.http("POST", "/v1/events", &[], chg.as_bytes()).status,
        201
    );
    let records = sink.http("GET", "/v1/records", &[], b"").json();
    assert_eq!(records[0]["changeId"], "RFC-77");
    assert_eq!(records[1]["changeId"], serde_json::Value::Null);
    // A pattern that does not compile is a usage error before anything starts.
    let out = sluice_in(
        dir.path(),
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            "d",
            "--change-pattern",
            "(",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--change-pattern"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("d").exists(), "nothing was created");
}
