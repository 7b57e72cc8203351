//! Emulated Git hosts for the approvals tests: GitHub's and GitLab's REST APIs as real HTTP/1.1
//! servers on 127.0.0.1 (port 0), serving the routes sluice reads with the documented behaviour and
//! quirks (see github.rs and gitlab.rs). GitHub and GitLab cannot run here; every response served is
//! recorded and [`Served::validate`] checks each against the host's published API description with
//! tests/validate_openapi.py: GitHub's OpenAPI description as published on the npm registry
//! (`@octokit/openapi`, installed by tests/run), and for GitLab, which publishes no description on a
//! package registry, the schemas transcribed from its openapi_v3.yaml and REST docs in
//! tests/fixtures/host/gitlab-rest.json.

#![allow(dead_code)]
// Emulator code reads best with the hosts' own names (`OpenAPI`, `CHANGES_REQUESTED`) and short
// bindings in its routes.
#![allow(
    clippy::doc_markdown,
    clippy::many_single_char_names,
    clippy::assigning_clones
)]

pub mod github;
pub mod github_git;
pub mod gitlab;
pub mod gitlab_git;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The `@octokit/openapi` version tests/run installs (GitHub's description, REST API 2022-11-28).
pub const OCTOKIT_OPENAPI: &str = "23.0.2";

/// GitHub's OpenAPI description: `SLUICE_GITHUB_OPENAPI`, else where tests/run installs it.
pub fn github_openapi() -> PathBuf {
    let path = std::env::var_os("SLUICE_GITHUB_OPENAPI").map_or_else(
        || {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home)
                .join(".cache/sluice-tests/npm/node_modules/@octokit/openapi/generated/api.github.com.json")
        },
        PathBuf::from,
    );
    assert!(
        path.is_file(),
        "{}: GitHub's OpenAPI description is missing; run tests/run, which installs @octokit/openapi@{OCTOKIT_OPENAPI} with npm (or set SLUICE_GITHUB_OPENAPI)",
        path.display()
    );
    path
}

/// A request as the emulators see it.
pub struct Req {
    pub method: String,
    /// The path as sent (percent-encoding kept: GitLab's project ids are `%2F`-encoded).
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The path's segments (split on `/`, still encoded).
    pub fn segments(&self) -> Vec<&str> {
        self.path.trim_start_matches('/').split('/').collect()
    }
}

/// A response, with the route template it answers (for the schema check).
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    /// The route as the API description names it, e.g. `/repos/{owner}/{repo}/pulls/{pull_number}`.
    pub route: String,
}

