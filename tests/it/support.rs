//! Helpers shared by the integration tests: the binary's path and running it.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Path of the `sluice` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sluice")
}

/// Runs `sluice ARGS` in `dir` with a clean environment plus `env`.
pub fn sluice_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.current_dir(dir).args(args).env_clear();
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run sluice")
}

/// Stdout as UTF-8.
/// `audit keygen` (a log's key) or `witness keygen` (`kind`) named `name`, into `dir/file.{key,pub}`:
/// the two files.
pub fn keygen(dir: &Path, kind: &str, name: &str, file: &str) -> (PathBuf, PathBuf) {
    let prefix = dir.join(file);
    let out = Command::new(bin())
        .args([kind, "keygen", "--name", name, "--out"])
        .arg(&prefix)
        .output()
        .expect("run sluice");
    assert!(out.status.success(), "{}", stderr(&out));
    (
        dir.join(format!("{file}.key")),
        dir.join(format!("{file}.pub")),
    )
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 stdout")
}

/// Stderr as UTF-8.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Copies a directory tree (files and directories only).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// The repository's own directory (where Cargo.toml is).
pub fn project_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Argo CD's build environment for an app, as argocd-cmp-server sets it.
pub fn argocd_env<'a>(
    app: &'a str,
    namespace: &'a str,
    source_path: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("ARGOCD_APP_NAME", app),
        ("ARGOCD_APP_NAMESPACE", namespace),
        ("ARGOCD_APP_PROJECT_NAME", "default"),
        (
            "ARGOCD_APP_REVISION",
            "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b",
        ),
        ("ARGOCD_APP_REVISION_SHORT", "4f3c2b1"),
        ("ARGOCD_APP_REVISION_SHORT_8", "4f3c2b1a"),
        (
            "ARGOCD_APP_SOURCE_REPO_URL",
            "https://git.example.com/platform/gitops.git",
        ),
        ("ARGOCD_APP_SOURCE_PATH", source_path),
        ("ARGOCD_APP_SOURCE_TARGET_REVISION", "main"),
        ("KUBE_VERSION", "1.31.4"),
        (
            "KUBE_API_VERSIONS",
            "v1,apps/v1,batch/v1,velero.io/v1,velero.io/v1/Backup,argoproj.io/v1alpha1",
        ),
        ("ARGOCD_APP_PARAMETERS", "null"),
        ("SLUICE_IMAGE", "ghcr.io/example/sluice:0.1.0"),
    ]
}

/// Splits a manifest stream the way Argo CD's kube.SplitYAMLToString does: on lines that are `---`.
pub fn split_documents(text: &str) -> Vec<String> {
    let mut docs = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        if line.trim_end() == "---" {
            if !cur.trim().is_empty() {
                docs.push(std::mem::take(&mut cur));
            }
            cur.clear();
        } else {
            cur.push_str(line);
            cur.push('\n');
        }
    }
    if !cur.trim().is_empty() {
        docs.push(cur);
    }
    docs
}

/// Runs a Python snippet with arguments; panics with its stderr on failure.
pub fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 is required by the tests (see tests/requirements.txt)");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Whether to re-bless golden files (`BLESS=1`): never in CI, where a test that would rewrite its
/// expected output fails instead (as insta refuses `INSTA_UPDATE` under `CI`).
pub fn bless() -> bool {
    match bless_with(
        std::env::var_os("BLESS").as_deref(),
        std::env::var_os("CI").as_deref(),
    ) {
        Ok(bless) => bless,
        Err(refusal) => panic!("{refusal}"),
    }
}

/// [`bless`] for the values of `BLESS` and `CI`.
fn bless_with(
    bless: Option<&std::ffi::OsStr>,
    ci: Option<&std::ffi::OsStr>,
) -> Result<bool, String> {
    let set =
        |v: Option<&std::ffi::OsStr>| v.is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
    match (set(bless), set(ci)) {
        (true, true) => Err(
            "BLESS is set while CI is set: golden files are never rewritten in CI (unset BLESS, or \
             bless locally and commit the reviewed diff)"
                .into(),
        ),
        (bless, _) => Ok(bless),
    }
}

