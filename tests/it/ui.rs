//! The sink's read side for people (docs/ui.md), over real HTTP on 127.0.0.1: the Argo CD extension's
//! API as Argo CD's proxy extension calls it, and the auditor's pages. The fixture log
//! (tests/fixtures/ui/records.json) is chained here the way the sink writes it, and `audit verify`
//! checks it before the sink serves it. The browser tests (`tests/it/ui_browser.rs`) use the same setup.

use crate::support::{http, sluice_in, stdout, Resp, Sink};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The write token, the read token and the proxy's secret of the fixture sink: each a sentinel that
/// no page or answer may contain.
pub const WRITE_TOKEN: &str = "sentinel-write-token-7c1e55d0a4";
pub const READ_TOKEN: &str = "sentinel-read-token-3b9f02e6c8";
pub const PROXY_SECRET: &str = "sentinel-proxy-secret-91d4a7f3e2";
/// A secret in the Helm values of a delivered Application (the sink drops the body).
pub const VALUES_SECRET: &str = "sentinel-helm-password-5e8a1c9b70";

/// The canonical bytes of a value (docs/audit-log.md): keys sorted, no whitespace; the fixture holds
/// ASCII text without control characters and safe integers only, where `serde_json`'s compact form is it.
fn canonical(v: &Value) -> String {
    let mut v = v.clone();
    v.sort_all_objects();
    serde_json::to_string(&v).expect("json")
}

