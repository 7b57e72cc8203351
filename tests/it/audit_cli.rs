//! The audit commands as people use them (docs/audit-log.md, "Commands"): `-o/--output`, `--data-dir`
//! from `SLUICE_DATA_DIR` or its default, `--since` as a span, a day or an instant, `--limit`, and the
//! remote mode (`--server URL --token-file F`) against a real `sluice serve`, which must print exactly what
//! the same query prints from the data directory.

use crate::support::{event_body, sluice_in, stderr, stdout, Sink};
use serde_json::Value;
use std::path::{Path, PathBuf};

const TOKEN: &str = "s3cret-token-for-tests";
/// The sink's read token, which the client's `--token-file` holds.
const READ_TOKEN: &str = "r3ad-token-for-tests";

/// `sluice serve` over `data` with the write token and the read token.
fn start_sink(data: &Path) -> Sink {
    let read = data.with_extension("read-token");
    std::fs::write(&read, format!("{READ_TOKEN}\n")).unwrap();
    Sink::start_with(
        data,
        Some(TOKEN),
        &["--read-token-file", read.to_str().unwrap()],
        None,
    )
}

fn golden_log() -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audit/golden/audit.jsonl"),
    )
    .expect("golden log")
}

/// A running sink (with a token) over a copy of the golden log, and a token file for the client.
fn golden_sink(dir: &Path) -> (Sink, PathBuf) {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("audit.jsonl"), golden_log()).unwrap();
    let sink = start_sink(&data);
    let token_file = dir.join("token");
    std::fs::write(&token_file, format!("{READ_TOKEN}\n")).unwrap();
    (sink, token_file)
}

/// A running sink to which `n` sync events were posted (seq 1..=n, apps shop and cart in turn).
fn sink_with_events(dir: &Path, n: usize) -> (Sink, PathBuf) {
    let data = dir.join("data");
    let sink = start_sink(&data);
    for i in 1..=n {
        let app = if i % 2 == 0 { "cart" } else { "shop" };
        let body = event_body(
            "sync-succeeded",
            app,
            &format!("2026-11-20T10:{i:02}:00Z"),
            &format!("{i:040x}"),
            Some(&format!(
                "CHG-{}: change {i}\n\nApproved-by: Bo <bo@example.com>\n",
                1000 + i
            )),
        );
        let r = sink.http(
            "POST",
            "/v1/events",
            &[("Authorization", &format!("Bearer {TOKEN}"))],
            body.as_bytes(),
        );
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let token_file = dir.join("token");
    std::fs::write(&token_file, READ_TOKEN).unwrap();
    (sink, token_file)
}

fn ok(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = sluice_in(dir, args, env);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    stdout(&out)
}

fn seqs(json: &str) -> Vec<u64> {
    let v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    v.as_array()
        .expect("a JSON array")
        .iter()
        .map(|r| r["seq"].as_u64().expect("seq"))
        .collect()
}

#[test]
fn list_json_since_24h_limit_5_locally_and_against_a_running_sink() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, token_file) = sink_with_events(dir.path(), 8);
    let data = sink.data_dir.display().to_string();
    let server = format!("http://{}", sink.addr);
    let token = token_file.display().to_string();
    let query = [
        "audit", "list", "-o", "json", "--since", "24h", "--limit", "5",
    ];
    let local = ok(
        dir.path(),
        &[&query[..], &["--data-dir", &data]].concat(),
        &[],
    );
    let remote = ok(
        dir.path(),
        &[&query[..], &["--server", &server, "--token-file", &token]].concat(),
        &[],
    );
    // The newest five of the eight, oldest first, exactly as the log holds them, from either source.
    assert_eq!(seqs(&local), [4, 5, 6, 7, 8]);
    assert_eq!(remote, local);
    let lines = crate::support::read_log_lines(&sink.data_dir);
    let from_log: Vec<Value> = lines[3..]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&local).unwrap(),
        Value::Array(from_log)
    );

    // The records were received now: a clock 25 hours ahead finds none of them within 24h.
    let later = (chrono::Utc::now() + chrono::Duration::hours(25)).to_rfc3339();
    for source in [
        vec!["--data-dir", data.as_str()],
        vec!["--server", server.as_str(), "--token-file", token.as_str()],
    ] {
        let out = ok(
            dir.path(),
            &[&query[..], &source[..]].concat(),
            &[("SLUICE_NOW", &later)],
        );
        assert_eq!(out, "[]\n", "{source:?}");
    }
    // Filters run on the sink (app, change) and here (since, limit) with the same result.
    for extra in [
        &["--app", "cart"][..],
        &["--app", "shop", "--limit", "2"],
        &["--change", "CHG-1003"],
        &["--since", "2000-01-01", "--limit", "3"],
        &["-o", "csv"],
        &["-o", "wide"],
        &["-o", "yaml", "--limit", "2"],
    ] {
        let base = ["audit", "list"];
        let local = ok(
            dir.path(),
            &[&base[..], extra, &["--data-dir", &data]].concat(),
            &[],
        );
        let remote = ok(
            dir.path(),
            &[
                &base[..],
                extra,
                &["--server", &server, "--token-file", &token],
            ]
            .concat(),
            &[],
        );
        assert_eq!(remote, local, "{extra:?}");
    }
    assert_eq!(
        seqs(&ok(
            dir.path(),
            &[
                "audit",
                "list",
                "-o",
                "json",
                "--app",
                "cart",
                "--data-dir",
                &data
            ],
            &[]
        )),
        [2, 4, 6, 8]
    );
}

