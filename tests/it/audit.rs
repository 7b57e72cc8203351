//! Integration tests: audit. The logs are written by a real `sluice serve`; `audit verify|list|show`,
//! `lint-commit` and the shell recipe of docs/audit-log.md are run for real.

use crate::support::{event_body, sluice_in, stderr, stdout, Sink};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Writes a log of `n` events (with awkward strings in the commit messages) through a real sink.
fn real_log(dir: &Path, n: usize) -> PathBuf {
    let data = dir.join("data");
    let sink = Sink::start(&data, None);
    for i in 0..n {
        let message = format!(
            "CHG-{}: tab\there \"quoted\" back\\slash \u{7f} \u{1} é ✓ \u{2028} </script>\n\nApproved-by: Bob <bob@example.com>\nRisk: low, really\nRollback: revert {i}\n",
            100 + i % 3
        );
        let body = event_body(
            ["sync-succeeded", "deployed", "sync-failed"][i % 3],
            ["shop", "cart"][i % 2],
            &format!("2026-11-20T10:{i:02}:00Z"),
            &format!("rev{i:04}"),
            Some(&message),
        );
        let r = sink.http("POST", "/v1/events", &[], body.as_bytes());
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let guard = json!({"app": "shop", "namespace": "production", "changeId": "CHG-100", "revision": "rev0000",
        "allowed": true, "emergency": null, "reason": "inside window 0", "at": "2026-11-20T09:59:00Z",
        "active": [0], "windows": ["Tue/Thu maintenance window"]});
    let r = sink.http("POST", "/v1/guard", &[], guard.to_string().as_bytes());
    assert_eq!(r.status, 201, "{}", r.body);
    data
}

fn verify(dir: &Path, data: &Path) -> std::process::Output {
    sluice_in(
        dir,
        &["audit", "verify", "--data-dir", data.to_str().unwrap()],
        &[],
    )
}

#[test]
fn verify_counts_the_records_of_a_good_log() {
    let dir = tempfile::tempdir().unwrap();
    let data = real_log(dir.path(), 4);
    let out = verify(dir.path(), &data);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("ok: 5 records"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn verify_names_the_first_broken_record_after_any_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let data = real_log(dir.path(), 5);
    let log = data.join("audit.jsonl");
    let original = std::fs::read(&log).unwrap();
    let line_of = |i: usize| 1 + original[..i].iter().filter(|b| **b == b'\n').count();
    let expect_broken = |what: &str, line: usize| {
        let out = verify(dir.path(), &data);
        assert_eq!(out.status.code(), Some(1), "{what}: {}", stdout(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("line {line} (seq {line})")),
            "{what}: expected line {line}: {err}"
        );
    };
    // Flip one byte at positions spread over every record (the unit tests flip every byte).
    for i in (0..original.len()).step_by(97).chain([original.len() - 1]) {
        let mut bytes = original.clone();
        bytes[i] ^= 0x01;
        std::fs::write(&log, &bytes).unwrap();
        expect_broken(&format!("byte {i} flipped"), line_of(i));
    }
    let text = String::from_utf8(original.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let write = |ls: Vec<&str>| std::fs::write(&log, ls.join("\n") + "\n").unwrap();
    // Delete line 3.
    write([&lines[..2], &lines[3..]].concat());
    expect_broken("line 3 deleted", 3);
    // Swap lines 2 and 4.
    let mut swapped = lines.clone();
    swapped.swap(1, 3);
    write(swapped);
    expect_broken("lines 2 and 4 swapped", 2);
    // An edit that keeps the JSON valid.
    let edited: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| match i {
            3 => l.replace("Bob <bob@example.com>", "Mallory"),
            _ => (*l).to_owned(),
        })
        .collect();
    write(edited.iter().map(String::as_str).collect());
    expect_broken("approver edited in line 4", 4);
    std::fs::write(&log, &original).unwrap();
    assert!(verify(dir.path(), &data).status.success());
}

/// Extracts the shell recipe between `<!-- verify-recipe:start -->` and `<!-- verify-recipe:end -->`.
fn documented_recipe() -> String {
    let doc_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/audit-log.md");
    let doc = std::fs::read_to_string(&doc_path).expect("docs/audit-log.md");
    let start = doc
        .find("<!-- verify-recipe:start -->")
        .expect("recipe start marker in docs/audit-log.md");
    let end = doc
        .find("<!-- verify-recipe:end -->")
        .expect("recipe end marker");
    let block = &doc[start..end];
    let code_start = block.find("```bash\n").expect("a ```bash block") + "```bash\n".len();
    let code_end = block[code_start..].find("```").expect("end of the block") + code_start;
    let recipe = block[code_start..code_end].to_owned();
    assert!(
        recipe.contains("sha256sum") && recipe.contains("jq"),
        "{recipe}"
    );
    recipe
}

fn run_recipe(recipe: &str, log: &Path) -> std::process::Output {
    let jq = std::process::Command::new("jq").arg("--version").output();
    assert!(
        jq.is_ok_and(|o| o.status.success()),
        "jq is not installed: the documented verification needs it (apt-get install jq; .ci/run installs it)"
    );
    std::process::Command::new("bash")
        .arg("-c")
        .arg(recipe)
        .arg("verify-audit-log")
        .arg(log)
        .output()
        .expect("run bash")
}

#[test]
fn the_documented_jq_recipe_agrees_with_audit_verify() {
    let dir = tempfile::tempdir().unwrap();
    let data = real_log(dir.path(), 6);
    let log = data.join("audit.jsonl");
    let recipe = documented_recipe();
    let ours = verify(dir.path(), &data);
    assert!(ours.status.success());
    let head = stdout(&ours).split_whitespace().last().unwrap().to_owned();
    let out = run_recipe(&recipe, &log);
    assert!(
        out.status.success(),
        "recipe failed on a good log: {}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(stdout(&out).trim(), format!("ok: 7 records, head {head}"));

    // Both name the same first bad line after tampering.
    let original = std::fs::read(&log).unwrap();
    let text = String::from_utf8(original.clone()).unwrap();
    let tampered = text.replacen("revert 3", "revert 9", 1);
    std::fs::write(&log, tampered).unwrap();
    let out = run_recipe(&recipe, &log);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).starts_with("line 4:"), "{}", stdout(&out));
    assert!(stderr(&verify(dir.path(), &data)).contains("line 4 (seq 4)"));
    // A torn last line (no newline) is not verified either.
    let mut torn = original.clone();
    torn.extend_from_slice(b"{\"app\":");
    std::fs::write(&log, torn).unwrap();
    let out = run_recipe(&recipe, &log);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).starts_with("line 8:"), "{}", stdout(&out));
}