/// Writes the fixture records as `DIR/audit.jsonl`, chained, and checks it with `audit verify`.
pub fn fixture_log(dir: &Path) {
    let text = std::fs::read_to_string(
        crate::support::project_root().join("tests/fixtures/ui/records.json"),
    )
    .expect("tests/fixtures/ui/records.json");
    let records: Vec<Map<String, Value>> = serde_json::from_str(&text).expect("fixture JSON");
    assert!(records.len() >= 6, "the fixture lost records");
    let mut prev = "0".repeat(64);
    let mut out = String::new();
    for (i, mut r) in records.into_iter().enumerate() {
        r.insert("seq".into(), (i as u64 + 1).into());
        r.insert("prev".into(), prev.clone().into());
        let body = canonical(&Value::Object(r.clone()));
        let hash = hex(&Sha256::digest(format!("{prev}{body}").as_bytes()));
        r.insert("hash".into(), hash.clone().into());
        out.push_str(&canonical(&Value::Object(r)));
        out.push('\n');
        prev = hash;
    }
    std::fs::create_dir_all(dir).expect("data dir");
    std::fs::write(dir.join("audit.jsonl"), out).expect("write log");
    let verify = sluice_in(dir, &["audit", "verify", "--data-dir", "."], &[]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    // Every fixture record fits the typed model (the audit commands read them all).
    let list = sluice_in(
        dir,
        &["audit", "list", "--data-dir", ".", "-o", "json"],
        &[],
    );
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    assert!(stdout(&list).contains("CHG-1400"));
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A sink over the fixture log with the write token, the read token and the proxy's secret, and one
/// more sync delivered through the webhook with a secret in its Helm values.
pub fn fixture_sink(dir: &Path) -> Sink {
    let data = dir.join("data");
    fixture_log(&data);
    let read = dir.join("read-token");
    let proxy = dir.join("proxy-secret");
    std::fs::write(&read, format!("{READ_TOKEN}\n")).expect("write");
    std::fs::write(&proxy, format!("{PROXY_SECRET}\n")).expect("write");
    let sink = Sink::start_with(
        &data,
        Some(WRITE_TOKEN),
        &[
            "--read-token-file",
            read.to_str().expect("utf-8"),
            "--ui-proxy-secret-file",
            proxy.to_str().expect("utf-8"),
        ],
        None,
    );
    let body = crate::support::event_body(
        "sync-succeeded",
        "web",
        "2026-12-01T10:00:00Z",
        "5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f",
        Some("CHG-1500: rotate the session key\n\nApproved-by: Bob <bob@example.com>"),
    )
    .replace("hunter2", VALUES_SECRET);
    let auth = format!("Bearer {WRITE_TOKEN}");
    let r = sink.http(
        "POST",
        "/v1/events",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    sink
}

/// A request as Argo CD's proxy forwards it: the secret it adds, and the app headers the UI sent.
pub fn proxied(sink: &Sink, path: &str, app: &str, project: &str) -> Resp {
    http(
        &sink.addr,
        "GET",
        path,
        &[
            ("Sluice-Proxy-Secret", PROXY_SECRET),
            ("Argocd-Application-Name", app),
            ("Argocd-Project-Name", project),
            ("Argocd-Username", "alice"),
        ],
        b"",
    )
}

fn read_auth() -> String {
    format!("Bearer {READ_TOKEN}")
}

#[test]
fn ui_api_refuses_without_the_proxy_secret_and_never_answers_for_another_app() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sink = fixture_sink(tmp.path());
    let path = "/v1/ui/apps/argocd/shop/changes";
    let app = [
        ("Argocd-Application-Name", "argocd:shop"),
        ("Argocd-Project-Name", "web"),
    ];
    // No secret; the write token; the read token: all refused, and nothing of the app is in the answer.
    let write = format!("Bearer {WRITE_TOKEN}");
    for extra in [
        None,
        Some(("Authorization", write.as_str())),
        Some(("Authorization", "Bearer sentinel-read-token-3b9f02e6c8")),
        Some(("Sluice-Proxy-Secret", WRITE_TOKEN)),
    ] {
        let mut h = app.to_vec();
        h.extend(extra);
        let r = http(&sink.addr, "GET", path, &h, b"");
        assert_eq!(r.status, 401, "{extra:?}: {}", r.body);
        assert!(!r.body.contains("CHG-"), "{}", r.body);
    }
    // The proxy authorised the user for cart; the URL asks for shop: refused, nothing of shop.
    let r = proxied(&sink, path, "argocd:cart", "web");
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(!r.body.contains("CHG-"), "{}", r.body);
    // Another namespace's app of the same name: its records are not shop's.
    let r = proxied(&sink, path, "argocd:shop", "web");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        !r.body.contains("CHG-9999") && !r.body.contains("mallory"),
        "team-b's shop leaked: {}",
        r.body
    );
    let r = proxied(
        &sink,
        "/v1/ui/apps/team-b/shop/changes",
        "team-b:shop",
        "other",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let ids: Vec<&str> = v["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["changeId"].as_str())
        .collect();
    assert!(ids.contains(&"CHG-9999"), "{ids:?}");
    assert!(
        !ids.contains(&"CHG-1234") && !ids.contains(&"CHG-1500"),
        "{ids:?}"
    );
    // A sink without the secret file: the API is off.
    let tmp2 = tempfile::tempdir().expect("tmp");
    fixture_log(tmp2.path());
    let off = Sink::start(tmp2.path(), Some(WRITE_TOKEN));
    let r = proxied(&off, path, "argocd:shop", "web");
    assert_eq!(r.status, 404, "{}", r.body);
}

#[test]
fn ui_api_gives_the_current_change_and_the_history_with_every_evidence_field() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sink = fixture_sink(tmp.path());
    // CHG-1234 is shop's newest change (CHG-1500 is another app's).
    let status = proxied(
        &sink,
        "/v1/ui/apps/argocd/shop/status",
        "argocd:shop",
        "web",
    )
    .json();
    assert_eq!(status["current"]["changeId"], "CHG-1234", "{status:#}");
    assert!(
        status["current"].get("records").is_none(),
        "the status has no records: {status:#}"
    );
    let history = proxied(
        &sink,
        "/v1/ui/apps/argocd/shop/changes?limit=50",
        "argocd:shop",
        "web",
    )
    .json();
    let changes = history["changes"].as_array().expect("changes");
    let ids: Vec<&str> = changes
        .iter()
        .filter_map(|c| c["changeId"].as_str())
        .collect();
    assert_eq!(ids, ["CHG-1234", "CHG-1200"], "newest first");
    let c = &changes[0];
    assert_eq!(
        c["status"]["line"], "CHG-1234 · approved 2/2 · window open · backup Succeeded",
        "{c:#}"
    );
    assert_eq!(c["status"]["red"], false);
    assert_eq!(c["approvals"]["verified"], true);
    let logins: Vec<&str> = c["approvals"]["approvers"]
        .as_array()
        .expect("approvers")
        .iter()
        .map(|a| a["login"].as_str().expect("login"))
        .collect();
    assert_eq!(logins, ["bob", "carol"]);
    assert_eq!(c["approvals"]["dismissed"][0]["login"], "dave");
    assert_eq!(
        c["approvals"]["snapshotDigest"],
        "5d41402abc4b2a76b9719d911017c592ae4f0b1f1ab2c3d4e5f60718293a4b5c"
    );
    assert_eq!(
        c["window"]["reason"],
        "inside window 0 (Tue/Thu maintenance)"
    );
    assert_eq!(c["backup"]["name"], "pre-change-shop-x7k2p");
    assert_eq!(c["migrations"], "Succeeded");
    assert_eq!(c["rollback"][0], "argocd app rollback shop 6");
    assert_eq!(
        c["rollback"][1],
        "velero restore create --from-backup pre-change-shop-x7k2p"
    );
    // Every record whole: each member of each fixture record is in the answer.
    let records = c["records"].as_array().expect("records");
    assert_eq!(records.len(), 2);
    let guard = records
        .iter()
        .find(|r| r["event"] == "guard-decision")
        .expect("guard decision");
    assert_eq!(
        guard["approval"]["rulesInForce"]["required_approving_review_count"],
        2
    );
    assert_eq!(
        guard["windows"][0],
        "Tue/Thu maintenance window 02:00-06:00 Europe/Berlin"
    );
    // Paging: the first record of the app, then the next page after it.
    let first = proxied(
        &sink,
        "/v1/ui/apps/argocd/shop/changes?limit=1&after=0",
        "argocd:shop",
        "web",
    )
    .json();
    assert_eq!(first["page"]["records"], 1);
    assert_eq!(first["changes"][0]["changeId"], "CHG-1200");
    let next = first["page"]["next"].as_str().expect("next cursor");
    let second = proxied(
        &sink,
        &format!("/v1/ui/apps/argocd/shop/changes?{next}"),
        "argocd:shop",
        "web",
    )
    .json();
    assert_eq!(second["changes"][0]["changeId"], "CHG-1234", "{second:#}");
    // Red: an unapproved change, and a failed verification.
    let cart = proxied(
        &sink,
        "/v1/ui/apps/argocd/cart/status",
        "argocd:cart",
        "web",
    )
    .json();
    assert_eq!(cart["current"]["status"]["red"], true);
    assert_eq!(cart["current"]["status"]["findings"][0], "unapproved");
    let billing = proxied(
        &sink,
        "/v1/ui/apps/argocd/billing/status",
        "argocd:billing",
        "finance",
    )
    .json();
    assert_eq!(
        billing["current"]["status"]["findings"][0], "verification-failed",
        "{billing:#}"
    );
    assert_eq!(
        billing["current"]["verification"]["checks"][0]["name"],
        "error-rate"
    );
    let bad = proxied(
        &sink,
        "/v1/ui/apps/argocd/shop/changes?limit=0",
        "argocd:shop",
        "web",
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
}

#[test]
fn auditor_page_lists_a_period_with_exceptions_first_and_opens_a_change() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sink = fixture_sink(tmp.path());
    let auth = read_auth();
    let get = |path: &str| http(&sink.addr, "GET", path, &[("Authorization", &auth)], b"");
    let denied = http(&sink.addr, "GET", "/audit", &[], b"");
    assert_eq!(denied.status, 401);
    assert!(denied
        .headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("www-authenticate") && v.starts_with("Basic")));
    // Basic with the read token as password (what a browser sends).
    let basic = http(
        &sink.addr,
        "GET",
        "/audit",
        &[(
            "Authorization",
            "Basic YXVkaXRvcjpzZW50aW5lbC1yZWFkLXRva2VuLTNiOWYwMmU2Yzg=",
        )],
        b"",
    );
    assert_eq!(basic.status, 200, "{}", basic.body);
    let page = get("/audit?from=2026-11-20&to=2026-11-21");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("CHG-1234") && page.body.contains("CHG-1300"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("CHG-1200") && !page.body.contains("CHG-1400"),
        "outside the period: {}",
        page.body
    );
    let exceptions = page
        .body
        .find("id=\"exceptions\"")
        .expect("exceptions section");
    let changes = page.body.find("id=\"changes\"").expect("changes section");
    assert!(exceptions < changes, "the exceptions come first");
    assert!(page.body[exceptions..changes].contains("unapproved"));
    assert!(
        !page.body.contains("<script") && !page.body.contains("src=\"http"),
        "no script, no external asset"
    );
    // By person: a Git host approver; by app; by change id.
    let carol = get("/audit?person=carol");
    assert!(
        carol.body.contains("CHG-1234") && !carol.body.contains("CHG-1300"),
        "{}",
        carol.body
    );
    let cart = get("/audit?app=cart");
    assert!(
        cart.body.contains("/audit/change/CHG-1300\"")
            && !cart.body.contains("/audit/change/CHG-1234\""),
        "{}",
        cart.body
    );
    let bad = get("/audit?from=yesterday");
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("is not a day"));
    // The change page: every evidence field.
    let change = get("/audit/change/CHG-1234");
    assert_eq!(change.status, 200);
    for field in [
        "approved 2/2",
        "bob",
        "carol",
        "dave",
        "stale after a push",
        "inside window 0",
        "pre-change-shop-x7k2p",
        "Succeeded",
        "argocd app rollback shop 6",
        "velero restore create --from-backup pre-change-shop-x7k2p",
        "5d41402abc4b2a76b9719d911017c592ae4f0b1f1ab2c3d4e5f60718293a4b5c",
        "https://github.com/example/gitops/pull/412",
        "Bob Reviewer",
        "staging 2026-11-18",
        "no signed checkpoint yet",
        "@page{size:A4",
    ] {
        assert!(
            change.body.contains(&crate::ui::html_text(field)),
            "{field} missing from the change page"
        );
    }
    let billing = get("/audit/change/CHG-1400");
    assert!(
        billing.body.contains("verification-failed") && billing.body.contains("0.31 &gt; 0.05"),
        "{}",
        billing.body
    );
    let export = get("/audit/records.json?app=shop");
    assert_eq!(export.status, 200);
    assert_eq!(export.json().as_array().map(Vec::len), Some(4));
    assert_eq!(get("/audit/change/CHG-0000").status, 404);
    assert_eq!(get("/audit/change/").status, 404);
}

