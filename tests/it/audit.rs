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
            &format!("2026-11-20T10:{:02}:00Z", i),
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
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "CR must be followed by LF");
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, '\n') => panic!("bare LF outside quotes"),
            (false, c) => field.push(c),
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
        "risk         low, really",
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