/// Parses RFC 4180 CSV (quoted fields with doubled quotes, CRLF records).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "CR must be followed by LF");
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, '\n') => panic!("bare LF outside quotes"),
            (_, c) => field.push(c),
        }
    }
    assert!(
        row.is_empty() && field.is_empty(),
        "the last record ends with CRLF"
    );
    rows
}

#[test]
fn list_filters_and_prints_table_json_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let data = real_log(dir.path(), 6);
    let d = data.to_str().unwrap();
    let list = |extra: &[&str]| {
        let mut args = vec!["audit", "list", "--data-dir", d];
        args.extend_from_slice(extra);
        let out = sluice_in(dir.path(), &args, &[]);
        assert!(out.status.success(), "{extra:?}: {}", stderr(&out));
        stdout(&out)
    };
    let json: Value = serde_json::from_str(&list(&["--format", "json", "--app", "shop"])).unwrap();
    let seqs: Vec<u64> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        vec![1, 3, 5, 7],
        "shop's events and its guard decision"
    );
    let json: Value =
        serde_json::from_str(&list(&["--format", "json", "--change", "CHG-101"])).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);

    let csv = parse_csv(&list(&["--format", "csv"]));
    assert_eq!(csv.len(), 8, "header and 7 records");
    let col = |name: &str| csv[0].iter().position(|c| c == name).unwrap();
    assert_eq!(csv[1][col("changeId")], "CHG-100");
    assert_eq!(csv[1][col("risk")], "low, really");
    assert_eq!(csv[1][col("approvedBy")], "Bob <bob@example.com>");
    assert_eq!(csv[7][col("event")], "guard-decision");
    assert_eq!(csv[7][col("decision")], "allowed");
    assert!(csv.iter().all(|r| r.len() == csv[0].len()));

    let table = list(&[]);
    assert!(table.starts_with("SEQ"), "{table}");
    assert_eq!(table.lines().count(), 8);
    // --since: every record was received just now.
    assert_eq!(
        list(&["--since", "2999-01-01T00:00:00Z"]).lines().count(),
        1
    );
    assert_eq!(
        list(&["--since", "2000-01-01T00:00:00Z"]).lines().count(),
        8
    );
    let bad = sluice_in(
        dir.path(),
        &["audit", "list", "--data-dir", d, "--since", "yesterday"],
        &[],
    );
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
}

