//! The CI jobs of docs/pr-check.md, run as written: the YAML blocks are read from the doc, and the
//! shell of every `run:` step (GitHub Actions) and `script:` entry (GitLab CI) runs in a repository
//! with two commits and three apps, with the variables the CI systems set. GitHub and GitLab cannot
//! run here: the steps that post the comment talk to an emulation on 127.0.0.1 of the two routes
//! each uses, GitHub's issue comments (`GET/POST /repos/{owner}/{repo}/issues/{n}/comments`, `PATCH
//! /repos/{owner}/{repo}/issues/comments/{id}`) and GitLab's merge-request notes (`GET/POST
//! /projects/:id/merge_requests/:iid/notes`, `PUT …/notes/:note_id`), answering with the fields
//! their REST references document. Steps that need what this machine lacks are skipped and named:
//! `uses:` actions (the test has checked out and puts sluice on PATH), the Docker install step, and
//! `apk add` (curl and jq are installed here).

use crate::diff::check_doc_block;
use crate::support::{bin, copy_dir, project_root, python};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

const AT: &str = "2026-11-24T03:00:00Z";

/// The comments (GitHub) or notes (GitLab) of one pull request, as the emulated API holds them.
#[derive(Default)]
struct Thread {
    next_id: u64,
    items: Vec<Value>,
    /// `METHOD path` of every request, in order.
    requests: Vec<String>,
}

/// A GitHub issue comment as `GET /repos/{owner}/{repo}/issues/{n}/comments` returns it.
fn github_comment(id: u64, body: &str, login: &str) -> Value {
    json!({
        "id": id, "node_id": format!("IC_{id}"),
        "url": format!("https://api.github.com/repos/acme/gitops/issues/comments/{id}"),
        "html_url": format!("https://github.com/acme/gitops/pull/7#issuecomment-{id}"),
        "body": body, "user": {"login": login, "id": 41_898_282, "type": "Bot"},
        "created_at": "2026-11-24T03:00:00Z", "updated_at": "2026-11-24T03:00:00Z",
        "issue_url": "https://api.github.com/repos/acme/gitops/issues/7",
        "author_association": "NONE"
    })
}

/// A GitLab note as `GET /projects/:id/merge_requests/:iid/notes` returns it.
fn gitlab_note(id: u64, body: &str, username: &str) -> Value {
    json!({
        "id": id, "type": null, "body": body, "attachment": null,
        "author": {"id": 7, "username": username, "name": username, "state": "active",
                   "avatar_url": null, "web_url": format!("https://gitlab.example.com/{username}")},
        "created_at": "2026-11-24T03:00:00.000Z", "updated_at": "2026-11-24T03:00:00.000Z",
        "system": false, "noteable_id": 1007, "noteable_type": "MergeRequest", "noteable_iid": 7,
        "resolvable": false, "confidential": false, "internal": false
    })
}

/// One request: method, target, headers (lower-case names), body.
type Request = (String, String, BTreeMap<String, String>, Vec<u8>);

/// One request read from a connection.
fn read_request(stream: &mut std::net::TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    if headers
        .get("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").ok()?;
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some((method, target, headers, body))
}

/// Serves the emulated API on 127.0.0.1 (port 0) until the process ends; gives the base URL.
fn serve(flavour: &'static str, thread: Arc<Mutex<Thread>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let Some((method, target, headers, body)) = read_request(&mut stream) else {
                continue;
            };
            let (status, answer) = answer(flavour, &thread, &method, &target, &headers, &body);
            let text = answer.to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    format!("http://{addr}")
}

