//! Integration tests: segments, the index and the verified-prefix marker (docs/audit-log.md,
//! "Segments" and "Index and start-up"), through a real `sluice serve` and the real `audit` commands.

use crate::support::{bin, event_body, sluice_in, stderr, stdout, Sink};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn golden(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/audit/golden")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn segment(data: &Path, first: u64) -> PathBuf {
    data.join("segments").join(format!("{first:020}.jsonl"))
}

/// Posts `n` events of change CHG-777 (apps shop and cart), each acknowledged.
fn post_events(sink: &Sink, from: usize, n: usize) {
    for i in from..from + n {
        let body = event_body(
            "sync-succeeded",
            ["shop", "cart"][i % 2],
            &format!("2026-12-01T10:{:02}:{:02}Z", i / 60, i % 60),
            &format!("rev{i:04}"),
            Some("CHG-777: segments\n\nApproved-by: Bob <bob@example.com>\n"),
        );
        let r = sink.http("POST", "/v1/events", &[], body.as_bytes());
        assert_eq!(r.status, 201, "{}", r.body);
    }
}

fn audit(dir: &Path, data: &Path, args: &[&str]) -> std::process::Output {
    let d = data.to_str().unwrap();
    let mut all = vec!["audit", args[0], "--data-dir", d];
    all.extend(&args[1..]);
    sluice_in(dir, &all, &[])
}

fn seqs(body: &str) -> Vec<u64> {
    serde_json::from_str::<Vec<Value>>(body)
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect()
}