#[test]
fn bless_is_refused_in_ci() {
    let v = |s: &'static str| Some(std::ffi::OsStr::new(s));
    assert_eq!(bless_with(None, None), Ok(false));
    assert_eq!(bless_with(v("1"), None), Ok(true));
    assert_eq!(bless_with(None, v("true")), Ok(false));
    assert_eq!(bless_with(v("0"), v("true")), Ok(false));
    assert!(bless_with(v("1"), v("true"))
        .unwrap_err()
        .contains("never rewritten in CI"));
    assert!(bless_with(v("1"), v("1")).is_err());
}

// ---- The notification sink: a real `sluice serve` on 127.0.0.1, and a minimal HTTP client. ----

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// The TCP port the process `pid` listens on, once it listens (found through `/proc`: the server binds
/// port 0 and the kernel picks; nothing is bound, released and bound again). `None` when the process
/// ends first or nothing listens within a generous bound.
pub fn listening_port(child: &mut Child) -> Option<u16> {
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_mins(1);
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return None;
        }
        if let Some(port) = port_of(pid) {
            return Some(port);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Runs `sluice ARGS` (a server on port 0), sends it SIGTERM the moment `/proc` shows its port bound,
/// and waits for it: its exit status and what it wrote on stderr (into `log`). The race of a stop
/// with a start, as a rolling update runs it.
pub fn sigterm_once_listening(args: &[&str], log: &Path) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(bin())
        .args(args)
        .env("SLUICE_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("stderr file"))
        .spawn()
        .expect("spawn sluice");
    let port = listening_port(&mut child);
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("wait");
    let text = std::fs::read_to_string(log).unwrap_or_default();
    assert!(port.is_some(), "did not listen ({status}): {text}");
    assert!(sent.is_ok_and(|s| s.success()), "kill -TERM");
    (status, text)
}

/// Waits until the process `pid` has accepted the connection whose client end is `client` (it holds
/// an established socket whose peer is that port), with a generous bound; whether it did.
pub fn wait_accepted(pid: u32, client: &TcpStream) -> bool {
    let Ok(local) = client.local_addr() else {
        return false;
    };
    let want = format!(":{:04X}", local.port());
    let deadline = Instant::now() + Duration::from_mins(1);
    while Instant::now() < deadline {
        let inodes = socket_inodes(pid);
        for table in ["tcp", "tcp6"] {
            let text =
                std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
            let accepted = text.lines().skip(1).any(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                // rem_address ends in the client's port; state 01 is ESTABLISHED.
                f.len() > 9
                    && f[2].ends_with(&want)
                    && f[3] == "01"
                    && inodes.iter().any(|i| i == f[9])
            });
            if accepted {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// The inodes of the sockets the process `pid` holds.
fn socket_inodes(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter_map(|l| {
                    let l = l.to_string_lossy().into_owned();
                    Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The port of a listening TCP socket that `pid` holds, if any.
fn port_of(pid: u32) -> Option<u16> {
    let inodes = socket_inodes(pid);
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // local_address is HEXIP:HEXPORT; state 0A is LISTEN; the inode is the tenth field.
            if f.len() > 9 && f[3] == "0A" && inodes.iter().any(|i| i == f[9]) {
                let port = f[1].rsplit(':').next()?;
                return u16::from_str_radix(port, 16).ok();
            }
        }
    }
    None
}

/// A port on 127.0.0.1 where nothing listens, held for as long as this lives: a socket bound to it
/// that never listens, so a connection to it is refused and no other process can take it meanwhile.
pub struct ClosedPort {
    _socket: socket2::Socket,
    pub port: u16,
}

impl ClosedPort {
    pub fn new() -> ClosedPort {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("a TCP socket");
        socket
            .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .expect("bind 127.0.0.1:0");
        let port = socket
            .local_addr()
            .expect("local addr")
            .as_socket()
            .expect("an IP socket")
            .port();
        ClosedPort {
            _socket: socket,
            port,
        }
    }
}

/// Names for per-sink files (stderr, token) that no two sinks of a test run share.
fn next_sink_number() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A running `sluice serve`; killed (SIGKILL) when dropped.
pub struct Sink {
    pub child: Child,
    pub addr: String,
    pub data_dir: PathBuf,
    pub stderr_path: PathBuf,
}

impl Sink {
    /// Starts `sluice serve` on a free port over `data_dir`, with `token` (written to a file) if given,
    /// and waits for /healthz.
    pub fn start(data_dir: &Path, token: Option<&str>) -> Sink {
        Sink::start_with(data_dir, token, &[], None)
    }

    /// As `start`, with extra arguments and optionally a shell prefix run before `exec sluice`
    /// (e.g. `trap '' XFSZ; ulimit -S -f 64;`).
    pub fn start_with(
        data_dir: &Path,
        token: Option<&str>,
        extra: &[&str],
        shell_prefix: Option<&str>,
    ) -> Sink {
        Sink::start_logging(data_dir, token, extra, shell_prefix, None)
    }

    /// As `start_with`, with the server's stderr going to `stderr` instead of a file (which
    /// [`Sink::stderr`] reads).
    pub fn start_logging(
        data_dir: &Path,
        token: Option<&str>,
        extra: &[&str],
        shell_prefix: Option<&str>,
        stderr: Option<Stdio>,
    ) -> Sink {
        Sink::start_within(
            data_dir,
            token,
            extra,
            shell_prefix,
            stderr,
            Duration::from_secs(20),
        )
    }

    /// As `start_logging`, waiting up to `bound` for /healthz (a large log is verified first).
    pub fn start_within(
        data_dir: &Path,
        token: Option<&str>,
        extra: &[&str],
        shell_prefix: Option<&str>,
        stderr: Option<Stdio>,
        bound: Duration,
    ) -> Sink {
        let n = next_sink_number();
        let stderr_path = data_dir.with_extension(format!("stderr-{n}"));
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--data-dir".into(),
            data_dir.display().to_string(),
        ];
        if let Some(token) = token {
            let token_file = data_dir.with_extension(format!("token-{n}"));
            std::fs::write(&token_file, format!("  {token}\n")).expect("write token file");
            args.push("--token-file".into());
            args.push(token_file.display().to_string());
        } else if !extra.contains(&"--token-file") {
            // A sink without tokens, on loopback: what tests that are not about auth use.
            args.push("--insecure-no-auth".into());
        }
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let stderr = stderr.unwrap_or_else(|| {
            std::fs::File::create(&stderr_path)
                .expect("stderr file")
                .into()
        });
        let mut cmd = if let Some(prefix) = shell_prefix {
            let mut c = Command::new("bash");
            c.arg("-c")
                .arg(format!("{prefix} exec \"$0\" \"$@\""))
                .arg(bin())
                .args(&args);
            c
        } else {
            let mut c = Command::new(bin());
            c.args(&args);
            c
        };
        let mut child = cmd
            .env("SLUICE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn sluice serve");
        let port = listening_port(&mut child);
        let mut sink = Sink {
            child,
            addr: String::new(),
            data_dir: data_dir.to_path_buf(),
            stderr_path,
        };
        let Some(port) = port else {
            let status = sink.child.try_wait().ok().flatten();
            panic!(
                "sluice serve did not listen ({status:?}): {}",
                sink.stderr()
            );
        };
        sink.addr = format!("127.0.0.1:{port}");
        sink.wait_healthy(bound);
        sink
    }

    /// Sends SIGTERM and waits up to `bound` for the process to exit; its exit status, or `None` if it
    /// is still running then.
    pub fn terminate(&mut self, bound: Duration) -> Option<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        self.wait_exit(bound)
    }

    /// Waits up to `bound` for the process to exit; its exit status, or `None` if it still runs.
    pub fn wait_exit(&mut self, bound: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + bound;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn wait_healthy(&mut self, bound: Duration) {
        let deadline = Instant::now() + bound;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("sluice serve exited with {status}: {}", self.stderr());
            }
            if let Ok(r) = try_http(&self.addr, "GET", "/healthz", &[], b"") {
                if r.status == 200 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("sluice serve did not become healthy: {}", self.stderr());
    }

    /// What the server wrote on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A request to this server.
    pub fn http(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        http(&self.addr, method, path, headers, body)
    }

    /// The log's lines.
    pub fn log_lines(&self) -> Vec<String> {
        read_log_lines(&self.data_dir)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The lines of `DIR/audit.jsonl` ([] when there is no file).
pub fn read_log_lines(data_dir: &Path) -> Vec<String> {
    std::fs::read_to_string(data_dir.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// An HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {}", self.body))
    }
}

/// One request (HTTP/1.1, `Connection: close`), panicking on I/O errors.
pub fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    try_http(addr, method, path, headers, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// One request (HTTP/1.1, `Connection: close`).
pub fn try_http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Resp> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if !chunked {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    // The server may answer (413) and close before the whole body is sent: that is not an error here.
    let sent = if chunked {
        body.chunks(64 * 1024)
            .try_for_each(|c| {
                s.write_all(format!("{:x}\r\n", c.len()).as_bytes())?;
                s.write_all(c)?;
                s.write_all(b"\r\n")
            })
            .and_then(|()| s.write_all(b"0\r\n\r\n"))
    } else {
        s.write_all(body)
    };
    let _ = sent;
    let mut raw = Vec::new();
    let read = s.read_to_end(&mut raw);
    if raw.is_empty() {
        read?;
        return Err(std::io::Error::other("empty response"));
    }
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> std::io::Result<Resp> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no header end: {text}")))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {head}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok(Resp {
        status,
        headers,
        body,
    })
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// A `POST /v1/events` body as the webhook template renders it: a whole Application, and the commit.
pub fn event_body(
    event: &str,
    app: &str,
    started_at: &str,
    revision: &str,
    message: Option<&str>,
) -> String {
    let commit = match message {
        Some(m) => serde_json::json!({"Message": m, "Author": "Ann Author <ann@example.com>",
            "Date": "2026-11-20T10:00:00Z", "Tags": []}),
        None => serde_json::Value::Null,
    };
    serde_json::json!({
        "event": event,
        "app": {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": app, "namespace": "argocd", "uid": format!("uid-{app}")},
            "spec": {
                "project": "default",
                "destination": {"server": "https://kubernetes.default.svc", "namespace": "production"},
                "source": {"repoURL": "https://git.example.com/apps.git", "path": app,
                           "helm": {"values": "db:\n  password: hunter2\n"}}
            },
            "status": {
                "sync": {"status": "Synced", "revision": revision},
                "health": {"status": "Healthy"},
                "history": [
                    {"id": 6, "revision": "0ld0ld", "deployStartedAt": "2026-11-19T09:00:00Z"},
                    {"id": 7, "revision": revision, "deployStartedAt": started_at}
                ],
                "operationState": {
                    "phase": "Succeeded",
                    "message": "successfully synced (all tasks run)",
                    "startedAt": started_at,
                    "finishedAt": started_at,
                    "operation": {"initiatedBy": {"username": "alice"}, "sync": {"revision": revision}},
                    "syncResult": {"revision": revision, "resources": [
                        {"group": "velero.io", "version": "v1", "kind": "Backup", "namespace": "velero",
                         "name": format!("pre-change-{app}-x7k2p"), "hookType": "PreSync", "status": "Synced"}
                    ]}
                }
            }
        },
        "commit": commit,
        "someFutureField": {"ignored": true}
    })
    .to_string()
}

/// Raises this process's soft limit of open files to its hard limit (children inherit it), for tests
/// that hold thousands of connections; the new soft limit.
pub fn raise_open_files_limit() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("/proc/self/limits");
    let hard = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4))
        .and_then(|h| h.parse::<u64>().ok())
        .unwrap_or(1024);
    let pid = std::process::id().to_string();
    let out = Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={hard}:{hard}")])
        .output()
        .expect("prlimit (util-linux) is needed for this test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    hard
}

/// Builds tests/go/postbig (Go's net/http client posting large bodies; standard library only,
/// offline) once; returns the binary.
pub fn go_postbig() -> &'static Path {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        // Under target/tmp: kept between runs (a warm GOCACHE), removed by `cargo clean`.
        let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sink-go");
        let bin = work.join("postbig");
        let out = Command::new("go")
            .args(["build", "-o"])
            .arg(&bin)
            .arg("./postbig")
            .current_dir(project_root().join("tests/go"))
            .env("GOCACHE", work.join("gocache"))
            .env("GOPATH", work.join("gopath"))
            .env("GOFLAGS", "")
            .env("GOPROXY", "off")
            .env("GOTOOLCHAIN", "local")
            .env("GO111MODULE", "on")
            .env("CGO_ENABLED", "0")
            .output()
            .expect("go is required by the tests (tests/run installs golang-go)");
        assert!(
            out.status.success(),
            "go build tests/go/postbig: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        bin
    })
}

/// Serialises the tests that load the machine heavily (many connections, many fsyncs, big bodies)
/// with the one that measures answer times under a deliberate load, so that the measured load is the
/// one the test makes, not another test's running beside it in the same binary.
pub fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // A test that failed while holding it says so itself; the next one may still run.
    HEAVY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Builds the Go program in tests/go/<name> (its own module: Debian's Go sources under
/// /usr/share/gocode, offline) once per run; returns the binary.
pub fn go_tool(name: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, bin)) = built.iter().find(|(n, _)| n == name) {
        return bin.clone();
    }
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-go"));
    let bin = work.join(name);
    let out = Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg(".")
        .current_dir(project_root().join("tests/go").join(name))
        .env("GOCACHE", work.join("gocache"))
        .env("GOPATH", work.join("gopath"))
        .env("GOFLAGS", "-mod=mod")
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local")
        .env("GO111MODULE", "on")
        .env("CGO_ENABLED", "0")
        .output()
        .expect("go is required (tests/run installs golang-go and golang-golang-x-mod-dev)");
    assert!(
        out.status.success(),
        "go build tests/go/{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    built.push((name.to_owned(), bin.clone()));
    bin
}

/// A running `sluice witness serve` on 127.0.0.1 (it binds port 0 and logs its address); killed
/// (SIGKILL) when dropped.
pub struct WitnessServer {
    pub child: Child,
    pub url: String,
    pub stderr_path: PathBuf,
}

impl WitnessServer {
    /// The arguments of `sluice witness serve` on a free port with key `key_file` over `state_dir`,
    /// cosigning the logs of `log_keys`.
    pub fn args(state_dir: &Path, key_file: &Path, log_keys: &[&Path]) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "witness".into(),
            "serve".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--state-dir".into(),
            state_dir.display().to_string(),
            "--key-file".into(),
            key_file.display().to_string(),
        ];
        for k in log_keys {
            args.push("--log-key".into());
            args.push(k.display().to_string());
        }
        args
    }

    /// Starts a witness with key `key_file` over `state_dir`, cosigning the logs of `log_keys`.
    pub fn start(state_dir: &Path, key_file: &Path, log_keys: &[&Path]) -> WitnessServer {
        let stderr_path = state_dir.with_extension("stderr");
        let args = Self::args(state_dir, key_file, log_keys);
        let child = Command::new(bin())
            .args(&args)
            .env("SLUICE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
            .spawn()
            .expect("spawn sluice witness serve");
        let mut w = WitnessServer {
            child,
            url: String::new(),
            stderr_path,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = w.child.try_wait().expect("try_wait") {
                panic!("sluice witness serve exited with {status}: {}", w.stderr());
            }
            let log = w.stderr();
            if let Some(addr) = log
                .lines()
                .find(|l| l.contains("witness listening"))
                .and_then(|l| l.split("addr=").nth(1))
                .and_then(|a| a.split_whitespace().next())
            {
                w.url = format!("http://{addr}");
                return w;
            }
            assert!(
                Instant::now() < deadline,
                "the witness did not start: {log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The witness's address, `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// What the witness wrote on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for WitnessServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