#[test]
fn show_tells_the_whole_story_of_a_change() {
    let dir = tempfile::tempdir().unwrap();
    let data = real_log(dir.path(), 6);
    let d = data.to_str().unwrap();
    let out = sluice_in(
        dir.path(),
        &["audit", "show", "--data-dir", d, "CHG-100"],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report = stdout(&out);
    for want in [
        "Change CHG-100",
        "approved by: Bob <bob@example.com>",
        "risk:        low, really",
        "Tue/Thu maintenance window",
        "pre-change-shop-x7k2p",
        "pre-change-cart-x7k2p",
        "argocd app rollback shop 6",
        "argocd app rollback cart 6",
        "velero restore create --from-backup pre-change-shop-x7k2p",
    ] {
        assert!(report.contains(want), "missing {want:?}:\n{report}");
    }
    assert!(
        !report.contains('\u{7f}'),
        "control characters are not echoed to the terminal"
    );
    let out = sluice_in(
        dir.path(),
        &["audit", "show", "--data-dir", d, "CHG-999"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("CHG-999"), "{}", stderr(&out));
}

#[test]
fn lint_commit_checks_subject_and_trailers() {
    let dir = tempfile::tempdir().unwrap();
    let lint = |message: &str, extra: &[&str]| {
        let file = dir.path().join("COMMIT_EDITMSG");
        std::fs::write(&file, message).unwrap();
        let mut args = vec!["lint-commit", file.to_str().unwrap()];
        args.extend_from_slice(extra);
        sluice_in(dir.path(), &args, &[])
    };
    let good = "CHG-1234: raise replicas\n\nApproved-by: Bob\nApproved-by: Carol\nRollback: revert\n# Please enter the commit message\n";
    let out = lint(
        good,
        &["--require", "Approved-by,Rollback", "--min-approvers", "2"],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let cases: [(&str, &[&str], &str); 5] = [
        ("raise replicas\n", &[], "must start with a change id"),
        ("JIRA-9: raise\n", &[], "does not match"),
        (
            "CHG-1: x\n\nApproved-by: Bob\n",
            &["--require", "Approved-by,Rollback"],
            "Rollback",
        ),
        (
            "CHG-1: x\n\nApproved-by: Bob\nApproved-by: bob\n",
            &["--min-approvers", "2"],
            "2 distinct Approved-by",
        ),
        (
            "OPS-7: x\n",
            &["--pattern", "^CHG-[0-9]+$"],
            "does not match ^CHG-[0-9]+$",
        ),
    ];
    for (message, extra, reason) in cases {
        let out = lint(message, extra);
        assert_eq!(out.status.code(), Some(1), "{message:?}");
        assert!(
            stderr(&out).contains(reason),
            "{message:?}: {}",
            stderr(&out)
        );
    }
    let out = lint("OPS-7: x\n", &["--pattern", "^OPS-[0-9]+$"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = lint("CHG-1: x\n", &["--pattern", "("]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an invalid pattern is a usage error"
    );
}

// ---- The golden log written by the released sluice (tests/fixtures/audit/golden/README.md). ----

/// The golden fixture directory.
fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audit/golden")
}

fn golden_file(name: &str) -> Vec<u8> {
    let path = golden().join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(!bytes.is_empty(), "{} is empty", path.display());
    bytes
}

/// The cases of `cases.tsv`: (file, command words).
fn golden_cases() -> Vec<(String, Vec<String>)> {
    let text = String::from_utf8(golden_file("cases.tsv")).unwrap();
    let cases: Vec<(String, Vec<String>)> = text
        .lines()
        .map(|l| {
            let (file, command) = l.split_once('\t').expect("cases.tsv: FILE<TAB>COMMAND");
            (
                file.to_owned(),
                command.split(' ').map(str::to_owned).collect(),
            )
        })
        .collect();
    assert!(cases.len() >= 20, "cases.tsv lists {} cases", cases.len());
    cases
}

/// A data directory holding a copy of the golden log.
fn golden_data(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("audit.jsonl"), golden_file("audit.jsonl")).unwrap();
    data
}

/// The documented changes since the release (tests/fixtures/audit/golden/README.md, "Deliberate
/// changes").
fn golden_changes() -> Value {
    serde_json::from_slice(&golden_file("changes.json")).unwrap()
}

/// What the release printed into `file`, with the documented deliberate changes applied (each must
/// apply, once).
fn release_output_now(file: &str) -> Vec<u8> {
    let mut text = String::from_utf8(golden_file(file)).unwrap();
    for change in golden_changes()["outputs"].as_array().unwrap() {
        if change["file"] == file {
            let (release, now) = (
                change["release"].as_str().unwrap(),
                change["now"].as_str().unwrap(),
            );
            assert_eq!(text.matches(release).count(), 1, "{file}: {release:?}");
            text = text.replace(release, now);
        }
    }
    text.into_bytes()
}

/// Panics with the first differing line when `actual` is not byte-for-byte the golden `file` (with
/// the documented deliberate changes).
fn assert_same_as_release(file: &str, actual: &[u8]) {
    let expected = release_output_now(file);
    if expected == actual {
        return;
    }
    let (e, a) = (
        String::from_utf8_lossy(&expected),
        String::from_utf8_lossy(actual),
    );
    let line = e
        .split_inclusive('\n')
        .zip(a.split_inclusive('\n'))
        .position(|(x, y)| x != y)
        .unwrap_or_else(|| e.lines().count().min(a.lines().count()));
    panic!(
        "{file}: differs from what the release printed, first at line {}:\n  release: {:?}\n  now:     {:?}",
        line + 1,
        e.split_inclusive('\n').nth(line).unwrap_or("(end)"),
        a.split_inclusive('\n').nth(line).unwrap_or("(end)"),
    );
}

#[test]
fn golden_log_verifies_lists_and_shows_as_the_release_printed() {
    let dir = tempfile::tempdir().unwrap();
    let data = golden_data(dir.path());
    let d = data.to_str().unwrap();
    let mut ran = 0;
    for (file, words) in golden_cases().iter().filter(|(_, w)| w[0] == "audit") {
        let mut args = vec!["audit", words[1].as_str(), "--data-dir", d];
        args.extend(words[2..].iter().map(String::as_str));
        let out = sluice_in(dir.path(), &args, &[]);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert_same_as_release(file, &out.stdout);
        ran += 1;
    }
    assert!(ran >= 15, "only {ran} audit cases ran");
    assert_eq!(
        std::fs::read(data.join("audit.jsonl")).unwrap(),
        golden_file("audit.jsonl"),
        "reading never writes"
    );
}

#[test]
fn golden_log_answers_record_queries_as_the_release_did() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start(&golden_data(dir.path()), None);
    let mut ran = 0;
    for (file, words) in golden_cases().iter().filter(|(_, w)| w[0] == "GET") {
        let r = sink.http("GET", &words[1], &[], b"");
        assert_eq!(r.status, 200, "{}: {}", words[1], r.body);
        assert_same_as_release(file, r.body.as_bytes());
        ran += 1;
    }
    assert!(ran >= 5, "only {ran} query cases ran");
}

/// A record line without the members that depend on when it was written, and without its key (the
/// release wrote `a|b|c|d` keys; keys are digests now, docs/audit-log.md "Idempotency key").
fn timeless(line: &str) -> Value {
    let mut v: Value = serde_json::from_str(line).unwrap();
    for key in ["receivedAt", "hash", "prev", "key"] {
        v.as_object_mut().unwrap().shift_remove(key);
    }
    v
}

#[test]
fn reposting_the_golden_requests_writes_the_records_the_release_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start(&dir.path().join("data"), None);
    let requests = String::from_utf8(golden_file("requests.jsonl")).unwrap();
    let responses = String::from_utf8(golden_file("responses.jsonl")).unwrap();
    assert_eq!(requests.lines().count(), responses.lines().count());
    for (request, response) in requests.lines().zip(responses.lines()) {
        let request: Value = serde_json::from_str(request).unwrap();
        let mut expected: Value = serde_json::from_str(response).unwrap();
        let path = request["path"].as_str().unwrap();
        let r = sink.http("POST", path, &[], request["body"].to_string().as_bytes());
        let mut got = json!({"status": r.status, "body": r.json()});
        // The hash covers receivedAt, so only the seq of a new record can match the release.
        for answer in [&mut expected, &mut got] {
            answer["body"].as_object_mut().unwrap().remove("hash");
        }
        assert_eq!(got, expected, "{path}");
    }
    let golden_log = String::from_utf8(golden_file("audit.jsonl")).unwrap();
    let lines = sink.log_lines();
    assert_eq!(lines.len(), golden_log.lines().count());
    let changes = golden_changes();
    for (now, release) in lines.iter().zip(golden_log.lines()) {
        let (mut now, mut release) = (timeless(now), timeless(release));
        let seq = release["seq"].clone();
        // This version adds members, and extracts some differently on purpose: both documented.
        if now["event"] != "guard-decision" {
            for member in changes["added"].as_array().unwrap() {
                let member = member.as_str().unwrap();
                assert!(
                    now.as_object_mut().unwrap().shift_remove(member).is_some(),
                    "seq {seq}: {member}"
                );
            }
        }
        for change in changes["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["seq"] == seq)
        {
            let member = change["member"].as_str().unwrap();
            assert_eq!(release[member], change["release"], "seq {seq}: {member}");
            assert_eq!(now[member], change["now"], "seq {seq}: {member}");
            release[member] = change["now"].clone();
        }
        // A member the release did not have goes where the canonical order puts it.
        release.sort_all_objects();
        assert_eq!(now, release, "seq {seq}");
        // Same members in the same (canonical) order, hence the same bytes apart from the four.
        assert_eq!(now.to_string(), release.to_string());
    }
    for line in &lines {
        let key: Value = serde_json::from_str::<Value>(line).unwrap()["key"].clone();
        assert!(key.as_str().is_some_and(|k| k.len() == 64), "{key}");
    }
    drop(sink);
    let out = verify(dir.path(), &dir.path().join("data"));
    assert!(out.status.success(), "{}", stderr(&out));
}

/// The release's own log, served by today's sink: every golden request is found as the duplicate of
/// the record the release wrote for it, although that record carries an old-format key.
#[test]
fn reposting_the_golden_requests_to_the_release_log_finds_every_one_as_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let data = golden_data(dir.path());
    let before = std::fs::read(data.join("audit.jsonl")).unwrap();
    let sink = Sink::start(&data, None);
    let requests = String::from_utf8(golden_file("requests.jsonl")).unwrap();
    let responses = String::from_utf8(golden_file("responses.jsonl")).unwrap();
    for (request, response) in requests.lines().zip(responses.lines()) {
        let request: Value = serde_json::from_str(request).unwrap();
        let expected: Value = serde_json::from_str(response).unwrap();
        let path = request["path"].as_str().unwrap();
        let r = sink.http("POST", path, &[], request["body"].to_string().as_bytes());
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(
            r.json(),
            json!({"seq": expected["body"]["seq"], "duplicate": true})
        );
    }
    drop(sink);
    assert_eq!(std::fs::read(data.join("audit.jsonl")).unwrap(), before);
}

/// Re-seals `lines` into a valid chain (each `prev` and `hash` recomputed), as a writer other than
/// sluice could; every line must already be canonical apart from those two members.
fn rechain(lines: &[String]) -> String {
    use sha2::{Digest, Sha256};
    use std::fmt::Write as _;
    let mut prev = "0".repeat(64);
    let mut out = String::new();
    for line in lines {
        let v: Value = serde_json::from_str(line).unwrap();
        let (old_prev, old_hash) = (v["prev"].as_str().unwrap(), v["hash"].as_str().unwrap());
        let line = line.replace(old_prev, &prev);
        // Keys are sorted and "hash" is never the first: the record without it is the line without
        // `,"hash":"…"`.
        let body = line.replace(&format!(",\"hash\":\"{old_hash}\""), "");
        let hash =
            Sha256::digest(format!("{prev}{body}"))
                .iter()
                .fold(String::new(), |mut hex, b| {
                    let _ = write!(hex, "{b:02x}");
                    hex
                });
        out.push_str(&line.replace(old_hash, &hash));
        out.push('\n');
        prev = hash;
    }
    out
}

#[test]
fn a_verified_record_that_does_not_fit_is_named_never_misread() {
    let dir = tempfile::tempdir().unwrap();
    let data = golden_data(dir.path());
    let log = data.join("audit.jsonl");
    let mut lines: Vec<String> = String::from_utf8(golden_file("audit.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(
        lines[1].contains("\"changeId\":\"CHG-1001\""),
        "{}",
        lines[1]
    );
    lines[1] = lines[1].replace("\"changeId\":\"CHG-1001\"", "\"changeId\":1001");
    std::fs::write(&log, rechain(&lines)).unwrap();
    let d = data.to_str().unwrap();

    // The chain is intact: verification does not read the typed model.
    let out = verify(dir.path(), &data);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("ok: 28 records"),
        "{}",
        stdout(&out)
    );
    // Readers name the record and the member, and print nothing.
    let why = "line 2 (seq 2): changeId: invalid type: integer `1001`, expected a string";
    for args in [
        vec!["audit", "list", "--data-dir", d],
        vec!["audit", "list", "--data-dir", d, "--format", "json"],
        vec!["audit", "show", "--data-dir", d, "CHG-1002"],
    ] {
        let out = sluice_in(dir.path(), &args, &[]);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stdout(&out).is_empty(), "{args:?}: {}", stdout(&out));
        assert!(stderr(&out).contains(why), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("newer"), "{}", stderr(&out));
    }
    // The sink starts (the chain verifies) and keeps recording; a query that reaches the record fails
    // (500, named in the sink's log), one after it still answers.
    let sink = Sink::start(&data, None);
    let r = sink.http("GET", "/v1/records", &[], b"");
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(sink.stderr().contains("seq 2"), "{}", sink.stderr());
    let r = sink.http("GET", "/v1/records?after=2&limit=3", &[], b"");
    assert_eq!(r.status, 200, "{}", r.body);
    let seqs: Vec<u64> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![3, 4, 5]);
    let body = event_body("deployed", "shop", "2026-12-01T00:00:00Z", "r9", None);
    let r = sink.http("POST", "/v1/events", &[], body.as_bytes());
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["seq"], 29);
}
