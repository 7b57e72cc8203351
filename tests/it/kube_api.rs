//! An emulated Kubernetes API server for `argoproj.io/v1alpha1` Applications: a real HTTP/1.1 server on
//! 127.0.0.1 that `sluice serve --watch-applications` talks to through kube-rs, as it would to a
//! cluster. No Kubernetes API server or Argo CD can run here, so this one behaves as the real one does
//! for what the watch uses (Kubernetes docs, "API Concepts": efficient detection of changes, watch
//! bookmarks, 410 Gone responses), and the tests use it to break things the way clusters do:
//!
//! - `GET /apis/argoproj.io/v1alpha1[/namespaces/NS]/applications`: an `ApplicationList` whose
//!   `metadata.resourceVersion` is the store's; `limit` and `continue` page through a snapshot taken
//!   at the first page (a `continue` token of a compacted snapshot is 410, as etcd compaction makes it);
//! - `?watch=true&resourceVersion=RV`: a chunked stream of `{"type", "object"}` lines, every change
//!   after RV in order (`ADDED`, `MODIFIED`, `DELETED`); with `allowWatchBookmarks=true`, `BOOKMARK`
//!   events carrying only `metadata.resourceVersion` when nothing else happens; the stream ends
//!   cleanly after `timeoutSeconds`; an RV older than the compaction point is answered, as the API
//!   server does, with 200 and one `ERROR` event holding a `Status` of code 410, reason `Expired`;
//!   `resourceVersion` unset or "0" starts with a synthetic `ADDED` per object;
//! - every object's `metadata.resourceVersion` is the version of its last change; requests need the
//!   bearer token (401 `Status` otherwise);
//! - `POST /apis/authentication.k8s.io/v1/tokenreviews` (the `TokenReview` API, as
//!   `authentication.k8s.io/v1` documents it: "Authenticating", "Service account tokens", and the
//!   `TokenReview` reference): answered `201 Created` with the request's `spec` and a `status`. A
//!   token issued by [`KubeApi::issue_token`] for one of the asked `spec.audiences` (or, without any,
//!   for the API server's own audience) is `authenticated: true` with `user.username`
//!   `system:serviceaccount:<namespace>:<name>`, the `ServiceAccount`'s `uid`, its `groups`, the
//!   projected token's `extra` claims (`authentication.kubernetes.io/pod-name`, `pod-uid`,
//!   `credential-id`), and `audiences` the ones that matched. Anything else gets, as the API server
//!   writes it, `status` with an empty `user` and an `error`, and no `authenticated` (false). Every
//!   answer is kept ([`KubeApi::token_reviews`]) so the tests validate them against the Kubernetes JSON
//!   schemas;
//! - [`KubeApi::drop_watches`] cuts every open watch without the terminating chunk (a dropped
//!   connection), [`KubeApi::compact`] forgets the changes so far (etcd compaction), and
//!   [`KubeApi::forbid`] answers every request 403 with the `Status` RBAC gives (a Role taken away).
//!
//! The Applications are written in the shapes Argo CD writes (pkg/apis/application/v1alpha1/types.go):
//! `operationState` with `operation` (`sync`, `initiatedBy`, `info`), `phase`, `syncResult`
//! (`resources` with `hookType`, `hookPhase`, `syncPhase`; `revision`; `source`), `startedAt`,
//! `finishedAt`; and `history` entries with `id`, `revision`, `deployStartedAt`, `deployedAt`,
//! `source` and `initiatedBy`, at most `revisionHistoryLimit` (10) of them.

use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The token the emulated server accepts.
pub const TOKEN: &str = "emulated-cluster-token";

/// How often a watch with bookmarks gets one while nothing happens.
const BOOKMARK_EVERY: Duration = Duration::from_millis(500);

/// `revisionHistoryLimit`'s default in Argo CD.
const HISTORY_LIMIT: usize = 10;

