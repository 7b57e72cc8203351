//! The Argo CD extension and the auditor's pages in a real browser: Debian's chromium, driven through
//! its chromedriver (W3C `WebDriver` over HTTP on 127.0.0.1). Argo CD cannot run here, so
//! ui/test/argocd.mjs emulates what argocd-server does for an extension (serveExtensions pastes each
//! file inside `try { }`; the proxy extension checks the session and the app headers, strips the prefix
//! and adds the shared secret), and ui/test/host.tsx gives the extension what Argo CD's UI gives it
//! (React, react-dom without `render`, window.extensionsAPI, the props of each kind of view). The
//! extension is the file `npm ci && npm run build` made in ui/dist (tests/run does that). Each view is
//! screenshotted into target/ui-screenshots/ (`BLESS=1` copies them to docs/images/, refused under CI),
//! checked with axe-core, and scanned for the secrets of the fixture sink.

use crate::support::{http, project_root};
use crate::ui::{assert_no_sentinel, fixture_sink, PROXY_SECRET, READ_TOKEN};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The session cookie the emulated Argo CD accepts, and its user's grants.
const SESSION: &str = "session-of-alice";

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cmd` and reads its stdout until a line contains `marker`; the child and that line.
fn start_until(mut cmd: Command, marker: &str) -> (Killed, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{cmd:?}: {e} (tests/run installs chromium, chromium-driver and node)")
        });
    let stdout = child.stdout.take().expect("stdout");
    let child = Killed(child);
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.expect("read stdout");
        if line.contains(marker) {
            // Keep reading in the background so that the child never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return (child, line);
        }
    }
    panic!("{cmd:?} ended before printing {marker:?}");
}

fn ui_dir() -> PathBuf {
    project_root().join("ui")
}

/// The built extension; fails with the command to run when it is missing.
fn built_extension() -> PathBuf {
    let dist = ui_dir().join("dist");
    for file in [
        "extension-sluice.js",
        "extension-sluice.tar",
        "host.js",
        "axe.min.js",
    ] {
        assert!(
            dist.join(file).is_file(),
            "ui/dist/{file} is missing: run tests/run, or (cd ui && npm ci && npm run build)"
        );
    }
    dist
}

/// A `WebDriver` session of chromium.
struct Browser {
    addr: String,
    session: String,
    _driver: Killed,
}

impl Browser {
    fn start() -> Browser {
        let mut cmd = Command::new("chromedriver");
        cmd.arg("--port=0");
        let (driver, line) = start_until(cmd, "started successfully on port");
        let port = line
            .trim_end_matches('.')
            .rsplit(' ')
            .next()
            .expect("port")
            .to_owned();
        let addr = format!("127.0.0.1:{port}");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1200,900", "--force-device-scale-factor=1", "--lang=en-US"]
            }
        }}});
        let r = wd(&addr, "POST", "/session", &caps);
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {r}"))
            .to_owned();
        Browser {
            addr,
            session,
            _driver: driver,
        }
    }

    fn call(&self, method: &str, path: &str, body: &Value) -> Value {
        wd(
            &self.addr,
            method,
            &format!("/session/{}{path}", self.session),
            body,
        )
    }

    fn go(&self, url: &str) {
        self.call("POST", "/url", &json!({ "url": url }));
    }

    fn script(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            &json!({"script": script, "args": []}),
        )["value"]
            .clone()
    }

    fn cdp(&self, cmd: &str, params: &Value) -> Value {
        self.call(
            "POST",
            "/goog/cdp/execute",
            &json!({"cmd": cmd, "params": params}),
        )["value"]
            .clone()
    }

    /// Waits (polling, with a generous deadline) until `selector` has text containing `want`; its text.
    fn wait_text(&self, selector: &str, want: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        let query = format!(
            "const e = document.querySelector({}); return e ? e.innerText : null;",
            serde_json::to_string(selector).expect("json")
        );
        let mut last = Value::Null;
        while Instant::now() < deadline {
            last = self.script(&query);
            if last.as_str().is_some_and(|t| t.contains(want)) {
                return last.as_str().unwrap_or_default().to_owned();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let html = self.script("return document.documentElement.outerHTML;");
        panic!("{selector} never showed {want:?}; last {last}; page: {html}");
    }

    fn click(&self, selector: &str) {
        let found = self.call(
            "POST",
            "/element",
            &json!({"using": "css selector", "value": selector}),
        );
        let id = found["value"]
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{selector}: {found}"))
            .to_owned();
        self.call("POST", &format!("/element/{id}/click"), &json!({}));
    }

    /// A PNG of the page into target/ui-screenshots/NAME.png (and docs/images/ with BLESS=1).
    fn screenshot(&self, name: &str) {
        use base64::Engine as _;
        let shot = self.call("GET", "/screenshot", &Value::Null);
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["value"].as_str().expect("screenshot"))
            .expect("base64 PNG");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        let dir = project_root().join("target/ui-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), &png).expect("write screenshot");
        if crate::support::bless() {
            std::fs::write(
                project_root().join(format!("docs/images/ui-{name}.png")),
                &png,
            )
            .expect("bless");
        }
    }

    /// axe-core's serious and critical violations on the page (none expected). The source is run
    /// through `WebDriver`, not as an inline script, which the auditor's pages' policy forbids.
    fn axe(&self) -> Vec<String> {
        let source = std::fs::read_to_string(built_extension().join("axe.min.js")).expect("axe");
        self.script(&format!("{source}\n;window.axe = axe; return true;"));
        let run = "const done = arguments[arguments.length - 1];\
            window.axe.run(document, {resultTypes: ['violations']}).then(\
              r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.html).slice(0, 3)})))\
            ).catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e)}]));";
        self.call("POST", "/timeouts", &json!({"script": 60_000}));
        let out = self.call(
            "POST",
            "/execute/async",
            &json!({"script": run, "args": []}),
        );
        out["value"]
            .as_array()
            .unwrap_or_else(|| panic!("axe: {out}"))
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .map(Value::to_string)
            .collect()
    }

    fn html(&self) -> String {
        self.script("return document.documentElement.outerHTML;")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = crate::support::try_http(
            &self.addr,
            "DELETE",
            &format!("/session/{}", self.session),
            &[],
            b"",
        );
    }
}

fn chromium() -> String {
    for path in ["/usr/bin/chromium", "/usr/lib/chromium/chromium"] {
        if Path::new(path).exists() {
            return path.to_owned();
        }
    }
    panic!("chromium is not installed: tests/run installs Debian's chromium and chromium-driver")
}

/// One `WebDriver` command; panics on an error answer. (The client reads to the answer's length:
/// chromedriver keeps connections open.)
fn wd(addr: &str, method: &str, path: &str, body: &Value) -> Value {
    // Plain HTTP on 127.0.0.1, but reqwest builds its TLS setup all the same: with ring, the one
    // rustls provider (src/net.rs does the same for sluice's own clients).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_mins(2))
        .build()
        .expect("an HTTP client");
    let url = format!("http://{addr}{path}");
    let request = match method {
        "GET" => client.get(&url),
        "DELETE" => client.delete(&url),
        _ => client
            .post(&url)
            .header("Content-Type", "application/json")
            .body(if body.is_null() {
                "{}".to_owned()
            } else {
                body.to_string()
            }),
    };
    let response = request
        .send()
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = response.status().as_u16();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(response, 64 << 20), &mut text)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let v: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"));
    assert!(status == 200, "{method} {path}: {status} {v}");
    v
}

/// The emulated argocd-server in front of the sink at `sink`: alice may see shop, cart, billing and
/// (in namespace team-b) nothing.
fn argocd(dir: &Path, sink: &str, extensions: &Path) -> (Killed, String) {
    let config = json!({
        "extensionsDir": extensions,
        "sessions": {SESSION: {"name": "alice", "apps": ["argocd/shop", "argocd/cart", "argocd/billing"], "extensions": ["sluice"]}},
        "apps": [
            {"namespace": "argocd", "name": "shop", "project": "web"},
            {"namespace": "argocd", "name": "cart", "project": "web"},
            {"namespace": "argocd", "name": "billing", "project": "finance"},
            {"namespace": "team-b", "name": "shop", "project": "other"}
        ],
        "extensions": {"sluice": {"url": format!("http://{sink}"), "headers": [{"name": "Sluice-Proxy-Secret", "value": PROXY_SECRET}]}}
    });
    let path = dir.join("argocd.json");
    std::fs::write(&path, config.to_string()).expect("config");
    let mut cmd = Command::new("node");
    cmd.arg(ui_dir().join("test/argocd.mjs")).arg(&path);
    let (child, line) = start_until(cmd, "listening http://");
    let url = line.trim().trim_start_matches("listening ").to_owned();
    (child, url)
}

#[test]
fn the_extension_shows_each_view_in_chromium_with_the_sinks_values() {
    let _one = crate::support::exclusive();
    let dist = built_extension();
    let tmp = tempfile::tempdir().expect("tmp");
    let sink = fixture_sink(tmp.path());
    // Argo CD loads every extension*.js under /tmp/extensions/: ours, unpacked from the release's tar as
    // argocd-extension-installer does.
    let extensions = tmp.path().join("extensions");
    std::fs::create_dir_all(&extensions).expect("dir");
    let untar = Command::new("tar")
        .arg("-xf")
        .arg(dist.join("extension-sluice.tar"))
        .arg("-C")
        .arg(&extensions)
        .status()
        .expect("tar");
    assert!(untar.success());
    assert!(extensions
        .join("resources/sluice/extension-sluice.js")
        .is_file());
    let (_argocd, base) = argocd(tmp.path(), &sink.addr, &extensions);
    // The built file, pasted inside `try { }` as Argo CD does, is valid JavaScript: an import or export
    // statement would make /extensions.js a syntax error that no `catch` catches.
    let js = http(
        base.trim_start_matches("http://"),
        "GET",
        "/extensions.js",
        &[],
        b"",
    );
    assert!(
        js.body.starts_with("// source: ") && js.body.contains("\ntry {\n"),
        "{}",
        &js.body[..200.min(js.body.len())]
    );
    let b = Browser::start();
    b.go(&base);
    b.call(
        "POST",
        "/cookie",
        &json!({"cookie": {"name": "argocd.token", "value": SESSION}}),
    );
    let mut pages = Vec::new();

    // The status panel of shop: the change, approvals, window and backup, as the sink has them.
    b.go(&format!("{base}/?view=status&app=shop&project=web"));
    let line = b.wait_text("[data-testid=sluice-status-line]", "CHG-");
    let api = crate::ui::proxied(
        &sink,
        "/v1/ui/apps/argocd/shop/status",
        "argocd:shop",
        "web",
    )
    .json();
    assert_eq!(
        line,
        api["current"]["status"]["line"].as_str().expect("line"),
        "the panel shows the sink's line"
    );
    assert_eq!(
        line,
        "CHG-1234 · approved 2/2 · window open · backup Succeeded"
    );
    assert_eq!(
        b.script("return document.querySelector('[data-testid=sluice-status]').dataset.red;"),
        "false"
    );
    // The title is never shown by Argo CD: the item draws its own label.
    b.wait_text("[data-testid=sluice-status]", "CHANGE (SLUICE)");
    assert!(b.axe().is_empty(), "axe on the status panel: {:?}", b.axe());
    b.screenshot("status-panel");
    pages.push(("status panel", b.html()));
    // The flyout: the current change's evidence.
    b.click("[data-testid=sluice-status] button");
    b.wait_text("[data-testid=sluice-flyout]", "Change CHG-1234");
    b.screenshot("flyout");
    pages.push(("flyout", b.html()));

    // The history tab: CHG-1234 with its evidence, CHG-1200 before it.
    b.go(&format!("{base}/?view=app&app=shop&project=web"));
    b.wait_text(
        "[data-testid=sluice-history]",
        "CHG-1234 · approved 2/2 · window open · backup Succeeded",
    );
    b.click("[data-testid=sluice-change-row] button");
    let evidence = b.wait_text("[data-testid=sluice-change]", "pre-change-shop-x7k2p");
    for field in [
        "bob at 2026-11-19T15:30:00Z",
        "dave: approved an older head",
        "inside window 0",
        "argocd app rollback shop 6",
        "Succeeded",
    ] {
        assert!(
            evidence.contains(field),
            "{field} missing from the evidence: {evidence}"
        );
    }
    b.wait_text("[data-testid=sluice-history]", "CHG-1200");
    let axe = b.axe();
    assert!(axe.is_empty(), "axe on the application tab: {axe:?}");
    b.screenshot("application-tab");
    pages.push(("application tab", b.html()));

    // Red: an unapproved change (cart) and a failed verification (billing).
    for (app, project, finding) in [
        ("cart", "web", "unapproved"),
        ("billing", "finance", "verification-failed"),
    ] {
        b.go(&format!("{base}/?view=status&app={app}&project={project}"));
        let line = b.wait_text("[data-testid=sluice-status-line]", finding);
        assert!(line.contains(&format!("finding: {finding}")), "{line}");
        assert_eq!(
            b.script("return document.querySelector('[data-testid=sluice-status]').dataset.red;"),
            "true"
        );
        let color = b.script("return getComputedStyle(document.querySelector('[data-testid=sluice-status] button')).color;");
        assert_eq!(color, "rgb(180, 35, 24)", "{app} is drawn red");
        if app == "cart" {
            assert!(
                b.axe().is_empty(),
                "axe on a red status panel: {:?}",
                b.axe()
            );
            b.screenshot("status-panel-red");
        }
        pages.push(("red status panel", b.html()));
    }

    // The resource tabs: the Velero Backup and the guard Job of CHG-1234.
    b.go(&format!(
        "{base}/?view=backup&app=shop&project=web&name=pre-change-shop-x7k2p"
    ));
    b.wait_text("[data-testid=sluice-resource]", "Change CHG-1234");
    assert!(b.axe().is_empty(), "axe on the backup tab: {:?}", b.axe());
    b.screenshot("backup-tab");
    pages.push(("backup tab", b.html()));
    b.go(&format!(
        "{base}/?view=job&app=shop&project=web&change=CHG-1234"
    ));
    b.wait_text("[data-testid=sluice-resource]", "approved 2/2");
    b.screenshot("guard-job-tab");
    pages.push(("guard job tab", b.html()));

    // A user Argo CD does not authorise for the app sees the refusal, not the data, and the page lives.
    b.go(&format!(
        "{base}/?view=status&app=shop&namespace=team-b&project=other"
    ));
    let refused = b.wait_text("[data-testid=sluice-status-line]", "unavailable");
    assert!(!refused.contains("CHG-"), "{refused}");
    b.wait_text("main h1", "Applications / shop");

    for (what, html) in &pages {
        assert_no_sentinel(what, html);
    }
}

#[test]
fn the_auditors_pages_in_chromium_list_a_period_open_a_change_and_print_on_a4() {
    let _one = crate::support::exclusive();
    built_extension();
    let tmp = tempfile::tempdir().expect("tmp");
    let sink = fixture_sink(tmp.path());
    let b = Browser::start();
    // The read token, as an ingress or a browser's Basic prompt would send it.
    b.cdp("Network.enable", &json!({}));
    b.cdp(
        "Network.setExtraHTTPHeaders",
        &json!({"headers": {"Authorization": format!("Bearer {READ_TOKEN}")}}),
    );
    let base = format!("http://{}", sink.addr);
    b.go(&format!("{base}/audit"));
    b.wait_text("h1", "Audit log");
    // The search form works without JavaScript: a GET form.
    b.call("POST", "/execute/sync", &json!({"script": "document.getElementById('f-from').value='2026-11-20'; document.getElementById('f-to').value='2026-11-21'; document.querySelector('form').submit();", "args": []}));
    let listed = b.wait_text("main", "Exceptions");
    assert!(
        listed.contains("CHG-1234") && listed.contains("CHG-1300") && !listed.contains("CHG-1400"),
        "{listed}"
    );
    let exceptions = b.wait_text("table", "unapproved");
    assert!(
        exceptions.contains("CHG-1300"),
        "the first table is the exceptions: {exceptions}"
    );
    assert!(b.axe().is_empty(), "axe on the search page: {:?}", b.axe());
    b.screenshot("audit-search");
    let search_html = b.html();
    b.click("a[href='/audit/change/CHG-1234']");
    b.wait_text("h1", "Change CHG-1234");
    assert!(b.axe().is_empty(), "axe on the change page: {:?}", b.axe());
    b.screenshot("audit-change");
    let change_html = b.html();
    // Printed: A4, every evidence field visible, nothing wider than the page.
    b.cdp("Emulation.setEmulatedMedia", &json!({"media": "print"}));
    b.cdp(
        "Emulation.setDeviceMetricsOverride",
        &json!({"width": 718, "height": 1000, "deviceScaleFactor": 1, "mobile": false}),
    );
    let printed = b
        .script("return document.body.innerText;")
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for field in [
        "approved 2/2",
        "carol",
        "dave",
        "stale after a push",
        "inside window 0",
        "pre-change-shop-x7k2p",
        "argocd app rollback shop 6",
        "5d41402abc4b2a76b9719d911017c592ae4f0b1f1ab2c3d4e5f60718293a4b5c",
        "no signed checkpoint yet",
        "rulesInForce",
    ] {
        assert!(printed.contains(field), "{field} is not printed");
    }
    assert!(
        !printed.contains("Audit log ›"),
        "the navigation is not printed"
    );
    let overflow = b.script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
    );
    assert_eq!(
        overflow, 0,
        "the printed change page is wider than A4's printable width"
    );
    let pdf = b.cdp(
        "Page.printToPDF",
        &json!({"preferCSSPageSize": true, "printBackground": true}),
    );
    use base64::Engine as _;
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(pdf["data"].as_str().expect("pdf"))
        .expect("base64");
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");
    let text = String::from_utf8_lossy(&pdf);
    let a4 = regex::Regex::new(r"/MediaBox \[0 0 59[45](\.\d+)? 84[12](\.\d+)?\]").expect("re");
    assert!(a4.is_match(&text), "the PDF's pages are not A4");
    std::fs::write(
        project_root().join("target/ui-screenshots/audit-change.pdf"),
        &pdf,
    )
    .expect("write pdf");
    assert_no_sentinel("the search page", &search_html);
    assert_no_sentinel("the change page", &change_html);
}

#[test]
fn the_docs_show_a_picture_of_each_view() {
    let doc = std::fs::read_to_string(project_root().join("docs/ui.md")).expect("docs/ui.md");
    for view in [
        "status-panel",
        "status-panel-red",
        "flyout",
        "application-tab",
        "backup-tab",
        "guard-job-tab",
        "audit-search",
        "audit-change",
    ] {
        let link = format!("images/ui-{view}.png");
        assert!(
            doc.contains(&format!("]({link})")),
            "docs/ui.md does not show {link}"
        );
        let png = std::fs::read(project_root().join("docs").join(&link))
            .unwrap_or_else(|e| panic!("docs/{link}: {e}"));
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 2000,
            "docs/{link} is not a picture"
        );
    }
}
