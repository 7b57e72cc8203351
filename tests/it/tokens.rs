//! Safe by default (docs/audit-log.md, "Tokens"): `serve` does not start without a write token unless
//! `--insecure-no-auth` on loopback (and then warns at every start); the write token only writes
//! events, the read token only reads; a guard Job reports with its projected `ServiceAccount` token,
//! which the sink checks with the Kubernetes `TokenReview` API and binds to its namespace.
//!
//! No Kubernetes API server can run here: the `TokenReview` endpoint is the emulated API server of
//! `tests/it/kube_api.rs`, which answers as `authentication.k8s.io/v1` documents it; every answer it gave
//! is checked against the Kubernetes JSON schema of `TokenReview` (kubernetes-validate, strict).

use crate::kube_api::KubeApi;
use crate::support::{bin, event_body, python, sluice_in, stderr, Sink};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

const WRITE: &str = "wr1te-t0ken";
const READ: &str = "r3ad-t0ken";

#[test]
fn serve_without_a_token_on_every_interface_exits_2_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["serve", "--data-dir", "d"],
        vec!["serve", "--data-dir", "d", "--listen", "0.0.0.0:0"],
        vec!["serve", "--data-dir", "d", "--listen", "127.0.0.1:0"],
    ] {
        let out = sluice_in(dir.path(), &args, &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        for fix in [
            "--token-file FILE",
            "openssl rand -hex 32",
            "--read-token-file",
            "--insecure-no-auth",
        ] {
            assert!(
                err.contains(fix),
                "{args:?}: the message names {fix:?}: {err}"
            );
        }
        assert!(
            !dir.path().join("d").exists(),
            "{args:?}: nothing was created"
        );
    }
    // --insecure-no-auth does not open a sink to the network.
    let out = sluice_in(
        dir.path(),
        &[
            "serve",
            "--data-dir",
            "d",
            "--insecure-no-auth",
            "--listen",
            "0.0.0.0:0",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("only on a loopback address: --listen 127.0.0.1:0"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("d").exists());
}

#[test]
fn insecure_no_auth_on_loopback_starts_and_warns_at_every_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for start in 0..2 {
        // Sink::start without a token passes --insecure-no-auth and a 127.0.0.1 address.
        let mut sink = Sink::start(&data, None);
        let body = event_body(
            "deployed",
            "shop",
            &format!("2026-11-20T10:00:0{start}Z"),
            "r",
            None,
        );
        assert_eq!(
            sink.http("POST", "/v1/events", &[], body.as_bytes()).status,
            201
        );
        assert_eq!(sink.http("GET", "/v1/records", &[], b"").status, 200);
        let log = sink.stderr();
        let warning = log
            .lines()
            .find(|l| l.contains("WARN") && l.contains("--insecure-no-auth"))
            .unwrap_or_else(|| panic!("start {start}: no warning in {log}"));
        assert!(warning.contains("anyone"), "{warning}");
        assert!(log.contains("auth=false"), "{log}");
        assert!(sink.terminate(std::time::Duration::from_secs(20)).is_some());
    }
}

#[test]
fn the_write_token_never_reads_and_the_read_token_never_writes() {
    let dir = tempfile::tempdir().unwrap();
    let read = dir.path().join("read-token");
    std::fs::write(&read, READ).unwrap();
    let sink = Sink::start_with(
        &dir.path().join("data"),
        Some(WRITE),
        &["--read-token-file", read.to_str().unwrap()],
        None,
    );
    let body = event_body("deployed", "shop", "2026-11-20T10:00:00Z", "r", None);
    let bearer = |t: &str| format!("Bearer {t}");
    let w = bearer(WRITE);
    let r = bearer(READ);
    assert_eq!(
        sink.http(
            "POST",
            "/v1/events",
            &[("Authorization", &w)],
            body.as_bytes()
        )
        .status,
        201
    );
    let refused = sink.http(
        "POST",
        "/v1/events",
        &[("Authorization", &r)],
        body.as_bytes(),
    );
    assert_eq!(refused.status, 401);
    assert!(
        refused.body.contains("this is the read token"),
        "{}",
        refused.body
    );
    let refused = sink.http("GET", "/v1/records", &[("Authorization", &w)], b"");
    assert_eq!(refused.status, 401);
    assert!(
        refused
            .body
            .contains("this is the write token: reads need the read token"),
        "{}",
        refused.body
    );
    assert_eq!(
        sink.http("GET", "/v1/records", &[("Authorization", &r)], b"")
            .status,
        200
    );
    // What `sluice audit --server` says when given the write token.
    let token = dir.path().join("given");
    std::fs::write(&token, WRITE).unwrap();
    let out = sluice_in(
        dir.path(),
        &[
            "audit",
            "list",
            "--server",
            &format!("http://{}", sink.addr),
            "--token-file",
            token.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("this is the write token: reads need the read token"),
        "{err}"
    );
    assert!(err.contains("key read-token"), "{err}");
    // Without --read-token-file, reading over HTTP is off (the write token does not stand in).
    let dir2 = tempfile::tempdir().unwrap();
    let sink2 = Sink::start(&dir2.path().join("data"), Some(WRITE));
    let off = sink2.http("GET", "/v1/records", &[("Authorization", &w)], b"");
    assert_eq!(off.status, 403);
    assert!(off.body.contains("--read-token-file"), "{}", off.body);
}

/// The sink with tokens and the guard's `TokenReview` against the emulated API server.
fn guarded_sink(dir: &Path, api: &KubeApi) -> Sink {
    let kubeconfig = dir.join("kubeconfig");
    api.write_kubeconfig(&kubeconfig);
    let read = dir.join("read-token");
    std::fs::write(&read, READ).unwrap();
    Sink::start_with(
        &dir.join("data"),
        Some(WRITE),
        &[
            "--read-token-file",
            read.to_str().unwrap(),
            "--guard-token-review",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ],
        None,
    )
}

fn guard_report(namespace: &str) -> String {
    json!({"app": "shop", "namespace": namespace, "changeId": "CHG-1", "revision": "abc1234",
        "allowed": true, "emergency": null, "reason": "allowed: inside window 0",
        "at": "2026-11-20T09:59:00Z", "active": [0], "windows": ["maintenance"]})
    .to_string()
}

#[test]
fn a_guard_reports_with_its_serviceaccount_token_for_its_own_namespace_only() {
    let dir = tempfile::tempdir().unwrap();
    let api = KubeApi::start();
    let sink = guarded_sink(dir.path(), &api);
    let shop = api.issue_token("shop", "default", "sluice-guard-shop-x7k2p", &["sluice"]);
    let as_shop = format!("Bearer {shop}");
    let auth = [("Authorization", as_shop.as_str())];

    // Its own namespace: recorded.
    let ok = sink.http("POST", "/v1/guard", &auth, guard_report("shop").as_bytes());
    assert_eq!(ok.status, 201, "{}", ok.body);
    // Namespace A's token for an app deployed to namespace B: refused, nothing written.
    let other = sink.http(
        "POST",
        "/v1/guard",
        &auth,
        guard_report("payments").as_bytes(),
    );
    assert_eq!(other.status, 403, "{}", other.body);
    assert!(
        other.body.contains(
            "a hook Job of namespace \\\"shop\\\" may act only for apps deployed to \\\"shop\\\""
        ),
        "{}",
        other.body
    );
    // The guard's token cannot POST /v1/events, nor read.
    let event = event_body("deployed", "shop", "2026-11-20T10:00:00Z", "r", None);
    assert_eq!(
        sink.http("POST", "/v1/events", &auth, event.as_bytes())
            .status,
        401
    );
    assert_eq!(sink.http("GET", "/v1/records", &auth, b"").status, 401);
    // A token for another audience (the API server's own), and one the API server never issued.
    let api_token = api.issue_token("shop", "default", "p", &[crate::kube_api::API_AUDIENCE]);
    for (token, what) in [
        (api_token.as_str(), "audience"),
        ("forged.token.value", "unknown"),
    ] {
        let bearer = format!("Bearer {token}");
        let r = sink.http(
            "POST",
            "/v1/guard",
            &[("Authorization", &bearer)],
            guard_report("shop").as_bytes(),
        );
        assert_eq!(r.status, 401, "{what}: {}", r.body);
    }
    assert_eq!(
        sink.log_lines().len(),
        1,
        "only the report for its own namespace"
    );
    assert!(sink.log_lines()[0].contains("\"namespace\":\"shop\""));
    // The write token of Argo CD Notifications writes events, and no guard decisions here.
    let w = format!("Bearer {WRITE}");
    assert_eq!(
        sink.http(
            "POST",
            "/v1/events",
            &[("Authorization", &w)],
            event.as_bytes()
        )
        .status,
        201
    );
    let as_write = sink.http(
        "POST",
        "/v1/guard",
        &[("Authorization", &w)],
        guard_report("shop").as_bytes(),
    );
    assert_eq!(as_write.status, 401, "{}", as_write.body);
    assert!(!sink.stderr().contains(&shop), "a token is never logged");

    // The sink asked as the API documents it, and every answer is a valid TokenReview.
    let reviews = api.token_reviews();
    assert_eq!(reviews.len(), 4, "one review per guard request");
    for (request, _) in &reviews {
        assert_eq!(request["apiVersion"], "authentication.k8s.io/v1");
        assert_eq!(request["kind"], "TokenReview");
        assert_eq!(request["spec"]["audiences"], json!(["sluice"]));
    }
    assert_eq!(
        reviews[0].1["status"]["user"]["username"],
        "system:serviceaccount:shop:default"
    );
    validate_token_reviews(dir.path(), &reviews);
}

/// Checks the emulated API server's `TokenReviews` (requests and responses) against the Kubernetes JSON
/// schema of `authentication.k8s.io/v1` `TokenReview` (strict: unknown fields are errors).
fn validate_token_reviews(dir: &Path, reviews: &[(Value, Value)]) {
    let file = dir.join("reviews.json");
    let all: Vec<&Value> = reviews.iter().flat_map(|(q, a)| [q, a]).collect();
    std::fs::write(&file, serde_json::to_string(&all).unwrap()).unwrap();
    let out = python(
        "import json, sys, kubernetes_validate\n\
         docs = json.load(open(sys.argv[1]))\n\
         for d in docs:\n\
         \x20   kubernetes_validate.validate(d, '1.33', strict=True)\n\
         print(len(docs))\n",
        &[file.to_str().unwrap()],
    );
    assert_eq!(out.trim(), (reviews.len() * 2).to_string());
    // The control: a field the schema does not have is caught.
    let mut wrong = reviews[0].1.clone();
    wrong["status"]["authenticatedAs"] = json!("x");
    std::fs::write(&file, serde_json::to_string(&[wrong]).unwrap()).unwrap();
    let refused = Command::new("python3")
        .args(["-c", "import json, sys, kubernetes_validate\nkubernetes_validate.validate(json.load(open(sys.argv[1]))[0], '1.33', strict=True)", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "the schema check accepts anything"
    );
}

/// The real guard binary, as its Job runs it: the projected token file, the report URL of the policy.
#[test]
fn the_guard_binary_reports_with_the_token_file_of_its_job() {
    let dir = tempfile::tempdir().unwrap();
    let api = KubeApi::start();
    let sink = guarded_sink(dir.path(), &api);
    let token_file = dir.path().join("token");
    std::fs::write(
        &token_file,
        api.issue_token("shop", "default", "sluice-guard-shop-1", &["sluice"]),
    )
    .unwrap();
    let policy =
        json!({"windows": [], "guard": {"report": format!("http://{}/v1/guard", sink.addr)}})
            .to_string();
    let guard = |namespace: &str| {
        Command::new(bin())
            .arg("guard")
            .env_clear()
            .env("SLUICE_GUARD_POLICY", &policy)
            .env("SLUICE_APP", "shop")
            .env("SLUICE_NAMESPACE", namespace)
            .env("SLUICE_REVISION", "abc1234")
            .env("SLUICE_REPORT_TOKEN_FILE", &token_file)
            .output()
            .unwrap()
    };
    let out = guard("shop");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(sink.log_lines().len(), 1, "{}", stderr(&out));
    // The same Job's token for another namespace's app: the sink refuses, the guard logs it and still
    // decides (a failed report never fails the guard).
    let out = guard("payments");
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("403"), "{}", stderr(&out));
    assert_eq!(sink.log_lines().len(), 1);
}

/// The verify hook's verdict (`POST /v1/verifications`), as `sluice verify` sends it.
fn verification_report(namespace: &str) -> String {
    json!({"app": "shop", "namespace": namespace, "changeId": "CHG-1", "revision": "abc1234",
        "final": true, "verification": {"verdict": "Successful", "reason": "every check passed",
            "onFailure": "record", "within": "5m", "startedAt": "2026-11-20T10:05:00Z",
            "finishedAt": "2026-11-20T10:06:00Z", "checks": []}})
    .to_string()
}

/// The other routes hook Jobs call are scoped as `/v1/guard` is: the guard's question
/// (`POST /v1/decide`, issue 24/26) and the verify hook's verdict (`POST /v1/verifications`, issue 22)
/// take a Job's token only for its own namespace; a review (`POST /v1/reviews`) is a person's, with the
/// write token; the log's checkpoint and tiles (`GET /v1/log/…`, issue 20) take the read token.
#[test]
fn the_hook_routes_take_a_jobs_token_for_its_own_namespace_only() {
    let dir = tempfile::tempdir().unwrap();
    let api = KubeApi::start();
    let sink = guarded_sink(dir.path(), &api);
    let verify = api.issue_token("shop", "shop-sluice-verify", "shop-verify-9x2", &["sluice"]);
    let as_verify = format!("Bearer {verify}");
    let auth = [("Authorization", as_verify.as_str())];

    // The verdict for its own namespace is recorded; for another namespace's app it is refused.
    let ok = sink.http(
        "POST",
        "/v1/verifications",
        &auth,
        verification_report("shop").as_bytes(),
    );
    assert_eq!(ok.status, 201, "{}", ok.body);
    let other = sink.http(
        "POST",
        "/v1/verifications",
        &auth,
        verification_report("payments").as_bytes(),
    );
    assert_eq!(other.status, 403, "{}", other.body);
    assert!(
        other.body.contains("may act only for apps deployed to"),
        "{}",
        other.body
    );
    assert_eq!(
        sink.log_lines().len(),
        1,
        "only the verdict for its own namespace"
    );
    assert!(sink.log_lines()[0].contains("\"event\":\"verification\""));

    // The guard's question: refused for another namespace before anything is decided; for its own
    // namespace it passes the check and is read (this one lacks the window decision: 400, not 401 or
    // 403, and no Git host is asked).
    let question = |namespace: &str| {
        json!({"app": "shop", "namespace": namespace, "project": "default", "clusters": [],
            "revision": "abc1234", "approvals": {"required": 1}})
        .to_string()
    };
    let refused = sink.http("POST", "/v1/decide", &auth, question("payments").as_bytes());
    assert_eq!(refused.status, 403, "{}", refused.body);
    let passed = sink.http("POST", "/v1/decide", &auth, question("shop").as_bytes());
    assert_eq!(passed.status, 400, "{}", passed.body);
    assert!(passed.body.contains("window"), "{}", passed.body);
    // The write token does not ask for a guard here (guard tokens are reviewed).
    let w = format!("Bearer {WRITE}");
    let write = [("Authorization", w.as_str())];
    assert_eq!(
        sink.http("POST", "/v1/decide", &write, question("shop").as_bytes())
            .status,
        401
    );
    assert_eq!(
        sink.http(
            "POST",
            "/v1/verifications",
            &write,
            verification_report("shop").as_bytes()
        )
        .status,
        401
    );

    // A review is not a Job's to record: its token is refused; the write token gets past the check
    // (this sink records no reviews: 404).
    let review = json!({"changeId": "CHG-9", "by": "bo", "note": "checked"}).to_string();
    let by_job = sink.http("POST", "/v1/reviews", &auth, review.as_bytes());
    assert_eq!(by_job.status, 401, "{}", by_job.body);
    assert_eq!(
        sink.http("POST", "/v1/reviews", &write, review.as_bytes())
            .status,
        404
    );

    // The log's checkpoint: the read token only (404: none signed yet).
    let r = format!("Bearer {READ}");
    assert_eq!(
        sink.http("GET", "/v1/log/checkpoint", &[("Authorization", &r)], b"")
            .status,
        404
    );
    for who in [&w, &as_verify] {
        assert_eq!(
            sink.http("GET", "/v1/log/checkpoint", &[("Authorization", who)], b"")
                .status,
            401
        );
    }
    assert_eq!(sink.log_lines().len(), 1, "nothing else was written");
    validate_token_reviews(dir.path(), &api.token_reviews());
}

/// The real verify binary, as its Job runs it: the projected token file, read for every report.
#[test]
fn the_verify_binary_reports_with_the_token_file_of_its_job() {
    let dir = tempfile::tempdir().unwrap();
    let api = KubeApi::start();
    let sink = guarded_sink(dir.path(), &api);
    let token_file = dir.path().join("token");
    std::fs::write(
        &token_file,
        api.issue_token("shop", "shop-sluice-verify", "shop-verify-1", &["sluice"]),
    )
    .unwrap();
    // One check that cannot reach its URL (port 9: nothing listens): an Error verdict, recorded.
    let policy = r#"{"within":"1m","onFailure":"record","checks":[{"name":"up","http":{"url":"http://127.0.0.1:9/"},"count":1,"consecutiveErrorLimit":0}]}"#;
    let verify = |namespace: &str| {
        Command::new(bin())
            .arg("verify")
            .env_clear()
            .env("SLUICE_VERIFY_POLICY", policy)
            .env("SLUICE_APP", "shop")
            .env("SLUICE_NAMESPACE", namespace)
            .env("SLUICE_COMMIT", "abc1234")
            .env("SLUICE_SINK_URL", format!("http://{}", sink.addr))
            .env("SLUICE_REPORT_TOKEN_FILE", &token_file)
            .output()
            .unwrap()
    };
    let out = verify("shop");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(sink.log_lines().len(), 1, "{}", stderr(&out));
    assert!(sink.log_lines()[0].contains("\"event\":\"verification\""));
    // The same Job's token for another namespace's app: refused, nothing recorded.
    let out = verify("payments");
    assert!(stderr(&out).contains("403"), "{}", stderr(&out));
    assert_eq!(sink.log_lines().len(), 1);
}