#[derive(Default)]
struct Store {
    rv: u64,
    objects: BTreeMap<(String, String), Value>,
    /// Every change after the compaction point: (resourceVersion, type, object).
    events: Vec<(u64, &'static str, Value)>,
    compacted_below: u64,
    drop_generation: u64,
    snapshots: HashMap<String, (u64, Vec<Value>)>,
    /// One line per request: `list NS`, `watch NS rv=RV`, `watch NS rv=RV -> 410`, `get PATH`,
    /// `tokenreview`.
    requests: Vec<String>,
    /// Tokens issued: token → (namespace, `ServiceAccount`, pod, audiences).
    tokens: HashMap<String, (String, String, String, Vec<String>)>,
    /// Every `TokenReview` answered: (request, response).
    token_reviews: Vec<(Value, Value)>,
    /// Every request is answered 403 (the service account lost its Role).
    forbidden: bool,
    /// Other objects (workloads, `AnalysisRuns`), by their REST path.
    resources: BTreeMap<String, Value>,
}

/// The API server's own audience, which a token review without `spec.audiences` checks against.
pub const API_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";

/// The emulated API server; it serves until the test ends.
#[derive(Clone)]
pub struct KubeApi {
    state: Arc<(Mutex<Store>, Condvar)>,
    pub addr: String,
}

impl KubeApi {
    /// Starts the server on a free port.
    pub fn start() -> KubeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let api = KubeApi {
            state: Arc::new((Mutex::new(Store::default()), Condvar::new())),
            addr,
        };
        let server = api.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let server = server.clone();
                std::thread::spawn(move || server.serve_connection(conn));
            }
        });
        api
    }

    /// A kubeconfig for this server, written to `path`.
    pub fn write_kubeconfig(&self, path: &Path) {
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: emulated\n  cluster:\n    server: http://{}\n\
             users:\n- name: sluice\n  user:\n    token: {TOKEN}\ncontexts:\n- name: emulated\n  context:\n    \
             cluster: emulated\n    user: sluice\ncurrent-context: emulated\n",
            self.addr
        );
        std::fs::write(path, text).expect("write kubeconfig");
    }

    /// Creates or replaces an Application (an `ADDED` or `MODIFIED` event).
    pub fn put(&self, mut app: Value) {
        let (lock, cvar) = &*self.state;
        let mut store = lock.lock().unwrap();
        store.rv += 1;
        let rv = store.rv;
        app["metadata"]["resourceVersion"] = json!(rv.to_string());
        let key = (
            app["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            app["metadata"]["name"].as_str().expect("name").to_owned(),
        );
        let kind = if store.objects.contains_key(&key) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        store.objects.insert(key, app.clone());
        store.events.push((rv, kind, app));
        cvar.notify_all();
    }

    /// The Application as stored.
    pub fn get(&self, namespace: &str, name: &str) -> Value {
        let store = self.state.0.lock().unwrap();
        store.objects[&(namespace.to_owned(), name.to_owned())].clone()
    }

    /// Forgets every change so far, as etcd compaction does: a watch from an older version is 410.
    pub fn compact(&self) {
        let mut store = self.state.0.lock().unwrap();
        store.compacted_below = store.rv + 1;
        store.events.clear();
        store.snapshots.clear();
    }

    /// Cuts every open watch connection mid-stream (no terminating chunk).
    pub fn drop_watches(&self) {
        let (lock, cvar) = &*self.state;
        lock.lock().unwrap().drop_generation += 1;
        cvar.notify_all();
    }

    /// A projected `ServiceAccount` token of `namespace`/`service_account`, issued to `pod` for
    /// `audiences` (as the kubelet asks for it through the `TokenRequest` API).
    pub fn issue_token(
        &self,
        namespace: &str,
        service_account: &str,
        pod: &str,
        audiences: &[&str],
    ) -> String {
        let mut store = self.state.0.lock().unwrap();
        let token = format!(
            "eyJhbGciOiJSUzI1NiJ9.{namespace}.{service_account}.{}",
            store.tokens.len()
        );
        store.tokens.insert(
            token.clone(),
            (
                namespace.to_owned(),
                service_account.to_owned(),
                pod.to_owned(),
                audiences.iter().map(|a| (*a).to_owned()).collect(),
            ),
        );
        token
    }

    /// Every `TokenReview` answered so far: (request, response).
    pub fn token_reviews(&self) -> Vec<(Value, Value)> {
        self.state.0.lock().unwrap().token_reviews.clone()
    }

    /// The `TokenReview` API: see the module doc.
    fn token_review(&self, conn: &mut TcpStream, body: &[u8]) -> bool {
        let Ok(request) = serde_json::from_slice::<Value>(body) else {
            return respond(
                conn,
                400,
                &status(400, "BadRequest", "the body is not JSON"),
            );
        };
        if request["apiVersion"] != "authentication.k8s.io/v1" || request["kind"] != "TokenReview" {
            let body = status(
                400,
                "BadRequest",
                "the object is not an authentication.k8s.io/v1 TokenReview",
            );
            return respond(conn, 400, &body);
        }
        let token = request["spec"]["token"].as_str().unwrap_or("");
        let asked: Vec<String> = match request["spec"]["audiences"].as_array() {
            Some(list) if !list.is_empty() => list
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
            _ => vec![API_AUDIENCE.to_owned()],
        };
        let mut store = self.state.0.lock().unwrap();
        store.requests.push("tokenreview".to_owned());
        let known = store.tokens.get(token).cloned();
        let status = match known {
            None => {
                json!({"user": {}, "error": "[invalid bearer token, square/go-jose: error in cryptographic primitive, token lookup failed]"})
            }
            Some((ns, sa, pod, audiences)) => {
                let matched: Vec<&String> =
                    asked.iter().filter(|a| audiences.contains(a)).collect();
                if matched.is_empty() {
                    json!({"user": {}, "error": format!(
                        "[invalid bearer token, token audiences {audiences:?} is invalid for the target audiences {asked:?}, unknown]")})
                } else {
                    json!({
                        "authenticated": true,
                        "user": {
                            "username": format!("system:serviceaccount:{ns}:{sa}"),
                            "uid": format!("6f1c0b7e-{:04x}-4c1d-9e2a-{sa:0>12.12}", ns.len()),
                            "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{ns}"), "system:authenticated"],
                            "extra": {
                                "authentication.kubernetes.io/credential-id": [format!("JTI={}", token.len())],
                                "authentication.kubernetes.io/pod-name": [pod],
                                "authentication.kubernetes.io/pod-uid": ["0d8e2c4a-6b1f-4f3e-9a57-2f0c1d9b8e61"],
                            },
                        },
                        "audiences": matched,
                    })
                }
            }
        };
        // The API server writes `creationTimestamp: null` for this object that is never stored.
        let response = json!({
            "kind": "TokenReview",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": null},
            "spec": request["spec"].clone(),
            "status": status,
        });
        store.token_reviews.push((request, response.clone()));
        drop(store);
        respond(conn, 201, &response)
    }

    /// From now on every request is 403 Forbidden (`false`: allowed again); open watches are cut.
    pub fn forbid(&self, on: bool) {
        self.state.0.lock().unwrap().forbidden = on;
        self.drop_watches();
    }

    /// The requests served so far, one line each.
    pub fn requests(&self) -> Vec<String> {
        self.state.0.lock().unwrap().requests.clone()
    }

    fn serve_connection(&self, conn: TcpStream) {
        let Ok(read_half) = conn.try_clone() else {
            return;
        };
        let mut reader = BufReader::new(read_half);
        let mut conn = conn;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let method = line.split_whitespace().next().unwrap_or("").to_owned();
            let target = line.split_whitespace().nth(1).unwrap_or("").to_owned();
            let mut authorized = false;
            let mut length = 0usize;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 {
                    return;
                }
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap_or(0).min(1 << 20);
                    }
                    if name.eq_ignore_ascii_case("authorization")
                        && value.trim() == format!("Bearer {TOKEN}")
                    {
                        authorized = true;
                    }
                }
            }
            let mut body = vec![0u8; length];
            if std::io::Read::read_exact(&mut reader, &mut body).is_err() {
                return;
            }
            let forbidden = self.state.0.lock().unwrap().forbidden;
            let keep_open = if forbidden {
                let body = status(
                    403,
                    "Forbidden",
                    "applications.argoproj.io is forbidden: User \"system:serviceaccount:argocd:sluice-sink\" \
                     cannot list resource \"applications\" in API group \"argoproj.io\" at the cluster scope",
                );
                respond(&mut conn, 403, &body)
            } else if authorized && method == "POST" {
                if target.split('?').next() == Some("/apis/authentication.k8s.io/v1/tokenreviews") {
                    self.token_review(&mut conn, &body)
                } else {
                    let body = status(
                        405,
                        "MethodNotAllowed",
                        "the server does not allow this method on the requested resource",
                    );
                    respond(&mut conn, 405, &body)
                }
            } else if authorized {
                self.route(&mut conn, &target)
            } else {
                respond(&mut conn, 401, &status(401, "Unauthorized", "Unauthorized"))
            };
            if !keep_open {
                let _ = conn.shutdown(Shutdown::Both);
                return;
            }
        }
    }

    /// Creates or replaces an object other than an Application (a Deployment, a Rollout, an
    /// `AnalysisRun`, …), served at its REST path for `get`, and in its collection for `list` with a
    /// `key=value` label selector, as the API server serves them.
    pub fn put_object(&self, mut obj: Value) {
        let mut store = self.state.0.lock().unwrap();
        store.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(store.rv.to_string());
        let path = object_path(&obj);
        store.resources.insert(path, obj);
    }

    /// Answers `get` and `list` of the other objects; `None` when the path is not theirs.
    fn resource(
        &self,
        conn: &mut TcpStream,
        path: &str,
        query: &HashMap<&str, &str>,
    ) -> Option<bool> {
        const COLLECTIONS: [&str; 5] = [
            "deployments",
            "statefulsets",
            "daemonsets",
            "rollouts",
            "analysisruns",
        ];
        if !path.starts_with("/apis/") {
            return None;
        }
        let mut store = self.state.0.lock().unwrap();
        if let Some(obj) = store.resources.get(path).cloned() {
            store.requests.push(format!("get {path}"));
            drop(store);
            return Some(respond(conn, 200, &obj));
        }
        if !path
            .rsplit('/')
            .next()
            .is_some_and(|last| COLLECTIONS.contains(&last))
        {
            store.requests.push(format!("get {path} -> 404"));
            drop(store);
            let body = status(
                404,
                "NotFound",
                "the server could not find the requested resource",
            );
            return Some(respond(conn, 404, &body));
        }
        let selector = query
            .get("labelSelector")
            .map(|s| s.replace("%3D", "=").replace("%3d", "="));
        let prefix = format!("{path}/");
        let items: Vec<Value> = store
            .resources
            .iter()
            .filter(|(p, _)| p.starts_with(&prefix) && !p[prefix.len()..].contains('/'))
            .map(|(_, o)| o)
            .filter(|o| {
                selector.as_deref().is_none_or(|sel| {
                    sel.split(',').all(|kv| {
                        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                        o["metadata"]["labels"][k] == v
                    })
                })
            })
            .cloned()
            .collect();
        let rv = store.rv.to_string();
        store.requests.push(format!(
            "list {path}?labelSelector={}",
            selector.unwrap_or_default()
        ));
        drop(store);
        Some(respond(
            conn,
            200,
            &json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": rv}, "items": items}),
        ))
    }

    /// Answers one request; false when the connection must close.
    fn route(&self, conn: &mut TcpStream, target: &str) -> bool {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let query: HashMap<&str, &str> = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        if !path.ends_with("/applications") {
            if let Some(done) = self.resource(conn, path, &query) {
                return done;
            }
        }
        let namespace = match path
            .strip_prefix("/apis/argoproj.io/v1alpha1/")
            .map(|p| p.split('/').collect::<Vec<_>>())
            .as_deref()
        {
            Some(["applications"]) => None,
            Some(["namespaces", ns, "applications"]) => Some((*ns).to_owned()),
            _ => {
                let body = status(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                );
                return respond(conn, 404, &body);
            }
        };
        if matches!(query.get("watch"), Some(&"true" | &"1")) {
            self.watch(conn, namespace.as_deref(), &query)
        } else {
            self.list(conn, namespace.as_deref(), &query)
        }
    }

    fn list(&self, conn: &mut TcpStream, ns: Option<&str>, query: &HashMap<&str, &str>) -> bool {
        let mut store = self.state.0.lock().unwrap();
        store.requests.push(format!("list {}", ns.unwrap_or("*")));
        let continued = query.get("continue").filter(|c| !c.is_empty());
        let (rv, items, offset, token) = if let Some(token) = continued {
            let Some((rv, items)) = store.snapshots.get(*token) else {
                drop(store);
                let body = status(410, "Expired", "The provided continue parameter is too old");
                return respond(conn, 410, &body);
            };
            let offset: usize = token
                .rsplit('-')
                .next()
                .and_then(|o| o.parse().ok())
                .unwrap_or(0);
            (*rv, items.clone(), offset, (*token).to_owned())
        } else {
            let items: Vec<Value> = store
                .objects
                .iter()
                .filter(|((n, _), _)| ns.is_none_or(|ns| ns == n))
                .map(|(_, o)| o.clone())
                .collect();
            (store.rv, items, 0, format!("snapshot-{}", store.rv))
        };
        let limit = query
            .get("limit")
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|l| *l > 0)
            .unwrap_or(usize::MAX);
        let end = offset.saturating_add(limit).min(items.len());
        let next = if end < items.len() {
            let next = format!("{token}-{end}");
            store.snapshots.insert(next.clone(), (rv, items.clone()));
            next
        } else {
            String::new()
        };
        drop(store);
        let body = json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "ApplicationList",
            "metadata": {"resourceVersion": rv.to_string(), "continue": next},
            "items": items[offset..end],
        });
        respond(conn, 200, &body)
    }

    fn watch(&self, conn: &mut TcpStream, ns: Option<&str>, query: &HashMap<&str, &str>) -> bool {
        let (lock, cvar) = &*self.state;
        let from: u64 = query
            .get("resourceVersion")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let bookmarks = query.get("allowWatchBookmarks") == Some(&"true");
        let timeout = query
            .get("timeoutSeconds")
            .and_then(|t| t.parse().ok())
            .map_or(Duration::from_mins(30), Duration::from_secs);
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
        if conn.write_all(head.as_bytes()).is_err() {
            return false;
        }
        let mut store = lock.lock().unwrap();
        let generation = store.drop_generation;
        let ns_label = ns.unwrap_or("*");
        if from != 0 && from < store.compacted_below {
            let compacted = store.compacted_below;
            store
                .requests
                .push(format!("watch {ns_label} rv={from} -> 410"));
            drop(store);
            let message = format!("too old resource version: {from} ({compacted})");
            let event = json!({"type": "ERROR", "object": status(410, "Expired", &message)});
            return send_event(conn, &event) && conn.write_all(b"0\r\n\r\n").is_ok();
        }
        let marks = if bookmarks { " bookmarks" } else { "" };
        store
            .requests
            .push(format!("watch {ns_label} rv={from}{marks}"));
        let in_ns = |o: &Value| ns.is_none_or(|ns| o["metadata"]["namespace"] == ns);
        let mut initial: Vec<Value> = Vec::new();
        let mut sent = from;
        if from == 0 {
            initial = store
                .objects
                .values()
                .filter(|o| in_ns(o))
                .map(|o| json!({"type": "ADDED", "object": o}))
                .collect();
            sent = store.rv;
        }
        drop(store);
        for event in &initial {
            if !send_event(conn, event) {
                return false;
            }
        }
        let deadline = Instant::now() + timeout;
        let mut last_sent = Instant::now();
        loop {
            let mut store = lock.lock().unwrap();
            loop {
                if store.drop_generation != generation {
                    drop(store);
                    // A dropped connection: no terminating chunk.
                    let _ = conn.shutdown(Shutdown::Both);
                    return false;
                }
                let pending = store.events.iter().any(|(rv, _, o)| *rv > sent && in_ns(o));
                let now = Instant::now();
                if pending || now >= deadline || (bookmarks && now >= last_sent + BOOKMARK_EVERY) {
                    break;
                }
                let wait = (last_sent + BOOKMARK_EVERY).min(deadline) - now;
                store = cvar.wait_timeout(store, wait).unwrap().0;
            }
            let events: Vec<Value> = store
                .events
                .iter()
                .filter(|(rv, _, o)| *rv > sent && in_ns(o))
                .map(|(_, kind, o)| json!({"type": kind, "object": o}))
                .collect();
            let rv = store.rv;
            drop(store);
            if events.is_empty() {
                if Instant::now() >= deadline {
                    return conn.write_all(b"0\r\n\r\n").is_ok();
                }
                // Nothing happened: a bookmark at the current version.
                let bookmark = json!({"type": "BOOKMARK", "object": {
                    "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                    "metadata": {"resourceVersion": rv.to_string()}}});
                if !send_event(conn, &bookmark) {
                    return false;
                }
                sent = sent.max(rv);
            } else {
                for event in &events {
                    if !send_event(conn, event) {
                        return false;
                    }
                }
                sent = events
                    .last()
                    .and_then(|e| e["object"]["metadata"]["resourceVersion"].as_str())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(sent);
            }
            last_sent = Instant::now();
        }
    }
}

/// The REST path of an object: `/apis/GROUP/VERSION/namespaces/NS/PLURAL/NAME`.
pub fn object_path(obj: &Value) -> String {
    let kind = obj["kind"].as_str().unwrap_or("");
    let plural = format!("{}s", kind.to_ascii_lowercase());
    format!(
        "/apis/{}/namespaces/{}/{plural}/{}",
        obj["apiVersion"].as_str().unwrap_or(""),
        obj["metadata"]["namespace"].as_str().unwrap_or(""),
        obj["metadata"]["name"].as_str().unwrap_or("")
    )
}

/// A `metav1.Status` as the API server writes it.
fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code})
}