/// Text as the pages escape it.
pub fn html_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The sentinel scan (as `tests/it/diff_secrets.rs` does for `sluice diff`): no token, no proxy secret and
/// no secret of a delivered Application appears in any page or answer of the read side.
pub fn assert_no_sentinel(what: &str, text: &str) {
    for sentinel in [
        WRITE_TOKEN,
        READ_TOKEN,
        PROXY_SECRET,
        VALUES_SECRET,
        "hunter2",
    ] {
        assert!(
            !text.contains(sentinel),
            "{what} holds the secret {sentinel}"
        );
    }
}

#[test]
fn no_secret_appears_in_any_page_or_answer() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sink = fixture_sink(tmp.path());
    let auth = read_auth();
    let mut pages = vec![
        "/audit".to_owned(),
        "/audit?person=a".to_owned(),
        "/audit/records.json".to_owned(),
        "/audit/change/CHG-1500".to_owned(),
        "/audit/change/CHG-1234".to_owned(),
        "/audit/nothing".to_owned(),
    ];
    for p in &pages {
        let r = http(&sink.addr, "GET", p, &[("Authorization", &auth)], b"");
        assert_no_sentinel(p, &format!("{:?}{}", r.headers, r.body));
    }
    pages.clear();
    for app in ["shop", "cart", "billing", "web"] {
        for what in ["status", "changes"] {
            let r = proxied(
                &sink,
                &format!("/v1/ui/apps/argocd/{app}/{what}"),
                &format!("argocd:{app}"),
                "web",
            );
            assert_eq!(r.status, 200);
            assert_no_sentinel(app, &format!("{:?}{}", r.headers, r.body));
        }
    }
    let refused = http(
        &sink.addr,
        "GET",
        "/audit",
        &[("Authorization", &format!("Bearer {WRITE_TOKEN}x"))],
        b"",
    );
    assert_no_sentinel(
        "a refusal",
        &format!("{:?}{}", refused.headers, refused.body),
    );
    assert_no_sentinel("the sink's log", &sink.stderr());
}