#[test]
fn remote_mode_prints_what_the_data_directory_prints_for_every_golden_case() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, token_file) = golden_sink(dir.path());
    let data = sink.data_dir.display().to_string();
    let server = format!("http://{}/", sink.addr);
    let token = token_file.display().to_string();
    let cases = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audit/golden/cases.tsv"),
    )
    .unwrap();
    let mut ran = 0;
    for line in cases.lines() {
        let words: Vec<&str> = line.split_once('\t').unwrap().1.split(' ').collect();
        if words[0] != "audit" {
            continue;
        }
        let local = ok(
            dir.path(),
            &[&words[..], &["--data-dir", &data]].concat(),
            &[],
        );
        let remote = ok(
            dir.path(),
            &[&words[..], &["--server", &server, "--token-file", &token]].concat(),
            &[],
        );
        assert_eq!(remote, local, "{words:?}");
        ran += 1;
    }
    assert!(ran >= 15, "{ran}");
    // The same through the environment instead of flags.
    let out = ok(
        dir.path(),
        &["audit", "verify"],
        &[
            ("SLUICE_SERVER", server.as_str()),
            ("SLUICE_TOKEN_FILE", token.as_str()),
        ],
    );
    assert!(out.starts_with("ok: "), "{out}");
}

#[test]
fn remote_mode_says_what_is_wrong_with_the_server_or_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, token_file) = golden_sink(dir.path());
    let server = format!("http://{}", sink.addr);
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "not-the-token").unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let fails = |args: &[&str], code: i32| {
        let out = sluice_in(dir.path(), args, &[]);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        err
    };
    let err = fails(&["audit", "list", "--server", &server], 1);
    assert!(
        err.contains("401: a valid bearer token is required: reads take the sink's read token; reading needs the sink's read token: pass it with --token-file FILE"),
        "{err}"
    );
    let err = fails(
        &[
            "audit",
            "list",
            "--server",
            &server,
            "--token-file",
            wrong.to_str().unwrap(),
        ],
        1,
    );
    assert!(err.contains("401"), "{err}");
    let err = fails(
        &[
            "audit",
            "list",
            "--server",
            &server,
            "--token-file",
            empty.to_str().unwrap(),
        ],
        2,
    );
    assert!(err.contains("the file is empty"), "{err}");
    let err = fails(
        &["audit", "list", "--server", "https://sink.example.com"],
        2,
    );
    assert!(err.contains("plain http://"), "{err}");
    let closed_port = crate::support::ClosedPort::new();
    let closed = format!("http://127.0.0.1:{}", closed_port.port);
    let err = fails(&["audit", "verify", "--server", &closed], 1);
    assert!(err.contains("is the sink reachable"), "{err}");
    // --token-file means nothing without --server.
    let out = sluice_in(
        dir.path(),
        &[
            "audit",
            "list",
            "--token-file",
            token_file.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = fails(
        &[
            "audit",
            "show",
            "CHG-404",
            "--server",
            &server,
            "--token-file",
            token_file.to_str().unwrap(),
        ],
        1,
    );
    assert!(
        err.contains(&format!(
            "no record in {server} mentions change \"CHG-404\""
        )),
        "{err}"
    );
}

#[test]
fn data_dir_comes_from_the_flag_the_environment_or_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("audit.jsonl"), golden_log()).unwrap();
    let by_flag = ok(
        dir.path(),
        &["audit", "verify", "--data-dir", data.to_str().unwrap()],
        &[],
    );
    let by_env = ok(
        dir.path(),
        &["audit", "verify"],
        &[("SLUICE_DATA_DIR", data.to_str().unwrap())],
    );
    assert_eq!(by_flag, by_env);
    assert!(by_flag.starts_with("ok: "), "{by_flag}");
    // Without either, /var/lib/sluice (the sink's volume in the install kit), named in the error.
    let out = sluice_in(dir.path(), &["audit", "verify"], &[]);
    if !Path::new("/var/lib/sluice/audit.jsonl").exists() {
        assert_eq!(out.status.code(), Some(2));
        let err = stderr(&out);
        for named in [
            "/var/lib/sluice",
            "--data-dir",
            "SLUICE_DATA_DIR",
            "--server",
        ] {
            assert!(err.contains(named), "{named}: {err}");
        }
    }
}