fn respond(conn: &mut TcpStream, code: u16, body: &Value) -> bool {
    let body = body.to_string();
    let text = match code {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Gone",
    };
    let head = format!(
        "HTTP/1.1 {code} {text}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).is_ok() && conn.write_all(body.as_bytes()).is_ok()
}

/// One watch event as one chunk, a JSON document and a newline (as the API server frames them).
fn send_event(conn: &mut TcpStream, event: &Value) -> bool {
    let line = format!("{event}\n");
    let chunk = format!("{:x}\r\n{line}\r\n", line.len());
    conn.write_all(chunk.as_bytes()).is_ok() && conn.flush().is_ok()
}

// ---- Applications as Argo CD writes them. ----

/// How a sync went, for [`Cluster::sync`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncKind {
    /// A full sync through the plugin: the guard, the backup and a migration ran as `PreSync` hooks.
    Guarded,
    /// `argocd app sync --resource apps:Deployment:web`: `operation.sync.resources` set, no hooks.
    Selective,
    /// `argocd app rollback APP ID`: `operation.sync.source` set to the history entry's, no hooks.
    Rollback,
    /// A sync of an app whose source sets `helm` (rendered by Helm, not the plugin): no hooks.
    Helm,
    /// A sync that failed: `phase: Failed`, and not in `status.history` (Argo CD records successful
    /// syncs only there).
    Failed,
}