fn answer(
    flavour: &str,
    thread: &Mutex<Thread>,
    method: &str,
    target: &str,
    headers: &BTreeMap<String, String>,
    body: &[u8],
) -> (&'static str, Value) {
    let mut t = thread.lock().expect("lock");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    t.requests.push(format!("{method} {path}"));
    let authorised = match flavour {
        "github" => headers.get("authorization").map(String::as_str) == Some("Bearer gh-token"),
        _ => headers.get("private-token").map(String::as_str) == Some("gl-token"),
    };
    if !authorised {
        return ("401 Unauthorized", json!({"message": "Bad credentials"}));
    }
    let (list, one) = match flavour {
        "github" => (
            "/repos/acme/gitops/issues/7/comments",
            "/repos/acme/gitops/issues/comments/",
        ),
        _ => (
            "/api/v4/projects/42/merge_requests/7/notes",
            "/api/v4/projects/42/merge_requests/7/notes/",
        ),
    };
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse::<usize>().ok())
    };
    let new_body = || {
        serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v["body"].as_str().map(String::from))
    };
    let make = |id: u64, text: &str| match flavour {
        "github" => github_comment(id, text, "github-actions[bot]"),
        _ => gitlab_note(id, text, "project_42_bot"),
    };
    match (method, path) {
        ("GET", p) if p == list => {
            let per_page = param("per_page").unwrap_or(30).min(100);
            let page = param("page").unwrap_or(1).max(1);
            let items: Vec<Value> = t
                .items
                .iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .cloned()
                .collect();
            ("200 OK", Value::Array(items))
        }
        ("POST", p) if p == list => {
            let Some(text) = new_body() else {
                return (
                    "422 Unprocessable Entity",
                    json!({"message": "body is missing"}),
                );
            };
            t.next_id += 1;
            let item = make(t.next_id, &text);
            t.items.push(item.clone());
            ("201 Created", item)
        }
        ("PATCH" | "PUT", p)
            if p.starts_with(one) && (method == "PATCH") == (flavour == "github") =>
        {
            let id: u64 = p[one.len()..].parse().unwrap_or(0);
            let Some(text) = new_body() else {
                return (
                    "422 Unprocessable Entity",
                    json!({"message": "body is missing"}),
                );
            };
            match t.items.iter_mut().find(|i| i["id"] == id) {
                Some(item) => {
                    item["body"] = json!(text);
                    ("200 OK", item.clone())
                }
                None => ("404 Not Found", json!({"message": "Not Found"})),
            }
        }
        _ => ("404 Not Found", json!({"message": "Not Found"})),
    }
}

/// A repository with three apps, committed twice: the example app, a plain directory app and a
/// Kustomize app; the second commit changes the first two.
fn two_commit_repo(dir: &Path) -> String {
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .current_dir(dir)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Ann Author")
            .env("GIT_AUTHOR_EMAIL", "ann@example.com")
            .env("GIT_AUTHOR_DATE", "2026-11-20T10:00:00Z")
            .env("GIT_COMMITTER_NAME", "Ann Author")
            .env("GIT_COMMITTER_EMAIL", "ann@example.com")
            .env("GIT_COMMITTER_DATE", "2026-11-20T10:00:00Z")
            .output()
            .expect("git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let write = |path: &str, text: &str| {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    };
    git(&["init", "-q", "-b", "main"]);
    copy_dir(
        &project_root().join("examples/shop"),
        &dir.join("apps/shop"),
    );
    let policy = "apiVersion: sluice.io/v1alpha1\nkind: ChangePolicy\n";
    let deployment = |name: &str, replicas: u32| {
        format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: {name}\n        image: registry.example.com/{name}:1.0.0\n")
    };
    write("apps/web/.sluice.yaml", policy);
    write("apps/web/deployment.yaml", &deployment("web", 2));
    write("apps/cart/.sluice.yaml", policy);
    write(
        "apps/cart/kustomization.yaml",
        "resources:\n- deployment.yaml\n",
    );
    write("apps/cart/deployment.yaml", &deployment("cart", 1));
    write("README.md", "# gitops\n");
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "CHG-1000: apps as they run"]);
    let edit = |path: &str, from: &str, to: &str| {
        let p = dir.join(path);
        let text = std::fs::read_to_string(&p).expect("read");
        assert!(text.contains(from), "{path}: {from}");
        std::fs::write(p, text.replacen(from, to, 1)).expect("write");
    };
    edit("apps/shop/api.yaml", "LOG_LEVEL: info", "LOG_LEVEL: debug");
    write(
        "apps/shop/db/migrations/0003_order_index.sql",
        "CREATE INDEX orders_status ON orders (status);\n",
    );
    edit("apps/shop/.sluice.yaml", "duration: 4h", "duration: 8h");
    edit("apps/web/deployment.yaml", "replicas: 2", "replicas: 3");
    git(&["add", "-A"]);
    git(&[
        "commit",
        "-q",
        "-m",
        "CHG-1234: shop: debug logging, an order index, a longer window; web: 3 replicas",
    ]);
    git(&["rev-parse", "HEAD~1"])
}