/// argocd-cm-patch/ui on the stand-in upstream install, as docs/install.md has users write it: valid
/// objects, the installer init container sharing /tmp/extensions/ with argocd-server, the proxy
/// extension pointing at the sink's Service with the secret from argocd-secret, the RBAC line, the
/// proxy turned on, and the sink reading the same secret and admitting argocd-server.
#[test]
fn the_ui_component_installs_the_extension_the_proxy_and_the_rbac_line() {
    use crate::install::{kustomize, object, validate, yaml_docs};
    let dir = crate::install::fixtures().join("ui-overlay");
    let objs = yaml_docs(&kustomize(&dir));
    let (report, ok) = validate(&objs);
    assert!(ok, "objects invalid: {report:#}");
    let server = &object(&objs, "Deployment", "argocd-server")["spec"]["template"]["spec"];
    let init = server["initContainers"]
        .as_array()
        .expect("init containers")
        .iter()
        .find(|c| c["name"] == "sluice-extension")
        .expect("installer");
    let env = |name: &str| {
        init["env"]
            .as_array()
            .expect("env")
            .iter()
            .find(|e| e["name"] == name)
            .map(|e| e["value"].clone())
    };
    assert_eq!(env("EXTENSION_NAME"), Some(json!("sluice")));
    assert!(
        env("EXTENSION_URL").and_then(|v| v.as_str().map(|s| s.ends_with("/extension-sluice.tar")))
            == Some(true)
    );
    assert!(
        env("EXTENSION_CHECKSUM_URL").is_some(),
        "the download is checked"
    );
    let mount = |c: &Value| {
        c["volumeMounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .any(|m| m["name"] == "sluice-extensions" && m["mountPath"] == "/tmp/extensions/")
    };
    assert!(mount(init));
    let main = server["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .find(|c| c["name"] == "argocd-server")
        .expect("server");
    assert!(mount(main), "argocd-server reads what the installer wrote");
    let params = object(&objs, "ConfigMap", "argocd-cmd-params-cm");
    assert_eq!(params["data"]["server.enable.proxy.extension"], "true");
    let cm = object(&objs, "ConfigMap", "argocd-cm");
    let config = yaml_docs(
        cm["data"]["extension.config.sluice"]
            .as_str()
            .expect("extension.config.sluice"),
    );
    let service = &config[0]["services"][0];
    assert_eq!(service["url"], "http://sluice-sink:8080");
    assert_eq!(service["headers"][0]["name"], "Sluice-Proxy-Secret");
    let key = service["headers"][0]["value"]
        .as_str()
        .expect("header value")
        .strip_prefix('$')
        .expect("a reference to argocd-secret");
    let argocd_secret = object(&objs, "Secret", "argocd-secret");
    assert!(
        argocd_secret["data"][key].is_string(),
        "argocd-secret has no {key}"
    );
    let rbac = object(&objs, "ConfigMap", "argocd-rbac-cm");
    assert!(rbac["data"]["policy.sluice.csv"]
        .as_str()
        .expect("policy")
        .contains("p, role:readonly, extensions, invoke, sluice, allow"));
    let svc = object(&objs, "Service", "sluice-sink");
    assert_eq!(svc["spec"]["ports"][0]["port"], 8080);
    let sink = &object(&objs, "StatefulSet", "sluice-sink")["spec"]["template"]["spec"];
    let container = &sink["containers"][0];
    assert!(container["env"]
        .as_array()
        .expect("env")
        .iter()
        .any(
            |e| e["name"] == "SLUICE_UI_PROXY_SECRET_FILE" && e["value"] == "/etc/sluice-ui/secret"
        ));
    let volume = sink["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == "ui-proxy-secret")
        .expect("volume");
    let secret_name = volume["secret"]["secretName"].as_str().expect("secret");
    // The generated Secret (hash suffix) is the one mounted, and holds the same value as argocd-secret's key.
    let sink_secret = objs
        .iter()
        .find(|o| o["kind"] == "Secret" && o["metadata"]["name"] == secret_name)
        .expect("the mounted Secret is built");
    assert_eq!(
        sink_secret["data"]["secret"], argocd_secret["data"][key],
        "the proxy and the sink share one secret"
    );
    let np = object(&objs, "NetworkPolicy", "sluice-sink");
    assert!(np["spec"]["ingress"]
        .as_array()
        .expect("ingress")
        .iter()
        .any(
            |i| i["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
                == "argocd-server"
        ));
}