/// A cluster of Applications on the emulated API, and the syncs made on them.
pub struct Cluster {
    pub api: KubeApi,
    /// Every finished sync: (app name, its `startedAt`, its revision).
    pub syncs: Vec<(String, String, String)>,
    clock: chrono::DateTime<chrono::Utc>,
}

impl Cluster {
    /// A cluster with `apps` Applications `app-0`… in namespace `argocd`, never synced.
    pub fn new(api: KubeApi, apps: usize) -> Cluster {
        for i in 0..apps {
            api.put(application(&format!("app-{i}"), "argocd"));
        }
        // Operation times start an hour from now, one second apart: each sync has its own startedAt,
        // and every sync a test makes is after the sink started, however long that took (what
        // finished before the sink first started is imported as from before sluice; see `rewind`).
        let clock = chrono::Utc::now() + chrono::TimeDelta::hours(1);
        Cluster {
            api,
            syncs: Vec::new(),
            clock,
        }
    }

    /// Moves the operation clock to `at`: the syncs made next happened then.
    pub fn set_clock(&mut self, at: chrono::DateTime<chrono::Utc>) {
        self.clock = at;
    }

    fn tick(&mut self) -> String {
        self.clock += chrono::TimeDelta::seconds(1);
        self.clock
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    /// Syncs `name` to a new revision as Argo CD's controller does: the operation is written as
    /// `Running`, then finished with its sync result, a new history entry and the synced revision.
    pub fn sync(&mut self, name: &str, kind: SyncKind) -> Value {
        let mut app = self.api.get("argocd", name);
        let n = self.syncs.len() + 1;
        let revision = format!("{n:040x}");
        let started = self.tick();
        let finished = self.tick();
        let mut sync = json!({"revision": revision, "syncStrategy": {"hook": {}}});
        if kind == SyncKind::Selective {
            sync["resources"] = json!([{"group": "apps", "kind": "Deployment", "name": "web"}]);
        }
        if kind == SyncKind::Rollback {
            let mut source = app["spec"]["source"].clone();
            source["targetRevision"] = json!(revision);
            sync["source"] = source;
        }
        if kind == SyncKind::Helm {
            app["spec"]["source"] = json!({"repoURL": "https://git.example.com/platform/gitops.git",
                "path": format!("apps/{name}"), "targetRevision": "main",
                "helm": {"valueFiles": ["values-prod.yaml"]}});
        }
        let operation = json!({"sync": sync, "initiatedBy": {"username": "alice@example.com"},
            "info": [{"name": "reason", "value": "scheduled"}], "retry": {}});
        app["operation"] = operation.clone();
        app["status"]["operationState"] = json!({"operation": operation, "phase": "Running",
            "message": "waiting for completion of hook batch/Job/sluice-guard", "startedAt": started});
        self.api.put(app.clone());

        let short = &revision[..7];
        let unix = self.clock.timestamp();
        let mut resources = vec![
            json!({"group": "apps", "version": "v1", "kind": "Deployment",
            "namespace": "shop", "name": "web", "status": "Synced", "message": "deployment.apps/web configured",
            "hookPhase": "Running", "syncPhase": "Sync"}),
        ];
        if kind == SyncKind::Guarded {
            resources.splice(0..0, [
                json!({"group": "batch", "version": "v1", "kind": "Job", "namespace": "shop",
                    "name": format!("{name}-sluice-guard"), "message": "job.batch/sluice-guard created",
                    "hookType": "PreSync", "hookPhase": "Succeeded", "syncPhase": "PreSync"}),
                json!({"group": "velero.io", "version": "v1", "kind": "Backup", "namespace": "velero",
                    "name": format!("pre-change-{name}-{short}-presync-{unix}"), "message": "Completed",
                    "hookType": "PreSync", "hookPhase": "Succeeded", "syncPhase": "PreSync"}),
                json!({"group": "batch", "version": "v1", "kind": "Job", "namespace": "shop",
                    "name": format!("{name}-schema-0a1b2c3d4e"), "message": "job.batch created",
                    "hookType": "PreSync", "hookPhase": "Succeeded", "syncPhase": "PreSync"}),
            ]);
        }
        let source = app["spec"]["source"].clone();
        app.as_object_mut().unwrap().remove("operation");
        let failed = kind == SyncKind::Failed;
        app["status"]["operationState"]["phase"] =
            json!(if failed { "Failed" } else { "Succeeded" });
        app["status"]["operationState"]["message"] = json!(if failed {
            "one or more objects failed to apply (dry run)"
        } else {
            "successfully synced (all tasks run)"
        });
        app["status"]["operationState"]["finishedAt"] = json!(finished);
        app["status"]["operationState"]["syncResult"] =
            json!({"resources": resources, "revision": revision, "source": source});
        app["status"]["sync"] = json!({"status": "Synced", "revision": revision,
            "comparedTo": {"source": source, "destination": app["spec"]["destination"]}});
        app["status"]["sourceType"] = json!(if kind == SyncKind::Helm {
            "Helm"
        } else {
            "Plugin"
        });
        if kind != SyncKind::Selective && !failed {
            // A selective sync is "not recorded in the history" (Argo CD docs, selective_sync.md).
            let history = app["status"]["history"].as_array_mut().unwrap();
            let id = history.last().map_or(0, |h| h["id"].as_i64().unwrap()) + 1;
            history.push(
                json!({"revision": revision, "deployedAt": finished, "id": id,
                "source": source, "deployStartedAt": started,
                "initiatedBy": {"username": "alice@example.com"}}),
            );
            if history.len() > HISTORY_LIMIT {
                history.remove(0);
            }
        }
        app["status"]["reconciledAt"] = json!(finished);
        self.api.put(app.clone());
        self.syncs.push((name.to_owned(), started, revision));
        app
    }
}

/// An Application as `kubectl get application -o json` shows it before its first sync: the sluice
/// plugin source with its change id, and the controller's status members.
pub fn application(name: &str, namespace: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": name, "namespace": namespace, "uid": format!("8d6a0c1e-0000-4000-8000-{:012x}", fxhash(name)),
            "generation": 1, "creationTimestamp": "2026-01-01T00:00:00Z",
            "managedFields": [{"manager": "argocd-application-controller", "operation": "Update"}]
        },
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://git.example.com/platform/gitops.git", "path": format!("apps/{name}"),
                "targetRevision": "main",
                "plugin": {"name": "sluice", "env": [{"name": "CHANGE_ID", "value": "CHG-1234"}]}},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "shop"},
            "syncPolicy": {"syncOptions": ["CreateNamespace=true"]}
        },
        "status": {
            "resources": [{"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "shop",
                "name": "web", "status": "OutOfSync", "health": {"status": "Missing"}}],
            "sync": {"status": "OutOfSync"},
            "health": {"status": "Missing"},
            "history": [],
            "sourceType": "Plugin",
            "summary": {},
            "controllerNamespace": "argocd"
        }
    })
}

/// A small stable hash for fixture uids.
fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    }) & 0xffff_ffff_ffff
}