#[test]
fn the_golden_log_is_continued_in_segments_and_reads_as_the_release_did() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("audit.jsonl"), golden("audit.jsonl")).unwrap();
    // The golden log (28 KB) is over 2 KiB: the first batch seals it as it is.
    let mut sink = Sink::start_with(&data, None, &["--segment-size", "2KiB"], None);
    post_events(&sink, 0, 6);
    assert_eq!(
        std::fs::read(segment(&data, 1)).unwrap(),
        golden("audit.jsonl"),
        "the golden log, sealed unchanged"
    );
    let sealed: Vec<String> = std::fs::read_dir(data.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(sealed.len() >= 3, "{sealed:?}");
    // Queries span the segments: every record of the change, in order, and paging by `after`.
    let all = sink.http("GET", "/v1/records?change=CHG-777", &[], b"");
    assert_eq!(seqs(&all.body), (29..=34).collect::<Vec<_>>());
    let page = sink.http(
        "GET",
        "/v1/records?change=CHG-777&after=30&limit=2",
        &[],
        b"",
    );
    assert_eq!(seqs(&page.body), vec![31, 32]);
    let newest = sink.http("GET", "/v1/records?app=shop&limit=3", &[], b"");
    assert_eq!(seqs(&newest.body), vec![29, 31, 33]);
    // The golden queries that do not depend on the newest records answer as the release did.
    for (path, file) in [
        (
            "/v1/records?after=3&limit=4",
            "records.after-3.limit-4.json",
        ),
        (
            "/v1/records?change=CHG-1001",
            "records.change-CHG-1001.json",
        ),
        (
            "/v1/records?app=payments&change=CHG-1002&after=10",
            "records.app-payments.change-CHG-1002.after-10.json",
        ),
    ] {
        let r = sink.http("GET", path, &[], b"");
        assert_eq!(r.body.as_bytes(), golden(file), "{path}");
    }
    sink.kill();
    let out = audit(dir.path(), &data, &["verify"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("ok: 34 records"),
        "{}",
        stdout(&out)
    );
    for (args, file) in [
        (vec!["show", "CHG-1001"], "show-CHG-1001.txt"),
        (
            vec!["list", "--change", "CHG-1001", "--format", "json"],
            "list.change-CHG-1001.json",
        ),
        (
            vec!["list", "--change", "CHG-1001", "--format", "csv"],
            "list.change-CHG-1001.csv",
        ),
    ] {
        let out = audit(dir.path(), &data, &args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert_eq!(out.stdout, golden(file), "{args:?}");
    }
    // `audit list` reads every segment.
    let out = audit(dir.path(), &data, &["list", "--format", "json"]);
    assert_eq!(seqs(&stdout(&out)), (1..=34).collect::<Vec<_>>());
    let out = audit(dir.path(), &data, &["show", "CHG-777"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).matches("sync-succeeded").count(), 6);
}

#[test]
fn audit_verify_and_serve_name_a_missing_reordered_or_cut_segment() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut sink = Sink::start_with(&data, None, &["--segment-size", "1KiB"], None);
    post_events(&sink, 0, 5);
    sink.kill();
    // Each event is one segment (records are over 1 KiB): 1, 2, 3, 4 sealed, 5 active.
    let (two, three) = (segment(&data, 2), segment(&data, 3));
    let (bytes2, bytes3) = (std::fs::read(&two).unwrap(), std::fs::read(&three).unwrap());
    let expect_failure = |what: &str, needle: &str| {
        let out = audit(dir.path(), &data, &["verify"]);
        assert_eq!(out.status.code(), Some(1), "{what}: {}", stdout(&out));
        assert!(stderr(&out).contains(needle), "{what}: {}", stderr(&out));
        // Bounded: a sink that started anyway is stopped after 20 s (and the test fails).
        let out = std::process::Command::new("timeout")
            .args([
                "20",
                bin(),
                "serve",
                "--insecure-no-auth",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(&data)
            .output()
            .expect("run timeout sluice serve");
        assert_eq!(out.status.code(), Some(1), "{what}: serve started");
        assert!(stderr(&out).contains(needle), "{what}: {}", stderr(&out));
    };
    std::fs::remove_file(&two).unwrap();
    expect_failure("segment 2 deleted", "00000000000000000002.jsonl");
    std::fs::write(&two, &bytes3).unwrap();
    std::fs::write(&three, &bytes2).unwrap();
    expect_failure(
        "segments 2 and 3 swapped",
        "00000000000000000002.jsonl: line 1 (seq 2)",
    );
    std::fs::write(&three, &bytes3).unwrap();
    std::fs::write(&two, &bytes2[..bytes2.len() / 2]).unwrap();
    expect_failure("segment 2 truncated", "00000000000000000002.jsonl");
    let mut flipped = bytes2.clone();
    flipped[40] ^= 0x01;
    std::fs::write(&two, &flipped).unwrap();
    expect_failure(
        "a byte of segment 2 flipped",
        "00000000000000000002.jsonl: line 1 (seq 2)",
    );
    std::fs::write(&two, &bytes2).unwrap();
    let out = audit(dir.path(), &data, &["verify"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_restart_verifies_only_what_follows_the_marker_and_rebuilds_a_deleted_index() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut sink = Sink::start_with(&data, None, &["--segment-size", "4KiB"], None);
    post_events(&sink, 0, 8);
    sink.kill();
    let started = |sink: &Sink| -> u64 {
        let line = sink
            .stderr()
            .lines()
            .find(|l| l.contains("audit log verified"))
            .expect("the start-up line")
            .to_owned();
        let at = line.find("verified_after=").expect("verified_after") + "verified_after=".len();
        line[at..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let mut sink = Sink::start_with(&data, None, &["--segment-size", "4KiB"], None);
    assert!(started(&sink) > 0, "{}", sink.stderr());
    let before = sink.http("GET", "/v1/records?app=shop", &[], b"").body;
    sink.kill();
    std::fs::remove_dir_all(data.join("index")).unwrap();
    let mut sink = Sink::start_with(&data, None, &["--segment-size", "4KiB"], None);
    assert_eq!(started(&sink), 0, "{}", sink.stderr());
    assert_eq!(
        sink.http("GET", "/v1/records?app=shop", &[], b"").body,
        before
    );
    assert_eq!(seqs(&before), vec![1, 3, 5, 7]);
    sink.kill();
    // A record before the marker changed: the quick start does not look there, `audit verify` does.
    let first = segment(&data, 1);
    let text = std::fs::read_to_string(&first).unwrap();
    std::fs::write(&first, text.replacen("rev0000", "rev9999", 1)).unwrap();
    let sink = Sink::start_with(&data, None, &["--segment-size", "4KiB"], None);
    assert!(started(&sink) > 0);
    let out = audit(dir.path(), &data, &["verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("line 1 (seq 1)"), "{}", stderr(&out));
}

/// What a reader prints, and whether it succeeded.
fn read_while_writing(dir: &Path, data: &Path, args: &[&str]) -> Result<(), String> {
    let out = audit(dir, data, args);
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("audit {}: {}", args.join(" "), stderr(&out)))
    }
}

/// While a sink seals 64 KiB segments under four writers, `audit verify`, `audit list` and `audit
/// show` on its data directory read one consistent log every time: a seal (a rename, then a new
/// active file) is never taken for a deleted, inserted or moved record, nor a batch being written for
/// a torn line. Afterwards a real deletion, insertion or reordering is still named.
#[test]
fn readers_never_take_a_seal_for_tampering() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    let _heavy = crate::support::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut sink = Sink::start_with(&data, None, &["--segment-size", "64KiB"], None);
    let stop = Arc::new(AtomicBool::new(false));
    let posted = Arc::new(AtomicUsize::new(0));
    // Guard decisions of about 450 bytes: a seal every ~145 records. The writers pace themselves
    // (about 160 records a second in all) so that the seals are spread over some 20 s, and stop at
    // CAP records (about 25 seals), so that the reads stay quick in a debug build. The readers go on
    // until they have read 100 times each and the writers are done.
    const CAP: usize = 2400;
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (stop, posted, addr) = (Arc::clone(&stop), Arc::clone(&posted), sink.addr.clone());
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) && posted.load(Ordering::Relaxed) < CAP {
                    let n = w * 100_000 + i;
                    let app = ["shop", "cart"][n % 2];
                    let body = serde_json::json!({"app": app,
                        "namespace": "production", "revision": format!("rev{n:07}"),
                        "changeId": "CHG-777", "allowed": true, "reason": "inside window",
                        "at": format!("2026-12-01T{:02}:{:02}:{:02}Z", n / 3600 % 24, n / 60 % 60, n % 60)})
                    .to_string();
                    let r = crate::support::http(&addr, "POST", "/v1/guard", &[], body.as_bytes());
                    assert_eq!(r.status, 201, "{}", r.body);
                    posted.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                    std::thread::sleep(std::time::Duration::from_millis(25));
                }
            })
        })
        .collect();
    let mut failures = Vec::new();
    let (mut while_writing, mut rounds) = (0, 0);
    while rounds < 100 || (posted.load(Ordering::Relaxed) < CAP && rounds < 2000) {
        rounds += 1;
        for args in [
            &["verify"][..],
            &["list", "--app", "shop", "--limit", "3"],
            &["show", "CHG-777", "-o", "json"],
        ] {
            let writing = posted.load(Ordering::Relaxed) < CAP;
            if let Err(e) = read_while_writing(dir.path(), &data, args) {
                failures.push(e);
            }
            while_writing += usize::from(writing);
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("a writer");
    }
    let sealed = std::fs::read_dir(data.join("segments")).unwrap().count();
    let reads = 3 * rounds;
    assert!(
        failures.is_empty(),
        "{} of {reads} reads failed ({while_writing} while the sink was writing, {sealed} seals):\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        sealed >= 10,
        "only {sealed} seals: the readers raced too few"
    );
    assert!(
        while_writing >= 100,
        "only {while_writing} reads while writing"
    );
    eprintln!(
        "{reads} reads, {while_writing} while writing; {sealed} seals, {} records",
        posted.load(Ordering::Relaxed)
    );
    sink.terminate(std::time::Duration::from_mins(1));
    assert!(read_while_writing(dir.path(), &data, &["verify"]).is_ok());
    // Real tampering in a sealed segment is still named.
    let seg = segment(&data, 1);
    let original = std::fs::read_to_string(&seg).unwrap();
    let lines: Vec<&str> = original.lines().collect();
    let rewrite = |lines: &[&str]| {
        std::fs::write(
            &seg,
            lines.iter().map(|l| [l, "\n"].concat()).collect::<String>(),
        )
        .unwrap();
    };
    let cases: [(&str, Vec<&str>); 3] = [
        ("deleted", [&lines[..2], &lines[3..]].concat()),
        (
            "inserted",
            [&lines[..2], &lines[1..2], &lines[2..]].concat(),
        ),
        (
            "reordered",
            [&lines[..1], &[lines[2], lines[1]], &lines[3..]].concat(),
        ),
    ];
    for (what, changed) in cases {
        rewrite(&changed);
        let err = read_while_writing(dir.path(), &data, &["verify"]).expect_err(what);
        assert!(
            err.contains("00000000000000000001.jsonl: line"),
            "{what}: {err}"
        );
    }
    rewrite(&lines);
    assert!(read_while_writing(dir.path(), &data, &["verify"]).is_ok());
}

#[test]
fn audit_list_reads_through_the_index_beside_a_running_sink_and_checks_what_it_prints() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sink = Sink::start_with(&data, None, &["--segment-size", "4KiB"], None);
    post_events(&sink, 0, 14);
    let index = |name: &str| std::fs::read(data.join("index").join(name)).unwrap();
    assert!(data.join("index/marker.json").exists());
    let (marker, journal) = (index("marker.json"), index("journal"));
    let list = |extra: &[&str]| {
        let mut args = vec!["list", "--app", "shop", "-o", "json"];
        args.extend(extra);
        audit(dir.path(), &data, &args)
    };
    // Through the index, with the sink running: what the whole scan gives, and nothing written.
    let indexed = list(&[]);
    assert_eq!(indexed.status.code(), Some(0), "{}", stderr(&indexed));
    assert!(
        !stderr(&indexed).contains("no index in the data directory"),
        "{}",
        stderr(&indexed)
    );
    let scanned = list(&["--no-index"]);
    assert_eq!(stdout(&indexed), stdout(&scanned));
    assert_eq!(
        seqs(&stdout(&indexed)),
        (1..=14).step_by(2).collect::<Vec<_>>()
    );
    let newest = list(&["--limit", "2"]);
    assert_eq!(seqs(&stdout(&newest)), vec![11, 13]);
    assert_eq!((index("marker.json"), index("journal")), (marker, journal));
    drop(sink);
    // A printed record changed where the index points: refused, naming its file and line.
    let first = segment(&data, 1);
    let text = std::fs::read_to_string(&first).unwrap();
    std::fs::write(&first, text.replacen("rev0000", "rev9999", 1)).unwrap();
    let out = list(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("00000000000000000001.jsonl: line 1 (seq 1)")
            && stderr(&out).contains("hash"),
        "{}",
        stderr(&out)
    );
    // A record it does not print changed (cart's): the index reads only what it prints, so the list
    // stands, while the whole scan (and `audit verify`) names the change.
    std::fs::write(&first, text.replacen("rev0001", "rev9998", 1)).unwrap();
    assert_eq!(stdout(&list(&[])), stdout(&scanned));
    let out = list(&["--no-index"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("line 2 (seq 2)"), "{}", stderr(&out));
    std::fs::write(&first, text).unwrap();
    // Without an index: the scan (the hint is for logs of 64 MB and more: cli::audit::source's tests).
    std::fs::remove_dir_all(data.join("index")).unwrap();
    let out = list(&[]);
    assert_eq!(stdout(&out), stdout(&scanned));
}

/// `value` as canonical JSON (keys sorted at every depth, no white space), as the log writes records.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let members: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", Value::String((*k).clone()), canonical(&map[*k])))
                .collect();
            format!("{{{}}}", members.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

/// The golden log's records, then guard decisions naming an emergency change other than their own
/// (or with no change id), a guard decision with an empty change id, and an emergency review, chained
/// as the log's contract says.
fn golden_with_emergencies() -> String {
    use sha2::{Digest, Sha256};
    let golden: Vec<Value> = String::from_utf8(golden("audit.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let variant = |of: usize, with: Value| {
        let mut r = golden[of - 1].clone();
        for (k, v) in with.as_object().unwrap() {
            r[k] = v.clone();
        }
        r
    };
    let mut records = golden.clone();
    records.extend([
        // cart at c0ffee…, no change id, the emergency CHG-1001 (also CHG-1003's by app and revision).
        variant(25, serde_json::json!({"emergency": "CHG-1001", "key": "emergency-1"})),
        // A guard decision of CHG-1004 under the emergency CHG-1002.
        variant(18, serde_json::json!({"changeId": "CHG-1004", "emergency": "CHG-1002", "key": "emergency-2"})),
        // An empty change id, at the app and revision of CHG-1001's shop sync.
        variant(25, serde_json::json!({"changeId": "", "app": golden[2]["app"].clone(),
            "revision": golden[2]["revision"].clone(), "key": "empty-change"})),
        serde_json::json!({"event": "emergency-review", "receivedAt": "2026-11-02T00:00:00.000Z",
            "key": "review-1", "changeId": "CHG-1003", "by": "bo", "note": "checked",
            "emergencies": [22], "due": "2026-11-05T00:00:00.000Z", "late": false, "via": "cli"}),
    ]);
    let mut prev = "0".repeat(64);
    let mut out = String::new();
    for (i, r) in records.iter().enumerate() {
        let mut r = r.clone();
        let m = r.as_object_mut().unwrap();
        m.remove("hash");
        m.insert("seq".into(), (i + 1).into());
        m.insert("prev".into(), prev.clone().into());
        let hash = hex::encode(Sha256::digest(format!("{prev}{}", canonical(&r))));
        r["hash"] = hash.clone().into();
        out.push_str(&canonical(&r));
        out.push('\n');
        prev = hash;
    }
    out
}

#[test]
fn audit_show_reads_through_the_index_and_reports_what_the_whole_log_does() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let log = golden_with_emergencies();
    std::fs::write(data.join("audit.jsonl"), &log).unwrap();
    let sink = Sink::start_with(&data, None, &["--segment-size", "4KiB"], None);
    // Verifications: one without a change id at the app and revision of CHG-1002's syncs, one of
    // CHG-1001; then syncs of CHG-777, after the golden log (sealed by the first batch).
    for change in [None, Some("CHG-1001")] {
        let mut report = serde_json::json!({"app": "payments", "namespace": "payments",
            "revision": "3.14.1", "final": true, "verification": {"verdict": "Successful",
            "reason": "every check passed", "onFailure": "record", "within": "5m",
            "startedAt": "2026-11-20T10:05:00Z", "finishedAt": "2026-11-20T10:06:00Z",
            "checks": []}});
        if let Some(c) = change {
            report["changeId"] = c.into();
            report["verification"]["startedAt"] = "2026-11-21T10:05:00Z".into();
            report["verification"]["finishedAt"] = "2026-11-21T10:06:00Z".into();
        }
        let r = sink.http(
            "POST",
            "/v1/verifications",
            &[],
            report.to_string().as_bytes(),
        );
        assert_eq!(r.status, 201, "{}", r.body);
    }
    post_events(&sink, 0, 6);
    let show = |change: &str, extra: &[&str]| {
        let mut args = vec!["show", change];
        args.extend(extra);
        audit(dir.path(), &data, &args)
    };
    let changes = [
        "CHG-1001", "CHG-1002", "CHG-1003", "CHG-1004", "CHG-777", "CHG-404",
    ];
    let compare = |what: &str| {
        for change in changes {
            for output in [&[][..], &["-o", "json"], &["-o", "csv"]] {
                let indexed = show(change, output);
                let mut whole_args = output.to_vec();
                whole_args.push("--no-index");
                let whole = show(change, &whole_args);
                assert!(!stderr(&indexed).contains("index"), "{}", stderr(&indexed));
                assert_eq!(
                    (indexed.status.code(), stdout(&indexed)),
                    (whole.status.code(), stdout(&whole)),
                    "{what}: audit show {change} {output:?}"
                );
            }
        }
    };
    // Beside the running sink, and once it stopped.
    compare("with the sink running");
    drop(sink);
    compare("with the sink stopped");
    let json = |change: &str| -> Vec<Value> {
        let out = show(change, &["-o", "json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        serde_json::from_str(&stdout(&out)).unwrap()
    };
    // What the report holds beyond the records filed under the change: an emergency naming it
    // (seq 29 with no change id, seq 30 of another change), and guard decisions and verifications
    // without a change id at its apps and revisions.
    let seqs_of = |records: &[Value]| -> Vec<u64> {
        records.iter().map(|r| r["seq"].as_u64().unwrap()).collect()
    };
    let chg1001 = seqs_of(&json("CHG-1001"));
    assert!(
        [25, 29, 31].iter().all(|s| chg1001.contains(s)),
        "{chg1001:?}"
    );
    let chg1002 = json("CHG-1002");
    assert!(seqs_of(&chg1002).contains(&30), "{chg1002:?}");
    assert!(
        chg1002
            .iter()
            .any(|r| r["event"] == "verification" && r.get("changeId").is_none_or(Value::is_null)),
        "{chg1002:?}"
    );
    let chg1003 = seqs_of(&json("CHG-1003"));
    assert!(
        [22, 25, 29, 32].iter().all(|s| chg1003.contains(s)),
        "{chg1003:?}"
    );
    // Reading wrote nothing.
    let index = |name: &str| std::fs::read(data.join("index").join(name)).unwrap();
    // The postings are written by a chore of the sink: there, or not yet when it stopped.
    let postings = || std::fs::read(data.join("index/postings")).unwrap_or_default();
    let files = || (index("marker.json"), index("journal"), postings());
    let written = files();
    let before = stdout(&show("CHG-1002", &[]));
    assert_eq!(files(), written);
    // A printed record changed (the emergency guard decision of CHG-1004 under CHG-1002, filed the
    // same): refused, naming its segment file, line and the hash.
    let first = segment(&data, 1);
    let text = std::fs::read_to_string(&first).unwrap();
    let line30 = text.lines().nth(29).unwrap();
    assert!(line30.contains("\"emergency\":\"CHG-1002\""), "{line30}");
    let reason = serde_json::from_str::<Value>(line30).unwrap()["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    let member = format!("\"reason\":{}", Value::from(reason.clone()));
    let edited = format!("\"reason\":{}", Value::from(format!("{reason} (edited)")));
    let changed = text.replacen(line30, &line30.replacen(&member, &edited, 1), 1);
    assert_ne!(changed, text);
    std::fs::write(&first, &changed).unwrap();
    let out = show("CHG-1002", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("00000000000000000001.jsonl: line 30 (seq 30)")
            && stderr(&out).contains("hash"),
        "{}",
        stderr(&out)
    );
    // A record it does not print changed (CHG-1001's first guard decision): the indexed report
    // stands, while the whole scan names the change.
    let line1 = text.lines().next().unwrap();
    std::fs::write(
        &first,
        text.replacen(line1, &line1.replacen("CHG-1001", "CHG-1009", 1), 1),
    )
    .unwrap();
    assert_eq!(stdout(&show("CHG-1002", &[])), before);
    let out = show("CHG-1002", &["--no-index"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("line 1 (seq 1)"), "{}", stderr(&out));
    std::fs::write(&first, &text).unwrap();
    // The postings the sink wrote answer (the journal's bytes before their point are not read);
    // postings that do not check (a byte of their header changed) leave the journal to answer.
    let mut damaged = postings();
    if let Some(last) = damaged.len().checked_sub(1) {
        damaged[last] ^= 1;
        std::fs::write(data.join("index/postings"), &damaged).unwrap();
        assert_eq!(stdout(&show("CHG-1002", &[])), before);
    }
    // An index that does not match the log (a byte of its journal changed): said, and the whole log
    // read instead.
    let journal_path = data.join("index/journal");
    let mut damaged = index("journal");
    damaged["sluice-index 3\n".len() + 1] ^= 1;
    std::fs::write(&journal_path, &damaged).unwrap();
    let out = show("CHG-1002", &[]);
    assert_eq!(stdout(&out), before);
    assert!(
        stderr(&out).contains("does not match the log"),
        "{}",
        stderr(&out)
    );
    // No index: the whole log, and nothing said (the hint is for logs of 64 MB and more).
    std::fs::remove_dir_all(data.join("index")).unwrap();
    for args in [&["show", "CHG-1002"][..], &["list", "--app", "shop"]] {
        let out = audit(dir.path(), &data, args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(!stderr(&out).contains("index"), "{}", stderr(&out));
    }
    assert_eq!(stdout(&show("CHG-1002", &[])), before);
}