/// The YAML block that follows `heading` in docs/pr-check.md, as JSON.
fn doc_yaml(heading: &str) -> Value {
    let doc = std::fs::read_to_string(project_root().join("docs/pr-check.md")).expect("doc");
    let at = doc
        .find(heading)
        .unwrap_or_else(|| panic!("docs/pr-check.md: no {heading}"));
    let start = doc[at..].find("```yaml\n").expect("yaml block") + at + 8;
    let end = doc[start..].find("\n```").expect("block end") + start;
    let json = python(
        "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.argv[1])))",
        &[&doc[start..end]],
    );
    serde_json::from_str(&json).expect("json")
}

/// `${{ expr }}` replaced as GitHub Actions would, from `values`.
fn expressions(text: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = text.to_string();
    while let Some(start) = out.find("${{") {
        let end = out[start..].find("}}").expect("}}") + start;
        let expr = out[start + 3..end].trim().to_string();
        let value = values
            .get(expr.as_str())
            .unwrap_or_else(|| panic!("no value for ${{{{ {expr} }}}}"));
        out.replace_range(start..end + 2, value);
    }
    out
}

/// Runs `script` with `shell` in `dir`, a clean environment plus `env`, sluice on PATH.
fn run_shell(
    shell: &[&str],
    script: &str,
    dir: &Path,
    env: &BTreeMap<String, String>,
) -> std::process::Output {
    let bin_dir = Path::new(bin()).parent().expect("bin dir").to_path_buf();
    let home = dir.parent().expect("parent").join("home");
    std::fs::create_dir_all(&home).expect("home");
    let mut cmd = Command::new(shell[0]);
    cmd.args(&shell[1..])
        .arg(script)
        .current_dir(dir)
        .env_clear()
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin_dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("HOME", &home)
        .env("GIT_CONFIG_NOSYSTEM", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("shell")
}

/// Each `run:` step of the GitHub job, in order, as the runner runs it (bash -eo pipefail), with
/// its `env:` and GitHub's own variables; `uses:` steps and the Docker install step are skipped.
fn run_github_job(job: &Value, dir: &Path, base: &str, api: &str) {
    let mut values = BTreeMap::new();
    values.insert("github.event.pull_request.base.sha", base.to_string());
    values.insert("github.event.pull_request.number", "7".to_string());
    values.insert("github.token", "gh-token".to_string());
    for step in job["steps"].as_array().expect("steps") {
        let Some(script) = step["run"].as_str() else {
            if step["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact"))
            {
                let path = step["with"]["path"].as_str().expect("artifact path");
                assert!(dir.join(path).is_file(), "the artifact {path} was written");
            }
            continue;
        };
        if script.contains("docker run") {
            continue;
        }
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        env.insert("GITHUB_API_URL".into(), api.to_string());
        env.insert("GITHUB_REPOSITORY".into(), "acme/gitops".into());
        env.insert("CI".into(), "true".into());
        for (k, v) in step["env"].as_object().into_iter().flatten() {
            env.insert(
                k.clone(),
                expressions(v.as_str().expect("env value"), &values),
            );
        }
        let script = pin_clock(&expressions(script, &values));
        let out = run_shell(
            &["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"],
            &script,
            dir,
            &env,
        );
        assert!(
            out.status.success(),
            "step {:?} failed: {}",
            step["name"],
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `--at AT` on the `sluice diff` line of a script (and nowhere else).
fn pin_clock(script: &str) -> String {
    script
        .trim_end()
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("sluice diff ") {
                match l.split_once(" > ") {
                    Some((cmd, redirect)) => format!("{cmd} --at {AT} > {redirect}"),
                    None => format!("{l} --at {AT}"),
                }
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Both GitLab jobs' `script:` entries, in order, as the runner runs them (sh, stop at the first
/// failure), with the predefined variables of a merge-request pipeline; `apk add` is skipped.
fn run_gitlab_jobs(jobs: &Value, dir: &Path, base: &str, api: &str) {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in [
        ("CI", "true"),
        ("CI_PIPELINE_SOURCE", "merge_request_event"),
        ("CI_PROJECT_DIR", &dir.display().to_string()),
        ("CI_API_V4_URL", &format!("{api}/api/v4")),
        ("CI_PROJECT_ID", "42"),
        ("CI_MERGE_REQUEST_IID", "7"),
        ("CI_MERGE_REQUEST_DIFF_BASE_SHA", base),
        ("SLUICE_DIFF_TOKEN", "gl-token"),
    ] {
        env.insert(k.into(), v.into());
    }
    for name in ["sluice-diff", "sluice-diff-comment"] {
        let job = &jobs[name];
        assert_eq!(
            job["rules"][0]["if"],
            "$CI_PIPELINE_SOURCE == \"merge_request_event\""
        );
        for entry in job["script"].as_array().expect("script") {
            let script = entry.as_str().expect("script entry");
            if script.starts_with("apk add") {
                continue;
            }
            let out = run_shell(&["sh", "-e", "-c"], &pin_clock(script), dir, &env);
            assert!(
                out.status.success(),
                "{name}: {script}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        for path in job["artifacts"]["paths"].as_array().into_iter().flatten() {
            let path = path.as_str().expect("artifact");
            assert!(
                dir.join(path).is_file(),
                "{name}: the artifact {path} was written"
            );
        }
    }
}

/// Both jobs of docs/pr-check.md post one comment, update it on the next push instead of adding one,
/// leave other comments alone, and post what the doc shows.
#[test]
fn pr_check_jobs_post_then_update_one_comment() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo: PathBuf = tmp.path().join("gitops");
    std::fs::create_dir_all(&repo).expect("mkdir");
    let base = two_commit_repo(&repo);
    let github = doc_yaml("## GitHub Actions");
    let gitlab = doc_yaml("## GitLab CI");
    let job = &github["jobs"]["sluice-diff"];
    assert_eq!(job["permissions"]["pull-requests"], "write");
    let gh = Arc::new(Mutex::new(Thread::default()));
    let gl = Arc::new(Mutex::new(Thread::default()));
    // Someone else's comment is there already, and stays as it is.
    gh.lock()
        .unwrap()
        .items
        .push(github_comment(900, "LGTM", "ann"));
    gh.lock().unwrap().next_id = 1000;
    gl.lock()
        .unwrap()
        .items
        .push(gitlab_note(900, "LGTM", "ann"));
    gl.lock().unwrap().next_id = 1000;
    let gh_url = serve("github", gh.clone());
    let gl_url = serve("gitlab", gl.clone());
    for _push in 0..2 {
        run_github_job(job, &repo, &base, &gh_url);
        run_gitlab_jobs(&gitlab, &repo, &base, &gl_url);
    }
    let comment = std::fs::read_to_string(repo.join("sluice-diff.md")).expect("sluice-diff.md");
    for (name, thread, update) in [("github", &gh, "PATCH"), ("gitlab", &gl, "PUT")] {
        let t = thread.lock().unwrap();
        let ours: Vec<&Value> = t.items.iter().filter(|i| i["body"] != "LGTM").collect();
        assert_eq!(
            ours.len(),
            1,
            "{name}: one comment, updated, not appended: {:?}",
            t.requests
        );
        assert_eq!(
            ours[0]["body"],
            comment.as_str(),
            "{name}: the comment is the report"
        );
        assert_eq!(t.items.len(), 2, "{name}: the other comment is kept");
        let writes: Vec<&str> = t
            .requests
            .iter()
            .map(String::as_str)
            .filter(|r| !r.starts_with("GET"))
            .map(|r| r.split(' ').next().unwrap_or(""))
            .collect();
        assert_eq!(
            writes,
            ["POST", update],
            "{name}: posted once, then updated"
        );
    }
    assert!(comment.starts_with("<!-- sluice-diff -->\n"), "{comment}");
    assert!(
        comment.contains("| `apps/shop`") || comment.contains("| apps/shop"),
        "{comment}"
    );
    assert!(
        !comment.contains("apps/cart"),
        "cart is not touched: {comment}"
    );
    assert!(
        comment.contains("allow window 'Tue/Thu maintenance window' widened: duration 4h → 8h"),
        "{comment}"
    );
    let full = std::fs::read_to_string(repo.join("sluice-diff-full.md")).expect("full report");
    assert_eq!(
        full, comment,
        "under the limit, the comment is the whole report"
    );
    check_doc_block(
        &project_root().join("docs/pr-check.md"),
        "pr-check-output",
        "markdown",
        &comment,
    );
}