impl Resp {
    pub fn json(status: u16, route: &str, body: Value) -> Resp {
        Resp {
            status,
            headers: Vec::new(),
            body,
            route: route.to_owned(),
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Resp {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

/// Every response served, as tests/validate_openapi.py reads them.
#[derive(Clone, Default)]
pub struct Served(Arc<Mutex<Vec<Value>>>);

impl Served {
    fn push(&self, host: &str, method: &str, resp: &Resp) {
        self.0.lock().unwrap().push(json!({
            "host": host, "method": method, "route": resp.route, "status": resp.status, "body": resp.body,
        }));
    }

    /// Files the responses to routes starting with `prefix` under `host` (one emulated server that
    /// answers two APIs, each with its own description).
    pub fn rename_host(&self, prefix: &str, host: &str) {
        for e in self.0.lock().unwrap().iter_mut() {
            if e["route"].as_str().is_some_and(|r| r.starts_with(prefix)) {
                e["host"] = host.into();
            }
        }
    }

    /// How many responses were served.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// The routes served, in order (`GET /repos/{owner}/{repo}/…`).
    pub fn routes(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|e| {
                format!(
                    "{} {} {}",
                    e["method"].as_str().unwrap(),
                    e["route"].as_str().unwrap(),
                    e["status"]
                )
            })
            .collect()
    }

    /// Checks every response served so far against the schemas of `schemas` (host name, file under
    /// tests/fixtures/ticket): the ticket systems of tests/it/itsm. Panics naming each response that
    /// does not fit.
    pub fn validate_with(&self, schemas: &[(&str, &str)]) {
        let args: Vec<String> = schemas
            .iter()
            .flat_map(|(host, file)| {
                let path = crate::support::project_root()
                    .join("tests/fixtures/ticket")
                    .join(file);
                ["--schema".to_owned(), format!("{host}={}", path.display())]
            })
            .collect();
        self.run_validator(&args);
    }

    /// Checks every response served so far against the published descriptions; panics naming each
    /// response that does not fit.
    pub fn validate(&self) {
        let gitlab = crate::support::project_root().join("tests/fixtures/host/gitlab-rest.json");
        self.run_validator(&[
            "--github".to_owned(),
            github_openapi().display().to_string(),
            "--gitlab".to_owned(),
            gitlab.display().to_string(),
        ]);
    }

    fn run_validator(&self, args: &[String]) {
        let lines: Vec<String> = self
            .0
            .lock()
            .unwrap()
            .iter()
            .map(Value::to_string)
            .collect();
        assert!(
            !lines.is_empty(),
            "no response was served: nothing to validate"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("exchanges.jsonl");
        std::fs::write(&file, lines.join("\n") + "\n").unwrap();
        let script = crate::support::project_root().join("tests/validate_openapi.py");
        let out = std::process::Command::new("python3")
            .arg(&script)
            .args(args)
            .arg(&file)
            .output()
            .expect("python3 runs tests/validate_openapi.py");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "emulated responses do not fit the published API description:\n{text}"
        );
        assert!(
            text.contains(&format!("ok: {} responses", lines.len())),
            "{text}"
        );
    }
}

type Handler = Arc<dyn Fn(&Req) -> Option<Resp> + Send + Sync>;

/// Serves `handler` on 127.0.0.1 (a port the OS picks); each response is recorded in `served` under
/// `host`. A handler that returns `None` drops the connection without an answer (a host that goes
/// away). Returns `http://127.0.0.1:PORT`.
pub fn serve(host: &'static str, served: Served, handler: Handler) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let (handler, served) = (Arc::clone(&handler), served.clone());
            std::thread::spawn(move || connection(conn, host, &served, &*handler));
        }
    });
    format!("http://{addr}")
}

fn connection(
    conn: TcpStream,
    host: &str,
    served: &Served,
    handler: &(dyn Fn(&Req) -> Option<Resp> + Send + Sync),
) {
    let Ok(read_half) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
            return;
        };
        let (method, target) = (method.to_owned(), target.to_owned());
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let length = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let query = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                let decode = |s: &str| {
                    percent_encoding::percent_decode_str(&s.replace('+', " "))
                        .decode_utf8_lossy()
                        .into_owned()
                };
                (decode(k), decode(v))
            })
            .collect();
        let req = Req {
            method: method.clone(),
            path: path.to_owned(),
            query,
            headers,
            body,
        };
        let Some(resp) = handler(&req) else {
            return;
        };
        served.push(host, &method, &resp);
        let body = resp.body.to_string();
        let mut head = format!(
            "HTTP/1.1 {} X\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n",
            resp.status,
            body.len()
        );
        for (k, v) in &resp.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(body.as_bytes()).is_err()
        {
            return;
        }
    }
}

/// A `Link` header with `rel="next"` and `rel="last"` for page `page` of `pages` (RFC 8288, as both
/// hosts write it), or `None` on the last page.
pub fn link(
    base: &str,
    path: &str,
    query: &[(String, String)],
    page: usize,
    pages: usize,
) -> Option<String> {
    if page >= pages {
        return None;
    }
    let url = |p: usize| {
        let mut q: Vec<String> = query
            .iter()
            .filter(|(k, _)| k != "page")
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
                )
            })
            .collect();
        q.push(format!("page={p}"));
        format!("{base}{path}?{}", q.join("&"))
    };
    Some(format!(
        "<{}>; rel=\"next\", <{}>; rel=\"last\"",
        url(page + 1),
        url(pages)
    ))
}

/// The page `page` (1-based) of `items` with `per_page` per page, and the number of pages.
pub fn page<T: Clone>(items: &[T], page: usize, per_page: usize) -> (Vec<T>, usize) {
    let per_page = per_page.max(1);
    let pages = items.len().div_ceil(per_page).max(1);
    let start = (page.max(1) - 1) * per_page;
    (
        items.iter().skip(start).take(per_page).cloned().collect(),
        pages,
    )
}

/// A commit id from a number (40 hex digits, the number first so that short ids differ).
pub fn sha(n: u64) -> String {
    format!("{n:07x}{n:033x}")
}
