//! Integration tests: habits every command shares. A reader that goes away (`| head -1`) ends a
//! command quietly with exit 0, never a "failed printing to stdout" panic; a stderr that cannot be
//! written never kills a command or a sink worker.

use crate::support::{bin, event_body, project_root, stderr, stdout, Sink};
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// A pipe whose reading end is already closed: every write to it fails with EPIPE, as when
/// `head -1` has exited. Deterministic, unlike racing a real `head`.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    Stdio::from(writer)
}

/// Runs `sluice ARGS` in `dir` with stdout on a closed pipe and stderr captured.
fn with_closed_stdout(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(closed_pipe())
        .stderr(Stdio::piped())
        .output()
        .expect("run sluice")
}

fn assert_quiet_success(out: &Output, what: &str) {
    let err = stderr(out);
    assert!(!err.contains("panicked"), "{what}: {err}");
    assert_eq!(out.status.code(), Some(0), "{what}: {err}");
    assert!(!err.contains("Broken pipe"), "{what}: {err}");
}

/// A small log written by a real sink.
fn log_of(dir: &Path, records: usize) -> String {
    let data = dir.join("data");
    let sink = Sink::start(&data, None);
    for i in 0..records {
        let body = event_body(
            "sync-succeeded",
            "shop",
            &format!("2026-11-20T10:{:02}:{:02}Z", i / 60, i % 60),
            &format!("rev{i:04}"),
            Some(&format!(
                "CHG-{}: change {i}\n\nApproved-by: bob\n",
                100 + i % 3
            )),
        );
        let r = sink.http("POST", "/v1/events", &[], body.as_bytes());
        assert_eq!(r.status, 201, "{}", r.body);
    }
    data.display().to_string()
}

#[test]
fn audit_commands_end_quietly_when_stdout_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let data = log_of(dir.path(), 3);
    for args in [
        vec!["audit", "list", "--data-dir", &data],
        vec!["audit", "list", "--data-dir", &data, "--format", "json"],
        vec!["audit", "verify", "--data-dir", &data],
        vec!["audit", "show", "--data-dir", &data, "CHG-100"],
    ] {
        let out = with_closed_stdout(dir.path(), &args);
        assert_quiet_success(&out, &args.join(" "));
    }
}

#[test]
fn render_ends_quietly_when_stdout_is_closed() {
    let shop = project_root().join("examples/shop");
    let out = with_closed_stdout(
        project_root(),
        &[
            "render",
            shop.to_str().unwrap(),
            "--env",
            "ARGOCD_APP_NAME=shop",
            "--env",
            "ARGOCD_APP_NAMESPACE=shop",
            "--env",
            "SLUICE_IMAGE=ghcr.io/example/sluice:0.1.0",
        ],
    );
    assert_quiet_success(&out, "render");
}

#[test]
fn window_check_ends_quietly_when_stdout_is_closed_allowed_or_blocked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".sluice.yaml"),
        "apiVersion: sluice.io/v1alpha1\nkind: ChangePolicy\nwindows:\n  - kind: allow\n    schedule: '0 2 * * 2'\n    duration: 4h\n    applications: ['*']\n",
    )
    .unwrap();
    for at in ["2026-11-24T03:00:00Z", "2026-11-23T10:00:00Z"] {
        let out = with_closed_stdout(
            dir.path(),
            &[
                "window",
                "check",
                "--policy",
                ".sluice.yaml",
                "--app",
                "shop",
                "--at",
                at,
            ],
        );
        assert_quiet_success(&out, at);
    }
}

#[test]
fn a_blocked_guard_still_fails_when_stdout_is_closed() {
    // The guard's exit code is what stops the sync: a closed stdout must not turn "blocked" into 0.
    let policy = r#"{"windows":[{"kind":"deny","schedule":"* * * * *","duration":"1h","applications":["*"]}]}"#;
    let out = Command::new(bin())
        .arg("guard")
        .env_clear()
        .env("SLUICE_GUARD_POLICY", policy)
        .env("SLUICE_APP", "shop")
        .stdin(Stdio::null())
        .stdout(closed_pipe())
        .stderr(Stdio::piped())
        .output()
        .expect("run sluice guard");
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("blocked: deny window"), "{err}");
}

#[test]
fn audit_list_piped_into_head_exits_zero() {
    // The shell pipeline of the issue, for real: enough records that the table outgrows the pipe
    // buffer, so `sluice` is still writing when `head` exits.
    let dir = tempfile::tempdir().unwrap();
    let data = log_of(dir.path(), 80);
    let script = format!(
        "\"$0\" audit list --data-dir '{data}' --format json | head -c 10; echo; echo \"status=${{PIPESTATUS[0]}}\""
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .arg(bin())
        .output()
        .expect("bash");
    let text = stdout(&out);
    assert!(
        text.trim_end().ends_with("status=0"),
        "{text}\n{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

#[test]
fn a_command_whose_stderr_is_closed_keeps_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .current_dir(dir.path())
        .args(["window", "check", "--policy", "missing.yaml"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(closed_pipe())
        .output()
        .expect("run sluice");
    // 2: the policy is missing. A panic while printing the error would exit 101.
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn sink_with_a_closed_stderr_answers_more_requests_than_it_has_workers() {
    // Each request is logged; with stderr gone, logging must not panic and kill the worker.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = Command::new(bin())
        .args([
            "serve",
            "--insecure-no-auth",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
            "--workers",
            "2",
        ])
        .env("SLUICE_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(closed_pipe())
        .spawn()
        .expect("spawn sluice serve");
    let port = crate::support::listening_port(&mut child).expect("the sink listens");
    let addr = format!("127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while crate::support::try_http(&addr, "GET", "/healthz", &[], b"").is_err() {
        assert!(std::time::Instant::now() < deadline, "sink did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for i in 0..12 {
        let body = event_body(
            "deployed",
            "shop",
            &format!("2026-11-20T10:00:{i:02}Z"),
            &format!("rev{i}"),
            None,
        );
        let r = crate::support::try_http(&addr, "POST", "/v1/events", &[], body.as_bytes())
            .unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(r.status, 201, "request {i}: {}", r.body);
    }
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "the sink exited"
    );
    let _ = child.kill();
    let _ = child.wait();
}