#[test]
fn output_formats_of_verify_and_show() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("audit.jsonl"), golden_log()).unwrap();
    let d = data.to_str().unwrap();
    let v: Value = serde_json::from_str(&ok(
        dir.path(),
        &["audit", "verify", "-o", "json", "--data-dir", d],
        &[],
    ))
    .unwrap();
    assert_eq!(v["ok"], true);
    let n = v["records"].as_u64().unwrap();
    assert_eq!(v["head"]["seq"].as_u64(), Some(n));
    assert_eq!(n as usize, crate::support::read_log_lines(&data).len());
    // show -o json: the change's records as the log holds them; yaml the same data, read as YAML 1.1.
    let json = ok(
        dir.path(),
        &["audit", "show", "CHG-1001", "-o", "json", "--data-dir", d],
        &[],
    );
    let records: Value = serde_json::from_str(&json).unwrap();
    assert!(records.as_array().is_some_and(|a| !a.is_empty()));
    for r in records.as_array().unwrap() {
        let concerns = r["changeId"] == "CHG-1001"
            || r["emergency"] == "CHG-1001"
            || r["event"] == "guard-decision";
        assert!(concerns, "{r}");
    }
    let yaml = ok(
        dir.path(),
        &["audit", "show", "CHG-1001", "-o", "yaml", "--data-dir", d],
        &[],
    );
    let read = crate::support::python(
        "import sys, json, yaml\nprint(json.dumps(yaml.safe_load(sys.argv[1])))",
        &[&yaml],
    );
    assert_eq!(serde_json::from_str::<Value>(&read).unwrap(), records);
    let all = ok(
        dir.path(),
        &["audit", "list", "-o", "json", "--data-dir", d],
        &[],
    );
    let yaml = ok(
        dir.path(),
        &["audit", "list", "-o", "yaml", "--data-dir", d],
        &[],
    );
    let read = crate::support::python(
        "import sys, json, yaml\nprint(json.dumps(yaml.safe_load(sys.argv[1])))",
        &[&yaml],
    );
    let (read, all): (Value, Value) = (
        serde_json::from_str(&read).unwrap(),
        serde_json::from_str(&all).unwrap(),
    );
    let (read, all) = (read.as_array().unwrap(), all.as_array().unwrap());
    assert_eq!(read.len(), all.len());
    for (y, j) in read.iter().zip(all) {
        assert!(
            y == j,
            "seq {}: YAML read back as\n{y}\nJSON\n{j}",
            j["seq"]
        );
    }
    let out = sluice_in(
        dir.path(),
        &["audit", "verify", "-o", "csv", "--data-dir", d],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
}
